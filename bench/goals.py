"""The benchmark's goals, declared in one place, and the verdict on them.

Each goal bounds a ratio of a figure to a baseline measured in the same run (README.md,
Performance), never an absolute time: a slower or busier machine moves figure and baseline
alike. engine_bench.py and matrix_bench.py check their own goals right after measuring (a
table, and the results in their JSON). The session's last step judges every goal again from
those two JSON files, which must come from one run, and writes reports/bench/goals.json (and
goals.md, for a CI job summary). In full mode a missed goal fails the session, naming the
goal; `--quick` (CI) has too few repeats and checkpoints to judge, so there a missed goal is a
WARNING line and the session passes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.tables import terminal_table

AT_MOST = "<="
AT_LEAST = ">="
README = "README.md, Performance"
PARTS = ("engine", "matrix")
GOALS_FILE = "goals.json"
GOALS_MARKDOWN = "goals.md"


class BenchGoalError(Exception):
    """The figures cannot be judged: a file or a figure is missing, or they mix two runs."""


@dataclass(frozen=True)
class Goal:
    name: str
    part: str  # whose JSON holds the figure: "engine" (engine.json) or "matrix" (matrix.json)
    figure: tuple[str, ...]  # the keys leading to the figure in that JSON
    comparison: str  # AT_MOST or AT_LEAST
    bound: float
    unit: str  # "x" for a ratio, "%" for a share
    what: str  # the figure over its baseline, in words
    source: str  # where the goal is stated

    def __post_init__(self) -> None:
        if self.part not in PARTS or self.comparison not in (AT_MOST, AT_LEAST):
            raise ValueError(
                f"goal {self.name!r}: part must be one of {PARTS} (is {self.part!r}) and "
                f"comparison {AT_MOST!r} or {AT_LEAST!r} (is {self.comparison!r})"
            )

    def measured(self, figures: Mapping) -> float:
        value = figures
        for key in self.figure:
            if not isinstance(value, Mapping) or key not in value:
                raise BenchGoalError(
                    f"goal {self.name!r}: {self.part}.json has no figure "
                    f"{'.'.join(self.figure)!r} (run `nox -s bench` to measure it again)"
                )
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BenchGoalError(
                f"goal {self.name!r}: {self.part}.json's {'.'.join(self.figure)!r} is "
                f"{value!r}, not a number"
            )
        return float(value)

    def met_by(self, measured: float) -> bool:
        return measured <= self.bound if self.comparison == AT_MOST else measured >= self.bound

    def show(self, value: float) -> str:
        return f"{value * 100:.2f}%" if self.unit == "%" else f"{value:.2f}x"


GOALS: tuple[Goal, ...] = (
    Goal(
        "op-recording-overhead", "engine", ("recording_worst_ratio",), AT_MOST, 5.0, "x",
        "slowest op recorded by tinytorch / the raw numpy op, (64, 128) float32", README,
    ),
    Goal(
        "mlp-step-vs-numpy", "engine", ("mlp_step", "ratio"), AT_MOST, 1.3, "x",
        "MLP step 784-128-10, batch 64 / the same step hand-written in numpy", README,
    ),
    Goal(
        "backward-vs-forward", "engine", ("mlp_step", "backward_over_forward"), AT_MOST, 3.0,
        "x", "backward time / forward time of that step", README,
    ),
    Goal(
        "backward-linear-in-graph-size", "engine", ("chains_per_node_spread",), AT_MOST, 1.5,
        "x", "backward time per node, slowest chain / fastest chain", README,
    ),
    Goal(
        "graph-memory-linear-in-graph-size", "engine", ("chains_bytes_per_node_spread",),
        AT_MOST, 1.5, "x", "graph bytes per node, largest chain / smallest chain",
        "issue 14 item 9 (memory per node bounded); bench/plots.py draws it",
    ),
    Goal(
        "step-peak-memory", "engine", ("memory", "peak_over_needed"), AT_MOST, 2.0, "x",
        "peak traced bytes of a step / activations kept + parameter gradients", README,
    ),
    Goal(
        "memory-freed-by-zero-grad", "engine", ("memory", "retained_over_needed"), AT_MOST,
        0.01, "%", "bytes still traced after zero_grad / activations kept + parameter gradients",
        "bench/engine_bench.py step_memory: back where it started (1%: tracemalloc also "
        "counts the interpreter's own small allocations)",
    ),
    Goal(
        "matrix-warm-speedup", "matrix", ("baseline_over_warm",), AT_LEAST, 4.0, "x",
        "venv + pip + serial pytest / warm nox -j auto (uv)", README,
    ),
    Goal(
        "install-share-of-warm-matrix", "matrix", ("install_share_of_warm",), AT_MOST, 0.25,
        "%", "env + install seconds / warm nox -j auto seconds", README,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class GoalResult:
    goal: Goal
    measured: float
    met: bool

    def as_json(self) -> dict:
        goal = self.goal
        return {
            "name": goal.name,
            "part": goal.part,
            "figure": ".".join(goal.figure),
            "measured": self.measured,
            "comparison": goal.comparison,
            "bound": goal.bound,
            "met": self.met,
            "what": goal.what,
            "source": goal.source,
        }


def check(part: str, figures: Mapping, goals: tuple[Goal, ...] = GOALS) -> tuple[GoalResult, ...]:
    """Every goal of `part` against the figures that part measured."""
    results = []
    for goal in goals:
        if goal.part == part:
            measured = goal.measured(figures)
            results.append(GoalResult(goal, measured, goal.met_by(measured)))
    return tuple(results)


def table(results: tuple[GoalResult, ...]) -> str:
    rows = [["goal", "measured", "bound", "verdict", "figure"]]
    for result in results:
        goal = result.goal
        rows.append(
            [
                goal.name,
                goal.show(result.measured),
                f"{goal.comparison} {goal.show(goal.bound)}",
                "met" if result.met else "MISSED",
                goal.what,
            ]
        )
    return terminal_table(rows)


@dataclass(frozen=True)
class Verdict:
    results: tuple[GoalResult, ...]
    quick: bool

    @property
    def missed(self) -> tuple[GoalResult, ...]:
        return tuple(result for result in self.results if not result.met)

    def _describe(self, result: GoalResult) -> str:
        goal = result.goal
        bound = f"{goal.comparison} {goal.show(goal.bound)}"
        return f"{goal.name} {goal.show(result.measured)} (goal {bound})"

    def warnings(self) -> tuple[str, ...]:
        """Quick mode: one WARNING line per missed goal (too few repeats to fail on)."""
        if not self.quick:
            return ()
        return tuple(
            f"WARNING: bench goal missed in quick mode: {self._describe(result)}; quick mode "
            "has too few repeats to judge, run `nox -s bench` (full mode) for the verdict"
            for result in self.missed
        )

    def failure(self) -> str | None:
        """Full mode: the missed goals, by name, as the reason the session fails; else None."""
        if self.quick or not self.missed:
            return None
        return "bench goals missed (full mode): " + "; ".join(map(self._describe, self.missed))

    def summary(self) -> str:
        mode = "quick mode: a miss is a warning" if self.quick else "full mode"
        met = len(self.results) - len(self.missed)
        return f"bench goals: {met} met, {len(self.missed)} missed ({mode})"

    def report(self) -> str:
        """The table, a WARNING per goal missed in quick mode, and the count."""
        return "\n".join([table(self.results), *self.warnings(), self.summary()])

    def as_json(self) -> dict:
        return {
            "quick": self.quick,
            "met": not self.missed,
            "missed": [result.goal.name for result in self.missed],
            "goals": [result.as_json() for result in self.results],
        }


def _read_part(directory: Path, part: str) -> dict:
    path = directory / f"{part}.json"
    try:
        figures = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchGoalError(f"{path} is missing: run `nox -s bench` to measure it") from None
    except json.JSONDecodeError as error:
        raise BenchGoalError(f"{path} is not JSON ({error}): run `nox -s bench` again") from None
    for key in ("identity", "quick"):
        if key not in figures:
            raise BenchGoalError(
                f"{path} has no {key!r}: an older bench wrote it; run `nox -s bench`"
            )
    return figures


def discard_verdict(directory: Path) -> None:
    """Remove the last verdict: a run that stops before judging must not leave an old one."""
    for name in (GOALS_FILE, GOALS_MARKDOWN):
        (directory / name).unlink(missing_ok=True)


def judge_reports(directory: Path, run_id: str, goals: tuple[Goal, ...] = GOALS) -> Verdict:
    """Judge every goal from `directory`'s engine.json and matrix.json; write goals.json there.

    Both files must come from the run `run_id` (the nox invocation's MATRIX_RUN_ID, "" outside
    nox) and the same mode: figures of an older run are never judged as this run's.
    """
    discard_verdict(directory)
    parts = {part: _read_part(directory, part) for part in PARTS}
    for part, figures in parts.items():
        identity = figures["identity"]
        if identity.get("run_id") != run_id:
            raise BenchGoalError(
                f"{directory / f'{part}.json'} is from run {identity.get('run_id') or 'unknown'} "
                f"(commit {identity.get('commit') or 'unknown'}, started "
                f"{identity.get('started') or 'unknown'}), not from this run "
                f"{run_id or '(outside nox)'}: run `nox -s bench` to measure both parts again"
            )
    if parts["engine"]["quick"] != parts["matrix"]["quick"]:
        raise BenchGoalError(
            f"{directory}: engine.json and matrix.json were measured in different modes "
            "(one --quick, one full): run `nox -s bench` (or `nox -s bench -- --quick`) again"
        )
    results = tuple(result for part in PARTS for result in check(part, parts[part], goals))
    verdict = Verdict(results, quick=parts["engine"]["quick"])
    record = {"identity": parts["engine"]["identity"], **verdict.as_json()}
    write_atomically(directory / GOALS_FILE, json.dumps(record, indent=2) + "\n")
    write_atomically(directory / GOALS_MARKDOWN, "```\n" + verdict.report() + "\n```\n")
    return verdict
