"""The report: every checkpoint has a row, broken runs say how they broke, counts add up."""

import json

import pytest

from matrix.junit import read_junit
from matrix.layout import Layout
from matrix.manifest import load_manifest
from matrix.records import CheckpointRun, ExtrasCount, SuiteCount, save_run
from matrix.sessions.report import write_report
from matrix.tests.repo_helpers import nox, project_at

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.test_checkpoint_guard" name="test_a" time="0.5"/>
  <testcase classname="tests.01_alpha.test_alpha.TestA" name="test_b" time="1.25"/>
  <testcase classname="tests.01_alpha.test_alpha" name="test_c" time="0.25">
    <failure message="assert 1 == 2">trace</failure></testcase>
  <testcase classname="tests.02_beta.test_beta" name="test_d" time="0">
    <skipped message="why"/></testcase>
  <testcase classname="tests.02_beta.test_beta" name="test_e" time="2">
    <failure message="Failed: Timeout &gt;1.0s">stack</failure></testcase>
</testsuite></testsuites>
"""


def test_junit_is_counted_per_suite(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts = read_junit(path)
    assert counts.suites == {
        "guard": SuiteCount(1, 0, 0, 0.5),
        "01_alpha": SuiteCount(1, 1, 0, 1.5),
        "02_beta": SuiteCount(0, 1, 1, 2.0),
    }
    assert counts.timed_out == ["test_e"]
    assert counts.files == {
        "tests/test_checkpoint_guard.py": 1,
        "tests/01_alpha/test_alpha.py": 2,
        "tests/02_beta/test_beta.py": 2,
    }


TIERS_AND_COLLECTION = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="" name="tests.01_alpha.test_broken" time="0">
    <error message="collection failure">SyntaxError</error></testcase>
  <testcase classname="tests.01_alpha.test_alpha" name="test_course" time="0.5"/>
  <testcase classname="tests.01_alpha.test_extras" name="test_has" time="0.1">
    <properties><property name="tier" value="extra"/></properties></testcase>
  <testcase classname="tests.01_alpha.test_extras" name="test_lacks" time="0">
    <properties><property name="tier" value="extra"/></properties>
    <skipped message="extra missing: no_grad (no_grad())"/></testcase>
  <testcase classname="tests.01_alpha.test_extras" name="test_wrong" time="0">
    <properties><property name="tier" value="extra"/></properties>
    <failure message="assert 1 == 2"/></testcase>
</testsuite></testsuites>
"""


