"""The audit: what it renders from measurements, when it fails, how evidence is matched.

Measurements are made by hand here (every expected number is worked out in the comments),
except in `test_nox_audit_measures_the_fake_repo`, which runs `nox -s audit` on the
two-module fake repository.
"""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from matrix.audit.measure import (
    MISPLACED_SOURCE,
    apply_outcomes,
    coverage_of,
    misplaced_tests,
    parse_collection,
)
from matrix.audit.model import (
    Audit,
    AuditError,
    Category,
    CollectedTest,
    Coverage,
    Evidence,
    ModuleAudit,
    Point,
    categories_from_pyproject,
    point_status,
    problems,
)
from matrix.audit.render import audit_document, render_markdown, write_audit
from matrix.audit.seed import SEED_FILE, SeedError, find_seed, read_seed
from matrix.layout import Layout
from matrix.manifest import load_manifest, tomllib
from matrix.misplaced import Import, Misplaced
from matrix.pytest_plugins import audit_plugin, copy_alone

REPO_ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = (
    Category("gradient", "gradient correctness", "CRITICAL", "70%"),
    Category("inplace", "in-place operations", "CRITICAL", "0%"),
)
# The seed of this repository: the 2025 audit of suite 05, its seven integration points.
SEED = read_seed(REPO_ROOT, f"tests/05_autograd/{SEED_FILE}", 5)
# A test of module 08 in suite 05: the seed's blocker.
BLOCKER = Misplaced(
    "tests/05_autograd/test_x.py",
    5,
    (Import("tinytorch.data.loader", 3, 8),),
    "tests/08_dataloader",
)
BLOCKER_TEXT = (
    "tests/05_autograd/test_x.py imports tinytorch.data.loader (module 08, line 3): it cannot "
    "run at checkpoint 05; move it to tests/08_dataloader/ [static only]"
)


def case(nodeid, *markers, cls=None, outcome="passed"):
    name = nodeid.split("::")[-1].split("[")[0]
    return CollectedTest(nodeid, cls, name, tuple(markers), outcome)


def tensor_module():
    # 3 tests: one gradient-marked, one skipped; 9 of 10 lines, 3 of 4 branches.
    return ModuleAudit(
        1,
        "tensor",
        "Tensor",
        "tests/01_tensor",
        tests=(
            case("tests/01_tensor/test_a.py::test_add"),
            case("tests/01_tensor/test_a.py::test_mul", "gradient"),
            case("tests/01_tensor/test_a.py::test_later", outcome="skipped"),
        ),
        coverage=Coverage(9, 10, 3, 4),
        vacuous=(),
    )


def autograd_module():
    # 3 tests: the loss test fails; one test is vacuous; 45/50 lines, 10/20 branches.
    return ModuleAudit(
        5,
        "autograd",
        "Autograd",
        "tests/05_autograd",
        tests=(
            case(
                "tests/05_autograd/test_p.py::TestAutogradTensorIntegration::test_arith",
                "gradient",
                cls="TestAutogradTensorIntegration",
            ),
            case(
                "tests/05_autograd/test_p.py::TestAutogradLossIntegration::test_mse_loss_gradients",
                "gradient",
                "inplace",
                cls="TestAutogradLossIntegration",
                outcome="failed",
            ),
            case("tests/05_autograd/test_i.py::test_inplace_raises[x]", "inplace"),
        ),
        coverage=Coverage(45, 50, 10, 20),
        vacuous=("tests.05_autograd.test_i::test_inplace_raises[x]",),
    )


def hand_made_audit():
    return Audit(
        modules=(tensor_module(), autograd_module()),
        categories=CATEGORIES,
        seed=SEED,
        misplaced_source="stub",
        misplaced=(BLOCKER,),
        python="3.11",
        seconds=12.0,
    )


