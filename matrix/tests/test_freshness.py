"""Freshness: a record says which commit and nox run it is from, and an old one never passes
for a current result (it is shown as stale and counted nowhere)."""

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from matrix.layout import Layout
from matrix.manifest import load_manifest
from matrix.records import CheckpointRun, SuiteCount, load_run, load_runs, save_run
from matrix.run_identity import RUN_ID_ENV, RunIdentity, repo_commit, this_run
from matrix.sessions.report import write_report
from matrix.tests.repo_helpers import commit_all, git, make_repository, nox, project_at

OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def passed(number: int, identity: RunIdentity, passed_tests: int = 1) -> CheckpointRun:
    """A passing record of checkpoint `number` of the fake repo: one count per suite it holds."""
    suites = dict.fromkeys(("guard", "01_alpha", "02_beta")[: number + 1], SuiteCount(1, 0, 0, 0.1))
    return CheckpointRun(
        number,
        "3.11",
        "passed",
        test_seconds=1.0,
        suites={**suites, "01_alpha": SuiteCount(passed_tests, 0, 0, 0.5)},
        commit=identity.commit,
        run_id=identity.run_id,
        started=identity.started,
    )


def test_the_identity_names_head_its_dirt_and_the_nox_run(fake_repo, tmp_path_factory, monkeypatch):
    monkeypatch.setenv(RUN_ID_ENV, "feedc0ffee12")
    assert repo_commit(tmp_path_factory.mktemp("not-git")) == ""
    head = git(make_repository(fake_repo), "rev-parse", "HEAD").strip()
    identity = this_run(fake_repo)
    assert (identity.commit, identity.run_id) == (head, "feedc0ffee12")
    started = datetime.fromisoformat(identity.started.replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - started) < timedelta(minutes=1)
    (fake_repo / "untracked.txt").write_text("not part of any commit\n")
    assert repo_commit(fake_repo) == head, "untracked files do not make the tree dirty"
    (fake_repo / "tinytorch/core/alpha.py").write_text("ALPHA = 2\n")
    first_edit = repo_commit(fake_repo)
    assert first_edit.startswith(f"{head}+dirty.")
    (fake_repo / "tinytorch/core/alpha.py").write_text("ALPHA = 3\n")
    assert repo_commit(fake_repo) not in (first_edit, head), "each edit is a state of its own"


def test_a_record_older_than_the_identity_loads_with_empty_values(fake_repo):
    path = save_run(Layout(fake_repo), CheckpointRun(1, "3.11", "passed"))
    raw = json.loads(path.read_text())
    for name in ("commit", "run_id", "started"):
        del raw[name]
    path.write_text(json.dumps(raw))
    assert load_run(path).identity == RunIdentity("", "", "")


def test_a_record_of_another_commit_is_shown_stale_and_not_counted(fake_repo, monkeypatch):
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    head = git(make_repository(fake_repo), "rev-parse", "HEAD").strip()
    manifest = load_manifest(fake_repo)
    save_run(
        Layout(fake_repo), passed(1, RunIdentity(head, "1a2b3c4d5e6f", "2026-12-02T10:00:00Z"), 3)
    )
    old = RunIdentity(OTHER_COMMIT, "9f8e7d6c5b4a", "2026-12-01T09:00:00Z")
    stale = passed(2, old, 5)
    stale.status, stale.detail = "failed", "2 failed"
    save_run(Layout(fake_repo), stale)
    text, failure = write_report(project_at(manifest.root))
    lines = text.splitlines()
    assert failure == "", "a stale failure does not fail the report"
    stale_cell = "stale (commit 0123456789ab, run 9f8e7d6c5b4a, started 2026-12-01T09:00:00Z)"
    assert f"{stale_cell}: failed: 2 failed" in lines[3]
    assert (
        f"checkpoint 01: commit {head[:12]}, run 1a2b3c4d5e6f, started 2026-12-02T10:00:00Z"
        in lines
    )
    assert (
        "checkpoint 02: commit 0123456789ab, run 9f8e7d6c5b4a, started 2026-12-01T09:00:00Z "
        f"(stale: not the current commit {head[:12]})"
    ) in lines
    assert lines[-1] == (
        "matrix: 4 passed, 0 failed, 0 skipped (course API); "
        "extras: 0 passed, 0 failed, 0 missing; stale rows not counted: 1"
    )
    document = json.loads((fake_repo / "reports/matrix.json").read_text())
    assert document["current"] == {"commit": head, "run_id": ""}
    assert [(row["commit"], row["stale"]) for row in document["rows"]] == [
        (head, False),
        (OTHER_COMMIT, True),
    ]
    markdown = (fake_repo / "reports/matrix.md").read_text()
    assert f"- checkpoint 01: commit {head[:12]}, run 1a2b3c4d5e6f" in markdown
    assert "| stale (commit 0123456789ab, run 9f8e7d6c5b4a" in markdown


