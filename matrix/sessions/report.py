"""The matrix report: one row per checkpoint run, one column per suite.

A cell reads `passed/failed/skipped seconds`. Every checkpoint of the manifest gets a row:
one that never ran says "not run", one that broke says how (build failed, install failed,
crashed, timed out), so nothing silently drops out of the table. A record of another commit,
or of an earlier nox run than the one reporting, keeps its row but is marked stale and counts
for nothing: neither in the totals nor in the verdict. The same table is printed, written as
Markdown (for GitHub's step summary) and as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.manifest import Manifest, checkpoint_session
from matrix.project import Project
from matrix.records import (
    CHECKPOINT_SUITE,
    CheckpointRun,
    ExtrasCount,
    Status,
    SuiteCount,
    claim_problems,
    invalid_run,
    load_runs,
    record_path,
    total_of,
)
from matrix.run_identity import RunIdentity, current_run_id, repo_commit, short_commit
from matrix.tables import append_step_summary, markdown_table, terminal_table

# A record of another commit, or of an earlier nox run than the one reporting: shown, not counted.
STALE = "stale"
MARKDOWN_NAME = "matrix.md"
JSON_NAME = "matrix.json"
NOT_IN_CHECKPOINT = "-"
# Rows that stand for no readable record: they have no commit, run or implementation to show.
WITHOUT_RECORD = (Status.NOT_RUN, Status.INVALID_RECORD, Status.NO_RECORD)
# The runs a CI workflow started, as ci_matrix's include list (JSON: session, python, numpy):
# the combined report shows each one, a job that wrote no record as a failing NO_RECORD row.
EXPECTED_RUNS_ENV = "MATRIX_EXPECTED_RUNS"


class ExpectedRunsError(ValueError):
    """MATRIX_EXPECTED_RUNS cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class ExpectedRun:
    checkpoint: int
    python: str
    numpy_choice: str


def expected_runs(manifest: Manifest, text: str | None) -> list[ExpectedRun]:
    """The runs MATRIX_EXPECTED_RUNS (ci_matrix's include list) names; [] when it is unset."""
    if not text:
        return []
    sessions = {module.session: module.number for module in manifest.modules}
    try:
        entries = json.loads(text)
        return [
            ExpectedRun(sessions[entry["session"]], str(entry["python"]), entry["numpy"])
            for entry in entries
        ]
    except (ValueError, TypeError, KeyError) as error:
        raise ExpectedRunsError(
            f"{EXPECTED_RUNS_ENV} must be ci_matrix's include list, a JSON list of "
            f'{{"session": "moduleNN", "python": "3.12", "numpy": "latest"}} naming sessions '
            f"of matrix/modules.toml ({type(error).__name__}: {error}); unset it outside CI"
        ) from error


@dataclass(frozen=True)
class Current:
    """What a record must match to count: the commit the repository is at now and, when this
    report runs in a nox invocation that also wrote records (`nox`), that invocation's run id
    ("": a report run on its own takes records of any run of this commit)."""

    commit: str
    run_id: str

    def why_stale(self, run: CheckpointRun) -> str:
        """Why a record does not count; "" when it does (and for a 'not run' row, and an
        invalid record, whose commit and run cannot be trusted: it always fails the verdict)."""
        if run.status in WITHOUT_RECORD:
            return ""
        if run.commit != self.commit:
            return f"not the current commit {short_commit(self.commit)}"
        if self.run_id and run.run_id != self.run_id:
            return f"not this nox run ({self.run_id})"
        return ""


def current_for(root: Path, runs: list[CheckpointRun]) -> Current:
    run_id = current_run_id()
    this_invocation_wrote = bool(run_id) and any(run.run_id == run_id for run in runs)
    return Current(repo_commit(root), run_id if this_invocation_wrote else "")


def matrix_rows(
    manifest: Manifest, runs: list[CheckpointRun], expected: Sequence[ExpectedRun] = ()
) -> list[CheckpointRun]:
    """The runs in checkpoint order, plus a 'no record' row for each expected run without a
    record and a 'not run' row for each checkpoint still without one."""
    have = {(run.checkpoint, run.python, run.numpy_choice) for run in runs}
    lost = [
        CheckpointRun(
            want.checkpoint,
            python=want.python,
            numpy_choice=want.numpy_choice,
            status=Status.NO_RECORD,
            detail="its CI job wrote no record (runner lost, or stopped by its timeout?)",
        )
        for want in expected
        if (want.checkpoint, want.python, want.numpy_choice) not in have
    ]
    ran = {run.checkpoint for run in runs + lost}
    missing = [
        CheckpointRun(n, python="", status=Status.NOT_RUN) for n in manifest.numbers if n not in ran
    ]
    return sorted(runs + lost + missing, key=lambda run: (run.checkpoint, run.python, run.numpy))


