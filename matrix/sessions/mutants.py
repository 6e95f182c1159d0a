"""Planted bugs (`nox -s mutants`): every mutant of mutants/*.toml must make a checkpoint fail.

A mutant of module N (matrix/mutant_catalog.py) is planted in a copy of checkpoint N's
tinytorch (unzipped from its wheel), and suite N, then suites 01..N-1, run against that copy:
PYTHONPATH puts it before the tinytorch installed in the environment, and pyproject's
--import-mode=importlib keeps the repository's own tinytorch/ off sys.path. A failing test
catches it "at its checkpoint". Otherwise the same bug, planted in the newest checkpoint, meets
the later suites: caught there it is "caught later", else it "survived". A mutant whose find
text is not in its file exactly once is "stale": the code moved on and the entry must follow.

Each pytest stops at its first failure (-x), in its own process (-n 0), many side by side: only
whether something fails matters. A pytest that breaks (exit 2-4) or runs nothing (5) is no
verdict at all: it raises MutantRunError, which stops the session. Before any bug is planted,
every checkpoint involved must pass unmutated, or a failure would prove nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import nox

from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_wheel
from matrix.impl import Implementation, ImplError, implementation_from_env
from matrix.junit import tests_failing
from matrix.layout import Layout
from matrix.manifest import PACKAGE_DIR, Manifest
from matrix.mutant_catalog import MIN_PER_MODULE, CatalogError, Mutant, load_catalog, mutate
from matrix.project import Project
from matrix.pytest_env import CHECKPOINT_ENV, ONE_BLAS_THREAD, implementation_options
from matrix.records import PYTEST_BROKE, Words
from matrix.run_identity import repo_commit, short_commit, this_run
from matrix.tables import terminal_table


class Outcome(Words):
    """What became of one planted bug."""

    CAUGHT = "caught at its checkpoint"
    CAUGHT_LATER = "caught later"
    SURVIVED = "survived"
    # Its find text is not in its file exactly once: the code moved on, the entry must follow.
    STALE = "stale"


CAUGHT, CAUGHT_LATER, SURVIVED, STALE = Outcome
# What caught_by says when a pytest outlived its bound: a hang is a detection, as pytest-timeout
# would make it one in a real run.
TIMED_OUT = "timed out"
# Per test: far above any test's time at -n 0, far below pyproject's 300 s, so a mutant that
# makes a test crawl or hang costs half a minute.
TEST_TIMEOUT_SECONDS = 30
HYPOTHESIS_SEED = 0
PYTEST_TIMEOUT_SECONDS = 600
PYTEST_NO_TESTS = 5
OUTPUT_LINES = 15
JSON_NAME = "mutants.json"
# The audit's cell for a module whose mutants have not been run.
NOT_RUN_CELL = "not run (nox -s mutants)"
# Beside each unzipped checkpoint: the name of the wheel it came from (its version digests the
# sources, so another name means other code).
WHEEL_STAMP = ".wheel"


class MutantRunError(RuntimeError):
    """A pytest broke or ran no test, which says nothing about the bug; the message says why."""


@dataclass(frozen=True)
class MutantResult:
    id: str
    module: int
    category: str
    outcome: str
    caught_by: str  # the first failing test ("" when not caught)
    seconds: float


@dataclass(frozen=True)
class Runner:
    pytest: Path  # pytest of an environment holding the test dependencies
    tests_root: Path  # the working directory: whose tests/ and pyproject.toml run
    suites: dict[int, str]  # module number -> its tests folder
    packages: dict[int, Path]  # checkpoint number -> a folder holding its tinytorch/
    options: tuple[str, ...]  # extra pytest arguments (implementation_options)
    work: Path  # scratch folders go here
    timeout_seconds: float = PYTEST_TIMEOUT_SECONDS


def stages(runner: Runner, number: int) -> list[tuple[int, list[str]]]:
    """Where a bug of module `number` is looked for, in order: at its own checkpoint, its own
    suite first and then the earlier ones; at the newest checkpoint, the later suites."""
    newest = max(runner.packages)
    earlier = [runner.suites[n] for n in sorted(runner.suites) if n < number]
    later = [runner.suites[n] for n in sorted(runner.suites) if number < n <= newest]
    return [(number, [runner.suites[number], *earlier])] + ([(newest, later)] if later else [])


@contextmanager
def scratch(runner: Runner) -> Iterator[Path]:
    runner.work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=runner.work))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def first_failure(
    runner: Runner, package: Path, checkpoint: int, suites: Sequence[str], what: str
) -> str:
    """Run `suites` against the tinytorch in `package` (checkpoint `checkpoint`'s, perhaps
    mutated): the first failing test, or "" when every test passed."""
    with scratch(runner) as folder:
        junit = folder / "j.xml"
        command = [
            str(runner.pytest), "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
            "-p", "no:randomly", f"--timeout={TEST_TIMEOUT_SECONDS}", f"--junitxml={junit}",
            # One verdict per bug: the base and the head must draw the same examples.
            f"--hypothesis-seed={HYPOTHESIS_SEED}",
            *runner.options, *suites,
        ]  # fmt: skip
        env = {
            **os.environ,
            **ONE_BLAS_THREAD,
            "PYTHONPATH": str(package),
            # The repository's tests/ and the mutated copies get no bytecode beside them.
            "PYTHONDONTWRITEBYTECODE": "1",
            CHECKPOINT_ENV: str(checkpoint),
        }
        try:
            completed = subprocess.run(
                command, cwd=runner.tests_root, env=env, capture_output=True, text=True,
                timeout=runner.timeout_seconds, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"{TIMED_OUT} after {runner.timeout_seconds:g} s in {' '.join(suites)}"
        if completed.returncode == 0:
            return ""
        failing = tests_failing(junit) if completed.returncode == 1 and junit.is_file() else []
    if failing:
        return failing[0]
    meaning = PYTEST_BROKE.get(completed.returncode) or (
        "no tests collected" if completed.returncode == PYTEST_NO_TESTS else "no failed test"
    )
    output = (completed.stdout + completed.stderr).strip().splitlines()[-OUTPUT_LINES:]
    raise MutantRunError(
        f"{what}, checkpoint {checkpoint:02d}: pytest exited {completed.returncode} ({meaning}), "
        "which is no verdict (code that does not import, or a suite that cannot run); "
        f"`cd {runner.tests_root} && {' '.join(command)}` ended with:\n" + "\n".join(output)
    )


def run_mutant(runner: Runner, mutant: Mutant) -> MutantResult:
    started = time.perf_counter()
    outcome, caught_by = _judge(runner, mutant)
    seconds = round(time.perf_counter() - started, 2)
    return MutantResult(mutant.id, mutant.module, mutant.category, outcome, caught_by, seconds)


def _judge(runner: Runner, mutant: Mutant) -> tuple[str, str]:
    for stage, (checkpoint, suites) in enumerate(stages(runner, mutant.module)):
        with scratch(runner) as folder:
            package = shutil.copytree(runner.packages[checkpoint], folder / "package")
            if not mutate(mutant, package):
                return STALE, ""
            caught_by = first_failure(runner, package, checkpoint, suites, f"mutant {mutant.id}")
        if caught_by:
            return (CAUGHT if stage == 0 else CAUGHT_LATER), caught_by
    return SURVIVED, ""


def _in_pool(function: Callable, items: Sequence, workers: int) -> list:
    """function(item) for every item, side by side, results in the items' order; the first
    error cancels what has not started and is raised."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def run_all(
    runner: Runner,
    mutants: Sequence[Mutant],
    workers: int,
    progress: Callable[[MutantResult], None] | None = None,
) -> list[MutantResult]:
    """Every mutant, `workers` at a time (one pytest process each), in catalog order."""

    def one(mutant: Mutant) -> MutantResult:
        result = run_mutant(runner, mutant)
        if progress:
            progress(result)
        return result

    return _in_pool(one, mutants, workers)


