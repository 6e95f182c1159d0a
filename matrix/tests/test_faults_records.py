"""Faults in what a run leaves behind (issue 14): a truncated record or JUnit file, a record
whose claims do not hold, a module file that does not compile. Each ends in a named row or
message; no traceback, no row lost, nothing shown as passed that did not pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix.gate.outcomes import Freshness, checkpoint_outcome, skip_items
from matrix.impl import reference_implementation
from matrix.layout import Layout
from matrix.manifest import load_manifest
from matrix.records import CheckpointRun, SuiteCount, load_runs, save_run
from matrix.run_identity import RUN_ID_ENV
from matrix.sessions.checkpoint_status import charge_broken_modules
from matrix.sessions.report import (
    EXPECTED_RUNS_ENV,
    ExpectedRunsError,
    expected_runs,
    write_report,
)
from matrix.tests.repo_helpers import BETA_MODULE, BETA_TEST, matrix_cli, nox, project_at

PYTHON = "3.11"
GOOD_SUITES = {"guard": SuiteCount(2, 0, 0, 0.1), "01_alpha": SuiteCount(3, 0, 0, 0.2)}
# A record cut short while "status" was being written: json says where the string starts.
TRUNCATED_RECORD = '{\n  "checkpoint": 2,\n  "python": "3.11",\n  "status": "pass'
TRUNCATED_PROBLEM = (
    "reports/runs/checkpoint-02-py3.11.json is not valid JSON at line 4, column 13 "
    "(Unterminated string starting at): rerun `nox -s module02` to write it again, or delete it"
)
# A JUnit file cut short inside its second element (expat names where that element starts).
TRUNCATED_JUNIT = '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="py'


@pytest.fixture(autouse=True)
def _no_run_of_nox(monkeypatch):
    """Records without a commit are current here (the fake repo is not a git repository)."""
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    monkeypatch.delenv("MATRIX_REPORTS_DIR", raising=False)


def good_record(root: Path) -> None:
    save_run(Layout(root), CheckpointRun(1, PYTHON, "passed", test_seconds=1.0, suites=GOOD_SUITES))


def write_record(root: Path, name: str, text: str) -> None:
    """A record file under reports/runs/ as a hand (or a crash) left it."""
    (root / "reports/runs").mkdir(parents=True, exist_ok=True)
    (root / "reports/runs" / name).write_text(text)


def rows_of(text: str) -> dict[str, str]:
    """The table's rows by checkpoint, the row's text after the checkpoint and python."""
    return {line[:2]: line for line in text.splitlines()[2:] if line[:2].isdigit()}


# Fault 1: truncated files.


def test_a_truncated_record_is_a_named_failing_row_and_every_other_row_stays(fake_repo):
    good_record(fake_repo)
    write_record(fake_repo, "checkpoint-02-py3.11.json", TRUNCATED_RECORD)
    text, failure = write_report(project_at(fake_repo))
    rows = rows_of(text)
    assert rows["01"].split()[:6] == ["01", PYTHON, "-", "passed", "-", "1.0s"]
    assert "2/0/0 0.1s  3/0/0 0.2s" in rows["01"]
    assert rows["02"].split()[:4] == ["02", PYTHON, "-", "invalid"]
    assert f"invalid record: {TRUNCATED_PROBLEM}" in rows["02"]
    assert failure == "at least one checkpoint did not pass (see its row above)"
    assert text.splitlines()[-1] == (
        "matrix: 5 passed, 0 failed, 0 skipped (course API); extras: 0 passed, 0 failed, "
        "0 missing; invalid records: 1"
    )
    document = json.loads((fake_repo / "reports/matrix.json").read_text())
    assert [(row["checkpoint"], row["status"], row["stale"]) for row in document["rows"]] == [
        (1, "passed", False),
        (2, "invalid record", False),
    ]
    assert TRUNCATED_PROBLEM in (fake_repo / "reports/matrix.md").read_text()


def test_nox_report_on_a_truncated_record_fails_naming_it_without_a_traceback(
    fake_repo_with_tools,
):
    good_record(fake_repo_with_tools)
    write_record(fake_repo_with_tools, "checkpoint-02-py3.11.json", TRUNCATED_RECORD)
    report = nox(fake_repo_with_tools, "-s", "report")
    assert report.returncode != 0
    assert "Traceback" not in report.stdout + report.stderr, report.stderr
    assert TRUNCATED_PROBLEM in report.stdout
    assert "at least one checkpoint did not pass" in report.stderr


def test_misplaced_names_an_unreadable_junit_and_carries_on(fake_repo_with_tools):
    root = fake_repo_with_tools
    (root / "tests/01_alpha/test_uses_beta.py").write_text(BETA_TEST)
    junit = root / "reports/junit/checkpoint-01-py3.11.xml"
    junit.parent.mkdir(parents=True)
    junit.write_text(TRUNCATED_JUNIT)
    run = matrix_cli(root, "misplaced")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stdout == (
        "tests/01_alpha/test_uses_beta.py imports tinytorch.core.beta (module 02, line 1): it "
        "cannot run at checkpoint 01; move it to tests/02_beta/ [static only: "
        f"{junit} is not valid XML at line 2, column 12 (unclosed token; truncated?): "
        "rerun `nox -s module01` to write it again, or delete it]\n"
    )


def freshness(root: Path) -> Freshness:
    return Freshness(Layout(root), 0.0, run_id="gate-run", commit="")


def gate_outcome(root: Path, number: int):
    """What the gate makes of checkpoint `number` from the records under root/reports/runs."""
    files = freshness(root)
    return checkpoint_outcome(files, files.records().get(number, []), number, "", "success")


def test_the_gate_names_a_truncated_record(fake_repo):
    write_record(fake_repo, "checkpoint-02-py3.11.json", TRUNCATED_RECORD)
    outcome = gate_outcome(fake_repo, 2).outcome
    assert (outcome.status, outcome.detail) == (
        "invalid record",
        TRUNCATED_PROBLEM.replace("reports/", f"{fake_repo}/reports/", 1),
    )


def test_the_gate_names_a_truncated_junit_beside_a_passing_record(fake_repo):
    suites = {**GOOD_SUITES, "02_beta": SuiteCount(1, 0, 0)}
    save_run(
        Layout(fake_repo), CheckpointRun(2, PYTHON, "passed", suites=suites, run_id="gate-run")
    )
    junit = fake_repo / "reports/junit/checkpoint-02-py3.11.xml"
    junit.parent.mkdir(parents=True)
    junit.write_text(TRUNCATED_JUNIT)
    outcome = gate_outcome(fake_repo, 2).outcome
    assert outcome.status == "invalid record"
    assert outcome.detail == (
        f"{junit} is not valid XML at line 2, column 12 (unclosed token; truncated?): "
        "rerun `nox -s module02` to write it again, or delete it"
    )
    assert skip_items({2: junit}) == [], "its skips cannot be read; the outcome says why"


# Fault 2: a record whose claims do not hold.

COUNT = {"passed": 1, "failed": 0, "skipped": 0, "seconds": 0.5}
WHOLE = {"guard": COUNT, "01_alpha": COUNT, "02_beta": COUNT}


def record_02(**changes) -> dict:
    return {"checkpoint": 2, "python": PYTHON, "status": "passed", "suites": WHOLE} | changes


HAND_EDITED = {
    "passed-with-no-counts": (
        record_02(suites={}),
        "says passed with no counts for suites guard, 01_alpha, 02_beta: record incomplete",
    ),
    "passed-without-its-own-suite": (
        record_02(suites={"guard": COUNT, "01_alpha": COUNT}),
        "says passed with no counts for suites 02_beta: record incomplete",
    ),
    "passed-with-a-suite-of-zeros": (
        record_02(suites={**WHOLE, "02_beta": {**COUNT, "passed": 0}}),
        "says passed with no counts for suites 02_beta: record incomplete",
    ),
    "passed-with-failures": (
        record_02(suites={**WHOLE, "01_alpha": {**COUNT, "failed": 2}}),
        "says passed but counts 2 failed test(s)",
    ),
    "passed-with-an-uncollectable-file": (
        record_02(uncollectable={"tests/02_beta/test_beta.py": "1"}),
        "says passed but names files that could not be collected or compiled: "
        "tests/02_beta/test_beta.py",
    ),
    "missing-key": (
        {"checkpoint": 2, "python": PYTHON, "suites": WHOLE},
        "missing key 'status'",
    ),
    "count-of-the-wrong-type": (
        record_02(suites={**WHOLE, "02_beta": {**COUNT, "passed": "1"}}),
        "'suites.02_beta.passed' is a string (\"1\"), not int",
    ),
    "negative-count": (
        record_02(suites={**WHOLE, "02_beta": {**COUNT, "skipped": -1}}),
        "'suites.02_beta.skipped' is negative (-1)",
    ),
    "suites-not-an-object": (record_02(suites=[]), "'suites' is a list, not an object"),
    "unknown-key": (record_02(verdict="GO"), "unknown key 'verdict'"),
    "not-an-object": ([record_02()], "holds a list, not a JSON object"),
    "another-checkpoint-s-record": (
        record_02(checkpoint=1),
        "holds the record of checkpoint-01-py3.11, not of checkpoint-02-py3.11 (copied by hand?)",
    ),
}


@pytest.mark.parametrize(("raw", "problem"), HAND_EDITED.values(), ids=HAND_EDITED)
def test_a_hand_edited_record_is_a_named_failing_row(fake_repo, raw, problem):
    good_record(fake_repo)
    write_record(fake_repo, "checkpoint-02-py3.11.json", json.dumps(raw))
    text, failure = write_report(project_at(fake_repo))
    rows = rows_of(text)
    assert rows["01"].split()[3] == "passed"
    assert (
        f"invalid record: reports/runs/checkpoint-02-py3.11.json {problem}: rerun "
        "`nox -s module02` to write it again, or delete it"
    ) in rows["02"], text
    assert failure == "at least one checkpoint did not pass (see its row above)"
    assert text.splitlines()[-1].startswith("matrix: 5 passed, 0 failed, 0 skipped")
    assert text.splitlines()[-1].endswith("; invalid records: 1")


def test_a_suite_outside_its_checkpoint_is_named(fake_repo):
    raw = {"checkpoint": 1, "python": PYTHON, "status": "failed", "suites": WHOLE}
    write_record(fake_repo, "checkpoint-01-py3.11.json", json.dumps(raw))
    text, failure = write_report(project_at(fake_repo))
    assert (
        "invalid record: reports/runs/checkpoint-01-py3.11.json has counts for 02_beta, not "
        "part of checkpoint 01: rerun `nox -s module01`"
    ) in rows_of(text)["01"]
    assert failure


def test_a_stale_record_claiming_a_pass_with_no_counts_is_named_and_fails(fake_repo):
    """Not shown as a harmless stale row: its own counts contradict it, whatever its commit."""
    raw = record_02(suites={}, commit="0123456789abcdef0123456789abcdef01234567")
    write_record(fake_repo, "checkpoint-02-py3.11.json", json.dumps(raw))
    text, failure = write_report(project_at(fake_repo))
    assert (
        "invalid record: reports/runs/checkpoint-02-py3.11.json says passed with no counts "
        "for any suite: record incomplete"
    ) in rows_of(text)["02"]
    assert failure == "at least one checkpoint did not pass (see its row above)"


def test_a_record_older_than_a_field_still_loads(fake_repo):
    """Keys with defaults may be missing (records written before the field existed)."""
    raw = {"checkpoint": 2, "python": PYTHON, "status": "failed", "suites": WHOLE}
    write_record(fake_repo, "checkpoint-02-py3.11.json", json.dumps(raw))
    (run,) = load_runs(fake_repo, Layout(fake_repo).runs)
    assert (run.status, run.suites["02_beta"], run.broken_modules) == (
        "failed",
        SuiteCount(1, 0, 0, 0.5),
        {},
    )


# Fault 3: a module file that does not compile.

BROKEN_LINE = "def broken(:\n"


def test_a_module_that_does_not_compile_is_charged_to_its_suite_and_named(fake_repo_with_tools):
    root = fake_repo_with_tools
    (root / "tests/02_beta/test_beta.py").write_text(BETA_TEST)
    (root / "tinytorch/core/beta.py").write_text(BETA_MODULE + BROKEN_LINE)
    broken_at = BETA_MODULE.count("\n") + 1
    run = nox(root, "-s", "module02")
    assert run.returncode != 0
    (record,) = load_runs(root, Layout(root).runs)
    assert list(record.broken_modules) == ["tinytorch/core/beta.py"]
    assert record.broken_modules["tinytorch/core/beta.py"].startswith(f"line {broken_at}: ")
    report = nox(root, "-s", "report")
    assert report.returncode != 0
    row = rows_of(report.stdout)["02"]
    assert f"failed: tinytorch/core/beta.py does not compile (line {broken_at}: " in row
    document = json.loads((root / "reports/matrix.json").read_text())
    beta = document["rows"][1]["suites"]["02_beta"]
    assert (beta["passed"], beta["failed"], beta["skipped"]) == (0, 1, 0), "test_beta.py, lost"


def test_a_broken_module_whose_suite_reported_nothing_is_charged_its_tests(fake_repo):
    """The suite's column never reads `-` for a checkpoint that has it: its tests are lost."""
    (fake_repo / "tests/02_beta/test_beta.py").write_text(BETA_TEST + "\n\ndef test_more():\n")
    (fake_repo / "tinytorch/core/beta.py").write_text(BETA_MODULE + BROKEN_LINE)
    manifest = load_manifest(fake_repo)
    run = CheckpointRun(2, PYTHON, "failed", suites={"guard": SuiteCount(0, 1, 0)})
    charge_broken_modules(Layout(fake_repo), run, manifest, reference_implementation(manifest))
    assert run.suites["02_beta"] == SuiteCount(0, 2, 0), "two test functions in its source"
    assert list(run.broken_modules) == ["tinytorch/core/beta.py"]
    assert run.broken_modules["tinytorch/core/beta.py"].startswith(
        f"line {BETA_MODULE.count(chr(10)) + 1}: "
    )


