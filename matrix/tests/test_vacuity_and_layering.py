"""The vacuity check names tests that pass without their module; the layers contract holds."""

import os
import shutil
import subprocess

from matrix.layering import importlinter_config
from matrix.manifest import load_manifest
from matrix.tests.repo_helpers import nox

SUITE = """\
from tinytorch.core.alpha import ALPHA


def test_depends_on_alpha():
    assert ALPHA == 1
"""
VACUOUS = """\
def test_proves_nothing_about_alpha():
    assert 2 + 2 == 4
"""


def test_suite_that_needs_its_module_passes_the_check(fake_repo_with_tools):
    (fake_repo_with_tools / "tests/01_alpha/test_alpha.py").write_text(SUITE)
    run = nox(fake_repo_with_tools, "-s", "vacuity01")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "vacuity of module 01 (tests/01_alpha): 0 not failing" in run.stdout


def test_vacuous_test_is_named_and_fails_the_check(fake_repo_with_tools):
    (fake_repo_with_tools / "tests/01_alpha/test_alpha.py").write_text(SUITE)
    (fake_repo_with_tools / "tests/01_alpha/test_other.py").write_text(VACUOUS)
    run = nox(fake_repo_with_tools, "-s", "vacuity01")
    assert run.returncode != 0
    assert "1 not failing" in run.stdout
    assert "vacuous: tests.01_alpha.test_other::test_proves_nothing_about_alpha" in run.stdout
    assert "do not fail with module 01 emptied" in run.stdout + run.stderr


def lint_imports(root):
    config = root / "importlinter.ini"
    config.write_text(importlinter_config(load_manifest(root)))
    executable = shutil.which("lint-imports")
    assert executable, "import-linter is a dependency of the selftest session"
    return subprocess.run(
        [executable, "--no-cache", str(config)],
        cwd=root, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip


def test_contract_lists_modules_in_reverse_course_order(fake_repo):
    config = importlinter_config(load_manifest(fake_repo))
    assert config.endswith("layers =\n    tinytorch.core.beta\n    tinytorch.core.alpha\n")
    assert "root_package = tinytorch\n" in config


def test_layered_modules_keep_the_contract(fake_repo):
    result = lint_imports(fake_repo)
    assert result.returncode == 0, result.stdout
    assert "1 kept, 0 broken" in result.stdout


def test_module_importing_a_later_one_breaks_the_contract(fake_repo):
    (fake_repo / "tinytorch/core/alpha.py").write_text("import tinytorch.core.beta\nALPHA = 1\n")
    result = lint_imports(fake_repo)
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout
    assert "tinytorch.core.alpha -> tinytorch.core.beta" in result.stdout
