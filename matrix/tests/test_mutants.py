"""Planted bugs: the catalog refuses malformed entries; the runner tells caught from survived.

The runner tests plant bugs in the two-module fake repository: alpha (01) and beta (02), whose
suites are written here so that each outcome has exactly one mutant that earns it.
"""

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from matrix.impl import reference_implementation
from matrix.layout import Layout
from matrix.manifest import load_manifest
from matrix.mutant_catalog import CatalogError, Mutant, load_catalog, mutate
from matrix.pytest_env import implementation_options
from matrix.sessions.mutants import (
    CAUGHT,
    CAUGHT_LATER,
    NOT_RUN_CELL,
    STALE,
    SURVIVED,
    MutantResult,
    MutantRunError,
    Runner,
    baseline_failures,
    catch_cells,
    checkpoint_packages,
    run_all,
    run_mutant,
    session_problems,
    summary,
)
from matrix.tests.repo_helpers import nox

ENTRY = """
[[mutant]]
id = "{id}"
file = "{file}"
category = "{category}"
find = '''{find}'''
replace = '''{replace}'''
why = "{why}"
"""
# Suite 01 checks alpha() only; suite 02 checks beta() and the constant BETA = ALPHA + 1.
BETA_SUITE = (
    "from tinytorch.core.beta import BETA, beta\n\n\n"
    "def test_beta():\n    assert beta() == 2\n\n\n"
    "def test_beta_constant():\n    assert BETA == 2\n"
)
# Caught by suite 01.
OFF_BY_ONE = {"id": "alpha-off-by-one", "find": "return ALPHA", "replace": "return ALPHA + 1"}
# alpha() still returns 1, so suite 01 passes; BETA becomes 3, which suite 02 sees.
CONSTANT_DRIFTS = {
    "id": "alpha-constant-drifts",
    "find": "ALPHA = 1\n\n\ndef alpha():\n    return ALPHA",
    "replace": "ALPHA = 2\n\n\ndef alpha():\n    return 1",
}
# No test reads helper.py.
HELPER_FLIPPED = {
    "id": "helper-flipped",
    "file": "tinytorch/extra/helper.py",
    "find": "HELP = True",
    "replace": "HELP = False",
}
# beta.py has no such text (any more).
GONE = {"id": "beta-gone", "file": "tinytorch/core/beta.py", "find": "return 3", "replace": "x"}
BETA_OFF = {
    "id": "beta-off-by-one",
    "file": "tinytorch/core/beta.py",
    "find": "return alpha() + 1",
    "replace": "return alpha() + 2",
}


def entry(**fields) -> str:
    values = {
        "file": "tinytorch/core/alpha.py",
        "category": "typical",
        "why": "a learner's slip",
        **fields,
    }
    return ENTRY.format(**values)


def write_catalog(root: Path, name: str, *entries: dict) -> None:
    (root / "mutants").mkdir(exist_ok=True)
    (root / "mutants" / name).write_text("".join(entry(**fields) for fields in entries))


# ---------------------------------------------------------------------------------- catalog


def test_catalog_is_read_in_module_order(fake_repo):
    write_catalog(fake_repo, "02_beta.toml", HELPER_FLIPPED)
    write_catalog(fake_repo, "01_alpha.toml", OFF_BY_ONE, CONSTANT_DRIFTS)
    mutants = load_catalog(load_manifest(fake_repo))
    assert [m.id for m in mutants] == [
        "01:alpha-off-by-one",
        "01:alpha-constant-drifts",
        "02:helper-flipped",
    ]
    assert mutants[1] == Mutant(
        module=1,
        name="alpha-constant-drifts",
        file="tinytorch/core/alpha.py",
        category="typical",
        find="ALPHA = 1\n\n\ndef alpha():\n    return ALPHA",
        replace="ALPHA = 2\n\n\ndef alpha():\n    return 1",
        why="a learner's slip",
    )