def test_markdown_tables_from_hand_made_measurements():
    lines = render_markdown(hand_made_audit()).splitlines()
    assert (
        "| 01 Tensor | tests/01_tensor | 3 | 2/0/1 | 90.0% (9/10) | 75.0% (3/4) | 0 | 0 "
        "| not run (nox -s mutants) | ok |"
    ) in lines
    assert (
        "| 05 Autograd | tests/05_autograd | 3 | 2/1/0 | 90.0% (45/50) | 50.0% (10/20) | 1 | 1 "
        "| not run (nox -s mutants) | vacuous |"
    ) in lines
    # Bug-category matrix: gradient 1 in 01 and 2 in 05; inplace 0 and 2; "any" 1 and 3.
    assert "| category | seed priority | seed coverage | 01 | 05 | all |" in lines
    assert "| gradient | CRITICAL | 70% | 1 | 2 | 3 |" in lines
    assert "| inplace | CRITICAL | 0% | 0 | 2 | 2 |" in lines
    assert "| (any category) | - | - | 1 | 3 | 4 |" in lines
    assert "| (all tests) | - | - | 3 | 3 | 6 |" in lines
    # Integration points: 1 Tensor passes; 4 Losses has its one test failing; 5 In-place
    # has the failing loss test (marked inplace) and one passing test; the rest match nothing.
    assert (
        "| 1. Autograd + Tensor (01) | 60% | class TestAutogradTensorIntegration | 1 | 1 "
        "| COVERED |"
    ) in lines
    assert (
        "| 2. Autograd + Activations (02) | 70% | class TestAutogradActivationIntegration "
        "| 0 | 0 | MISSING |"
    ) in lines
    assert (
        "| 4. Autograd + Losses (04) | 0% | class TestAutogradLossIntegration | 1 | 0 | FAILING |"
    ) in lines
    assert "| 5. In-place operations | 0% | marker inplace | 2 | 1 | FAILING |" in lines
    assert "| MSE loss gradient | point 4 | name ~ /mse/ | 1 | 0 | FAILING |" in lines


def test_executive_summary_is_measured():
    lines = render_markdown(hand_made_audit()).splitlines()
    assert "- **Status**: FAILED" in lines
    assert "- **Modules measured**: 2 of 2" in lines
    # 6 tests: 4 passed, 1 failed, 1 skipped.
    assert (
        "- **Tests** (suite N at checkpoint N, measured modules): 6 collected, 4 passed, "
        "1 failed, 1 skipped, 0 not run"
    ) in lines
    # Lines 9+45 of 10+50 = 54/60 = 90.0%; branches 3+10 of 4+20 = 13/24 = 54.2%.
    assert (
        "- **Coverage of each module's own files by its own suite** (all measured modules "
        "together): line 90.0% (54/60), branch 54.2% (13/24)"
    ) in lines
    assert "- **Seed's integration points**: 1 of 7 COVERED, 4 MISSING, 2 FAILING" in lines, (
        "points 1 covered; 2, 3, 6, 7 missing; 4, 5 failing"
    )
    assert "- module 05: `tests.05_autograd.test_i::test_inplace_raises[x]`" in lines
    assert f"- {BLOCKER_TEXT}" in lines
    assert "- module 05: 1 vacuous test(s) in tests/05_autograd" in lines
    assert "- module 05: 1 test(s) of tests/05_autograd fail at checkpoint 05" in lines


def test_json_holds_the_same_data(tmp_path):
    text, passed = write_audit(Layout(tmp_path), hand_made_audit())
    assert passed is False
    document = json.loads((tmp_path / "reports/audit.json").read_text())
    assert document["status"] == "failed"
    first, second = document["modules"]
    assert first["coverage"] == {
        "lines_covered": 9,
        "lines": 10,
        "branches_covered": 3,
        "branches": 4,
        "line_percent": 90.0,
        "branch_percent": 75.0,
    }
    assert first["categories"] == {"gradient": 1, "inplace": 0}
    assert first["outcomes"] == {"passed": 2, "failed": 0, "skipped": 1, "not run": 0}
    assert second["status"] == "vacuous"
    assert second["vacuous"] == ["tests.05_autograd.test_i::test_inplace_raises[x]"]
    assert second["misplaced"] == [BLOCKER_TEXT]
    assert document["misplaced"]["findings"] == [{"suite": "05_autograd", "text": BLOCKER_TEXT}]
    assert document["seed"] == {"module": 5, "coverage_estimate": "40%"}
    statuses = [p["status"] for p in document["integration_points"]]
    assert statuses == ["COVERED", "MISSING", "MISSING", "FAILING", "FAILING", "MISSING", "MISSING"]
    assert document["integration_points"][3]["failing"] == [
        "tests/05_autograd/test_p.py::TestAutogradLossIntegration::test_mse_loss_gradients"
    ]
    assert (tmp_path / "reports/audit.md").read_text() == render_markdown(hand_made_audit())
    assert "audit problem: module 05: 1 vacuous test(s) in tests/05_autograd" in text


