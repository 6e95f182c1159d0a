"""Read back what the gate's nox run left behind: run records, JUnit XML, vacuity verdicts.

Only what this gate run wrote counts: a run record must carry the gate's run id and the gated
commit (matrix/run_identity.py), other files must have been written after the gate started. A
record left by an earlier run says nothing about these commits, so a checkpoint without a
fresh one is a blocker ("no record", "stale record"), never a pass. A record must also name
the implementation the gate was asked to test, and nox must agree with it about how the
session ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matrix.gate_items import SKIPPED, Item
from matrix.gate_report import NOT_RUN, CheckOutcome, CheckpointOutcome
from matrix.results import (
    INVALID_RECORD,
    JUNIT_DIR,
    PASSED,
    RUNS_DIR,
    RecordError,
    SuiteCount,
    claim_problems,
    course_tests_skipped,
    invalid_run,
    load_run,
    tests_failing,
)
from matrix.run_identity import short_commit
from matrix.vacuity import UNJUDGED_PREFIX, VACUITY_DIR, VACUOUS_PREFIX

# nox's word for a session that succeeded (its --report JSON).
NOX_SUCCESS = "success"
# Leeway for file systems that keep modification times in whole seconds.
CLOCK_SLACK = 1.0


@dataclass(frozen=True)
class Freshness:
    """Files of this gate run: under reports_dir (relative to root), written after started."""

    root: Path
    reports_dir: Path
    started: float
    # The run id the gate gave its nox run, and the commit it gated: what a record must carry.
    run_id: str
    commit: str

    def path(self, relative: Path | str) -> Path:
        return self.root / self.reports_dir / relative

    def fresh(self, relative: Path | str) -> Path | None:
        path = self.path(relative)
        if path.is_file() and path.stat().st_mtime >= self.started - CLOCK_SLACK:
            return path
        return None


def checkpoint_outcome(
    files: Freshness, number: int, key: str, digest: str, nox_result: str | None
) -> CheckpointOutcome:
    record = files.fresh(Path(RUNS_DIR.name) / f"{key}.json")
    if record is None:
        return CheckpointOutcome(
            number,
            "no record",
            f"module{number:02d} left no run record this time (nox: {nox_result or NOT_RUN})",
        )
    run = load_run(record)
    if run.status == INVALID_RECORD:
        return CheckpointOutcome(number, run.status, run.detail)
    if (run.run_id, run.commit) != (files.run_id, files.commit):
        return CheckpointOutcome(
            number,
            "stale record",
            f"the record is of {run.identity.describe()}, not of this gate's run "
            f"{files.run_id} on commit {short_commit(files.commit)}",
        )
    total = SuiteCount()
    for count in run.suites.values():
        total.passed += count.passed
        total.failed += count.failed
        total.skipped += count.skipped
    outcome = CheckpointOutcome(number, run.status, run.detail, total)
    # The gate's own records: only what they claim of themselves can be judged here.
    problems = claim_problems(run, None)
    if problems:
        return CheckpointOutcome(number, INVALID_RECORD, invalid_run(record, problems).detail)
    junit = files.fresh(Path(JUNIT_DIR.name) / f"{key}.xml")
    if junit is not None:
        try:
            outcome.failures = tests_failing(junit)
        except RecordError as error:
            return CheckpointOutcome(number, INVALID_RECORD, str(error), total)
    if run.implementation_digest != digest:
        outcome.status = "wrong implementation"
        outcome.detail = (
            f"the record tested {run.implementation} (sha256 {run.implementation_digest}), "
            f"not the gated one (sha256 {digest})"
        )
    elif run.status == PASSED and nox_result != NOX_SUCCESS:
        outcome.status = "failed"
        outcome.detail = (
            f"its record says passed but nox says the session {nox_result or 'did not run'}"
        )
    return outcome


def vacuity_outcome(files: Freshness, number: int, nox_result: str | None) -> CheckOutcome:
    name = f"vacuity {number:02d}"
    verdict = files.fresh(Path(VACUITY_DIR.name) / f"module-{number:02d}.txt")
    if verdict is None:
        return CheckOutcome(
            name,
            nox_result or NOT_RUN,
            "it did not get as far as running the suite (build, install or pytest broke)",
        )
    lines = [line.strip() for line in verdict.read_text(encoding="utf-8").splitlines()]
    vacuous = [
        line.removeprefix(VACUOUS_PREFIX) for line in lines if line.startswith(VACUOUS_PREFIX)
    ]
    unjudged = [
        line.removeprefix(UNJUDGED_PREFIX) for line in lines if line.startswith(UNJUDGED_PREFIX)
    ]
    if vacuous or unjudged:
        return CheckOutcome(
            name, "failed", vacuous=vacuous + [f"{file} (not collected)" for file in unjudged]
        )
    if nox_result != NOX_SUCCESS:
        return CheckOutcome(name, nox_result or NOT_RUN, "nox says the session did not succeed")
    return CheckOutcome(name, PASSED, "every test fails with the module stubbed")


def lint_outcome(nox_result: str | None, log: Path) -> CheckOutcome:
    if nox_result == NOX_SUCCESS:
        return CheckOutcome("lint", PASSED)
    return CheckOutcome("lint", nox_result or NOT_RUN, f"its output is in {log}")


def skip_items(junits: dict[int, Path | None]) -> list[Item]:
    """One item per skip reason met in this run's checkpoints: a skipped test proves nothing.

    A JUnit file that cannot be read gives none: its checkpoint's outcome names it, NO-GO."""
    by_reason: dict[str, list[tuple[int, str]]] = {}
    for number, junit in sorted(junits.items()):
        try:
            skipped = course_tests_skipped(junit) if junit else []
        except RecordError:
            continue
        for test, reason in skipped:
            by_reason.setdefault(reason, []).append((number, test))
    items = []
    for reason, where in by_reason.items():
        numbers = ", ".join(sorted({f"{number:02d}" for number, _ in where}))
        detail = f"{len(where)} test(s) at checkpoint(s) {numbers}, e.g. `{where[0][1]}`"
        items.append(Item(SKIPPED, reason, detail))
    return items
