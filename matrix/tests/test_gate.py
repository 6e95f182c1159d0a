"""The gate in-process, with nox replaced: bad input, and never GO on what did not run.

The branch under test changes suite 02 of the fake repo, so the gate must run module02,
vacuity02 and lint. A stand-in for nox records what it was asked and leaves behind whatever
the test says a real run would (or would fail to) leave.
"""

import dataclasses
import json
import os
import time

import pytest

from matrix.gate.run import NoxRun, run_gate
from matrix.impl import HOW_TO_POINT, resolve_implementation
from matrix.manifest import load_manifest
from matrix.records import CheckpointRun, Status, SuiteCount
from matrix.run_identity import RUN_ID_ENV, this_run
from matrix.sessions.vacuity import Vacuity
from matrix.tests.repo_helpers import BETA_TEST, commit_all, git, make_repository

EXPECTED_SESSIONS = ["module02", "vacuity02", "lint"]
ALL_SUCCEEDED = dict.fromkeys(EXPECTED_SESSIONS, "success")
KEY = "checkpoint-02-py{python}"


@pytest.fixture
def branch(fake_repo, monkeypatch):
    """A repo whose branch 'feature' changes suite 02; the reference implementation."""
    monkeypatch.delenv("MATRIX_IMPL", raising=False)
    monkeypatch.delenv("MATRIX_REPORTS_DIR", raising=False)
    monkeypatch.delenv("MATRIX_NUMPY", raising=False)
    (fake_repo / ".gitignore").write_text("/reports/\n/build/\n")
    (fake_repo / "tests/02_beta/test_beta.py").write_text(BETA_TEST)
    make_repository(fake_repo)
    git(fake_repo, "checkout", "-q", "-b", "feature")
    (fake_repo / "tests/02_beta/test_beta.py").write_text(BETA_TEST + "\n\nEXTRA = 1\n")
    commit_all(fake_repo, "suite 02: a constant")
    return fake_repo


class FakeNox:
    """Stands in for run_nox: remembers the call, then writes what `leaves` says."""

    def __init__(self, leaves=lambda reports: None, run=None):
        self.calls = []
        self.leaves = leaves
        self.run = run or NoxRun(0, ALL_SUCCEEDED)

    def __call__(self, root, sessions, env, reports):
        self.calls.append((sessions, env))
        # The sessions of a real run stamp their records with the run id they are given.
        before = os.environ.get(RUN_ID_ENV)
        os.environ[RUN_ID_ENV] = env[RUN_ID_ENV]
        try:
            self.leaves(reports)
        finally:
            if before is None:
                del os.environ[RUN_ID_ENV]
            else:
                os.environ[RUN_ID_ENV] = before
        return self.run


def python_version():
    import sys

    return f"{sys.version_info.major}.{sys.version_info.minor}"


def record(reports, status=Status.PASSED, digest=None, root=None, python=None, failed=0):
    digest = digest or resolve_implementation(load_manifest(root), None).digest(load_manifest(root))
    python = python or python_version()
    run = CheckpointRun(
        2,
        python,
        status,
        suites={"guard": SuiteCount(3, 0, 0), "02_beta": SuiteCount(1 - failed, failed, 0)},
        implementation="reference",
        implementation_digest=digest,
        **dataclasses.asdict(this_run(root)),
    )
    path = reports / "runs" / f"{KEY.format(python=python)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(run)))
    return path


def vacuity_verdict(reports, vacuous=()):
    """The verdict file vacuity02 leaves (matrix/sessions/vacuity.py), written as it writes it."""
    verdict = Vacuity("02", "tests/02_beta", judged=3, vacuous=tuple(vacuous), unjudged=())
    path = reports / "vacuity" / "module-02.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(verdict)))


def no_base_check(*args):
    """The comparison with the base needs real environments; matrix/tests/test_gate_*.py run it."""


def gate(root, *argv, nox=None):
    nox = nox or FakeNox()
    code = run_gate(load_manifest(root), list(argv), runner=nox, base_check=no_base_check)
    return code, (root / "reports/gate.md").read_text(), nox


def test_all_green_is_go_and_nox_is_asked_for_exactly_the_affected_sessions(branch, capsys):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports)

    code, report, nox = gate(branch, "--base", "main", nox=FakeNox(leaves))
    assert code == 0
    assert report.startswith("## Gate: GO\n")
    assert "| 02 | passed | 4/0/0 | `tests/02_beta/test_beta.py` |" in report
    [(sessions, env)] = nox.calls
    assert sessions == EXPECTED_SESSIONS
    assert env["MATRIX_REPORTS_DIR"] == str(branch / "reports")
    assert "MATRIX_IMPL" not in env
    printed = capsys.readouterr().out
    assert report in printed
    assert printed.endswith(f"gate: GO (written to {branch / 'reports/gate.md'})\n")