def baseline_failures(runner: Runner, modules: Sequence[int], workers: int) -> dict[int, str]:
    """Checkpoint -> its first failing test, running unmutated every suite the mutants of
    `modules` would run there; empty when all pass."""
    plan: dict[int, list[str]] = {}
    for number in modules:
        for checkpoint, suites in stages(runner, number):
            planned = plan.setdefault(checkpoint, [])
            planned += [suite for suite in suites if suite not in planned]

    def check(checkpoint: int) -> str:
        package = runner.packages[checkpoint]
        return first_failure(runner, package, checkpoint, plan[checkpoint], "unmutated")

    failures = _in_pool(check, sorted(plan), workers)
    return {c: failure for c, failure in zip(sorted(plan), failures, strict=True) if failure}


def checkpoint_packages(
    manifest: Manifest, impl: Implementation, numbers: Sequence[int], dest: Path
) -> dict[int, Path]:
    """Checkpoint -> dest/cpNN/, holding the tinytorch/ of its wheel (built if needed)."""
    packages = {}
    for number in numbers:
        wheel = checkpoint_wheel(manifest, number, impl=impl)
        folder = dest / f"cp{number:02d}"
        stamp = folder / WHEEL_STAMP
        if not (stamp.is_file() and stamp.read_text(encoding="utf-8") == wheel.name):
            shutil.rmtree(folder, ignore_errors=True)
            with zipfile.ZipFile(wheel) as archive:
                names = [n for n in archive.namelist() if n.startswith(f"{PACKAGE_DIR}/")]
                archive.extractall(folder, names)
            # Written last: an interrupted unzip is redone next time.
            stamp.write_text(wheel.name, encoding="utf-8")
        packages[number] = folder
    return packages


