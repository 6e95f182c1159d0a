"""Which checkpoints a diff selects, and why: by hand on the fake repo, then a real module 09.

The fake repo has module 01 'alpha' (tinytorch/core/alpha.py) and module 02 'beta'
(tinytorch/core/beta.py, tinytorch/extra/helper.py).
"""

import pytest

from matrix.gate.changes import changed_files
from matrix.gate.run import sessions_to_run
from matrix.gate.selection import select_checkpoints
from matrix.git import resolve_commit
from matrix.manifest import load_manifest
from matrix.tests.repo_helpers import (
    add_module_09,
    commit_all,
    copy_of_this_tree,
    make_repository,
)

CASES = {
    "module 01 code": (["tinytorch/core/alpha.py"], [1, 2], [1]),
    "module 02 code": (["tinytorch/core/beta.py"], [2], [2]),
    "module 02's second file": (["tinytorch/extra/helper.py"], [2], [2]),
    "suite 01": (["tests/01_alpha/test_alpha.py"], [1, 2], [1]),
    "suite 02 conftest": (["tests/02_beta/conftest.py"], [2], [2]),
    "readme": (["README.md"], [], []),
    "bench and milestone": (["bench/engine_bench.py", "milestone/train_digits.py"], [], []),
    "matrix tool": (["matrix/report.py"], [1, 2], []),
    "manifest": (["matrix/modules.toml"], [1, 2], []),
    "noxfile": (["noxfile.py"], [1, 2], []),
    "pyproject": (["pyproject.toml"], [1, 2], []),
    "workflow": ([".github/workflows/matrix.yml"], [1, 2], []),
    "ci script": ([".ci/run"], [1, 2], []),
    "skeleton": (["tinytorch/core/__init__.py"], [1, 2], []),
    "guard test": (["tests/test_checkpoint_guard.py"], [1, 2], []),
    "shared test config": (["tests/conftest.py"], [1, 2], []),
    "deleted package file": (["tinytorch/core/gamma.py"], [1, 2], []),
    "test folder of no module": (["tests/03_gamma/test_gamma.py"], [1, 2], []),
    "suite 02 and readme": (["README.md", "tests/02_beta/test_beta.py"], [2], [2]),
    "planted bugs of module 02": (["mutants/02_beta.toml"], [2], [2]),
    "planted bugs of module 01": (["mutants/01_alpha.toml"], [1, 2], [1]),
    "planted bugs of no module": (["mutants/03_gamma.toml"], [1, 2], []),
}


@pytest.mark.parametrize(("changed", "checkpoints", "modules"), CASES.values(), ids=CASES.keys())
def test_changed_files_select_their_checkpoint_and_later(fake_repo, changed, checkpoints, modules):
    selection = select_checkpoints(load_manifest(fake_repo), changed)
    assert selection.checkpoints == checkpoints
    assert selection.changed_modules == modules
    assert selection.skipped == [n for n in (1, 2) if n not in checkpoints]


def test_each_checkpoint_names_the_files_that_selected_it(fake_repo):
    selection = select_checkpoints(
        load_manifest(fake_repo),
        ["tests/02_beta/test_beta.py", "README.md", "tinytorch/core/alpha.py"],
    )
    assert selection.selected_by(1) == ["tinytorch/core/alpha.py"]
    assert selection.selected_by(2) == ["tests/02_beta/test_beta.py", "tinytorch/core/alpha.py"]
    assert [(c.path, c.first, c.why) for c in selection.changes] == [
        ("README.md", None, "not package code, a suite or the matrix tool"),
        ("tests/02_beta/test_beta.py", 2, "suite 02_beta"),
        ("tinytorch/core/alpha.py", 1, "module 01 code"),
    ]
    assert sessions_to_run(selection) == ["module01", "module02", "vacuity01", "vacuity02", "lint"]


def test_nothing_changed_selects_nothing_but_lint(fake_repo):
    selection = select_checkpoints(load_manifest(fake_repo), [])
    assert selection.checkpoints == []
    assert sessions_to_run(selection) == ["lint"]


@pytest.fixture
def clone_with_module_09(tmp_path):
    root = make_repository(copy_of_this_tree(tmp_path / "clone"))
    add_module_09(root)
    return root


def test_new_module_09_in_a_branch_selects_every_checkpoint_and_its_vacuity(
    clone_with_module_09,
):
    root = clone_with_module_09
    manifest = load_manifest(root)
    changed = changed_files(root, resolve_commit(root, "main"))
    assert changed == [
        "matrix/modules.toml",
        "mutants/09_spatial.toml",
        "tests/09_spatial/test_spatial.py",
        "tinytorch/core/spatial.py",
    ]
    selection = select_checkpoints(manifest, changed)
    # The manifest changed, and every checkpoint is built from it.
    assert selection.checkpoints == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert selection.selected_by(1) == ["matrix/modules.toml"]
    assert selection.selected_by(9) == changed
    assert selection.changed_modules == [9]
    assert sessions_to_run(selection)[-3:] == ["module09", "vacuity09", "lint"]


def test_a_later_commit_touching_only_module_09_selects_checkpoint_09(clone_with_module_09):
    root = clone_with_module_09
    base = resolve_commit(root, "HEAD")
    path = root / "tinytorch/core/spatial.py"
    path.write_text(path.read_text() + "\n\nSPATIAL = True\n")
    commit_all(root, "module 09: a constant")
    selection = select_checkpoints(load_manifest(root), changed_files(root, base))
    assert selection.checkpoints == [9]
    assert selection.skipped == [1, 2, 3, 4, 5, 6, 7, 8]
    assert sessions_to_run(selection) == ["module09", "vacuity09", "lint"]
