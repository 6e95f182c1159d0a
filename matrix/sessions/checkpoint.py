"""The body of every `moduleNN` nox session: build, install, run the cumulative suites, record.

Whatever happens, the run's record is saved before the session ends, so the report shows a
checkpoint that failed to build or install, crashed or hung, instead of losing its row.
The record names the implementation that was built (the reference, or MATRIX_IMPL's).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nox
from nox.command import CommandFailed

from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_wheel
from matrix.impl import ImplError, implementation_from_env
from matrix.junit import read_junit
from matrix.project import Project
from matrix.pytest_env import (
    checkpoint_env,
    checkpoint_test_paths,
    implementation_options,
    missing_import,
    numpy_choice,
    numpy_requirement,
    test_process_env,
    xdist_workers,
)
from matrix.pytest_plugins import collection_bound, copy_alone, progress_log
from matrix.records import CheckpointRun, Status, pytest_failure, save_run
from matrix.run_identity import this_run
from matrix.sessions.checkpoint_status import (
    charge_broken_modules,
    charge_uncollectable,
    failed_run_status,
    tests_digest,
)
from matrix.sessions.parent_watch import PARENT_DIED, watch_parent_nox


def run_checkpoint(session: nox.Session, project: Project, number: int) -> None:
    root = project.root
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
        status=Status.NOT_RUN,
        numpy_choice=numpy_choice(session),
        **asdict(identity),
    )
    with watch_parent_nox(session.parallel) as watch:
        try:
            _build_install_test(session, project, number, run)
        finally:
            if watch and watch.parent_died:
                # Whatever it got to is no result: nobody asked for it any more.
                run.status, run.detail = Status.CRASHED, PARENT_DIED
            elif run.status == Status.NOT_RUN:
                run.status, run.detail = Status.CRASHED, "the session stopped unexpectedly"
            save_run(project.layout, run)
            session.log(f"checkpoint {number:02d}: {run.status} {run.detail}".rstrip())


def _build_install_test(
    session: nox.Session, project: Project, number: int, run: CheckpointRun
) -> None:
    manifest, layout, pyproject = project.manifest, project.layout, project.pyproject
    root = manifest.root
    started = time.perf_counter()
    try:
        impl = implementation_from_env(manifest)
        run.implementation = impl.label
        run.implementation_digest = impl.digest(manifest)
        wheel = checkpoint_wheel(manifest, number, impl=impl)
    except (BuildError, ImplError) as error:
        run.status, run.detail = Status.BUILD_FAILED, str(error).splitlines()[0]
        session.error(str(error))
    test_dependencies = nox.project.dependency_groups(pyproject, "test")
    try:
        numpy = numpy_requirement(run.numpy_choice, pyproject)
        session.install(str(wheel), *numpy, *impl.dependencies, *test_dependencies)
    except CommandFailed as error:
        run.status, run.detail = Status.INSTALL_FAILED, error.reason or ""
        session.error(f"installing checkpoint {number:02d} failed: {error.reason}")
    missing = None if impl.reference else missing_import(session, impl)
    if missing:
        run.status, run.detail = Status.INSTALL_FAILED, missing
        session.error(f"checkpoint {number:02d}: {missing}")
    run.install_seconds = round(time.perf_counter() - started, 3)
    run.numpy = session.run(
        "python", "-c", "import numpy; print(numpy.__version__)", silent=True
    ).strip()

    junit = layout.at(layout.junit) / f"{run.key}.xml"
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
                **test_process_env(layout, session.name, wheel),
                **plugins.env,
            },
        )  # fmt: skip
        run.status = Status.PASSED
    except CommandFailed as error:
        return_code = error.return_code
        run.status, run.detail = pytest_failure(return_code)
        raise
    finally:
        run.test_seconds = round(time.perf_counter() - started, 3)
        hung = collection_bound.collection_timeout_detail(plugins.collection_dump, root)
        if hung:
            run.status, run.detail = Status.TIMED_OUT, hung
        # pytest died without its JUnit XML (a test killed the interpreter): the tests it
        # finished, and the one it was running, from the progress log.
        recovered = (
            not junit.exists()
            and run.status != Status.PASSED
            and recover_junit(plugins.progress, junit, return_code)
        )
        if junit.exists():
            counts = read_junit(junit)
            run.suites, run.extras, run.files = counts.suites, counts.extras, counts.files
            run.tests_digest = tests_digest(root)
            charge_uncollectable(layout, run, counts.uncollectable)
            if run.status != Status.PASSED:
                charge_broken_modules(layout, run, manifest, impl)
            if recovered:
                run.status, run.detail = (
                    failed_run_status(counts)
                    if counts.crashed
                    else (
                        Status.CRASHED,
                        f"pytest died outside a test ({progress_log.how_it_ended(return_code)})",
                    )
                )
            elif run.status == Status.FAILED:
                run.status, run.detail = failed_run_status(counts)
            empty = [m.suite for m in manifest.checkpoint(number) if m.suite not in run.suites]
            if empty and run.status == Status.PASSED:
                # A suite that collected nothing proves nothing: that is not a pass.
                run.status, run.detail = Status.NO_TESTS, f"suite {', '.join(empty)} ran no test"
                session.error(f"checkpoint {number:02d}: {run.detail}")
        elif run.status == Status.FAILED:
            run.status, run.detail = Status.CRASHED, "pytest wrote no JUnit XML"


@dataclass(frozen=True)
class PytestPlugins:
    """The plugins of matrix/ that a session's pytest loads, and the files they leave there."""

    folder: Path  # on the pytest's PYTHONPATH, holding nothing but the plugins
    options: tuple[str, ...]  # the `-p` options that load them

    @property
    def collection_dump(self) -> Path:
        return self.folder / "collection-timeout.txt"

    @property
    def progress(self) -> Path:
        return self.folder / "progress.jsonl"

    @property
    def env(self) -> dict[str, str]:
        return {
            "PYTHONPATH": str(self.folder),
            collection_bound.DUMP_ENV: str(self.collection_dump),
            progress_log.LOG_ENV: str(self.progress),
        }


def prepare_plugins(session: nox.Session) -> PytestPlugins:
    """The plugins copied fresh into the session's temporary folder (each file this run's)."""
    folder = Path(session.create_tmp()) / "pytest-plugins"
    return PytestPlugins(folder, tuple(copy_alone((collection_bound, progress_log), folder)))


def recover_junit(progress: Path, junit: Path, return_code: int | None) -> bool:
    """Write the JUnit XML of what the progress log saw in place of pytest's (False: none)."""
    text = progress_log.junit_from_progress(progress, return_code)
    if text is None:
        return False
    write_atomically(junit, text)
    return True