def test_planted_bugs_caught_per_module(tmp_path):
    audit = replace(
        hand_made_audit(),
        mutants={1: "11/12 (1 survived)", 5: "3/3, stale: of commit 0123456789ab"},
    )
    write_audit(Layout(tmp_path), audit)
    lines = (tmp_path / "reports/audit.md").read_text().splitlines()
    assert any(line.endswith("| misplaced | planted bugs caught | status |") for line in lines)
    assert any(line.endswith("| 0 | 0 | 11/12 (1 survived) | ok |") for line in lines)
    assert any(line.endswith("| 3/3, stale: of commit 0123456789ab | vacuous |") for line in lines)
    document = json.loads((tmp_path / "reports/audit.json").read_text())
    assert [m["planted_bugs_caught"] for m in document["modules"]] == [
        "11/12 (1 survived)",
        "3/3, stale: of commit 0123456789ab",
    ]
    assert problems(audit) == problems(hand_made_audit()), "reported, not failed on"


def test_green_audit_passes(tmp_path):
    audit = Audit((tensor_module(),), CATEGORIES, SEED, "stub")
    text, passed = write_audit(Layout(tmp_path), audit)
    assert passed is True
    assert problems(audit) == []
    assert "audit: Status: PASSED" in text.splitlines()
    assert json.loads((tmp_path / "reports/audit.json").read_text())["status"] == "passed"


def test_module_whose_coverage_failed_is_a_failed_row_and_fails_the_audit(tmp_path):
    why = "coverage: coverage has no data for tinytorch/core/activations.py (installed as /x)"
    broken = ModuleAudit(
        2,
        "activations",
        "Activations",
        "tests/02_activations",
        tests=(case("tests/02_activations/test_b.py::test_relu", outcome="not run"),),
        failure=why,
    )
    audit = Audit((tensor_module(), broken), CATEGORIES, SEED, "stub")
    text, passed = write_audit(Layout(tmp_path), audit)
    assert passed is False
    lines = (tmp_path / "reports/audit.md").read_text().splitlines()
    row = (
        "| 02 Activations | tests/02_activations | 1 | - | - | - | - | 0 "
        f"| not run (nox -s mutants) | FAILED: {why} |"
    )
    assert row in lines
    assert "- **Modules measured**: 1 of 2 (1 FAILED: 02)" in lines
    assert f"- module 02: measurement FAILED: {why}" in lines
    assert "Not checked (measurement FAILED): modules 02." in lines
    assert f"audit problem: module 02: measurement FAILED: {why}" in text
    module = json.loads((tmp_path / "reports/audit.json").read_text())["modules"][1]
    assert (module["status"], module["failure"], module["coverage"]) == ("FAILED", why, None)


def test_point_is_missing_when_no_test_matches():
    module = autograd_module()
    point = Point("Dead ReLU", "point 2", Evidence(names=r"dead"))
    status = point_status(point, SEED, module)
    assert (status.tests, status.passed, status.status) == (0, 0, "MISSING")
    no_tests = ModuleAudit(5, "autograd", "Autograd", "tests/05_autograd", tests=())
    statuses = [point_status(p, SEED, no_tests).status for p in SEED.integration_points]
    assert statuses == ["MISSING"] * 7


def test_point_statuses_from_outcomes():
    point = Point("In-place", "0%", Evidence(markers=("inplace",)))
    skipped = case("t.py::test_a", "inplace", outcome="skipped")
    module = ModuleAudit(5, "autograd", "Autograd", "tests/05_autograd", tests=(skipped,))
    assert point_status(point, SEED, module).status == "UNPROVEN"
    module = replace(module, tests=(skipped, case("t.py::test_b", "inplace")))
    assert point_status(point, SEED, module).status == "COVERED"
    module = replace(module, failure="collect: Returned code 2")
    assert point_status(point, SEED, module).status == "NOT MEASURED (module 05 FAILED)"
    assert point_status(point, SEED, None).status == "NOT MEASURED (no module 05)"


def test_evidence_matches_class_marker_or_name():
    evidence = Evidence(classes=("TestX",), markers=("memory",), names=r"zero_grad")
    assert evidence.matches(CollectedTest("a", "TestX", "test_q", ()))
    assert evidence.matches(CollectedTest("a", None, "test_q", ("memory",)))
    assert evidence.matches(CollectedTest("a", None, "test_zero_grad_works", ()))
    assert not evidence.matches(CollectedTest("a", "TestY", "test_q", ("gradient",)))
    assert evidence.describe() == "class TestX or marker memory or name ~ /zero_grad/"