# ------------------------------------------------------------------------------ the session


def selected_modules(session: nox.Session, manifest: Manifest) -> list[int]:
    """The module numbers of the posargs ("05 8"), or every module."""
    numbers = []
    for word in session.posargs:
        if not word.isdigit() or int(word) not in manifest.numbers:
            session.error(
                f"mutants: '{word}' is not a module number; give some of "
                f"{', '.join(m.label for m in manifest.modules)} (e.g. `nox -s mutants -- 05`)"
            )
        numbers.append(int(word))
    return sorted(set(numbers)) or list(manifest.numbers)


def run_mutants(session: nox.Session, project: Project) -> None:
    manifest, pyproject, layout = project.manifest, project.pyproject, project.layout
    identity = this_run(manifest.root)
    modules = selected_modules(session, manifest)
    try:
        impl = implementation_from_env(manifest)
        mutants = [mutant for mutant in load_catalog(manifest) if mutant.module in modules]
        runner = session_runner(session, manifest, pyproject, impl, modules)
    except (BuildError, CatalogError, ImplError) as error:
        session.error(str(error))
    if not mutants:
        labels = ", ".join(f"{number:02d}" for number in modules)
        session.error(f"mutants/ plants no bug in module(s) {labels}; add entries")
    workers = os.cpu_count() or 1
    try:
        failing = baseline_failures(runner, modules, workers)
        if failing:
            session.error(
                "without any planted bug, "
                + "; ".join(f"checkpoint {c:02d} fails ({name})" for c, name in failing.items())
                + ": a failure proves nothing there; make them pass first (`nox -s moduleNN`)"
            )
        session.log(f"planting {len(mutants)} bugs, {workers} at a time")
        results = run_all(runner, mutants, workers, lambda r: session.log(progress_line(r)))
    except MutantRunError as error:
        session.error(str(error))
    print(summary(results, mutants), flush=True)
    document = {**asdict(identity), "implementation": impl.label, "modules": modules}
    document["results"] = [asdict(result) for result in results]
    written = layout.report(JSON_NAME)
    write_atomically(layout.at(written), json.dumps(document, indent=2) + "\n")
    session.log(f"wrote {written}")
    # Only a run of every module judges whether the catalog is big enough.
    complete = () if session.posargs else manifest.numbers
    problems = session_problems(results, mutants, complete)
    if problems:
        session.error("; ".join(problems))


