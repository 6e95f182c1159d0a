"""The vacuity check: every test of suite N must fail when module N is stubbed.

Checkpoint N is built with module N as a learner receives it (matrix/stub.py: every function
and method raises NotImplementedError, every name is there), and suite N runs against it,
test by test. A test that still passes, skips or xfails does not depend on module N, so it
proves nothing about it: it is named as vacuous and the check fails. So does a test file that
cannot be collected (its tests were not judged), and a stub that `import tinytorch` rejects
(the tests would fail at the import, whatever they check).

`check_vacuity` is the measurement; the `vacuityNN` sessions (`run_vacuity`) and the audit
(matrix/audit/measure.py) both call it, the sessions fail on its result, the audit reports it. Its
verdict is kept as JSON (reports/vacuity/module-NN.json), which the gate reads back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import nox
from nox.command import CommandFailed

from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_wheel
from matrix.impl import Implementation, ImplError, implementation_from_env
from matrix.junit import read_junit, tests_not_failing
from matrix.layout import Layout
from matrix.project import Project
from matrix.pytest_env import checkpoint_env, implementation_options, test_process_env
from matrix.records import RecordError

# tests/conftest.py registers it: no shrinking of a failing example (only failing counts here).
HYPOTHESIS_PROFILE = "vacuity"


class VacuityError(RuntimeError):
    """The check could not run (no wheel, or no JUnit XML); the message says why."""


@dataclass(frozen=True)
class Vacuity:
    module: str  # the module's label, "05"
    suite: str  # its test folder, "tests/05_autograd"
    judged: int  # the tests that ran against the stub
    vacuous: tuple[str, ...]  # the tests that did not fail, as class::name
    unjudged: tuple[str, ...]  # test files that could not be collected

    @property
    def lines(self) -> list[str]:
        lines = [
            f"vacuity of module {self.module} ({self.suite}): {self.judged} tests judged, "
            f"{len(self.vacuous)} not failing, {len(self.unjudged)} files not collected"
        ]
        lines += [f"  vacuous: {name}" for name in self.vacuous]
        return lines + [f"  not collected: {file}" for file in self.unjudged]


def verdict_path(layout: Layout, number: int) -> Path:
    """Where module `number`'s vacuity verdict is kept (JSON), relative to the root."""
    return layout.vacuity / f"module-{number:02d}.json"


def load_vacuity(path: Path) -> Vacuity:
    """A verdict written by check_vacuity; RecordError naming the file when it is not one."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        names = {spec.name for spec in fields(Vacuity)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise ValueError(f"its keys are not {', '.join(sorted(names))}")
        return Vacuity(
            module=str(raw["module"]),
            suite=str(raw["suite"]),
            judged=int(raw["judged"]),
            vacuous=tuple(map(str, raw["vacuous"])),
            unjudged=tuple(map(str, raw["unjudged"])),
        )
    except (OSError, ValueError, TypeError) as error:
        raise RecordError(
            f"{path} is not a vacuity verdict ({error}): rerun `nox -s vacuityNN` to write it "
            "again, or delete it"
        ) from None


def check_vacuity(
    session: nox.Session,
    project: Project,
    number: int,
    pytest_args: tuple[str, ...] = (),
    workers: str = "auto",
    impl: Implementation | None = None,
) -> Vacuity:
    """Install checkpoint `number` with its module stubbed into the session, run its suite.

    Writes reports/vacuity/module-NN.xml (JUnit) and module-NN.json (the verdict);
    returns the tests that did not fail. Raises VacuityError if pytest left no JUnit XML.
    `workers` is pytest-xdist's -n ("0": no workers); `impl` is the implementation built
    (None: MATRIX_IMPL's, or the reference). A wheel that cannot be built is a VacuityError.
    """
    manifest, layout = project.manifest, project.layout
    module = manifest.module(number)
    try:
        impl = impl or implementation_from_env(manifest)
        wheel = checkpoint_wheel(manifest, number, stubbed=frozenset(module.files), impl=impl)
    except (BuildError, ImplError) as error:
        raise VacuityError(str(error)) from None
    session.install(
        str(wheel), *impl.dependencies, *nox.project.dependency_groups(project.pyproject, "test")
    )
    env = {
        **checkpoint_env(manifest, number, impl),
        **test_process_env(layout, session.name, wheel),
    }
    try:
        # -I: the installed stub, never a tinytorch/ folder in the working directory.
        session.run("python", "-I", "-c", "import tinytorch", env=env, silent=True)
    except CommandFailed:
        raise VacuityError(
            f"import tinytorch fails with module {module.label} stubbed (matrix/stub.py), so "
            f"every test would fail at the import, not at what it checks; make the module's "
            f"import-time code stub-safe (run `python -m matrix build {number} --stubbed`, "
            f"install the wheel and import it to see the error)"
        ) from None
    verdict = layout.at(verdict_path(layout, number))
    junit = verdict.with_suffix(".xml")
    # A run that breaks before the end must not leave the previous verdict lying around.
    junit.unlink(missing_ok=True)
    verdict.unlink(missing_ok=True)
    session.run(
        # --tb=no -rsxX: every test is meant to fail here; only what did not fail is news, and
        # thousands of stub tracebacks would bury it (and the CI log).
        "pytest", "-n", workers, "-q", "--tb=no", "-rsxX", "--continue-on-collection-errors",
        f"--junitxml={junit}", *implementation_options(impl),
        f"--hypothesis-profile={HYPOTHESIS_PROFILE}", module.tests, *pytest_args,
        env=env,
        # Failing is what every test here must do; what counts is what passed.
        success_codes=[0, 1, 2],
    )  # fmt: skip
    if not junit.exists():
        raise VacuityError(f"pytest wrote no JUnit XML for {module.tests}; the check did not run")
    counts = read_junit(junit)
    result = Vacuity(
        module.label,
        module.tests,
        judged=sum(counts.files.values()),
        vacuous=tuple(tests_not_failing(junit)),
        unjudged=tuple(counts.uncollectable),
    )
    write_atomically(verdict, json.dumps(asdict(result), indent=2) + "\n")
    return result


def run_vacuity(session: nox.Session, project: Project, number: int) -> None:
    try:
        result = check_vacuity(session, project, number, tuple(session.posargs))
    except VacuityError as error:
        session.error(str(error))
    print("\n".join(result.lines), flush=True)
    if result.vacuous:
        session.error(
            f"{len(result.vacuous)} test(s) in {result.suite} do not fail with module "
            f"{result.module} stubbed: they do not test it"
        )
    if result.unjudged or not result.judged:
        session.error(
            f"{result.suite}: {len(result.unjudged)} file(s) could not be collected and "
            f"{result.judged} test(s) ran, so the suite was not judged test by test"
        )