def test_collection_and_outcomes_are_joined_by_node_id():
    tests = parse_collection(
        [
            {"nodeid": "t.py::C::test_a[1]", "cls": "C", "name": "test_a", "markers": ["memory"]},
            {"nodeid": "t.py::test_b", "cls": None, "name": "test_b", "markers": []},
        ]
    )
    tests = apply_outcomes(tests, {"t.py::C::test_a[1]": "failed", "t.py::other": "passed"})
    assert [(t.cls, t.name, t.markers, t.outcome) for t in tests] == [
        ("C", "test_a", ("memory",), "failed"),
        (None, "test_b", (), "not run"),
    ]


def test_coverage_of_the_installed_copies_of_the_module_files(tmp_path):
    site = tmp_path / "venv/site-packages"

    def summary(lines, covered, branches, covered_branches):
        return {
            "summary": {
                "num_statements": lines,
                "covered_lines": covered,
                "num_branches": branches,
                "covered_branches": covered_branches,
            }
        }

    report = {
        "files": {
            # relative to the run's directory, and absolute: both forms occur
            "venv/site-packages/tinytorch/core/alpha.py": summary(10, 7, 4, 1),
            str(site / "tinytorch/extra/helper.py"): summary(5, 5, 2, 2),
            "venv/site-packages/tinytorch/core/other.py": summary(100, 0, 50, 0),
        }
    }
    files = ["tinytorch/core/alpha.py", "tinytorch/extra/helper.py"]
    assert coverage_of(files, report, site, tmp_path) == Coverage(12, 15, 3, 6)
    with pytest.raises(AuditError, match=r"coverage has no data for tinytorch/core/beta\.py"):
        coverage_of([*files, "tinytorch/core/beta.py"], report, site, tmp_path)


def test_categories_are_the_markers_of_pyproject():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    categories = categories_from_pyproject(pyproject, SEED)
    assert categories[0] == Category(
        "gradient", "gradient correctness, numerical gradient checks", "CRITICAL", "70%"
    )
    assert [c.name for c in categories][-1] == "performance"
    assert (categories[-1].priority, categories[-1].seed_coverage) == ("long-term action 7", "-")
    bare = {"tool": {"pytest": {"ini_options": {"markers": ["slow: takes long"]}}}}
    assert categories_from_pyproject(bare, None) == (Category("slow", "takes long", "-", "-"),)
    with pytest.raises(AuditError, match="registers no pytest markers"):
        categories_from_pyproject({}, None)


def test_seed_estimate_for_a_marker_pyproject_lacks_is_refused():
    bare = {"tool": {"pytest": {"ini_options": {"markers": ["slow: takes long"]}}}}
    with pytest.raises(
        AuditError,
        match=r"^tests/05_autograd/seed_audit\.toml: category_coverage: .*gradient.* is no "
        r"pytest marker of pyproject\.toml",
    ):
        categories_from_pyproject(bare, SEED)


def test_the_seed_is_the_toml_beside_suite_05():
    seed = find_seed(load_manifest(REPO_ROOT))
    assert seed == SEED
    assert (seed.source, seed.module, seed.overall_coverage) == (
        "tests/05_autograd/seed_audit.toml",
        5,
        "40%",
    )
    assert seed.category_coverage["integration"] == "30%"
    assert (len(seed.integration_points), len(seed.missing_tests)) == (7, 16)
    assert seed.integration_points[0] == Point(
        "1. Autograd + Tensor (01)", "60%", Evidence(classes=("TestAutogradTensorIntegration",))
    )
    assert seed.missing_tests[12] == Point(
        "Prior stack stability (modules 01-04)",
        "test class 1, missing 9",
        Evidence(classes=("TestPriorStackStillWorking",), markers=("regression",)),
    )


GOOD_SEED = """
description = "a seed"
overall_coverage = "10%"

[category_coverage]
slow = "5%"

[[integration_points]]
name = "one"
seed = "0%"
markers = ["slow"]

[[missing_tests]]
name = "two"
seed = "point 1"
names = "beta"
"""


def test_a_seed_in_any_suite_folder_is_read_for_that_module(fake_repo):
    (fake_repo / f"tests/02_beta/{SEED_FILE}").write_text(GOOD_SEED)
    seed = find_seed(load_manifest(fake_repo))
    assert (seed.source, seed.module, seed.label) == (f"tests/02_beta/{SEED_FILE}", 2, "02")
    assert seed.missing_tests == (Point("two", "point 1", Evidence(names="beta")),)


