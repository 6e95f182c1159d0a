"""The test environment every session shares: what pytest runs, with which options and
environment variables, against which numpy.

The checkpoint sessions, vacuity, planted bugs, random order, the audit, the gate's base runs
and the benchmark all run the suites through these, so a checkpoint is tested alike wherever
it is tested.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nox
from packaging.requirements import Requirement

from matrix.build import BuildError
from matrix.impl import DEPENDENCIES_ENV, Implementation
from matrix.layout import Layout
from matrix.manifest import Manifest

GUARD_TEST = "tests/test_checkpoint_guard.py"
# Environment variable that names the checkpoint the guard test must find installed.
CHECKPOINT_ENV = "TINYTORCH_CHECKPOINT"
# The file each of the wheel's module files was built from (JSON): the guard compares them.
IMPL_FILES_ENV = "TINYTORCH_IMPL_FILES"
# Another implementation's tests get this pytest-timeout, not pyproject's 300 s: an engine that
# is exponential or stuck must cost a minute per test, not five.
IMPL_TIMEOUT_SECONDS = 60
# MATRIX_NUMPY=oldest installs the floor of pyproject's numpy requirement (a CI cell does).
NUMPY_ENV = "MATRIX_NUMPY"


def oldest_numpy(pyproject: dict) -> str:
    for line in pyproject["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == "numpy":
            floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            if floors:
                return f"numpy=={floors[0]}"
    raise BuildError("pyproject.toml declares no numpy>=X floor, so there is no oldest numpy")


def numpy_choice(session: nox.Session) -> str:
    choice = os.environ.get(NUMPY_ENV, "latest")
    if choice not in ("latest", "oldest"):
        session.error(f"{NUMPY_ENV}={choice!r} is not understood; use 'latest' or 'oldest'")
    return choice


def numpy_requirement(choice: str, pyproject: dict) -> list[str]:
    return [oldest_numpy(pyproject)] if choice == "oldest" else []


# Parallelism comes from xdist workers and side-by-side sessions; BLAS threads inside each
# worker on top of that would oversubscribe the cores (and slow matmul-heavy tests badly).
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# nox recreates each session's venv, and images often set PYTHONDONTWRITEBYTECODE; then every
# run recompiled numpy, hypothesis, pytest and every suite file (pytest's rewritten asserts) in
# every session, about a quarter of a warm `nox -j auto`. The bytecode is kept under build/,
# never beside the sources, in one folder per session and wheel: the installed tinytorch changes
# with the wheel, and a .pyc of another build must never stand in for its files (Layout.bytecode).
def test_process_env(layout: Layout, session_name: str, wheel: Path) -> dict[str, str]:
    """The environment of a session's pytest: one BLAS thread, bytecode kept for this wheel."""
    folder = layout.at(layout.bytecode) / session_name
    if folder.is_dir():
        for other in folder.iterdir():
            if other.name != wheel.stem:
                shutil.rmtree(other)
    cache = {"PYTHONPYCACHEPREFIX": str(folder / wheel.stem), "PYTHONDONTWRITEBYTECODE": ""}
    return {**ONE_BLAS_THREAD, **cache}


def checkpoint_test_paths(manifest: Manifest, number: int) -> list[str]:
    """What checkpoint `number` runs: the guard, then suites 01..number."""
    return [GUARD_TEST] + [module.tests for module in manifest.checkpoint(number)]


def xdist_workers(session: nox.Session) -> str:
    # Under `nox -j`, checkpoints already run side by side, one per core: each runs its tests
    # in pytest's own process ("0"), as a single xdist worker would, minus the cost of starting
    # that worker and importing everything twice (about a fifth of a checkpoint's CPU time,
    # measured with `nox -s module05 -- -n 0` against `-- -n 1`). A test that kills that
    # process is named, and the counts kept, by pytest_plugins/progress_log.py instead of xdist.
    return "0" if session.parallel else "auto"


def implementation_options(impl: Implementation) -> list[str]:
    """The reference must have every extra it documents; another implementation may lack
    them, and is reported as lacking them (tests/conftest.py), never as failing."""
    if impl.reference:
        return ["--extras=required"]
    return ["--extras=optional", f"--timeout={IMPL_TIMEOUT_SECONDS}"]


def checkpoint_env(manifest: Manifest, number: int, impl: Implementation) -> dict[str, str]:
    """What the guard test is told: which checkpoint is installed, built from which files."""
    files = {
        path: str(impl.source(manifest, path))
        for module in manifest.checkpoint(number)
        for path in module.files
    }
    return {CHECKPOINT_ENV: str(number), IMPL_FILES_ENV: json.dumps(files)}


# Run in the session's environment: the first third-party module that `import tinytorch` misses.
MISSING_IMPORT_PROBE = """
import importlib.util, json, os, traceback
package = os.path.dirname(importlib.util.find_spec("tinytorch").origin)
try:
    import tinytorch
except ModuleNotFoundError as error:
    top = (error.name or "").partition(".")[0]
    if top and top != "tinytorch":
        tb = traceback.extract_tb(error.__traceback__)
        ours = [frame.filename for frame in tb if frame.filename.startswith(package)]
        where = os.path.relpath(ours[-1], os.path.dirname(package)) if ours else "tinytorch"
        print("MATRIX-MISSING-IMPORT", json.dumps([top, where.replace(os.sep, "/")]))
"""
# The probe's own line; anything else it prints is the implementation's (a banner on import).
MISSING_IMPORT_MARK = "MATRIX-MISSING-IMPORT "


def missing_import(session: nox.Session, impl: Implementation) -> str | None:
    """Say which third-party import an implementation lacks and how to add it (None: none)."""
    # -I: the installed wheel, never a tinytorch/ folder in the working directory.
    printed = session.run("python", "-I", "-c", MISSING_IMPORT_PROBE, silent=True)
    found = [line for line in printed.splitlines() if line.startswith(MISSING_IMPORT_MARK)]
    if not found:
        return None
    name, where = json.loads(found[0].removeprefix(MISSING_IMPORT_MARK))
    return (
        f"{where} imports {name}, which is not installed; state the package that provides it in "
        f"{impl.given}/pyproject.toml ([project] dependencies) or in {DEPENDENCIES_ENV} "
        f"(e.g. {DEPENDENCIES_ENV}={name})"
    )