def test_nox_that_ran_nothing_is_no_go_naming_each_missing_result(branch):
    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(run=NoxRun(1, {})))
    assert code == 1
    assert report.startswith("## Gate: NO-GO\n")
    assert (
        "- checkpoint 02: no record (module02 left no run record this time (nox: not run))\n"
        in report
    )
    assert (
        "- vacuity 02: not run (it did not get as far as running the suite "
        "(build, install or pytest broke))\n" in report
    )
    assert f"- lint: not run (its output is in {branch / 'reports/gate-nox.log'})\n" in report


def test_a_record_from_before_the_gate_is_not_trusted(branch):
    stale = record(branch / "reports", root=branch)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    code, report, _ = gate(
        branch, "--base", "main", nox=FakeNox(lambda reports: vacuity_verdict(reports))
    )
    assert code == 1
    assert (
        "- checkpoint 02: no record (module02 left no run record this time (nox: success))\n"
        in (report)
    )


def test_a_fresh_record_of_another_run_is_stale(branch, monkeypatch):
    def leaves(reports):
        monkeypatch.setenv(RUN_ID_ENV, "another-run")
        record(reports, root=branch)
        vacuity_verdict(reports)

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves))
    assert code == 1
    assert "- checkpoint 02: stale record (the record is of commit " in report
    assert ", run another-run, " in report


# No interpreter a checkpoint can run on; the gate's own key would never name it.
OTHER_PYTHON = "3.99"
FAILING_JUNIT = (
    '<testsuites><testsuite name="pytest">'
    '<testcase classname="tests.02_beta.test_beta" name="test_beta">'
    '<failure message="assert 1 == 2">AssertionError</failure></testcase>'
    "</testsuite></testsuites>"
)


def test_a_checkpoints_record_is_read_by_its_checkpoint_with_its_own_keys_junit(branch):
    # The session keys its record by the interpreter it ran on, not the gate's.
    def leaves(reports):
        record(reports, Status.FAILED, root=branch, python=OTHER_PYTHON, failed=1)
        junit = reports / "junit" / f"{KEY.format(python=OTHER_PYTHON)}.xml"
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(FAILING_JUNIT)
        vacuity_verdict(reports)

    said = {**ALL_SUCCEEDED, "module02": "failed"}
    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves, NoxRun(1, said)))
    assert code == 1
    assert "- checkpoint 02: failed; failing: `tests.02_beta.test_beta::test_beta`\n" in report
    assert "| 02 | failed | 3/1/0 | `tests/02_beta/test_beta.py` |" in report


def test_two_records_of_one_checkpoint_in_one_run_are_no_go_naming_both(branch):
    def leaves(reports):
        record(reports, root=branch)
        record(reports, root=branch, python=OTHER_PYTHON)
        vacuity_verdict(reports)

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves))
    assert code == 1
    runs = branch / "reports/runs"
    first, second = sorted(
        str(runs / f"{KEY.format(python=python)}.json")
        for python in (python_version(), OTHER_PYTHON)
    )
    assert (
        f"- checkpoint 02: invalid record (this run left 2 records of checkpoint 02 ({first}, "
        f"{second}), not one: did another nox write to the same reports folder? run the gate "
        "again)\n"
    ) in report


def test_an_unreadable_record_of_this_run_is_no_go_even_beside_the_selection(branch):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports)
        (reports / "runs/checkpoint-01-py3.11.json").write_text('{"checkpoint": 1, "sta')

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves))
    assert code == 1
    assert (
        "- a run record written during this gate run cannot be read: "
        f"{branch / 'reports/runs/checkpoint-01-py3.11.json'} is not valid JSON at line 1"
    ) in report
    assert "| 02 | passed | 4/0/0 |" in report


def test_a_record_of_another_implementation_is_refused(branch):
    def leaves(reports):
        record(reports, digest="ffffffffffff", root=branch)
        vacuity_verdict(reports)

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves))
    assert code == 1
    assert "- checkpoint 02: wrong implementation (the record tested reference (sha256 " in report
    assert "ffffffffffff), not the gated one (sha256 " in report


def test_nox_and_the_record_must_agree(branch):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports)

    said = {**ALL_SUCCEEDED, "module02": "failed"}
    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves, NoxRun(1, said)))
    assert code == 1
    assert (
        "- checkpoint 02: failed (its record says passed but nox says the session failed)\n"
        in report
    )


def test_nox_failing_when_every_result_passed_is_no_go(branch):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports)

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves, NoxRun(3, ALL_SUCCEEDED)))
    assert code == 1
    assert "- nox exited 3 although every result passed; see " in report


def test_vacuous_tests_are_named(branch):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports, ["tests.02_beta.test_beta::test_proves_nothing"])

    said = {**ALL_SUCCEEDED, "vacuity02": "failed"}
    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves, NoxRun(1, said)))
    assert code == 1
    assert "- `tests.02_beta.test_beta::test_proves_nothing`\n" in report


def test_a_vacuity_verdict_that_is_not_one_is_no_go_naming_the_file(branch):
    def leaves(reports):
        record(reports, root=branch)
        vacuity_verdict(reports)
        (reports / "vacuity" / "module-02.json").write_text('{"module": "02"')

    code, report, _ = gate(branch, "--base", "main", nox=FakeNox(leaves, NoxRun(0, ALL_SUCCEEDED)))
    assert code == 1
    assert "- vacuity 02: invalid record (" in report
    assert (
        "reports/vacuity/module-02.json is not a vacuity verdict (Expecting ',' delimiter" in report
    )


