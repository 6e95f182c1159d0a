"""The vacuity check names tests that pass without their module; the layers contract holds."""

import os
import shutil
import subprocess

from matrix.layering import importlinter_config
from matrix.manifest import load_manifest
from matrix.tests.repo_helpers import nox

# Module 01 with a function: its stub keeps the constant, so only a call can fail.
ALPHA_MODULE = """\
ALPHA = 1


def alpha():
    return ALPHA
"""
SUITE = """\
from tinytorch.core.alpha import alpha


def test_depends_on_alpha():
    assert alpha() == 1
"""
CONSTANT_ONLY = """\
from tinytorch.core.alpha import ALPHA


def test_reads_a_constant_the_stub_keeps():
    assert ALPHA == 1
"""
BROKEN_AT_IMPORT = """\
ALPHA = 1


def alpha():
    return ALPHA


ALPHA_TWICE = alpha() * 2
"""
VACUOUS = """\
def test_proves_nothing_about_alpha():
    assert 2 + 2 == 4
"""


def with_suite(root, *tests, module=ALPHA_MODULE):
    (root / "tinytorch/core/alpha.py").write_text(module)
    for name, text in tests:
        (root / "tests/01_alpha" / name).write_text(text)
    return root


def test_suite_that_needs_its_module_passes_the_check(fake_repo_with_tools):
    root = with_suite(fake_repo_with_tools, ("test_alpha.py", SUITE))
    run = nox(root, "-s", "vacuity01")
    assert run.returncode == 0, run.stdout + run.stderr
    expected = "vacuity of module 01 (tests/01_alpha): 1 tests judged, 0 not failing"
    assert expected in run.stdout


def test_vacuous_test_is_named_and_fails_the_check(fake_repo_with_tools):
    root = with_suite(
        fake_repo_with_tools,
        ("test_alpha.py", SUITE),
        ("test_other.py", VACUOUS),
        ("test_constant.py", CONSTANT_ONLY),
    )
    run = nox(root, "-s", "vacuity01")
    assert run.returncode != 0
    assert "3 tests judged, 2 not failing" in run.stdout
    assert "vacuous: tests.01_alpha.test_other::test_proves_nothing_about_alpha" in run.stdout
    assert "vacuous: tests.01_alpha.test_constant::test_reads_a_constant_the_stub_keeps" in (
        run.stdout
    )
    assert "do not fail with module 01 stubbed" in run.stdout + run.stderr


def test_uncollectable_file_is_not_judged_and_fails_the_check(fake_repo_with_tools):
    root = with_suite(
        fake_repo_with_tools, ("test_alpha.py", SUITE), ("test_broken.py", "def test_x(:\n")
    )
    run = nox(root, "-s", "vacuity01")
    assert run.returncode != 0
    assert "not collected: tests/01_alpha/test_broken.py" in run.stdout
    assert "the suite was not judged test by test" in run.stdout + run.stderr


def test_stub_that_breaks_the_import_is_refused(fake_repo_with_tools):
    root = with_suite(fake_repo_with_tools, ("test_alpha.py", SUITE), module=BROKEN_AT_IMPORT)
    run = nox(root, "-s", "vacuity01")
    assert run.returncode != 0
    assert "import tinytorch fails with module 01 stubbed" in run.stdout + run.stderr


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
    assert "layers =\n    tinytorch.core.beta\n    tinytorch.core.alpha\n\n" in config
    assert "root_packages =\n    tinytorch\n    matrix\n" in config


def test_layered_modules_and_the_matrix_floors_keep_their_contracts(fake_repo_with_tools):
    result = lint_imports(fake_repo_with_tools)
    assert result.returncode == 0, result.stdout
    assert "2 kept, 0 broken" in result.stdout


def test_module_importing_a_later_one_breaks_the_contract(fake_repo_with_tools):
    alpha = fake_repo_with_tools / "tinytorch/core/alpha.py"
    alpha.write_text("import tinytorch.core.beta\nALPHA = 1\n")
    result = lint_imports(fake_repo_with_tools)
    assert result.returncode != 0
    assert "1 kept, 1 broken" in result.stdout
    assert "tinytorch.core.alpha -> tinytorch.core.beta" in result.stdout


def test_a_fact_importing_a_session_breaks_the_matrix_floors(fake_repo_with_tools):
    layout = fake_repo_with_tools / "matrix/layout.py"
    layout.write_text(layout.read_text() + "\nimport matrix.sessions.report  # noqa: E402\n")
    result = lint_imports(fake_repo_with_tools)
    assert result.returncode != 0
    assert "1 kept, 1 broken" in result.stdout
    assert "matrix.layout -> matrix.sessions.report" in result.stdout


def test_a_matrix_module_on_no_floor_breaks_the_matrix_floors(fake_repo_with_tools):
    (fake_repo_with_tools / "matrix/new_room.py").write_text("ROOM = 1\n")
    result = lint_imports(fake_repo_with_tools)
    assert result.returncode != 0
    assert "matrix.new_room" in result.stdout
