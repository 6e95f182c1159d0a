"""README's promise, for a module with a differentiable op: adding module 09 touches only its
manifest entry, its package file and its test folder, and checkpoint 09 passes.

In a copy of this tree, a branch adds module 09, Softplus: tinytorch/core/softplus.py registers
its backward rule with module 05's public ``register_op``, and tests/09_softplus/ holds a test
and the suite's op-registry entries (op_entries.py). `git diff` lists those three places only;
then the real `nox -s module09` passes, suite 05 included: its registry-driven tests ran over
softplus, and its coverage test saw the softplus rule. Without op_entries.py, that coverage
test fails at checkpoint 09, and still passes at checkpoint 08, which has no module 09.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from matrix.layout import Layout
from matrix.tests.repo_helpers import add_module, copy_of_this_tree, git, make_repository, nox

MANIFEST_ENTRY = """
[[module]]
number = 9
slug = "softplus"
title = "Softplus"
files = ["tinytorch/core/softplus.py"]
tests = "tests/09_softplus"
"""
SOFTPLUS_MODULE = '''\
    """Module 09, Softplus: log(1 + exp(x)), a later module's differentiable op (test fixture)."""

    import numpy as np

    from tinytorch.core.autograd import register_op
    from tinytorch.core.tensor import Tensor


    class Softplus:
        def __call__(self, x):
            return Tensor._from_op(np.logaddexp(0.0, x.data), "softplus", (x,))


    def _softplus_backward(g, f):
        return (g * 0.5 * (1.0 + np.tanh(f.a / 2.0)),)  # g * sigmoid(x)


    register_op("softplus", _softplus_backward, saves="a")
    '''
SOFTPLUS_TEST = """\
    import numpy as np

    from tinytorch.core.softplus import Softplus
    from tinytorch.core.tensor import Tensor


    def test_softplus_values_and_gradient():
        x = Tensor([0.0, 2.0], requires_grad=True)
        y = Softplus()(x)
        np.testing.assert_allclose(y.data, [np.log(2.0), np.log1p(np.exp(2.0))], rtol=1e-6)
        y.sum().backward()
        np.testing.assert_allclose(x.grad, [0.5, 1.0 / (1.0 + np.exp(-2.0))], rtol=1e-6)
    """
SOFTPLUS_ENTRIES = '''\
    """Module 09's differentiable op, for suite 05's op registry."""

    from op_info import anyv, entry, sample


    def softplus(x):
        from tinytorch.core.softplus import Softplus  # when called: collection imports none

        return Softplus()(x)


    def softplus_samples():
        return [sample("", anyv(2, 3)), sample("", anyv())]


    ENTRIES = [entry("softplus", softplus, {"softplus"}, softplus_samples)]
    '''
MODULE_09 = {
    "tinytorch/core/softplus.py": SOFTPLUS_MODULE,
    "tests/09_softplus/test_softplus.py": SOFTPLUS_TEST,
    "tests/09_softplus/op_entries.py": SOFTPLUS_ENTRIES,
}
COVERAGE_TEST = "test_registry_covers_every_backward_rule"


def junit_cases(root: Path, checkpoint: int) -> dict[str, ET.Element]:
    """classname::name -> testcase of the checkpoint's JUnit XML, as the session left it."""
    layout = Layout(root)
    [path] = layout.at(layout.junit).glob(f"checkpoint-{checkpoint:02d}-*.xml")
    return {
        f"{case.get('classname')}::{case.get('name')}": case
        for case in ET.parse(path).iter("testcase")
    }


def outcome(case: ET.Element) -> str:
    for kind in ("failure", "error", "skipped"):
        if case.find(kind) is not None:
            return kind
    return "passed"


@pytest.fixture(scope="module")
def repo_with_module_09(tmp_path_factory) -> Path:
    root = make_repository(copy_of_this_tree(tmp_path_factory.mktemp("clone") / "clone"))
    add_module(root, "add-softplus", MODULE_09, MANIFEST_ENTRY)
    return root


def test_module_09_touches_its_manifest_entry_package_file_and_test_folder_only(
    repo_with_module_09,
):
    changed = git(repo_with_module_09, "diff", "--name-only", "main", "HEAD").split()
    assert sorted(changed) == [
        "matrix/modules.toml",
        "tests/09_softplus/op_entries.py",
        "tests/09_softplus/test_softplus.py",
        "tinytorch/core/softplus.py",
    ]
    diff = git(repo_with_module_09, "diff", "main", "HEAD", "--", "matrix/modules.toml")
    # The manifest gained module 09's entry, and nothing else of it changed.
    lines = diff.splitlines()
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    assert added == MANIFEST_ENTRY.splitlines(), diff
    assert removed == [], diff


# Suites 01..09 for real, and two short checkpoints: a few minutes on two cores.
@pytest.mark.timeout(1200)
def test_checkpoint_09_passes_and_suite_05_covers_the_new_op(repo_with_module_09):
    root = repo_with_module_09
    run = nox(root, "-s", "module09")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    cases = junit_cases(root, 9)
    coverage = [case for key, case in cases.items() if key.endswith(f"::{COVERAGE_TEST}")]
    assert [outcome(case) for case in coverage] == ["passed"]
    # Suite 05's registry-driven tests, course API and extras, ran over the new op.
    softplus_in_05 = {
        key: outcome(case)
        for key, case in cases.items()
        if key.startswith("tests.05_autograd.") and "[softplus-" in key
    }
    assert any(".test_op_registry::" in key for key in softplus_in_05), sorted(cases)[:20]
    assert any(".test_extras_registry::" in key for key in softplus_in_05)
    assert set(softplus_in_05.values()) == {"passed"}
    suite_09 = [outcome(c) for k, c in cases.items() if k.startswith("tests.09_softplus.")]
    assert suite_09 == ["passed"]

    # Without its registry entries, the new op's rule is uncovered: at checkpoint 09 only.
    # Only the coverage test runs (-k): the session calls that run incomplete, as it does
    # any run where a suite ran no test, so its JUnit XML, not its exit code, is the verdict.
    (root / "tests/09_softplus/op_entries.py").unlink()
    nox(root, "-s", "module09", "--", "-k", COVERAGE_TEST)
    [at_09] = [c for k, c in junit_cases(root, 9).items() if k.endswith(f"::{COVERAGE_TEST}")]
    assert outcome(at_09) == "failure"
    assert "ops with a backward rule but no registry entry: ['softplus']" in (
        at_09.find("failure").get("message", "") + (at_09.find("failure").text or "")
    )
    nox(root, "-s", "module08", "--", "-k", COVERAGE_TEST)
    [at_08] = [c for k, c in junit_cases(root, 8).items() if k.endswith(f"::{COVERAGE_TEST}")]
    assert outcome(at_08) == "passed"
