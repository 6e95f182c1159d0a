"""The release gate: `nox -s gate -- --base REF [--impl PATH] [--accept "KIND: PATTERN"]`.

GO or NO-GO for REF...HEAD:

1. Refuses what it cannot gate honestly: a dirty tree, a REF that is not a commit, an
   implementation that is not there or lacks a module file a selected checkpoint needs, an
   acknowledgement it cannot read.
2. Selects the checkpoints the changed files reach (matrix/gate/selection.py), the vacuity checks
   of the modules whose code or suite changed, and lint; finds misplaced tests statically.
3. Runs them all in one `python -m nox -j auto` (checkpoints side by side), its output shown
   as it comes and kept in <reports>/gate-nox.log, every record stamped with this gate's run id.
4. Reads back only what this run wrote (matrix/gate/outcomes.py).
5. Compares the branch's suites with the base's in the environments the run left: inventory,
   the base's changed tests and guard on the head's code (matrix/gate/base.py), and the
   changed modules' planted bugs (matrix/gate/mutants.py). Each finding is an item that only
   a `Gate-Accept:` trailer or --accept clears (matrix/gate/items.py).
6. Writes the verdict (matrix/gate/verdict.py) as Markdown (matrix/gate/render.py) to
   <reports>/gate.md (reports/ for the reference, reports/impl/<key>/ for another
   implementation; matrix/layout.py) and prints it. Exit status 0 is GO, 1 is NO-GO.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.gate.base import HeadEnvironments, compare_with_base, extract_base
from matrix.gate.changes import changed_files, require_clean_tree
from matrix.gate.items import (
    ACCEPT_FLAG,
    TRAILER,
    AcknowledgementError,
    acknowledgements_in_commits,
    parse_acknowledgement,
)
from matrix.gate.mutants import compare_mutants
from matrix.gate.outcomes import (
    Freshness,
    checkpoint_outcome,
    lint_outcome,
    skip_items,
    vacuity_outcome,
)
from matrix.gate.render import render
from matrix.gate.selection import Selection, select_checkpoints
from matrix.gate.verdict import GO, CheckOutcome, CheckpointOutcome, GateResult
from matrix.git import GitError, resolve_commit
from matrix.impl import (
    IMPL_ENV,
    REPORTS_ENV,
    Implementation,
    ImplError,
    layout_of,
    resolve_implementation,
)
from matrix.layout import Layout
from matrix.manifest import (
    Manifest,
    ManifestError,
    checkpoint_session,
    load_manifest,
    vacuity_session,
)
from matrix.misplaced import confirm, find_misplaced, latest_junit
from matrix.pytest_env import implementation_options
from matrix.records import Status
from matrix.run_identity import RUN_ID_ENV

PROG = "nox -s gate --"
USAGE = 'nox -s gate -- --base REF [--impl PATH] [--accept "KIND: PATTERN" ...]'
GATE_REPORT = "gate.md"
NOX_LOG = "gate-nox.log"
NOX_RESULTS = "gate-nox.json"
# The lint session the gate runs beside the checkpoints, and the check it reports.
LINT = "lint"
PROVISIONAL = (
    "## Gate: NO-GO\n\n**Why NO-GO**\n\n"
    "- the gate has not finished (it is running, or it crashed or was interrupted); "
    "run it again: nox -s gate -- --base REF\n"
)


class GateUsageError(ValueError):
    """The gate's arguments are wrong; the message says how to call it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2 mid-session
        raise GateUsageError(f"{PROG} {message}; usage: {USAGE}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog=PROG, description="GO or NO-GO for the commits REF...HEAD.")
    parser.add_argument("--base", required=True, help="what the branch merges into, e.g. main")
    parser.add_argument(
        "--impl",
        default=None,
        help=f"test this tinytorch instead of the reference (default: ${IMPL_ENV})",
    )
    parser.add_argument(
        ACCEPT_FLAG,
        action="append",
        default=[],
        metavar="KIND: PATTERN",
        help=f"accept findings as a {TRAILER} trailer would (matrix/gate/items.py)",
    )
    return parser.parse_args(argv)


@dataclass
class NoxRun:
    exit_code: int
    # Session name -> how nox says it ended ("success", "failed", ...), from its --report.
    sessions: dict[str, str]


def run_nox(root: Path, sessions: list[str], env: dict[str, str], reports: Path) -> NoxRun:
    """One nox, every session side by side; output shown live and kept in NOX_LOG."""
    results = reports / NOX_RESULTS
    results.unlink(missing_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "nox", "-j", "auto", "--report", str(results)]
    command += ["-s", *sessions]
    print(f"gate: {' '.join(command[1:])}", flush=True)
    with (reports / NOX_LOG).open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        exit_code = process.wait()
    ended = {}
    if results.is_file():
        ended = {
            entry["name"]: entry["result"] for entry in json.loads(results.read_text())["sessions"]
        }
    return NoxRun(exit_code, ended)


def run_gate(manifest: Manifest, argv: list[str], runner=run_nox, base_check=None) -> int:
    """Gate, write and print the report; 0 for GO, 1 for NO-GO."""
    result = GateResult()
    raw_impl = os.environ.get(IMPL_ENV)
    try:
        args = parse_args(argv)
        raw_impl = args.impl or raw_impl
    except GateUsageError as error:
        result.problems.append(str(error))
    # Decided here, once, and passed down: every path the gate reads or writes.
    layout = layout_of(manifest.root, raw_impl, os.environ.get(REPORTS_ENV))
    report = layout.at(layout.report(GATE_REPORT))
    # Until the verdict replaces it, the report says NO-GO: a gate that crashes or is
    # interrupted must not leave an earlier GO behind for someone to read.
    write_atomically(report, PROVISIONAL)
    if not result.problems:
        # What was asked for, until it resolves: a report must not say "reference" for it.
        result.implementation = raw_impl or result.implementation
        try:
            check = base_check or check_against_base
            _gate(manifest, layout, args, raw_impl, result, runner, check)
        except (GitError, ImplError, AcknowledgementError) as error:
            result.problems.append(str(error))
    text = render(result)
    write_atomically(report, text)
    print(text, flush=True)
    print(f"gate: {result.verdict} (written to {report})", flush=True)
    return 0 if result.verdict == GO else 1


def _gate(
    manifest: Manifest,
    layout: Layout,
    args: argparse.Namespace,
    raw_impl: str | None,
    result: GateResult,
    runner,
    base_check,
) -> None:
    root = manifest.root
    impl = resolve_implementation(manifest, raw_impl)
    result.implementation = impl.label
    result.implementation_digest = impl.digest(manifest)
    require_clean_tree(root)
    result.base = args.base
    result.base_commit = resolve_commit(root, args.base)
    result.head_commit = resolve_commit(root, "HEAD")
    result.acknowledgements = acknowledgements_in_commits(root, result.base_commit) + [
        parse_acknowledgement(text, ACCEPT_FLAG) for text in args.accept
    ]
    changed = changed_files(root, result.base_commit)
    selection = select_checkpoints(manifest, changed)
    result.selection = selection
    result.misplaced, result.unparsable = find_misplaced(manifest)
    if selection.checkpoints:
        try:
            # The last selected checkpoint needs every file the others need, and more.
            impl.require_files(manifest, selection.checkpoints[-1])
        except ImplError as error:
            result.problems.append(str(error))
            _nothing_ran(result, selection, "the gate could not build it")
            return
    reports = layout.at(layout.reports)
    started = time.time()
    env = _nox_env(impl, reports, result.run_id)
    nox = runner(root, sessions_to_run(selection), env, reports)
    files = Freshness(layout, started, result.run_id, result.head_commit)
    _collect(manifest, selection, result, nox, files)
    base_check(manifest, layout, impl, selection, changed, result)


def check_against_base(
    manifest: Manifest,
    layout: Layout,
    impl: Implementation,
    selection: Selection,
    changed: list[str],
    result: GateResult,
) -> None:
    """What the branch did to the suites, judged from the base's side (matrix/gate/base.py)."""
    base_tree = extract_base(layout, result.base_commit)
    try:
        base_manifest = load_manifest(base_tree)
    except ManifestError as error:
        result.problems.append(
            f"the base's manifest does not load ({error}), so the branch's suites cannot be "
            "compared with the base's; gate against a base whose manifest loads"
        )
        return
    head = HeadEnvironments(layout, manifest, impl, tuple(implementation_options(impl)))
    workers = os.cpu_count() or 2
    suites = compare_with_base(
        head, base_tree, base_manifest, selection.checkpoints, changed, workers
    )
    planted = compare_mutants(head, base_tree, base_manifest, selection.changed_modules, workers)
    for findings in (suites, planted):
        result.items += findings.items
        result.problems += findings.problems
        result.against_base += findings.done


def _nothing_ran(result: GateResult, selection: Selection, why: str) -> None:
    """Every session the gate would have run, listed as not run (each one a blocker)."""
    result.checkpoints = [
        CheckpointOutcome(number, Status.NOT_RUN, why) for number in selection.checkpoints
    ]
    result.checks = [
        CheckOutcome(f"vacuity {number:02d}", Status.NOT_RUN, why)
        for number in selection.changed_modules
    ] + [CheckOutcome(LINT, Status.NOT_RUN, why)]


def sessions_to_run(selection: Selection) -> list[str]:
    checkpoints = [checkpoint_session(number) for number in selection.checkpoints]
    vacuity = [vacuity_session(number) for number in selection.changed_modules]
    return [*checkpoints, *vacuity, LINT]


def _nox_env(impl: Implementation, reports: Path, run_id: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != IMPL_ENV}
    if not impl.reference:
        # What was pointed at, not where it was read from: the sessions resolve it the same
        # way (a course checkout's sources, not their export) and key their records by it.
        env[IMPL_ENV] = str(impl.pointed_at)
    # Stated, not recomputed by the child: the gate reads back exactly where nox wrote, and
    # only records stamped with this run's id.
    env[REPORTS_ENV] = str(reports)
    env[RUN_ID_ENV] = run_id
    return env


def _collect(
    manifest: Manifest, selection: Selection, result: GateResult, nox: NoxRun, files: Freshness
) -> None:
    layout = files.layout
    log = layout.at(layout.report(NOX_LOG))
    records = files.records()
    junits: dict[int, Path | None] = {}
    for number in selection.checkpoints:
        reading = checkpoint_outcome(
            files,
            records.get(number, []),
            number,
            result.implementation_digest,
            nox.sessions.get(checkpoint_session(number)),
        )
        result.checkpoints.append(reading.outcome)
        junits[number] = reading.junit
    # A record this run wrote that cannot be read and names no selected checkpoint: it may be
    # the one a checkpoint lacks, so it is not passed over.
    result.problems += [
        f"a run record written during this gate run cannot be read: {record.run.detail}"
        for number, fresh in sorted(records.items())
        if number not in selection.checkpoints
        for record in fresh
        if record.run.status == Status.INVALID_RECORD
    ]
    result.checks = [
        vacuity_outcome(files, number, nox.sessions.get(vacuity_session(number)))
        for number in selection.changed_modules
    ]
    result.checks.append(lint_outcome(nox.sessions.get(LINT), log))
    result.items += skip_items(junits)
    older = latest_junit(layout.at(layout.junit))
    result.misplaced = confirm(result.misplaced, lambda number: junits.get(number) or older(number))
    everything_passed = not result.blockers()
    if nox.exit_code != 0 and everything_passed:
        result.problems.append(
            f"nox exited {nox.exit_code} although every result passed; see {log}"
        )