def suite_columns(manifest: Manifest) -> list[str]:
    return [CHECKPOINT_SUITE] + [module.suite for module in manifest.modules]


def checkpoint_suites(manifest: Manifest, number: int) -> tuple[str, ...] | None:
    """The suites a run of checkpoint `number` reports: the guard and 01..number (None for a
    checkpoint the manifest no longer has)."""
    if number not in manifest.numbers:
        return None
    return (CHECKPOINT_SUITE, *(module.suite for module in manifest.checkpoint(number)))


def judged(project: Project, rows: list[CheckpointRun], current: Current) -> list[CheckpointRun]:
    """The rows, each record whose claims do not hold replaced by its invalid-record row
    (claim_problems). A stale record is judged by its own counts only: the manifest of its
    commit may have other suites than this one."""
    manifest, layout = project.manifest, project.layout
    checked = []
    for run in rows:
        problems = []
        if run.status not in WITHOUT_RECORD:
            stale = current.why_stale(run)
            suites = None if stale else checkpoint_suites(manifest, run.checkpoint)
            problems = claim_problems(run, suites)
        checked.append(invalid_run(record_path(layout, run.key), problems) if problems else run)
    return checked


def cell(count: SuiteCount | None) -> str:
    if count is None:
        return NOT_IN_CHECKPOINT
    return f"{count.passed}/{count.failed}/{count.skipped} {count.seconds:.1f}s"


def seconds(value: float | None) -> str:
    return NOT_IN_CHECKPOINT if value is None else f"{value:.1f}s"


def status_text(run: CheckpointRun, current: Current) -> str:
    """The status, its detail, every module file that does not compile and every test file
    that could not be collected; a stale record's status is prefixed with where it comes from."""
    parts = [run.detail] if run.detail else []
    parts += [
        f"{file} does not compile ({problem})" for file, problem in run.broken_modules.items()
    ]
    parts += [
        f"{file} could not be collected ({lost} tests lost)"
        for file, lost in run.uncollectable.items()
    ]
    text = str(run.status) if not parts else f"{run.status}: {'; '.join(parts)}"
    if current.why_stale(run):
        return f"{STALE} ({run.identity.describe()}): {text}"
    return text


def table(manifest: Manifest, rows: list[CheckpointRun], current: Current) -> list[list[str]]:
    header = ["checkpoint", "python", "numpy", "status", "install", "tests"]
    header += [*suite_columns(manifest), "extras"]
    body = [
        [
            f"{run.checkpoint:02d}",
            run.python or NOT_IN_CHECKPOINT,
            run.numpy or NOT_IN_CHECKPOINT,
            status_text(run, current),
            seconds(run.install_seconds),
            seconds(run.test_seconds),
        ]
        + [cell(run.suites.get(suite)) for suite in suite_columns(manifest)]
        + [NOT_IN_CHECKPOINT if run.test_seconds is None else str(run.extras)]
        for run in rows
    ]
    return [header, *body]


def totals(rows: list[CheckpointRun]) -> tuple[SuiteCount, ExtrasCount]:
    total = total_of(count for run in rows for count in run.suites.values())
    return total, sum((run.extras for run in rows), ExtrasCount())


def closing_line(rows: list[CheckpointRun], current: Current) -> str:
    """The totals of the current rows; stale rows are only counted as such."""
    total, extras = totals([run for run in rows if not current.why_stale(run)])
    stale = sum(1 for run in rows if current.why_stale(run))
    invalid = sum(1 for run in rows if run.status == Status.INVALID_RECORD)
    return (
        f"matrix: {total.passed} passed, {total.failed} failed, {total.skipped} skipped "
        f"(course API); extras: {extras}"
        + (f"; {STALE} rows not counted: {stale}" if stale else "")
        + (f"; {Status.INVALID_RECORD}s: {invalid}" if invalid else "")
    )


