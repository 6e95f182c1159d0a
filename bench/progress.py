"""One line per benchmark step, so a run of several minutes says what it is doing and how far.

`engine: backward, chain of 10,000 nodes (9/11)...` is printed and flushed when the step
starts, with the seconds spent so far. CI logs are not terminals, so there is no spinner and
no carriage return: every line stays readable in a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

Result = TypeVar("Result")


class Progress:
    """Counts the steps of one part of the benchmark (`engine`, `matrix`) out loud."""

    def __init__(self, part: str, total: int) -> None:
        self.part = part
        self.total = total
        self.done = 0
        self.started = time.perf_counter()

    def _elapsed(self) -> str:
        return f"[{time.perf_counter() - self.started:6.1f}s]"

    def step(self, what: str) -> None:
        """Announce the next step; more steps than announced at the start is a bug in the plan."""
        if self.done >= self.total:
            raise RuntimeError(f"{self.part}: step {what!r} is beyond the {self.total} planned")
        self.done += 1
        print(f"{self._elapsed()} {self.part}: {what} ({self.done}/{self.total})...", flush=True)

    def detail(self, what: str) -> None:
        """A line within the current step (a checkpoint of a long run), not counted."""
        print(f"{self._elapsed()} {self.part}:   {what}", flush=True)

    def finish(self) -> None:
        """Say the part is over; fewer steps than announced means the count shown was wrong."""
        if self.done != self.total:
            raise RuntimeError(f"{self.part}: {self.done} steps ran, {self.total} were announced")
        print(f"{self._elapsed()} {self.part}: measured ({self.total} steps)", flush=True)


def run_steps(part: str, steps: Sequence[tuple[str, Callable[[], Result]]]) -> list[Result]:
    """Run each (description, function) in order, announcing it; their results, in order."""
    progress = Progress(part, len(steps))
    results = []
    for what, measure in steps:
        progress.step(what)
        results.append(measure())
    progress.finish()
    return results
