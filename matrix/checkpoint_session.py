"""The body of every `moduleNN` nox session: build, install, run the cumulative suites, record.

Whatever happens, the run's record is saved before the session ends, so the report shows a
checkpoint that failed to build or install, crashed or hung, instead of losing its row.
The record names the implementation that was built (the reference, or MATRIX_IMPL's).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import nox
from nox.command import CommandFailed
from packaging.requirements import Requirement

from matrix import collection_bound, progress_log
from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_wheel
from matrix.impl import DEPENDENCIES_ENV, Implementation, ImplError, implementation_from_env
from matrix.manifest import Manifest
from matrix.parent_watch import PARENT_DIED, watch_parent_nox
from matrix.results import (
    BUILD_FAILED,
    CRASHED,
    FAILED,
    INSTALL_FAILED,
    JUNIT_DIR,
    NO_TESTS,
    PASSED,
    PYTEST_BROKE,
    TIMED_OUT,
    CheckpointRun,
    charge_broken_modules,
    charge_uncollectable,
    failed_run_status,
    read_junit,
    save_run,
    tests_digest,
)
from matrix.run_identity import this_run

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
# with the wheel, and a .pyc of another build must never stand in for its files.
BYTECODE_DIR = Path("build/bytecode")


def test_process_env(
    root: Path, session_name: str, wheel: Path, impl: Implementation
) -> dict[str, str]:
    """The environment of a session's pytest: one BLAS thread, bytecode kept for this wheel."""
    folder = root / BYTECODE_DIR / impl.build_subfolder / session_name
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
    # process is named, and the counts kept, by matrix/progress_log.py instead of by xdist.
    return "0" if session.parallel else "auto"


def run_checkpoint(session: nox.Session, manifest: Manifest, number: int, pyproject: dict) -> None:
    root = manifest.root
    try:
        collection_bound.timeout_seconds()  # a bad bound is the user's to fix, said at once
    except ValueError as error:
        session.error(str(error))
    # Before anything can fail: every record says which commit and nox run it comes from.
    identity = this_run(root)
    python = session.run(
        "python", "-c", "import platform; print(platform.python_version())", silent=True
    ).strip()
    run = CheckpointRun(
        checkpoint=number,
        python=".".join(python.split(".")[:2]),
        status="",
        numpy_choice=numpy_choice(session),
        **asdict(identity),
    )
    with watch_parent_nox(session.parallel) as watch:
        try:
            _build_install_test(session, manifest, number, pyproject, run)
        finally:
            if watch and watch.parent_died:
                # Whatever it got to is no result: nobody asked for it any more.
                run.status, run.detail = CRASHED, PARENT_DIED
            elif not run.status:
                run.status, run.detail = CRASHED, "the session stopped unexpectedly"
            save_run(root, run)
            session.log(f"checkpoint {number:02d}: {run.status} {run.detail}".rstrip())


