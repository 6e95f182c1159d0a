"""`nox -s random_order`: the newest checkpoint's suites in random order, once per seed.

pytest-randomly shuffles the tests from a seed (modules, then classes, then the tests in each)
and reseeds `random` and numpy's global RNG before every test from the seed and the test's
id; hypothesis draws from the same seed (`--hypothesis-seed`) in the property tests that are
not derandomized. So a seed is one order and one set of draws, the same on every run: a test
that passes in file order and fails under a seed depends on the tests before it (state left
behind, a global RNG read after another test moved it), and that seed shows it again.

Under pytest-xdist each worker runs a part of the seed's order, which part depends on timing;
`-n 0` runs the seed's whole order in one process. Every worker's order is a subsequence of
it, so a leak between two tests that fails under xdist fails there too: that is the command
a failing seed is reported with.

`nox -s random_order -- 1 2 3 -k linear`: seeds first (DEFAULT_SEEDS if none), then pytest
options. Writes reports/random_order.json (not a run record: the report never reads it).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nox
from nox.command import CommandFailed

from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_wheel
from matrix.impl import ImplError, implementation_from_env
from matrix.junit import read_junit, tests_failing
from matrix.project import Project
from matrix.pytest_env import (
    checkpoint_env,
    checkpoint_test_paths,
    implementation_options,
    missing_import,
    test_process_env,
    xdist_workers,
)
from matrix.records import Status, pytest_failure, total_of
from matrix.run_identity import this_run

SESSION_NAME = "random_order"
# Several orders per CI run; a fixed list, so a red seed stays red until the test is fixed.
DEFAULT_SEEDS = (1, 2, 3)
JSON_NAME = "random_order.json"
DEPENDENCY_GROUP = "random-order"
USAGE = f"nox -s {SESSION_NAME} -- SEED [SEED ...] [pytest options]"


class SeedsError(ValueError):
    """Posargs that name no seed where one is expected; the message says how to give them."""


@dataclass(frozen=True)
class SeedRun:
    """The suites run once in the order of one seed."""

    seed: int
    status: str  # a records.Status, with its detail in parentheses when it has one
    passed: int
    failed: int
    skipped: int  # skipped course-API tests and missing extras
    failing: tuple[str, ...]  # class::name of each failed test, or "<file> (could not be ...)"
    seconds: float

    @property
    def line(self) -> str:
        return (
            f"seed {self.seed}: {self.status}, {self.passed} passed, {self.failed} failed, "
            f"{self.skipped} skipped, {self.seconds:.1f} s"
        )


def parse_posargs(posargs: list[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The leading whole numbers are the seeds (DEFAULT_SEEDS if none); the rest, which must
    start with an option, goes to pytest."""
    seeds: list[int] = []
    position = 0
    while position < len(posargs) and posargs[position].isdigit():
        seed = int(posargs[position])
        if seed in seeds:
            raise SeedsError(f"seed {seed} is given twice; give each seed once ({USAGE})")
        seeds.append(seed)
        position += 1
    rest = tuple(posargs[position:])
    if rest and not rest[0].startswith("-"):
        raise SeedsError(
            f"{rest[0]!r} is neither a seed (a whole number >= 0) nor a pytest option; "
            f"give the seeds first, then pytest's options: {USAGE}"
        )
    return tuple(seeds) or DEFAULT_SEEDS, rest


def reproduce_command(seed: int, pytest_args: tuple[str, ...] = ()) -> str:
    """The command that runs `seed`'s whole order in one process (see the module docstring)."""
    return shlex.join(["nox", "-s", SESSION_NAME, "--", str(seed), *pytest_args, "-n", "0"])


