"""Misplaced tests: every import form, the folder a file belongs in, and the audit's blocker.

The fake repo has module 01 'alpha' and module 02 'beta' (tinytorch/core/beta.py plus
tinytorch/extra/helper.py); a file in tests/01_alpha that needs beta belongs in tests/02_beta.
"""

import pytest

from matrix.gate.run import NoxRun, run_gate
from matrix.manifest import load_manifest
from matrix.misplaced import STATIC_ONLY, confirm, find_misplaced
from matrix.tests.repo_helpers import (
    commit_all,
    copy_of_this_tree,
    git,
    make_repository,
    matrix_cli,
)

IMPORT_FORMS = {
    "import": ("import tinytorch.core.beta\n", [("tinytorch.core.beta", 1, 2)]),
    "from module import": (
        "from tinytorch.core.beta import BETA\n",
        [("tinytorch.core.beta", 1, 2)],
    ),
    "from package import module": (
        "from tinytorch.core import alpha, beta\n",
        [("tinytorch.core.beta", 1, 2)],
    ),
    "a second file of the module": (
        "from tinytorch.extra.helper import HELP\n",
        [("tinytorch.extra.helper", 1, 2)],
    ),
    "importlib literal": (
        'import importlib\n\n\ndef test_x():\n    importlib.import_module("tinytorch.core.beta")\n',
        [("tinytorch.core.beta", 5, 2)],
    ),
    "import_module imported by name": (
        'from importlib import import_module\n\nimport_module("tinytorch.core.beta")\n',
        [("tinytorch.core.beta", 3, 2)],
    ),
    "importorskip literal": (
        'import pytest\n\nbeta = pytest.importorskip("tinytorch.core.beta")\n',
        [("tinytorch.core.beta", 3, 2)],
    ),
    "inside a test function": (
        "def test_x():\n    from tinytorch.core.beta import BETA\n    assert BETA\n",
        [("tinytorch.core.beta", 2, 2)],
    ),
    "its own module": ("from tinytorch.core.alpha import ALPHA\n", []),
    "the skeleton": ("import tinytorch\nfrom tinytorch import core\n", []),
    "not tinytorch": ("import numpy\nimport betamax.core.beta\n", []),
    "a computed name": (
        "import importlib\n\nNAME = 'tinytorch.core.beta'\nimportlib.import_module(NAME)\n",
        [],
    ),
    "only in a string": ('CHILD = "import tinytorch.core.beta"\n', []),
}


@pytest.mark.parametrize(("source", "expected"), IMPORT_FORMS.values(), ids=IMPORT_FORMS.keys())
def test_each_import_form(fake_repo, source, expected):
    (fake_repo / "tests/01_alpha/test_alpha.py").write_text(source)
    findings, unparsable = find_misplaced(load_manifest(fake_repo))
    assert unparsable == []
    found = [(i.name, i.line, i.module) for f in findings for i in f.imports]
    assert found == expected
    if expected:
        assert [(f.path, f.folder, f.belongs_in) for f in findings] == [
            ("tests/01_alpha/test_alpha.py", 1, "tests/02_beta")
        ]


def test_conftest_and_nested_files_are_checked_and_syntax_errors_listed(fake_repo):
    (fake_repo / "tests/01_alpha/conftest.py").write_text("import tinytorch.core.beta\n")
    (fake_repo / "tests/01_alpha/sub").mkdir()
    (fake_repo / "tests/01_alpha/sub/test_deep.py").write_text("from tinytorch.core import beta\n")
    (fake_repo / "tests/02_beta/test_broken.py").write_text("def broken(:\n")
    findings, unparsable = find_misplaced(load_manifest(fake_repo))
    assert [f.path for f in findings] == [
        "tests/01_alpha/conftest.py",
        "tests/01_alpha/sub/test_deep.py",
    ]
    assert unparsable == ["tests/02_beta/test_broken.py (line 1: invalid syntax)"]


