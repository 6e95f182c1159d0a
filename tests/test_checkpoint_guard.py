"""The checkpoint guard: the code under test is the installed checkpoint wheel, nothing else.

Every checkpoint session runs this file first. It fails when the suites would test the source
tree (a stray PYTHONPATH, an editable install), a different checkpoint, or a wheel that holds a
module it should not (or lacks one it should).
"""

import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import tinytorch

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = tomllib.loads((REPO_ROOT / "matrix" / "modules.toml").read_text(encoding="utf-8"))
MODULES = sorted(MANIFEST["module"], key=lambda module: module["number"])
CHECKPOINT = os.environ.get("TINYTORCH_CHECKPOINT", "")


@pytest.fixture(scope="module")
def checkpoint() -> int:
    assert CHECKPOINT.isdigit(), (
        "TINYTORCH_CHECKPOINT is not set: run the suites through `nox -s moduleNN`, which "
        "installs checkpoint NN and says which one it is"
    )
    return int(CHECKPOINT)


def test_tinytorch_is_the_installed_wheel_not_the_source_tree():
    package_dir = Path(tinytorch.__file__).resolve().parent
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert package_dir.parent == site_packages, (
        f"tinytorch was imported from {package_dir}, not from this environment's "
        f"site-packages {site_packages}; the tests would not test the checkpoint wheel"
    )
    assert package_dir != REPO_ROOT / "tinytorch"


def test_installed_wheel_is_this_checkpoint(checkpoint):
    assert tinytorch.__checkpoint__ == checkpoint
    assert f"+cp{checkpoint:02d}." in importlib.metadata.version("tinytorch")
    expected = tuple(m["slug"] for m in MODULES if m["number"] <= checkpoint)
    assert tinytorch.__modules__ == expected


def test_import_tinytorch_imports_exactly_its_modules(checkpoint, tmp_path):
    # A fresh interpreter, so that no other test's imports are counted; started outside the
    # repo, so that its working directory cannot put the source tree first on sys.path.
    listing = (
        "import sys, tinytorch; "
        "print(sorted(m for m in sys.modules if m.startswith('tinytorch.core.')))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", listing], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    expected = sorted(f"tinytorch.core.{m['slug']}" for m in MODULES if m["number"] <= checkpoint)
    assert imported.strip() == str(expected)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: f"{module['number']:02d}")
def test_module_present_exactly_when_in_checkpoint(module, checkpoint):
    name = f"tinytorch.core.{module['slug']}"
    if module["number"] <= checkpoint:
        imported = importlib.import_module(name)
        assert (
            Path(imported.__file__)
            .resolve()
            .is_relative_to(Path(tinytorch.__file__).resolve().parent)
        )
    else:
        assert importlib.util.find_spec(name) is None, f"{name} must be absent at {checkpoint}"
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)