def seed_run(seed: int, junit: Path, return_code: int, seconds: float) -> SeedRun:
    """What one seed's pytest (exit code `return_code`) left in `junit`."""
    status, detail = (Status.PASSED, "") if return_code == 0 else pytest_failure(return_code)
    if not junit.exists():
        # No XML, no tests to count: that run proves nothing, whatever pytest's exit code.
        status = Status.CRASHED if status == Status.PASSED else status
        said = f"{status} ({detail})" if detail else str(status)
        return SeedRun(seed, f"{said} (pytest wrote no JUnit XML)", 0, 0, 0, (), round(seconds, 1))
    counts = read_junit(junit)
    total = total_of(counts.suites.values())
    return SeedRun(
        seed,
        f"{status} ({detail})" if detail else str(status),
        passed=total.passed + counts.extras.passed,
        failed=total.failed + counts.extras.failed,
        skipped=total.skipped + counts.extras.missing,
        failing=tuple(tests_failing(junit)),
        seconds=round(seconds, 1),
    )


def summary_lines(runs: list[SeedRun], pytest_args: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for run in runs:
        lines.append(run.line)
        lines += [f"  failing: {name}" for name in run.failing]
        if run.status != Status.PASSED:
            lines.append(f"  reproduce: {reproduce_command(run.seed, pytest_args)}")
    return lines


def verdict(runs: list[SeedRun], seeds: tuple[int, ...]) -> str | None:
    """Why the session fails (None: every seed ran and passed)."""
    bad = [f"seed {run.seed} {run.status}" for run in runs if run.status != Status.PASSED]
    not_run = [str(seed) for seed in seeds[len(runs) :]]
    if not_run:
        bad.append(f"seed(s) {', '.join(not_run)} not run")
    if not bad:
        return None
    return (
        f"random order: {'; '.join(bad)}: a test depends on the order or on the global RNG "
        f"(each failing seed's line above says how to reproduce it)"
    )


def run_random_order(session: nox.Session, project: Project) -> None:
    try:
        seeds, pytest_args = parse_posargs(session.posargs)
    except SeedsError as error:
        session.error(str(error))
    root, layout = project.root, project.layout
    number = project.manifest.numbers[-1]
    identity = this_run(root)
    runs: list[SeedRun] = []
    try:
        _install_and_run(session, project, number, seeds, pytest_args, runs)
    finally:
        # Whatever stopped the session, the seeds that ran are kept and the others named.
        record = {
            "checkpoint": number,
            **asdict(identity),
            "seeds": [asdict(run) for run in runs],
            "not_run": list(seeds[len(runs) :]),
        }
        write_atomically(layout.at(layout.report(JSON_NAME)), json.dumps(record, indent=2) + "\n")
    print("\n".join(summary_lines(runs, pytest_args)), flush=True)
    failure = verdict(runs, seeds)
    if failure:
        session.error(failure)


def _install_and_run(
    session: nox.Session,
    project: Project,
    number: int,
    seeds: tuple[int, ...],
    pytest_args: tuple[str, ...],
    runs: list[SeedRun],
) -> None:
    manifest = project.manifest
    try:
        impl = implementation_from_env(manifest)
        wheel = checkpoint_wheel(manifest, number, impl=impl)
    except (BuildError, ImplError) as error:
        session.error(str(error))
    session.install(
        str(wheel),
        *impl.dependencies,
        *nox.project.dependency_groups(project.pyproject, "test", DEPENDENCY_GROUP),
    )
    missing = None if impl.reference else missing_import(session, impl)
    if missing:
        session.error(f"checkpoint {number:02d}: {missing}")
    suites = checkpoint_test_paths(manifest, number)
    env = {
        **checkpoint_env(manifest, number, impl),
        **test_process_env(project.layout, session.name, wheel),
    }
    scratch = Path(session.create_tmp())
    for seed in seeds:
        junit = scratch / f"seed-{seed}.xml"
        junit.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            session.run(
                "pytest", "-n", xdist_workers(session), "--continue-on-collection-errors",
                f"--randomly-seed={seed}", f"--hypothesis-seed={seed}", f"--junitxml={junit}",
                *implementation_options(impl), *suites, *pytest_args,
                env=env,
            )  # fmt: skip
            return_code = 0
        except CommandFailed as error:
            # Every seed runs: which seeds fail, and how, is what the session reports.
            return_code = error.return_code if error.return_code is not None else -1
        run = seed_run(seed, junit, return_code, time.perf_counter() - started)
        session.log(run.line)
        runs.append(run)
