"""Helpers for tests that need a git repository or nox: commits, copies of this tree."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from matrix.layout import Layout
from matrix.manifest import load_manifest
from matrix.project import Project

REPO_ROOT = Path(__file__).resolve().parents[2]
# The fake repo's two modules: a constant and a function each. The vacuity check stubs
# functions and keeps constants, so only tests that call a function can fail against a stub.
# Written as ruff formats them: lint runs in the gate.
ALPHA_MODULE = "ALPHA = 1\n\n\ndef alpha():\n    return ALPHA\n"
BETA_MODULE = (
    "from tinytorch.core.alpha import ALPHA, alpha\n\nBETA = ALPHA + 1\n\n\n"
    "def beta():\n    return alpha() + 1\n"
)
ALPHA_TEST = (
    "from tinytorch.core.alpha import alpha\n\n\ndef test_alpha():\n    assert alpha() == 1\n"
)
BETA_TEST = "from tinytorch.core.beta import beta\n\n\ndef test_beta():\n    assert beta() == 2\n"
# The fake modules' planted bugs (matrix/mutant_catalog.py), each caught by its own suite.
FAKE_CATALOG = {
    "mutants/01_alpha.toml": (
        '[[mutant]]\nid = "alpha-off-by-one"\nfile = "tinytorch/core/alpha.py"\n'
        'category = "typical"\nfind = "ALPHA = 1"\nreplace = "ALPHA = 2"\n'
        'why = "the constant is wrong"\n'
    ),
    "mutants/02_beta.toml": (
        '[[mutant]]\nid = "beta-forgets-the-one"\nfile = "tinytorch/core/beta.py"\n'
        'category = "typical"\nfind = "return alpha() + 1"\nreplace = "return alpha()"\n'
        'why = "the increment is lost"\n'
    ),
}
# Commits made by the tests, whoever runs them: no global git identity needed.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "matrix selftest",
    "GIT_AUTHOR_EMAIL": "selftest@example.invalid",
    "GIT_COMMITTER_NAME": "matrix selftest",
    "GIT_COMMITTER_EMAIL": "selftest@example.invalid",
}


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_IDENTITY},
    )
    assert completed.returncode == 0, f"test setup: git {' '.join(args)}: {completed.stderr}"
    return completed.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def make_repository(root: Path) -> Path:
    """git init root on branch main with everything in it committed."""
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "base")
    return root


def copy_of_this_tree(destination: Path) -> Path:
    """This repository's files (tracked, or new and not ignored) copied into destination."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for relative in filter(None, listing.split("\0")):
        source = REPO_ROOT / relative
        if source.is_file():  # a file deleted but not yet committed is listed, not present
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / relative)
    return destination


def copy_matrix_package(destination: Path) -> None:
    """This repository's matrix package, its wings (sessions/, gate/, audit/) included and
    its own tests left out, copied into destination/matrix/."""
    for source in (REPO_ROOT / "matrix").rglob("*"):
        relative = source.relative_to(REPO_ROOT)
        if (
            source.is_file()
            and relative.parts[1] != "tests"
            and "__pycache__" not in relative.parts
        ):
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / relative)


def matrix_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m matrix ARGS` run in root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "matrix", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def nox(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nox", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


# A brand-new module 09, as a branch of a copy of this tree would add it.
MODULE_09 = {
    "tinytorch/core/spatial.py": '''\
        """Module 09, Spatial: flatten a batch of images into rows (test fixture)."""

        from tinytorch.core.tensor import Tensor


        def flatten(images):
            """(batch, ...) -> (batch, features)."""
            return Tensor(images.data.reshape(images.data.shape[0], -1))
        ''',
    "tests/09_spatial/test_spatial.py": """\
        import numpy as np

        from tinytorch.core.spatial import flatten
        from tinytorch.core.tensor import Tensor


        def test_flatten_keeps_the_batch_axis():
            images = Tensor(np.arange(24.0).reshape(2, 3, 4))
            assert flatten(images).data.shape == (2, 12)
            assert flatten(images).data[1, 0] == 12.0
        """,
    "mutants/09_spatial.toml": """\
    [[mutant]]
    id = "flatten-drops-the-batch-axis"
    file = "tinytorch/core/spatial.py"
    category = "typical"
    find = "reshape(images.data.shape[0], -1)"
    replace = "reshape(-1)"
    why = "flattening everything, batch axis included"
    """,
}
MODULE_09_ENTRY = """
[[module]]
number = 9
slug = "spatial"
title = "Spatial"
files = ["tinytorch/core/spatial.py"]
tests = "tests/09_spatial"
"""


def add_module(root: Path, branch: str, files: dict[str, str], manifest_entry: str) -> None:
    """On a new branch: a module's files and suite (`files`, dedented) and its manifest entry
    appended, committed."""
    git(root, "checkout", "-q", "-b", branch)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    with (root / "matrix/modules.toml").open("a") as manifest:
        manifest.write(manifest_entry)
    commit_all(root, branch)


def add_module_09(root):
    """On a new branch: module 09 (spatial), its suite and its manifest entry, committed."""
    add_module(root, "add-spatial", MODULE_09, MODULE_09_ENTRY)


# A course's nbdev sources (modules/01_alpha/alpha.py, modules/02_beta/beta.py), written by hand
# for these tests. alpha.py: a header, markdown, exported cells, and cells that
# must not be exported (a test cell that would fail on import, a cell whose directive is not
# its first line).
ALPHA_SOURCE = '''\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

#| default_exp core.alpha

# %% [markdown]
"""
# Alpha

The first module. `ALPHA` is one.
"""

# %%
#| export
ALPHA = 1

# %% nbgrader={"grade": false, "grade_id": "alpha", "solution": true}
#| export
def alpha():
    """The first module's function."""
    return ALPHA

# %%
assert alpha() == 2, "a test cell of the notebook: never part of the module"

# %%
NOT_EXPORTED = True
#| export
'''

BETA_SOURCE = """\
#| default_exp core.beta

# %%
#| export
from tinytorch.core.alpha import ALPHA, alpha

BETA = ALPHA + 1


def beta():
    return alpha() + 1
"""


def write_files(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def project_at(root: Path) -> Project:
    """What the noxfile hands the sessions, for the repository at root (the reference)."""
    return Project(load_manifest(root), Layout(root), {})