def session_runner(
    session: nox.Session,
    manifest: Manifest,
    pyproject: dict,
    impl: Implementation,
    modules: Sequence[int],
) -> Runner:
    """The session's environment gets the test dependencies and the newest checkpoint (for
    numpy and the implementation's own requirements); the checkpoints the mutants of `modules`
    need are unzipped beside it, and shadow its tinytorch."""
    newest = manifest.numbers[-1]
    tmp = Path(session.create_tmp())
    packages = checkpoint_packages(manifest, impl, sorted({*modules, newest}), tmp / "checkpoints")
    wheel = checkpoint_wheel(manifest, newest, impl=impl)
    test = nox.project.dependency_groups(pyproject, "test")
    session.install(*test, str(wheel), *impl.dependencies)
    pytest = shutil.which("pytest", path=session.bin)
    if not pytest:
        session.error(f"pytest is not installed in {session.bin}; the test group must bring it")
    return Runner(
        pytest=Path(pytest),
        tests_root=manifest.root,
        suites={module.number: module.tests for module in manifest.modules},
        packages=packages,
        options=tuple(implementation_options(impl)),
        work=tmp / "work",
    )


def progress_line(result: MutantResult) -> str:
    by = f" by {result.caught_by}" if result.caught_by else ""
    return f"{result.id}: {result.outcome}{by} ({result.seconds:.1f}s)"


def summary(results: Sequence[MutantResult], mutants: Sequence[Mutant]) -> str:
    """A table per module, then each bug no test caught with why it matters."""
    rows = [["module", "planted", CAUGHT, CAUGHT_LATER, SURVIVED, STALE]]
    for number in sorted({result.module for result in results}):
        counts = Counter(result.outcome for result in results if result.module == number)
        rows.append([f"{number:02d}", str(counts.total()), *(str(counts[o]) for o in Outcome)])
    lines = [terminal_table(rows)]
    for result, mutant in zip(results, mutants, strict=True):
        if result.outcome == SURVIVED:
            lines.append(f"survived: {mutant.id} ({mutant.category}, {mutant.file}): {mutant.why}")
        elif result.outcome == STALE:
            lines.append(
                f"stale: {mutant.id}: its find text is not exactly once in {mutant.file}; "
                "update the entry's find text"
            )
    return "\n".join(lines)


def session_problems(
    results: Sequence[MutantResult], mutants: Sequence[Mutant], complete: Sequence[int] = ()
) -> list[str]:
    """What fails the session: a survivor, a stale entry, and a module of `complete` with fewer
    than MIN_PER_MODULE planted bugs."""
    problems = [
        f"{result.id} {result.outcome}"
        + (": update the entry's find text" if result.outcome == STALE else "")
        for result in results
        if result.outcome in (SURVIVED, STALE)
    ]
    counts = Counter(mutant.module for mutant in mutants)
    problems += [
        f"module {number:02d} has {counts[number]} planted bugs, fewer than {MIN_PER_MODULE}: "
        "add entries to its mutants/ file"
        for number in complete
        if counts[number] < MIN_PER_MODULE
    ]
    return problems


# ------------------------------------------------------------------------------- the audit


def catch_cells(layout: Layout, numbers: Sequence[int]) -> dict[int, str]:
    """Per module, the audit's "planted bugs caught" cell from reports/mutants.json:
    '11/12 (1 survived)', NOT_RUN_CELL, or marked stale when it is of another commit."""
    root, shown = layout.root, layout.report(JSON_NAME)
    path = layout.at(shown)
    if not path.is_file():
        return dict.fromkeys(numbers, NOT_RUN_CELL)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        results = [MutantResult(**raw) for raw in document["results"]]
    except (ValueError, KeyError, TypeError) as error:
        return dict.fromkeys(numbers, f"unreadable {shown} ({error}); rerun nox -s mutants")
    commit = document.get("commit", "")
    stale = "" if commit == repo_commit(root) else f", stale: of commit {short_commit(commit)}"
    cells = {}
    for number in numbers:
        counts = Counter(result.outcome for result in results if result.module == number)
        caught = counts[CAUGHT] + counts[CAUGHT_LATER]
        missed = ", ".join(f"{counts[o]} {o}" for o in (SURVIVED, STALE) if counts[o])
        total = counts.total()
        if not total:
            cells[number] = NOT_RUN_CELL
        else:
            cells[number] = f"{caught}/{total}" + (f" ({missed})" if missed else "") + stale
    return cells