BAD_INPUT = {
    "no base": ((), "nox -s gate -- the following arguments are required: --base; usage: "),
    "unknown base": (
        ("--base", "origin/nope"),
        "--base 'origin/nope' is not a commit in this repository; fetch it",
    ),
}


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_and_no_go_and_replaces_an_old_go(branch, argv, message):
    reports = branch / "reports"
    reports.mkdir(parents=True)
    (reports / "gate.md").write_text("## Gate: GO\n")
    nox = FakeNox()
    code = run_gate(load_manifest(branch), list(argv), runner=nox, base_check=no_base_check)
    report = (reports / "gate.md").read_text()
    assert code == 1
    assert nox.calls == []
    assert report.startswith("## Gate: NO-GO\n")
    [reason] = [line for line in report.splitlines() if line.startswith("- ")]
    assert reason.startswith(f"- {message}")


def test_dirty_tree_is_refused_before_anything_runs(branch):
    (branch / "tests/02_beta/test_stray.py").write_text("def test_x():\n    pass\n")
    code, report, nox = gate(branch, "--base", "main")
    assert (code, nox.calls) == (1, [])
    assert "- the working tree is not clean (tests/02_beta/test_stray.py): commit, stash" in report


def test_missing_implementation_folder_is_one_line_beside_its_runs(branch):
    nox = FakeNox()
    code = run_gate(
        load_manifest(branch), ["--base", "main", "--impl", "/nonexistent/x"], nox, no_base_check
    )
    assert (code, nox.calls) == (1, [])
    [report] = (branch / "reports/impl").glob("*/gate.md")
    assert report.parent.name.startswith("x-")
    text = report.read_text()
    assert text.startswith("## Gate: NO-GO\n\nimplementation: /nonexistent/x; gate run `")
    assert text.endswith(
        f"\n\n**Why NO-GO**\n\n- MATRIX_IMPL=/nonexistent/x: no such folder; {HOW_TO_POINT}\n"
    )


def test_implementation_lacking_a_needed_file_runs_nothing(branch, tmp_path_factory):
    learner = tmp_path_factory.mktemp("learners") / "learner"
    (learner / "tinytorch/core").mkdir(parents=True)
    (learner / "tinytorch/core/alpha.py").write_text("ALPHA = 1\n")
    code = run_gate(
        load_manifest(branch), ["--base", "main", "--impl", str(learner)], FakeNox(), no_base_check
    )
    assert code == 1
    [report] = (branch / "reports/impl").glob("*/gate.md")
    assert report.parent.name.startswith("learner-")
    text = report.read_text()
    assert text.startswith("## Gate: NO-GO\n")
    assert f"; implementation: {learner / 'tinytorch'} (module files sha256 `" in text
    assert (
        f"- {learner / 'tinytorch'} lacks tinytorch/core/beta.py, tinytorch/extra/helper.py, "
        "which checkpoint 02 needs; add the file(s) there, or test an earlier checkpoint\n"
    ) in text
    assert "- checkpoint 02: not run (the gate could not build it)\n" in text
    assert "- vacuity 02: not run (the gate could not build it)\n" in text
    assert "- lint: not run (the gate could not build it)\n" in text


def test_a_gate_that_crashes_leaves_no_go_not_an_old_go(branch):
    (branch / "reports").mkdir()
    (branch / "reports/gate.md").write_text("## Gate: GO\n")

    def nox_that_breaks_the_gate(root, sessions, env, reports):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_gate(load_manifest(branch), ["--base", "main"], runner=nox_that_breaks_the_gate)
    assert (branch / "reports/gate.md").read_text() == (
        "## Gate: NO-GO\n\n**Why NO-GO**\n\n"
        "- the gate has not finished (it is running, or it crashed or was interrupted); "
        "run it again: nox -s gate -- --base REF\n"
    )


def test_a_course_checkout_is_passed_on_as_itself_not_as_its_export(branch, course, edit_manifest):
    # The sessions resolve MATRIX_IMPL again: given the export folder, they would key their
    # records elsewhere than the gate reads, and call the export a learner's package.
    # (One source per module: beta's second file goes, so the course can build checkpoint 02.)
    edit_manifest(branch, ', "tinytorch/extra/helper.py"]', "]")
    (branch / "tinytorch/extra/helper.py").unlink()
    commit_all(branch, "module 02 is one file")
    nox = FakeNox()
    code = run_gate(
        load_manifest(branch), ["--base", "main", "--impl", str(course)], nox, no_base_check
    )
    assert code == 1  # the fake nox leaves no records
    [(_, env)] = nox.calls
    assert env["MATRIX_IMPL"] == str(course)
    [report] = (branch / "reports/impl").glob("course-*/gate.md")
    assert env["MATRIX_REPORTS_DIR"] == str(report.parent)
    assert f"implementation: {course} (modules/NN_name/name.py sources" in report.read_text()