# Fault: a CI job that died before its session wrote a record (runner lost, job timeout).


def test_an_expected_run_without_a_record_is_a_failing_row_of_its_own(fake_repo):
    good_record(fake_repo)
    manifest = load_manifest(fake_repo)
    expected = expected_runs(
        manifest,
        json.dumps(
            [
                {"session": "module01", "python": PYTHON, "numpy": "latest"},
                {"session": "module01", "python": "3.12", "numpy": "latest"},
                {"session": "module02", "python": "3.10", "numpy": "oldest"},
            ]
        ),
    )
    text, failure = write_report(project_at(manifest.root), expected)
    lost = [line for line in text.splitlines() if "no record" in line]
    assert [line.split()[:2] for line in lost] == [["01", "3.12"], ["02", "3.10"]]
    assert all("its CI job wrote no record" in line for line in lost)
    assert failure == "at least one checkpoint did not pass (see its row above)"
    # Without the expectation the same records pass: checkpoint 02 is merely not run.
    assert write_report(project_at(manifest.root))[1] == ""


@pytest.mark.parametrize(
    "text",
    ['[{"session": "module09", "python": "3.12", "numpy": "latest"}]', "[{", '[{"python": 3}]'],
)
def test_an_unreadable_expectation_is_refused_by_name(fake_repo, text):
    with pytest.raises(ExpectedRunsError, match=EXPECTED_RUNS_ENV):
        expected_runs(load_manifest(fake_repo), text)
