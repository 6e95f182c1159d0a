"""Read back what the gate's nox run left behind: run records, JUnit XML, vacuity verdicts.

Only what this gate run wrote counts. The run records are read by checkpoint: of the records
written since the gate started, a checkpoint's is the one that carries the gate's run id and
the gated commit (matrix/run_identity.py); its JUnit file is the one of the record's own key.
Other files must have been written after the gate started. A record left by an earlier run
says nothing about these commits, so a checkpoint without a fresh one is a blocker ("no
record", "stale record"), never a pass; so are two records of one checkpoint, or one that
cannot be read. A record must also name the implementation the gate was asked to test, and
nox must agree with it about how the session ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matrix.gate.items import SKIPPED, Item
from matrix.gate.verdict import CheckOutcome, CheckpointOutcome
from matrix.junit import course_tests_skipped, tests_failing
from matrix.layout import Layout
from matrix.manifest import checkpoint_session
from matrix.records import (
    CheckpointRun,
    RecordError,
    Status,
    claim_problems,
    invalid_run,
    load_run,
    total_of,
)
from matrix.run_identity import short_commit
from matrix.sessions.vacuity import load_vacuity, verdict_path

# nox's word for a session that succeeded (its --report JSON).
NOX_SUCCESS = "success"
# Leeway for file systems that keep modification times in whole seconds.
CLOCK_SLACK = 1.0
# The gate's own words for a record it cannot use; the others are matrix.records.Status.
STALE_RECORD = "stale record"
WRONG_IMPLEMENTATION = "wrong implementation"


@dataclass(frozen=True)
class FreshRecord:
    """A run record written since the gate started, where it was read from."""

    path: Path
    run: CheckpointRun


@dataclass(frozen=True)
class Freshness:
    """Files of this gate run: under the layout's reports, written after `started`."""

    layout: Layout
    started: float
    # The run id the gate gave its nox run, and the commit it gated: what a record must carry.
    run_id: str
    commit: str

    def fresh(self, path: Path) -> Path | None:
        """path (relative to the root) made absolute, if it was written since the gate started."""
        path = self.layout.at(path)
        if path.is_file() and path.stat().st_mtime >= self.started - CLOCK_SLACK:
            return path
        return None

    def records(self) -> dict[int, list[FreshRecord]]:
        """The records written since the gate started, by the checkpoint each is of (one that
        cannot be read: the checkpoint its file name says, 0 if none)."""
        runs = self.layout.at(self.layout.runs)
        by_checkpoint: dict[int, list[FreshRecord]] = {}
        for path in sorted(runs.glob("checkpoint-*.json")):
            if self.fresh(path) is not None:
                run = load_run(path)
                by_checkpoint.setdefault(run.checkpoint, []).append(FreshRecord(path, run))
        return by_checkpoint

    def stamped(self, run: CheckpointRun) -> bool:
        """Whether run carries this gate run's id and the gated commit."""
        return (run.run_id, run.commit) == (self.run_id, self.commit)


@dataclass(frozen=True)
class CheckpointReading:
    outcome: CheckpointOutcome
    # The JUnit file of this run's record of the checkpoint, if there is a fresh one.
    junit: Path | None = None


def checkpoint_outcome(
    files: Freshness, fresh: list[FreshRecord], number: int, digest: str, nox_result: str | None
) -> CheckpointReading:
    """Checkpoint `number`'s outcome from `fresh`, the records of it written during this run."""
    ours = [
        record
        for record in fresh
        if record.run.status == Status.INVALID_RECORD or files.stamped(record.run)
    ]
    if not ours:
        if fresh:
            run = fresh[-1].run
            return CheckpointReading(
                CheckpointOutcome(
                    number,
                    STALE_RECORD,
                    f"the record is of {run.identity.describe()}, not of this gate's run "
                    f"{files.run_id} on commit {short_commit(files.commit)}",
                )
            )
        return CheckpointReading(
            CheckpointOutcome(
                number,
                Status.NO_RECORD,
                f"{checkpoint_session(number)} left no run record this time "
                f"(nox: {nox_result or Status.NOT_RUN})",
            )
        )
    if len(ours) > 1:
        paths = ", ".join(str(record.path) for record in ours)
        return CheckpointReading(
            CheckpointOutcome(
                number,
                Status.INVALID_RECORD,
                f"this run left {len(ours)} records of checkpoint {number:02d} ({paths}), not "
                "one: did another nox write to the same reports folder? run the gate again",
            )
        )
    [record] = ours
    return _judged(files, record, number, digest, nox_result)


def _judged(
    files: Freshness, record: FreshRecord, number: int, digest: str, nox_result: str | None
) -> CheckpointReading:
    run = record.run
    if run.status == Status.INVALID_RECORD:
        return CheckpointReading(CheckpointOutcome(number, run.status, run.detail))
    total = total_of(run.suites.values())
    outcome = CheckpointOutcome(number, run.status, run.detail, total)
    # The gate's own records: only what they claim of themselves can be judged here.
    problems = claim_problems(run, None)
    if problems:
        detail = invalid_run(record.path, problems).detail
        return CheckpointReading(CheckpointOutcome(number, Status.INVALID_RECORD, detail))
    junit = files.fresh(files.layout.junit / f"{run.key}.xml")
    if junit is not None:
        try:
            outcome.failures = tests_failing(junit)
        except RecordError as error:
            return CheckpointReading(
                CheckpointOutcome(number, Status.INVALID_RECORD, str(error), total), junit
            )
    if run.implementation_digest != digest:
        outcome.status = WRONG_IMPLEMENTATION
        outcome.detail = (
            f"the record tested {run.implementation} (sha256 {run.implementation_digest}), "
            f"not the gated one (sha256 {digest})"
        )
    elif run.status == Status.PASSED and nox_result != NOX_SUCCESS:
        outcome.status = Status.FAILED
        outcome.detail = (
            f"its record says passed but nox says the session {nox_result or 'did not run'}"
        )
    return CheckpointReading(outcome, junit)


def vacuity_outcome(files: Freshness, number: int, nox_result: str | None) -> CheckOutcome:
    name = f"vacuity {number:02d}"
    verdict = files.fresh(verdict_path(files.layout, number))
    if verdict is None:
        return CheckOutcome(
            name,
            nox_result or Status.NOT_RUN,
            "it did not get as far as running the suite (build, install or pytest broke)",
        )
    try:
        result = load_vacuity(verdict)
    except RecordError as error:
        return CheckOutcome(name, Status.INVALID_RECORD, str(error))
    if result.vacuous or result.unjudged:
        not_collected = [f"{file} (not collected)" for file in result.unjudged]
        return CheckOutcome(name, Status.FAILED, vacuous=[*result.vacuous, *not_collected])
    if nox_result != NOX_SUCCESS:
        return CheckOutcome(
            name, nox_result or Status.NOT_RUN, "nox says the session did not succeed"
        )
    return CheckOutcome(name, Status.PASSED, "every test fails with the module stubbed")


def lint_outcome(nox_result: str | None, log: Path) -> CheckOutcome:
    if nox_result == NOX_SUCCESS:
        return CheckOutcome("lint", Status.PASSED)
    return CheckOutcome("lint", nox_result or Status.NOT_RUN, f"its output is in {log}")


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