def test_no_seed_file_means_no_seed(fake_repo):
    assert find_seed(load_manifest(fake_repo)) is None


def test_two_seed_files_are_refused(fake_repo):
    for folder in ("tests/01_alpha", "tests/02_beta"):
        (fake_repo / folder / SEED_FILE).write_text(GOOD_SEED)
    with pytest.raises(SeedError, match="keep the file of one suite only"):
        find_seed(load_manifest(fake_repo))


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ('overall_coverage = "10%"\n', "", "overall_coverage", "missing; expected a string"),
        ('"10%"', "10", "overall_coverage", 'expected a string, like "40%", got 10'),
        ('slow = "5%"', "slow = 5", "category_coverage.slow", "expected an estimate in words"),
        ('markers = ["slow"]', 'markers = "slow"', "integration_points[0].markers", "a list of"),
        ('names = "beta"', 'names = "(beta"', "missing_tests[0].names", "not a regular expr"),
        ('names = "beta"', 'nmes = "beta"', "missing_tests[0].nmes", "unknown field"),
        ('markers = ["slow"]', "", "integration_points[0]", "no evidence; give classes"),
        ('name = "one"\n', "", "integration_points[0].name", "missing; expected a string"),
        ('description = "a seed"', 'descripton = "a seed"', "descripton", "unknown field"),
        ("[[missing_tests]]", "[missing_tests]", "missing_tests", "expected an array of tables"),
        ('"a seed"', '"a seed', "not valid TOML", ""),
    ],
)
def test_a_bad_seed_is_refused_naming_file_and_field(fake_repo, old, new, field, problem):
    assert old in GOOD_SEED, "test setup"
    (fake_repo / f"tests/02_beta/{SEED_FILE}").write_text(GOOD_SEED.replace(old, new, 1))
    with pytest.raises(SeedError) as refused:
        find_seed(load_manifest(fake_repo))
    assert str(refused.value).startswith(f"tests/02_beta/{SEED_FILE}: {field}"), refused.value
    assert problem in str(refused.value)


def test_an_audit_without_a_seed_has_no_seed_sections(tmp_path):
    audit = Audit((tensor_module(),), CATEGORIES, None, "stub")
    markdown = render_markdown(audit)
    assert "reference implementation. Every number here is measured" in markdown
    assert "Integration points" not in markdown
    assert "seed named as missing" not in markdown
    assert "the seed's module" not in markdown
    document = audit_document(audit)
    assert (document["seed"], document["integration_points"], document["seed_missing_tests"]) == (
        None,
        [],
        [],
    )


def test_misplaced_tests_are_those_of_matrix_misplaced(fake_repo):
    (fake_repo / "tests/01_alpha/test_wrong.py").write_text(
        "from tinytorch.core.beta import BETA\n"
    )
    findings, failure = misplaced_tests(load_manifest(fake_repo))
    assert (MISPLACED_SOURCE, failure) == ("matrix.misplaced.find_misplaced", "")
    assert [(finding.path, finding.folder) for finding in findings] == [
        ("tests/01_alpha/test_wrong.py", 1)
    ]
    audit = Audit((tensor_module(),), CATEGORIES, None, MISPLACED_SOURCE, findings)
    lines = render_markdown(audit).splitlines()
    assert (
        "- tests/01_alpha/test_wrong.py imports tinytorch.core.beta (module 02, line 1): it "
        "cannot run at checkpoint 01; move it to tests/02_beta/ [static only]"
    ) in lines
    assert "- **Misplaced tests**: 1 (source: matrix.misplaced.find_misplaced)" in lines
    assert problems(audit) == [], "misplaced tests are reported, not failed on"


def test_a_test_file_that_cannot_be_parsed_fails_the_audit(fake_repo):
    (fake_repo / "tests/01_alpha/test_broken.py").write_text("def test(:\n")
    findings, failure = misplaced_tests(load_manifest(fake_repo))
    assert findings == ()
    assert failure.startswith("could not parse tests/01_alpha/test_broken.py (line 1: ")
    audit = Audit((tensor_module(),), CATEGORIES, None, MISPLACED_SOURCE, findings, failure)
    assert f"FAILED: {failure}" in render_markdown(audit).splitlines()
    assert problems(audit) == [f"misplaced tests: FAILED: {failure}"]
    assert audit_document(audit)["misplaced"]["failure"] == failure