def test_catalog_of_another_root_with_its_manifest(fake_repo, tmp_path_factory):
    base = tmp_path_factory.mktemp("base")
    # The categories are the markers of the checkout's own pyproject.toml.
    (base / "pyproject.toml").write_text((fake_repo / "pyproject.toml").read_text())
    write_catalog(base, "01_alpha.toml", OFF_BY_ONE)
    assert load_catalog(load_manifest(fake_repo)) == [], "no mutants/ folder: no mutants"
    assert [m.id for m in load_catalog(load_manifest(fake_repo), base)] == ["01:alpha-off-by-one"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "01_alpha.toml",
            entry(**OFF_BY_ONE, category="speed"),
            r"mutants/01_alpha\.toml: \[\[mutant\]\] entry 1 \('alpha-off-by-one'\): category "
            r"'speed' is not one of gradient, inplace, .*, typical$",
        ),
        (
            "01_alpha.toml",
            entry(**{**OFF_BY_ONE, "file": "tinytorch/core/beta.py"}),
            r"entry 1 \('alpha-off-by-one'\): file 'tinytorch/core/beta\.py' is not module 01's; "
            r"use one of tinytorch/core/alpha\.py \(matrix/modules\.toml\)",
        ),
        (
            "01_alpha.toml",
            entry(**OFF_BY_ONE) + entry(**{**CONSTANT_DRIFTS, "id": "alpha-off-by-one"}),
            r"mutants/01_alpha\.toml: two entries have the id 'alpha-off-by-one'; give each its "
            r"own id",
        ),
        (
            "01_alfa.toml",
            entry(**OFF_BY_ONE),
            r"mutants/01_alfa\.toml: no module has the suite folder tests/01_alfa; name the file "
            r"after one: 01_alpha\.toml, 02_beta\.toml",
        ),
        (
            "01_alpha.toml",
            entry(**OFF_BY_ONE).replace('why = "a learner\'s slip"\n', ""),
            r"entry 1 \('alpha-off-by-one'\): missing key 'why'; add it",
        ),
        (
            "01_alpha.toml",
            entry(**OFF_BY_ONE) + "severity = 3\n",
            r"entry 1 \('alpha-off-by-one'\): unknown key 'severity'; allowed keys are id, file, ",
        ),
        (
            "01_alpha.toml",
            entry(**{**OFF_BY_ONE, "id": "Off By One"}),
            r"entry 1 \('Off By One'\): id must be lowercase words joined by '-'",
        ),
        (
            "01_alpha.toml",
            entry(**{**OFF_BY_ONE, "replace": "return ALPHA"}),
            r"'replace' equals 'find', so nothing is planted",
        ),
        (
            "01_alpha.toml",
            entry(**{**OFF_BY_ONE, "find": ""}),
            r"entry 1 \('alpha-off-by-one'\): 'find' is empty; write what it asks for",
        ),
        ("01_alpha.toml", "[[mutant]\n", r"mutants/01_alpha\.toml: not valid TOML"),
    ],
    ids=[
        "category",
        "file",
        "duplicate",
        "file-name",
        "missing-key",
        "unknown-key",
        "id",
        "no-change",
        "empty-find",
        "toml",
    ],
)
def test_catalog_errors_name_the_file_entry_and_fix(fake_repo, name, text, message):
    (fake_repo / "mutants").mkdir()
    (fake_repo / "mutants" / name).write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(load_manifest(fake_repo))


def test_either_path_of_a_module_is_its_file(fake_repo, edit_manifest):
    edit_manifest(
        fake_repo,
        'files = ["tinytorch/core/beta.py", "tinytorch/extra/helper.py"]',
        'files = ["tinytorch/core/beta.py", "tinytorch/extra/helper.py"]\n'
        'either = ["tinytorch/core/beta.py", "tinytorch/extra/helper.py"]',
    )
    write_catalog(fake_repo, "02_beta.toml", HELPER_FLIPPED)
    assert [m.file for m in load_catalog(load_manifest(fake_repo))] == [HELPER_FLIPPED["file"]]


def mutant(**fields) -> Mutant:
    values = {"file": "tinytorch/core/alpha.py", "category": "typical", "why": "slip", **fields}
    values["name"] = values.pop("id")
    return Mutant(module=1, **values)


def test_mutate_plants_the_bug_or_says_stale(tmp_path):
    path = tmp_path / "tinytorch/core/alpha.py"
    path.parent.mkdir(parents=True)
    path.write_text("ALPHA = 1\n\n\ndef alpha():\n    return ALPHA\n")
    assert mutate(mutant(**OFF_BY_ONE), tmp_path) is True
    assert path.read_text() == "ALPHA = 1\n\n\ndef alpha():\n    return ALPHA + 1\n"
    deleted = mutant(id="deleted", find=" + 1", replace="")
    assert mutate(deleted, tmp_path) is True, "an empty replace deletes the find text"
    assert path.read_text().endswith("return ALPHA\n")
    twice = mutant(id="twice", find="ALPHA", replace="BETA")
    assert mutate(twice, tmp_path) is False, "ALPHA occurs three times"
    assert mutate(mutant(id="absent", find="return 7", replace="return 8"), tmp_path) is False
    assert path.read_text().endswith("return ALPHA\n"), "a stale mutant writes nothing"
    assert mutate(mutant(**{**OFF_BY_ONE, "file": "tinytorch/core/nope.py"}), tmp_path) is False


# ----------------------------------------------------------------------------------- runner


@pytest.fixture
def repo(fake_repo_with_tools) -> Path:
    (fake_repo_with_tools / "tests/02_beta/test_beta.py").write_text(BETA_SUITE)
    return fake_repo_with_tools