def run_lines(rows: list[CheckpointRun], current: Current) -> list[str]:
    """One line per run the rows come from: its commit, run id and start, its checkpoints,
    and why it is stale if it is."""
    runs: dict[RunIdentity, list[CheckpointRun]] = {}
    for run in rows:
        if run.status not in WITHOUT_RECORD:
            runs.setdefault(run.identity, []).append(run)
    lines = []
    for identity, members in runs.items():
        numbers = ", ".join(f"{run.checkpoint:02d}" for run in members)
        why = current.why_stale(members[0])
        lines.append(
            f"{'checkpoints' if len(members) > 1 else 'checkpoint'} {numbers}: "
            f"{identity.describe()}" + (f" ({STALE}: {why})" if why else "")
        )
    return lines


def implementation_line(rows: list[CheckpointRun]) -> str:
    """Which tinytorch the rows tested: 'reference' or a package folder, with its digest.

    Rows of one implementation usually share a digest; a learner who edits between runs gets
    one entry per digest, each naming its checkpoints, so no row is misattributed.
    """
    tested: dict[tuple[str, str], list[str]] = {}
    for run in rows:
        if run.status not in WITHOUT_RECORD:
            key = (run.implementation, run.implementation_digest or "unknown")
            tested.setdefault(key, []).append(f"{run.checkpoint:02d}")
    if not tested:
        return "implementation: none tested yet"
    if len(tested) == 1:
        ((label, digest),) = tested
        return f"implementation: {label} (module files sha256 {digest})"
    parts = [
        f"{label} (module files sha256 {digest}) for {', '.join(numbers)}"
        for (label, digest), numbers in tested.items()
    ]
    return "implementations: " + "; ".join(parts)


def render_markdown(cells: list[list[str]], rows: list[CheckpointRun], current: Current) -> str:
    runs = "".join(f"- {line}\n" for line in run_lines(rows, current))
    return (
        f"## Checkpoint matrix\n\n{implementation_line(rows)}\n\n"
        "Each suite cell counts the course-API tests, `passed/failed/skipped seconds`; `-` "
        "means the suite is not part of that checkpoint. `extras` counts the tests of the "
        "reference's extras (API.md, Two tiers): a missing extra never fails a checkpoint. "
        f"A `{STALE}` row is a record of another commit, or of an earlier nox run than this "
        "report's: shown, never counted.\n\n"
        + markdown_table(cells)
        + "\n\n"
        + (f"{runs}\n" if runs else "")
        + f"{closing_line(rows, current)}\n"
    )


def verdict(rows: list[CheckpointRun], current: Current, manifest: Manifest) -> str:
    """Why the report session fails ("" if it passes): a current row that did not pass, or no
    current row at all (a table of stale or missing runs proves nothing about this commit)."""
    counted = [run for run in rows if run.status != Status.NOT_RUN and not current.why_stale(run)]
    if not counted:
        first, last = manifest.numbers[0], manifest.numbers[-1]
        return (
            f"no current run record (commit {short_commit(current.commit)}"
            + (f", nox run {current.run_id}" if current.run_id else "")
            + f"): run `nox -s moduleNN` for one checkpoint ({checkpoint_session(first)}.."
            f"{checkpoint_session(last)}), or `nox` for all of them and this report"
        )
    if any(run.status != Status.PASSED for run in counted):
        return "at least one checkpoint did not pass (see its row above)"
    return ""


def write_report(project: Project, expected: Sequence[ExpectedRun] = ()) -> tuple[str, str]:
    """Write the Markdown and JSON reports; return the terminal text and why the report
    fails ("" when every current row passed)."""
    manifest, layout = project.manifest, project.layout
    root = manifest.root
    runs = load_runs(root, layout.runs)
    current = current_for(root, runs)
    rows = judged(project, matrix_rows(manifest, runs, expected), current)
    cells = table(manifest, rows, current)
    markdown = render_markdown(cells, rows, current)
    write_atomically(layout.at(layout.report(MARKDOWN_NAME)), markdown)
    document = {
        "current": asdict(current),
        "suites": suite_columns(manifest),
        "rows": [{**asdict(run), STALE: bool(current.why_stale(run))} for run in rows],
    }
    write_atomically(layout.at(layout.report(JSON_NAME)), json.dumps(document, indent=2) + "\n")
    append_step_summary(markdown)
    terminal = [terminal_table(cells), *run_lines(rows, current)]
    terminal += [implementation_line(rows), closing_line(rows, current)]
    return "\n".join(terminal), verdict(rows, current, manifest)