SUITE = "from tinytorch.core.alpha import alpha\n\n\ndef test_alpha():\n    assert alpha() == 1\n"
VACUOUS = "def test_proves_nothing():\n    assert 2 + 2 == 4\n"


def test_nox_audit_measures_the_fake_repo(fake_repo_with_tools):
    """Module 01: two tests, one vacuous. Module 02: no tests, and its helper.py sits in a
    folder without __init__.py that nothing imports, so coverage.py has no data for it."""
    root = fake_repo_with_tools
    (root / "tests/01_alpha/test_alpha.py").write_text(SUITE)
    (root / "tests/01_alpha/test_other.py").write_text(VACUOUS)
    # The last `nox -s mutants` (of this tree: it is in no git repository, nor was that run).
    caught = {"module": 1, "category": "typical", "outcome": "caught later", "seconds": 1.0}
    (root / "reports").mkdir()
    (root / "reports/mutants.json").write_text(
        json.dumps({"commit": "", "results": [{**caught, "id": "01:a", "caught_by": "t"}]})
    )
    run = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "audit"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode != 0, run.stdout + run.stderr
    lines = (root / "reports/audit.md").read_text().splitlines()
    # alpha.py is three statements, all executed; it has no branches.
    assert (
        "| 01 Alpha | tests/01_alpha | 2 | 2/0/0 | 100.0% (3/3) | n/a (0 of 0) | 1 | 0 | 1/1 "
        "| vacuous |"
    ) in lines, run.stdout
    row = next(line for line in lines if line.startswith("| 02 Beta |"))
    assert row.startswith(
        "| 02 Beta | tests/02_beta | 0 | 0/0/0 | - | - | - | 0 | not run (nox -s mutants) "
        "| FAILED: coverage:"
    )
    assert "coverage has no data for tinytorch/extra/helper.py" in row
    assert "- module 01: `tests.01_alpha.test_other::test_proves_nothing`" in lines
    assert "audit problem: module 01: 1 vacuous test(s) in tests/01_alpha" in run.stdout
    document = json.loads((root / "reports/audit.json").read_text())
    assert [m["status"] for m in document["modules"]] == ["vacuous", "FAILED"]
    assert [m["planted_bugs_caught"] for m in document["modules"]] == [
        "1/1",
        "not run (nox -s mutants)",
    ]


PLUGIN_SUITE = """
import pytest

pytestmark = pytest.mark.memory


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup")


class TestC:
    @pytest.mark.gradient
    @pytest.mark.parametrize("x", [1, 2])
    def test_param(self, x):
        assert x == 1


def test_skip():
    pytest.skip("why")


@pytest.mark.xfail(reason="known")
def test_xfail():
    raise AssertionError


def test_teardown_fails(broken_teardown):
    pass


def test_setup_fails(broken_setup):
    pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_plugin_records_markers_and_outcomes(tmp_path, workers):
    load = copy_alone((audit_plugin,), tmp_path / "plugin")
    (tmp_path / "test_s.py").write_text(PLUGIN_SUITE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plugin")}
    pytest_command = [sys.executable, "-m", "pytest", *load, "test_s.py"]
    collected = subprocess.run(
        [*pytest_command, "--collect-only", "-q", f"--audit-tests={tmp_path / 't.json'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    tests = json.loads((tmp_path / "t.json").read_text())
    assert tests[0] == {
        "nodeid": "test_s.py::TestC::test_param[1]",
        "cls": "TestC",
        "name": "test_param",
        "markers": ["gradient", "memory", "parametrize"],
    }
    assert [t["name"] for t in tests[1:]] == [
        "test_param", "test_skip", "test_xfail", "test_teardown_fails", "test_setup_fails"
    ]  # fmt: skip
    assert tests[-1]["cls"] is None
    ran = subprocess.run(
        [*pytest_command, *workers, f"--audit-outcomes={tmp_path / 'o.json'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert json.loads((tmp_path / "o.json").read_text()) == {
        "test_s.py::TestC::test_param[1]": "passed",
        "test_s.py::TestC::test_param[2]": "failed",
        "test_s.py::test_skip": "skipped",
        "test_s.py::test_xfail": "skipped",
        "test_s.py::test_teardown_fails": "failed",
        "test_s.py::test_setup_fails": "failed",
    }