# The audit: "tests/05_autograd/test_progressive_integration.py tests Module 08 (DataLoader),
# not Module 05 (Autograd)", and test_dataloader_tensor_integration.py, "DataLoader
# integration (wrong module!)". Both dropped into tests/05_autograd/ of a copy of this tree.
AUDIT_DATALOADER_TEST = '''\
"""DataLoader integration: batches of Tensors (Module 08, misfiled under 05_autograd)."""

import numpy as np

from tinytorch.core.dataloader import DataLoader, TensorDataset
from tinytorch.core.tensor import Tensor


def test_dataloader_batches_tensors():
    dataset = TensorDataset(Tensor(np.arange(6.0).reshape(3, 2)), Tensor(np.arange(3.0)))
    assert len(DataLoader(dataset, batch_size=2)) == 2
'''
AUDIT_PROGRESSIVE_TEST = '''\
"""Module 08: Progressive Integration Tests."""

from tinytorch.core.autograd import enable_autograd
from tinytorch.data.loader import DataLoader


def test_loader_exists():
    assert DataLoader is not None and enable_autograd is not None
'''
BLOCKER = "tests/05_autograd/test_dataloader_tensor_integration.py"


@pytest.fixture
def tree_with_the_audit_blocker(tmp_path):
    root = copy_of_this_tree(tmp_path / "tree")
    (root / BLOCKER).write_text(AUDIT_DATALOADER_TEST)
    (root / "tests/05_autograd/test_audit_progressive.py").write_text(AUDIT_PROGRESSIVE_TEST)
    return root


STAND_IN_FORMS = {
    "course-API stand-in": (
        "from course_api import DataLoader, Tensor\n",
        [("tinytorch.core.dataloader", 1, 8)],
    ),
    "re-export by path": (
        'from course_api import name_in\n\nLoader = name_in("tinytorch.data.loader", "X")\n',
        [("tinytorch.data.loader", 3, 8)],
    ),
    "an extra's stand-in": (
        "from reference_extras import no_grad\n",
        [("tinytorch.core.autograd", 1, 5)],
    ),
    "stand-ins of its own checkpoint": ("from course_api import Linear, Tensor\n", []),
}


@pytest.mark.parametrize(("source", "expected"), STAND_IN_FORMS.values(), ids=STAND_IN_FORMS.keys())
def test_suite_stand_ins_are_read_as_imports(tmp_path, source, expected):
    root = copy_of_this_tree(tmp_path / "tree")
    (root / "tests/03_layers/test_stand_in.py").write_text(source)
    findings, _ = find_misplaced(load_manifest(root))
    found = [(i.name, i.line, i.module) for f in findings for i in f.imports]
    assert found == expected


def test_failures_for_a_module_not_installed_confirm(tree_with_the_audit_blocker, tmp_path):
    (tree_with_the_audit_blocker / BLOCKER).write_text(
        "from course_api import DataLoader\n\n\ndef test_x():\n    assert DataLoader(1)\n"
    )
    findings, _ = find_misplaced(load_manifest(tree_with_the_audit_blocker))
    junit = tmp_path / "checkpoint-05.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase classname="tests.05_autograd.'
        'test_dataloader_tensor_integration" name="test_x"><failure message="course API name '
        "missing: tinytorch.core.dataloader is not installed, so 'DataLoader' is missing\"/>"
        "</testcase></testsuite></testsuites>"
    )
    evidence = {f.path: f.evidence for f in confirm(findings, lambda number: junit)}
    assert evidence[BLOCKER] == "confirmed: checkpoint 05 could not import it"


def test_this_tree_has_no_misplaced_test():
    findings, unparsable = find_misplaced(load_manifest())
    assert (findings, unparsable) == ([], [])


def test_audit_blocker_is_named_with_tests_08_dataloader(tree_with_the_audit_blocker):
    findings, _ = find_misplaced(load_manifest(tree_with_the_audit_blocker))
    assert [finding.describe() for finding in findings] == [
        "tests/05_autograd/test_audit_progressive.py imports tinytorch.data.loader "
        "(module 08, line 4): it cannot run at checkpoint 05; move it to tests/08_dataloader/ "
        "[static only]",
        "tests/05_autograd/test_dataloader_tensor_integration.py imports "
        "tinytorch.core.dataloader (module 08, line 5): it cannot run at checkpoint 05; "
        "move it to tests/08_dataloader/ [static only]",
    ]