@pytest.fixture
def runner(repo, tmp_path_factory) -> Runner:
    manifest = load_manifest(repo)
    impl = reference_implementation(manifest)
    scratch = tmp_path_factory.mktemp("runner")
    return Runner(
        # The pytest running these tests: its environment has the test dependencies.
        pytest=Path(sys.executable).with_name("pytest"),
        tests_root=repo,
        suites={module.number: module.tests for module in manifest.modules},
        packages=checkpoint_packages(manifest, impl, [1, 2], scratch / "cp"),
        options=tuple(implementation_options(impl)),
        work=scratch / "work",
    )


def test_each_outcome_in_catalog_order(runner):
    write_catalog(runner.tests_root, "01_alpha.toml", OFF_BY_ONE, CONSTANT_DRIFTS)
    write_catalog(runner.tests_root, "02_beta.toml", HELPER_FLIPPED, GONE)
    catalog = load_catalog(load_manifest(runner.tests_root))
    results = run_all(runner, catalog, workers=2)
    assert [(r.id, r.module, r.category, r.outcome, r.caught_by) for r in results] == [
        ("01:alpha-off-by-one", 1, "typical", CAUGHT, "tests.01_alpha.test_alpha::test_alpha"),
        (
            "01:alpha-constant-drifts",
            1,
            "typical",
            CAUGHT_LATER,
            "tests.02_beta.test_beta::test_beta_constant",
        ),
        ("02:helper-flipped", 2, "typical", SURVIVED, ""),
        ("02:beta-gone", 2, "typical", STALE, ""),
    ]
    assert all(r.seconds >= 0 for r in results)
    assert list(runner.work.iterdir()) == [], "every scratch copy is removed"
    assert "return ALPHA\n" in (runner.packages[1] / "tinytorch/core/alpha.py").read_text()
    text = summary(results, catalog)
    assert "survived: 02:helper-flipped (typical, tinytorch/extra/helper.py): a learner's slip" in (
        text
    )
    assert (
        "stale: 02:beta-gone: its find text is not exactly once in tinytorch/core/beta.py; "
        "update the entry's find text"
    ) in text
    assert text.splitlines()[2].split() == ["01", "2", "1", "1", "0", "0"]


def test_a_hang_counts_as_caught_and_the_own_suite_runs_first(runner):
    (runner.tests_root / "tests/02_beta/test_a_slow.py").write_text(
        "import time\n\n\ndef test_waits():\n    time.sleep(60)\n"
    )
    beta = Mutant(2, "beta-off-by-one", BETA_OFF["file"], "typical", BETA_OFF["find"], "x", "")
    result = run_mutant(replace(runner, timeout_seconds=5), beta)
    assert result.outcome == CAUGHT
    assert result.caught_by == "timed out after 5 s in tests/02_beta tests/01_alpha"


def test_a_broken_run_is_no_verdict(runner):
    syntax_error = mutant(id="alpha-syntax", find="ALPHA = 1", replace="ALPHA = (")
    with pytest.raises(MutantRunError, match=r"mutant 01:alpha-syntax, checkpoint 01: pytest "
                       r"exited 2 \(interrupted\), which is no verdict"):  # fmt: skip
        run_mutant(runner, syntax_error)


def test_baseline_runs_what_the_mutants_would_run_unmutated(runner):
    assert baseline_failures(runner, [1], workers=2) == {}
    (runner.tests_root / "tests/02_beta/test_red.py").write_text("def test_red():\n    assert 0\n")
    assert baseline_failures(runner, [1], workers=2) == {2: "tests.02_beta.test_red::test_red"}


def test_checkpoint_packages_hold_each_wheels_tinytorch(runner):
    first = runner.packages[1]
    assert sorted(p.relative_to(first).as_posix() for p in first.rglob("*.py")) == [
        "tinytorch/__init__.py",
        "tinytorch/_checkpoint.py",
        "tinytorch/core/__init__.py",
        "tinytorch/core/alpha.py",
    ]
    assert "CHECKPOINT = 2" in (runner.packages[2] / "tinytorch/_checkpoint.py").read_text()
    manifest = load_manifest(runner.tests_root)
    impl = reference_implementation(manifest)
    marker = first / "tinytorch/core/marker.txt"
    marker.write_text("kept while the wheel is the same")
    checkpoint_packages(manifest, impl, [1], first.parent)
    assert marker.exists()
    (runner.tests_root / "tinytorch/core/alpha.py").write_text("ALPHA = 5\n")
    checkpoint_packages(manifest, impl, [1], first.parent)
    assert not marker.exists()
    assert (first / "tinytorch/core/alpha.py").read_text() == "ALPHA = 5\n"


# ------------------------------------------------------------------------ verdict and audit


