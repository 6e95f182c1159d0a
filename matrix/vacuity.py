"""The vacuity check: suite N must fail when module N is empty.

Checkpoint N is built with module N's files emptied (everything else as usual), and suite N
runs against it. A test that still passes (or skips) does not depend on module N, so it
proves nothing about it: it is named as vacuous and the check fails.

`check_vacuity` is the measurement; the `vacuityNN` sessions (`run_vacuity`) and the audit
(matrix/audit.py) both call it, the sessions fail on its result, the audit reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import nox

from matrix.build import BuildError, checkpoint_wheel
from matrix.checkpoint_session import ONE_BLAS_THREAD, checkpoint_env
from matrix.impl import Implementation, ImplError, implementation_from_env
from matrix.manifest import Manifest
from matrix.results import REPORTS_DIR, tests_not_failing, write_atomically

VACUITY_DIR = REPORTS_DIR / "vacuity"


class VacuityError(RuntimeError):
    """The check could not run (no wheel, or no JUnit XML); the message says why."""


@dataclass
class Vacuity:
    module: str  # the module's label, "05"
    suite: str  # its test folder, "tests/05_autograd"
    vacuous: list[str]  # the tests that did not fail, as class::name

    @property
    def lines(self) -> list[str]:
        lines = [f"vacuity of module {self.module} ({self.suite}): {len(self.vacuous)} not failing"]
        return lines + [f"  vacuous: {name}" for name in self.vacuous]


def check_vacuity(
    session: nox.Session,
    manifest: Manifest,
    number: int,
    pyproject: dict,
    pytest_args: tuple[str, ...] = (),
    workers: str = "auto",
    impl: Implementation | None = None,
) -> Vacuity:
    """Install checkpoint `number` with its module emptied into the session, run its suite.

    Writes reports/vacuity/module-NN.xml (JUnit) and module-NN.txt (the lines printed);
    returns the tests that did not fail. Raises VacuityError if pytest left no JUnit XML.
    `workers` is pytest-xdist's -n ("0": no workers); `impl` is the implementation built
    (None: MATRIX_IMPL's, or the reference). A wheel that cannot be built is a VacuityError.
    """
    module = manifest.module(number)
    try:
        impl = impl or implementation_from_env(manifest)
        wheel = checkpoint_wheel(manifest, number, emptied=frozenset(module.files), impl=impl)
    except (BuildError, ImplError) as error:
        raise VacuityError(str(error)) from None
    session.install(str(wheel), *nox.project.dependency_groups(pyproject, "test"))
    junit = manifest.root / VACUITY_DIR / f"module-{module.label}.xml"
    # A run that breaks before the end must not leave the previous verdict lying around.
    junit.unlink(missing_ok=True)
    junit.with_suffix(".txt").unlink(missing_ok=True)
    session.run(
        "pytest", "-n", workers, "-q", "--continue-on-collection-errors",
        f"--junitxml={junit}", module.tests, *pytest_args,
        env={**checkpoint_env(number, impl), **ONE_BLAS_THREAD},
        # Failing is what every test here must do; what counts is what passed.
        success_codes=[0, 1, 2],
    )  # fmt: skip
    if not junit.exists():
        raise VacuityError(f"pytest wrote no JUnit XML for {module.tests}; the check did not run")
    result = Vacuity(module.label, module.tests, tests_not_failing(junit))
    write_atomically(junit.with_suffix(".txt"), "\n".join(result.lines) + "\n")
    return result


def run_vacuity(session: nox.Session, manifest: Manifest, number: int, pyproject: dict) -> None:
    try:
        result = check_vacuity(session, manifest, number, pyproject, tuple(session.posargs))
    except VacuityError as error:
        session.error(str(error))
    print("\n".join(result.lines), flush=True)
    if result.vacuous:
        session.error(
            f"{len(result.vacuous)} test(s) in {result.suite} do not fail with module "
            f"{result.module} emptied: they do not test it"
        )