def _build_install_test(
    session: nox.Session, manifest: Manifest, number: int, pyproject: dict, run: CheckpointRun
) -> None:
    root = manifest.root
    started = time.perf_counter()
    try:
        impl = implementation_from_env(manifest)
        run.implementation = impl.label
        run.implementation_digest = impl.digest(manifest)
        wheel = checkpoint_wheel(manifest, number, impl=impl)
    except (BuildError, ImplError) as error:
        run.status, run.detail = BUILD_FAILED, str(error).splitlines()[0]
        session.error(str(error))
    test_dependencies = nox.project.dependency_groups(pyproject, "test")
    try:
        numpy = numpy_requirement(run.numpy_choice, pyproject)
        session.install(str(wheel), *numpy, *impl.dependencies, *test_dependencies)
    except CommandFailed as error:
        run.status, run.detail = INSTALL_FAILED, error.reason or ""
        session.error(f"installing checkpoint {number:02d} failed: {error.reason}")
    missing = None if impl.reference else missing_import(session, impl)
    if missing:
        run.status, run.detail = INSTALL_FAILED, missing
        session.error(f"checkpoint {number:02d}: {missing}")
    run.install_seconds = round(time.perf_counter() - started, 3)
    run.numpy = session.run(
        "python", "-c", "import numpy; print(numpy.__version__)", silent=True
    ).strip()

    junit = root / JUNIT_DIR / f"{run.key}.xml"
    junit.unlink(missing_ok=True)
    suites = checkpoint_test_paths(manifest, number)
    plugins = prepare_plugins(session)
    started = time.perf_counter()
    return_code = None
    try:
        session.run(
            # A file that cannot be collected is reported and the other tests still run, in
            # pytest's own process as under xdist: one broken file must not hide the rest.
            "pytest", "-n", xdist_workers(session), "--continue-on-collection-errors",
            f"--junitxml={junit}", *plugins.options, *implementation_options(impl), *suites,
            *session.posargs,
            env={
                **checkpoint_env(manifest, number, impl),
                **test_process_env(root, session.name, wheel, impl),
                **plugins.env,
            },
        )  # fmt: skip
        run.status = PASSED
    except CommandFailed as error:
        return_code = error.return_code
        run.status = status_of_failed_pytest(return_code)
        raise
    finally:
        run.test_seconds = round(time.perf_counter() - started, 3)
        hung = collection_bound.collection_timeout_detail(plugins.collection_dump, root)
        if hung:
            run.status, run.detail = TIMED_OUT, hung
        # pytest died without its JUnit XML (a test killed the interpreter): the tests it
        # finished, and the one it was running, from the progress log.
        recovered = (
            not junit.exists()
            and run.status != PASSED
            and recover_junit(plugins.progress, junit, return_code)
        )
        if junit.exists():
            counts = read_junit(junit)
            run.suites, run.extras, run.files = counts.suites, counts.extras, counts.files
            run.tests_digest = tests_digest(root)
            charge_uncollectable(root, run, counts.uncollectable)
            if run.status != PASSED:
                charge_broken_modules(run, manifest, impl)
            if recovered:
                run.status, run.detail = (
                    failed_run_status(counts)
                    if counts.crashed
                    else (
                        CRASHED,
                        f"pytest died outside a test ({progress_log.how_it_ended(return_code)})",
                    )
                )
            elif run.status == FAILED:
                run.status, run.detail = failed_run_status(counts)
            empty = [m.suite for m in manifest.checkpoint(number) if m.suite not in run.suites]
            if empty and run.status == PASSED:
                # A suite that collected nothing proves nothing: that is not a pass.
                run.status, run.detail = NO_TESTS, f"suite {', '.join(empty)} ran no test"
                session.error(f"checkpoint {number:02d}: {run.detail}")
        elif run.status == FAILED:
            run.status, run.detail = CRASHED, "pytest wrote no JUnit XML"


@dataclass(frozen=True)
class PytestPlugins:
    """The plugins of matrix/ that a session's pytest loads, and the files they leave there."""

    folder: Path  # on the pytest's PYTHONPATH, holding nothing but the plugins

    @property
    def collection_dump(self) -> Path:
        return self.folder / "collection-timeout.txt"

    @property
    def progress(self) -> Path:
        return self.folder / "progress.jsonl"

    @property
    def options(self) -> list[str]:
        return [option for plugin in PYTEST_PLUGINS for option in ("-p", plugin_name(plugin))]

    @property
    def env(self) -> dict[str, str]:
        return {
            # The plugins' folder only: the repo root would shadow the installed tinytorch.
            "PYTHONPATH": str(self.folder),
            collection_bound.DUMP_ENV: str(self.collection_dump),
            progress_log.LOG_ENV: str(self.progress),
        }


# Copied alone into the session's temporary folder (each imports nothing from matrix/).
PYTEST_PLUGINS = (collection_bound, progress_log)


def prepare_plugins(session: nox.Session) -> PytestPlugins:
    """The plugins copied fresh into the session's temporary folder, with no file of a
    previous run left beside them (each file must be this run's)."""
    plugins = PytestPlugins(Path(session.create_tmp()) / "pytest-plugins")
    if plugins.folder.exists():
        shutil.rmtree(plugins.folder)
    plugins.folder.mkdir(parents=True)
    for plugin in PYTEST_PLUGINS:
        shutil.copyfile(plugin.__file__, plugins.folder / f"{plugin_name(plugin)}.py")
    return plugins


def plugin_name(plugin: ModuleType) -> str:
    """What pytest's `-p` calls a plugin of matrix/ once it is copied alone."""
    return plugin.__name__.rpartition(".")[2]


def recover_junit(progress: Path, junit: Path, return_code: int | None) -> bool:
    """Write the JUnit XML of what the progress log saw in place of pytest's (False: none)."""
    text = progress_log.junit_from_progress(progress, return_code)
    if text is None:
        return False
    write_atomically(junit, text)
    return True


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


def status_of_failed_pytest(return_code: int | None) -> str:
    if return_code == 1:
        return FAILED
    if return_code == 5:
        return NO_TESTS
    return (
        CRASHED if return_code not in PYTEST_BROKE else f"{CRASHED} ({PYTEST_BROKE[return_code]})"
    )
