"""A throwaway repository laid out like this one: two modules, their files and test folders."""

import shutil
import textwrap
from pathlib import Path

import pytest

from matrix.tests.repo_helpers import (
    ALPHA_MODULE,
    ALPHA_SOURCE,
    ALPHA_TEST,
    BETA_MODULE,
    BETA_SOURCE,
    BETA_TEST,
    FAKE_CATALOG,
    make_repository,
    write_files,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

MANIFEST = textwrap.dedent(
    """
    [package]
    skeleton = ["tinytorch/__init__.py", "tinytorch/_checkpoint.py", "tinytorch/core/__init__.py"]

    [[module]]
    number = 1
    slug = "alpha"
    title = "Alpha"
    files = ["tinytorch/core/alpha.py"]
    tests = "tests/01_alpha"

    [[module]]
    number = 2
    slug = "beta"
    title = "Beta"
    files = ["tinytorch/core/beta.py", "tinytorch/extra/helper.py"]
    tests = "tests/02_beta"
    """
)


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    for path in ("pyproject.toml", "tinytorch/__init__.py", "tinytorch/_checkpoint.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / path, tmp_path / path)
    files = {
        "tinytorch/core/__init__.py": "",
        "tinytorch/core/alpha.py": ALPHA_MODULE,
        "tinytorch/core/beta.py": BETA_MODULE,
        "tinytorch/extra/helper.py": "HELP = True\n",
        "matrix/modules.toml": MANIFEST,
        "tests/01_alpha/test_alpha.py": "",
        "tests/02_beta/test_beta.py": "",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return tmp_path


@pytest.fixture
def edit_manifest():
    def edit(root: Path, old: str, new: str) -> None:
        path = root / "matrix" / "modules.toml"
        text = path.read_text()
        assert old in text, f"test setup: {old!r} not in the manifest"
        path.write_text(text.replace(old, new, 1))

    return edit


@pytest.fixture
def fake_repo_with_tools(fake_repo: Path) -> Path:
    """The fake repo plus this repo's noxfile, matrix tool and guard test, ready for `nox`."""
    shutil.copyfile(REPO_ROOT / "noxfile.py", fake_repo / "noxfile.py")
    for path in ("tests/test_checkpoint_guard.py", "tests/conftest.py"):
        shutil.copyfile(REPO_ROOT / path, fake_repo / path)
    shutil.copytree(REPO_ROOT / "tests/support", fake_repo / "tests/support")
    # The tool with its subpackages (matrix/audit/), but not the fake repo's own manifest.
    shutil.copytree(
        REPO_ROOT / "matrix",
        fake_repo / "matrix",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "modules.toml"),
    )
    (fake_repo / "tests/01_alpha/test_alpha.py").write_text(ALPHA_TEST)
    return fake_repo


@pytest.fixture
def fake_repo_for_gate(fake_repo_with_tools: Path) -> Path:
    """The fake repo with everything `nox -s gate` runs (lint included), committed on main."""
    root = fake_repo_with_tools
    for path in (".gitignore", ".github/workflows/matrix.yml"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / path, root / path)
    (root / "tests/02_beta/test_beta.py").write_text(BETA_TEST)
    write_files(root, FAKE_CATALOG)
    return make_repository(root)


@pytest.fixture
def course(tmp_path_factory):
    """A course checkout: its modules as nbdev sources, and an older export beside them."""
    return write_files(
        tmp_path_factory.mktemp("courses") / "course",
        {
            "modules/01_alpha/alpha.py": ALPHA_SOURCE,
            "modules/02_beta/beta.py": BETA_SOURCE,
            "tinytorch/core/alpha.py": "ALPHA = 'an older export'\n",
            "tinytorch/core/beta.py": "BETA = 'an older export'\n",
            "pyproject.toml": '[project]\nname = "course"\ndependencies = ["rich>=13", "numpy"]\n',
        },
    )