def test_a_record_of_the_commit_before_an_edit_is_stale(fake_repo, monkeypatch):
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    head = git(make_repository(fake_repo), "rev-parse", "HEAD").strip()
    save_run(Layout(fake_repo), passed(1, this_run(fake_repo)))
    assert write_report(project_at(fake_repo))[1] == ""
    (fake_repo / "tinytorch/core/alpha.py").write_text("ALPHA = 2\n")
    text, failure = write_report(project_at(fake_repo))
    assert f"(stale: not the current commit {head[:12]}+dirty." in text, text
    assert failure.startswith("no current run record (commit "), failure


@pytest.mark.parametrize(
    ("records", "stale"),
    [(("now", "before"), [False, True]), (("before", "earlier"), [False, False])],
    ids=["this-nox-run-wrote-records", "report-run-alone"],
)
def test_inside_a_nox_run_that_wrote_records_only_its_records_count(
    fake_repo, monkeypatch, records, stale
):
    monkeypatch.setenv(RUN_ID_ENV, "now")
    for number, run_id in enumerate(records, start=1):
        save_run(Layout(fake_repo), passed(number, RunIdentity("", run_id, "2026-12-01T09:00:00Z")))
    text, failure = write_report(project_at(fake_repo))
    assert failure == ""
    document = json.loads((fake_repo / "reports/matrix.json").read_text())
    assert [row["stale"] for row in document["rows"]] == stale
    if stale[1]:
        assert text.splitlines()[-1].endswith("; stale rows not counted: 1")
        assert "(stale: not this nox run (now))" in text


def test_report_needs_a_record_of_the_current_commit(fake_repo_for_gate, monkeypatch):
    """End to end: nothing ran, then a run of this commit, then a new commit."""
    root = fake_repo_for_gate
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    empty = nox(root, "-s", "report")
    assert empty.returncode != 0
    assert "no current run record" in empty.stderr, empty.stdout + empty.stderr
    assert "run `nox -s moduleNN` for one checkpoint (module01..module02), or `nox`" in (
        empty.stderr
    )

    assert nox(root, "-s", "module02").returncode == 0
    both = nox(root, "-s", "module01", "report", env={RUN_ID_ENV: "ab12cd34ef56"})
    assert both.returncode == 0, both.stdout + both.stderr
    record = load_runs(root, Layout(root).runs)[0]
    assert (record.checkpoint, record.run_id) == (1, "ab12cd34ef56")
    assert record.commit == git(root, "rev-parse", "HEAD").strip()
    assert record.started.endswith("Z")
    earlier = load_runs(root, Layout(root).runs)[1].run_id
    assert re.fullmatch("[0-9a-f]{12}", earlier), "nox made an id of its own"
    assert earlier != "ab12cd34ef56"
    assert "(stale: not this nox run (ab12cd34ef56))" in both.stdout

    (root / "NOTES.md").write_text("a later commit\n")
    commit_all(root, "later")
    later = nox(root, "-s", "report")
    assert later.returncode != 0
    assert "no current run record" in later.stderr
    rows = later.stdout.splitlines()[2:4]
    assert all(row.split()[3] == "stale" for row in rows), later.stdout
    assert "; stale rows not counted: 2" in later.stdout


def test_a_broken_manifest_leaves_no_go_in_the_gate_report(fake_repo_for_gate, edit_manifest):
    root = fake_repo_for_gate
    gate_report = root / "reports/gate.md"
    gate_report.parent.mkdir(parents=True, exist_ok=True)
    gate_report.write_text("## Gate: GO\n\nEvery selected checkpoint and every check passed.\n")
    edit_manifest(root, "number = 2", "number = 1")
    gate = nox(root, "-s", "gate", "--", "--base", "main")
    assert gate.returncode != 0
    assert "nox: the module manifest is broken: matrix/modules.toml" in gate.stderr
    text = gate_report.read_text()
    assert text.startswith("## Gate: NO-GO\n"), text
    assert "**Why NO-GO**" in text
    assert "- the module manifest is broken: matrix/modules.toml: modules 'alpha'" in text