def test_extras_are_counted_apart_and_uncollectable_files_charged_to_their_suite(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(TIERS_AND_COLLECTION)
    counts = read_junit(path)
    assert counts.suites == {"01_alpha": SuiteCount(1, 1, 0, 0.5)}
    assert counts.extras == ExtrasCount(passed=1, failed=1, missing=1)
    assert counts.uncollectable == ["tests/01_alpha/test_broken.py"]


def test_crashed_worker_is_named(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(
        '<testsuites><testsuite><testcase classname="tests.01_alpha.t" name="x">'
        "<failure message=\"worker 'gw0' crashed while running 'x'\"/></testcase>"
        "</testsuite></testsuites>"
    )
    assert read_junit(path).crashed == ["x"]


def test_every_checkpoint_has_a_row(fake_repo):
    manifest = load_manifest(fake_repo)
    save_run(
        Layout(fake_repo),
        CheckpointRun(
            2,
            "3.12",
            "install failed",
            "uv exited 1",
            install_seconds=0.5,
        ),
    )
    text, failure = write_report(project_at(manifest.root))
    lines = text.splitlines()
    assert lines[0].split() == [
        "checkpoint",
        "python",
        "numpy",
        "status",
        "install",
        "tests",
        "guard",
        "01_alpha",
        "02_beta",
        "extras",
    ]
    assert lines[2].split() == ["01", "-", "-", "not", "run", "-", "-", "-", "-", "-", "-"]
    assert lines[3].split()[:6] == ["02", "3.12", "-", "install", "failed:", "uv"]
    assert lines[-1] == (
        "matrix: 0 passed, 0 failed, 0 skipped (course API); extras: 0 passed, 0 failed, 0 missing"
    )
    assert failure == "at least one checkpoint did not pass (see its row above)"
    document = json.loads((fake_repo / "reports/matrix.json").read_text())
    assert [row["status"] for row in document["rows"]] == ["not run", "install failed"]
    markdown = (fake_repo / "reports/matrix.md").read_text()
    assert "| 02 | 3.12 | - | install failed: uv exited 1 | 0.5s | - | - | - | - | - |" in markdown


def test_counts_and_closing_line(fake_repo, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    manifest = load_manifest(fake_repo)
    for number, passed in ((1, 3), (2, 5)):
        save_run(
            Layout(fake_repo),
            CheckpointRun(
                number,
                "3.11",
                "passed",
                install_seconds=1.0,
                test_seconds=2.0,
                suites={
                    "guard": SuiteCount(2, 0, 0, 0.1),
                    "01_alpha": SuiteCount(passed, 0, 1, 1.0),
                    **({"02_beta": SuiteCount(1, 0, 0, 0.5)} if number == 2 else {}),
                },
                extras=ExtrasCount(passed=number, missing=1),
            ),
        )
    text, failure = write_report(project_at(manifest.root))
    assert failure == ""
    assert "3/0/1 1.0s" in text
    assert text.splitlines()[-1] == (
        "matrix: 13 passed, 0 failed, 2 skipped (course API); extras: 3 passed, 0 failed, 2 missing"
    )
    assert summary.read_text() == (fake_repo / "reports/matrix.md").read_text()


@pytest.mark.parametrize(
    ("test_body", "posargs", "status"),
    [
        ("assert ALPHA == 1", (), "passed"),
        ("assert ALPHA == 2", (), "failed"),
        ("import time; time.sleep(30)", ("--timeout=2",), "timed out"),
        ("import os; os._exit(3)", (), "crashed"),
    ],
    ids=["passed", "failed", "timed-out", "crashed"],
)
def test_checkpoint_session_records_how_it_ended(fake_repo_with_tools, test_body, posargs, status):
    (fake_repo_with_tools / "tests/01_alpha/test_alpha.py").write_text(
        f"from tinytorch.core.alpha import ALPHA\n\n\ndef test_alpha():\n    {test_body}\n"
    )
    run = nox(fake_repo_with_tools, "-s", "module01", "--", *posargs)
    assert (run.returncode == 0) == (status == "passed"), run.stdout + run.stderr
    report = nox(fake_repo_with_tools, "-s", "report")
    row = report.stdout.splitlines()[2].split()
    assert row[0] == "01"
    assert row[2].count(".") >= 1, "the numpy version the run used"
    assert " ".join(row[3:5]).startswith(status), report.stdout


def test_uncollectable_file_counts_the_tests_it_held(fake_repo_with_tools):
    tests = fake_repo_with_tools / "tests/01_alpha"
    (tests / "test_more.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('n', [1, 2, 3])\n"
        "def test_a(n):\n    assert n\n\n\ndef test_b():\n    assert 1\n"
    )
    assert nox(fake_repo_with_tools, "-s", "module01").returncode == 0
    (tests / "test_more.py").write_text((tests / "test_more.py").read_text() + "def (:\n")
    assert nox(fake_repo_with_tools, "-s", "module01").returncode != 0
    report = nox(fake_repo_with_tools, "-s", "report").stdout
    # The reference run before held 4 tests there; the digest changed, so: read from source.
    assert "tests/01_alpha/test_more.py could not be collected (at least 2 tests lost)" in report
    assert "1/2/0" in report.splitlines()[2]


def test_install_failure_is_a_row_not_a_gap(fake_repo_with_tools):
    pyproject = fake_repo_with_tools / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy>=', '"numpy>=999, >='))
    run = nox(fake_repo_with_tools, "-s", "module02")
    assert run.returncode != 0
    report = nox(fake_repo_with_tools, "-s", "report")
    rows = report.stdout.splitlines()
    assert rows[2].split()[:5] == ["01", "-", "-", "not", "run"]
    assert rows[3].split()[3:5] == ["install", "failed:"]


def test_report_says_which_implementation_each_row_tested(fake_repo):
    manifest = load_manifest(fake_repo)
    for number, digest in ((1, "aaaaaaaaaaaa"), (2, "bbbbbbbbbbbb")):
        save_run(
            Layout(fake_repo),
            CheckpointRun(
                number,
                "3.11",
                "failed",
                implementation="/learners/ada/tinytorch",
                implementation_digest=digest,
            ),
        )
    text, _ = write_report(project_at(manifest.root))
    assert text.splitlines()[-2] == (
        "implementations: /learners/ada/tinytorch (module files sha256 aaaaaaaaaaaa) for 01; "
        "/learners/ada/tinytorch (module files sha256 bbbbbbbbbbbb) for 02"
    )
    save_run(
        Layout(fake_repo),
        CheckpointRun(
            2,
            "3.11",
            "failed",
            implementation="/learners/ada/tinytorch",
            implementation_digest="aaaaaaaaaaaa",
        ),
    )
    text, _ = write_report(project_at(manifest.root))
    line = "implementation: /learners/ada/tinytorch (module files sha256 aaaaaaaaaaaa)"
    assert text.splitlines()[-2] == line
    assert (
        (fake_repo / "reports/matrix.md")
        .read_text()
        .startswith(f"## Checkpoint matrix\n\n{line}\n\n")
    )
