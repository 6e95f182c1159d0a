"""The vacuity check: suite N must fail when module N is empty.

Checkpoint N is built with module N's files emptied (everything else as usual), and suite N
runs against it. A test that still passes (or skips) does not depend on module N, so it
proves nothing about it: it is named as vacuous and the check fails.
"""

from __future__ import annotations

from pathlib import Path

import nox

from matrix.build import BuildError, checkpoint_wheel
from matrix.checkpoint_session import ONE_BLAS_THREAD, checkpoint_env
from matrix.impl import ImplError, implementation_from_env
from matrix.manifest import Manifest
from matrix.results import REPORTS_DIR, tests_not_failing, write_atomically

VACUITY_DIR = REPORTS_DIR / "vacuity"


def run_vacuity(session: nox.Session, manifest: Manifest, number: int, pyproject: dict) -> None:
    module = manifest.module(number)
    root = manifest.root
    try:
        impl = implementation_from_env(manifest)
        wheel = checkpoint_wheel(manifest, number, emptied=frozenset(module.files), impl=impl)
    except (BuildError, ImplError) as error:
        session.error(str(error))
    session.install(str(wheel), *nox.project.dependency_groups(pyproject, "test"))
    junit = root / VACUITY_DIR / f"module-{module.label}.xml"
    # A run that breaks before the end must not leave the previous verdict lying around.
    junit.unlink(missing_ok=True)
    junit.with_suffix(".txt").unlink(missing_ok=True)
    session.run(
        "pytest", "-n", "auto", "-q", "--continue-on-collection-errors",
        f"--junitxml={junit}", module.tests, *session.posargs,
        env={**checkpoint_env(number, impl), **ONE_BLAS_THREAD},
        # Failing is what every test here must do; what counts is what passed.
        success_codes=[0, 1, 2],
    )  # fmt: skip
    if not junit.exists():
        session.error(f"pytest wrote no JUnit XML for {module.tests}; the check did not run")
    vacuous = tests_not_failing(junit)
    lines = [f"vacuity of module {module.label} ({module.tests}): {len(vacuous)} not failing"]
    lines += [f"  vacuous: {name}" for name in vacuous]
    write_atomically(Path(junit).with_suffix(".txt"), "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    if vacuous:
        session.error(
            f"{len(vacuous)} test(s) in {module.tests} do not fail with module {module.label} "
            "emptied: they do not test it"
        )