def test_standalone_command_prints_the_findings_and_fails(tree_with_the_audit_blocker):
    run = matrix_cli(tree_with_the_audit_blocker, "misplaced")
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f"{BLOCKER} imports tinytorch.core.dataloader (module 08, line 5)")
    assert lines[1].endswith("move it to tests/08_dataloader/ [static only]")


def test_standalone_command_passes_on_a_clean_tree(tmp_path):
    root = copy_of_this_tree(tmp_path / "tree")
    run = matrix_cli(root, "misplaced")
    assert (run.returncode, run.stdout) == (
        0,
        "no misplaced tests: every file in tests/NN_* imports only modules 01..NN\n",
    )


# What pytest (with xdist) writes for a test file it cannot import, as seen in a real run.
COLLECTION_ERROR = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="0" skipped="0" tests="2">
<testcase classname="" name="tests.05_autograd.test_dataloader_tensor_integration" time="0.000">
<error message="collection failure">ImportError while importing test module '{path}'.
Traceback:
tests/05_autograd/test_dataloader_tensor_integration.py:5: in &lt;module&gt;
    from tinytorch.core.dataloader import DataLoader, TensorDataset
E   ModuleNotFoundError: No module named '{missing}'</error></testcase>
<testcase classname="tests.05_autograd.test_gradient_flow" name="test_ok" time="0.1"/>
</testsuite></testsuites>
"""
SYNTAX_ERROR = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>
<testcase classname="" name="tests.05_autograd.test_dataloader_tensor_integration" time="0">
<error message="collection failure">E   SyntaxError: invalid syntax</error></testcase>
</testsuite></testsuites>
"""


def test_confirmed_by_a_collection_error_at_its_checkpoint(tree_with_the_audit_blocker, tmp_path):
    findings, _ = find_misplaced(load_manifest(tree_with_the_audit_blocker))
    junit = tmp_path / "checkpoint-05.xml"
    junit.write_text(COLLECTION_ERROR.format(path=BLOCKER, missing="tinytorch.core.dataloader"))
    asked = []

    def junit_of(number):
        asked.append(number)
        return junit

    evidence = {f.path: f.evidence for f in confirm(findings, junit_of)}
    assert asked == [5, 5]
    assert evidence == {
        "tests/05_autograd/test_audit_progressive.py": STATIC_ONLY,
        BLOCKER: "confirmed: checkpoint 05 could not import it",
    }


def test_other_collection_errors_and_missing_runs_do_not_confirm(
    tree_with_the_audit_blocker, tmp_path
):
    findings, _ = find_misplaced(load_manifest(tree_with_the_audit_blocker))
    junit = tmp_path / "checkpoint-05.xml"
    junit.write_text(SYNTAX_ERROR)
    assert {f.evidence for f in confirm(findings, lambda number: junit)} == {STATIC_ONLY}
    assert {f.evidence for f in confirm(findings, lambda number: None)} == {STATIC_ONLY}


def test_gate_names_the_audit_blocker_and_the_folder_it_belongs_in(tmp_path, monkeypatch):
    monkeypatch.delenv("MATRIX_IMPL", raising=False)
    monkeypatch.delenv("MATRIX_REPORTS_DIR", raising=False)
    root = make_repository(copy_of_this_tree(tmp_path / "clone"))
    git(root, "checkout", "-q", "-b", "dataloader-test")
    (root / BLOCKER).write_text(AUDIT_DATALOADER_TEST)
    commit_all(root, "a DataLoader test, filed under autograd")
    asked = []

    def nox_that_runs_nothing(root, sessions, env, reports):
        asked.append(sessions)
        return NoxRun(0, {})

    code = run_gate(load_manifest(root), ["--base", "main"], runner=nox_that_runs_nothing)
    report = (root / "reports/gate.md").read_text()
    assert code == 1
    assert asked == [["module05", "module06", "module07", "module08", "vacuity05", "lint"]]
    assert (
        "- misplaced test: tests/05_autograd/test_dataloader_tensor_integration.py imports "
        "tinytorch.core.dataloader (module 08, line 5): it cannot run at checkpoint 05; "
        "move it to tests/08_dataloader/ [static only]\n"
    ) in report
    assert f"| 05 | no record | - | `{BLOCKER}` |" in report
    assert f"| `{BLOCKER}` | 05..08 | suite 05_autograd |" in report
