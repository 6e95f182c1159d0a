"""A session that `nox -j` runs in a child process ends when the nox that started it dies.

`nox -j` runs each session in a child `nox` process that leads a process group of its own
(nox/_parallel.py: one subprocess per session, `start_new_session`), with the session's
commands (uv, pytest) in that group. A `kill -9` of the parent therefore leaves the children
running: their pytest goes on, and their records land after the parent is gone, where a later
`nox -s report` would show them as this commit's results.

Every nox process hands its pid down in MATRIX_NOX_PID (`hand_down_nox_pid`, called by the
noxfile), after reading the one it inherited: a child's parent nox. While a child's session
runs, a thread polls os.getppid(); once it is no longer that pid, the parent died, and the
thread interrupts the child's process group (SIGINT: nox stops its command, pytest stops its
tests), so the session ends within a second and records "interrupted: parent nox died"
instead of a result.

Polling works on every POSIX system and sees a parent that died before the child looked
(getppid is already another pid). prctl(PR_SET_PDEATHSIG), the Linux alternative, fires when
the parent *thread* that started the child ends (nox starts children from a thread pool) and
misses a parent that died before the child set it. Where there is no process group (Windows)
the watch does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

NOX_PID_ENV = "MATRIX_NOX_PID"
POLL_SECONDS = 0.5
PARENT_DIED = "interrupted: parent nox died"

# The pid of the nox process that started this one, when that was a nox of this noxfile.
_inherited: list[int] = []


def hand_down_nox_pid() -> None:
    """Remember the parent nox's pid (if a nox started this one) and hand ours down."""
    inherited = os.environ.get(NOX_PID_ENV, "")
    if inherited.isdigit() and not _inherited:
        _inherited.append(int(inherited))
    os.environ[NOX_PID_ENV] = str(os.getpid())


class ParentWatch:
    """Interrupts this process group when the parent nox `parent` is gone."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="parent-nox-watch", daemon=True)

    @property
    def parent_died(self) -> bool:
        # Asked again rather than remembered: the session's command may notice first (its
        # output pipe broke) and end before the next poll.
        return os.getppid() != self.parent

    def _watch(self) -> None:
        while not self.parent_died:
            if self._stop.wait(POLL_SECONDS):
                return
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGINT)  # this nox, and the commands it runs
        else:  # not a group of our own: never signal anyone else's processes
            os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def watch_parent_nox(in_child: bool) -> Iterator[ParentWatch | None]:
    """While the block runs in a child of `nox -j` (in_child), end it if the parent dies."""
    if not in_child or not _inherited or not hasattr(os, "getpgrp"):
        yield None
        return
    watch = ParentWatch(_inherited[0])
    watch._thread.start()
    try:
        yield watch
    finally:
        watch._stop.set()