def result(id: str, outcome: str) -> MutantResult:
    return MutantResult(id, int(id[:2]), "typical", outcome, "", 1.0)


def test_survivors_stale_entries_and_thin_modules_fail_the_session():
    results = [result("01:a", CAUGHT), result("01:b", SURVIVED), result("02:c", STALE)]
    mutants = [mutant(id=r.id[3:], find="x", replace="y") for r in results]
    assert session_problems(results, mutants) == [
        "01:b survived",
        "02:c stale: update the entry's find text",
    ]
    assert session_problems(results[:1], mutants[:1], complete=(1, 2)) == [
        "module 01 has 1 planted bugs, fewer than 10: add entries to its mutants/ file",
        "module 02 has 0 planted bugs, fewer than 10: add entries to its mutants/ file",
    ]


def write_results(root: Path, commit: str, *results: MutantResult) -> None:
    (root / "reports").mkdir()
    document = {"commit": commit, "run_id": "r", "started": "t", "implementation": "reference"}
    document["results"] = [asdict(r) for r in results]
    (root / "reports/mutants.json").write_text(json.dumps(document))


def test_catch_cells_for_the_audit(tmp_path):
    assert catch_cells(Layout(tmp_path), [1]) == {1: NOT_RUN_CELL}
    write_results(
        tmp_path,
        "",  # the commit of a folder outside git: the current one
        result("01:a", CAUGHT),
        result("01:b", CAUGHT_LATER),
        result("01:c", SURVIVED),
        result("02:d", CAUGHT),
        result("02:e", STALE),
    )
    assert catch_cells(Layout(tmp_path), [1, 2, 3]) == {
        1: "2/3 (1 survived)",
        2: "1/2 (1 stale)",
        3: NOT_RUN_CELL,
    }


def test_catch_cells_of_another_commit_are_marked_stale(tmp_path):
    write_results(tmp_path, "0123456789abcdef", result("01:a", CAUGHT))
    assert catch_cells(Layout(tmp_path), [1]) == {1: "1/1, stale: of commit 0123456789ab"}
    (tmp_path / "reports/mutants.json").write_text("{")
    assert catch_cells(Layout(tmp_path), [1])[1].startswith("unreadable reports/mutants.json (")


# ------------------------------------------------------------------------------- end to end


def test_nox_mutants_fails_naming_a_survivor_then_passes(repo):
    root = repo
    write_catalog(root, "01_alpha.toml", OFF_BY_ONE, CONSTANT_DRIFTS)
    write_catalog(root, "02_beta.toml", BETA_OFF, HELPER_FLIPPED)
    run = nox(root, "-s", "mutants", "--", "01", "02")
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "survived: 02:helper-flipped (typical, tinytorch/extra/helper.py)" in output
    assert "02:helper-flipped survived" in output
    document = json.loads((root / "reports/mutants.json").read_text())
    assert [(r["id"], r["outcome"]) for r in document["results"]] == [
        ("01:alpha-off-by-one", CAUGHT),
        ("01:alpha-constant-drifts", CAUGHT_LATER),
        ("02:beta-off-by-one", CAUGHT),
        ("02:helper-flipped", SURVIVED),
    ]
    assert {"commit", "run_id", "started"} <= document.keys()
    assert document["modules"] == [1, 2]

    write_catalog(root, "02_beta.toml", BETA_OFF)
    run = nox(root, "-s", "mutants", "--", "02")
    assert run.returncode == 0, run.stdout + run.stderr
    document = json.loads((root / "reports/mutants.json").read_text())
    assert [(r["id"], r["outcome"]) for r in document["results"]] == [
        ("02:beta-off-by-one", CAUGHT)
    ]

    run = nox(root, "-s", "mutants", "--", "03")
    assert run.returncode != 0
    assert "'03' is not a module number; give some of 01, 02" in run.stdout + run.stderr


def test_nox_mutants_of_another_implementation(repo, tmp_path_factory):
    root = repo
    learner = tmp_path_factory.mktemp("learner")
    for path in ("tinytorch/core/alpha.py", "tinytorch/core/beta.py", "tinytorch/extra/helper.py"):
        (learner / path).parent.mkdir(parents=True, exist_ok=True)
        (learner / path).write_text((root / path).read_text())
    write_catalog(root, "01_alpha.toml", OFF_BY_ONE)
    run = nox(root, "-s", "mutants", "--", "01", env={"MATRIX_IMPL": str(learner)})
    assert run.returncode == 0, run.stdout + run.stderr
    [written] = (root / "reports/impl").glob("*/mutants.json")
    document = json.loads(written.read_text())
    assert document["implementation"] == str(learner / "tinytorch")
    assert [r["outcome"] for r in document["results"]] == [CAUGHT]
