"""The vacuity check: suite N must fail when module N is empty.

Checkpoint N is built with module N's files emptied (everything else as usual), and suite N
runs against it. A test that still passes (or skips) does not depend on module N, so it
proves nothing about it: it is named as vacuous and the check fails.
"""

from __future__ import annotations

from pathlib import Path

import nox

from matrix.build import checkpoint_wheel
from matrix.checkpoint_session import CHECKPOINT_ENV, ONE_BLAS_THREAD
from matrix.manifest import Manifest
from matrix.results import REPORTS_DIR, tests_not_failing, write_atomically

VACUITY_DIR = REPORTS_DIR / "vacuity"


def run_vacuity(session: nox.Session, manifest: Manifest, number: int, pyproject: dict) -> None:
    module = manifest.module(number)
    root = manifest.root
    wheel = checkpoint_wheel(manifest, number, emptied=frozenset(module.files))
    session.install(str(wheel), *nox.project.dependency_groups(pyproject, "test"))
    junit = root / VACUITY_DIR / f"module-{module.label}.xml"
    junit.unlink(missing_ok=True)
    session.run(
        "pytest", "-n", "auto", "-q", "--continue-on-collection-errors",
        f"--junitxml={junit}", module.tests, *session.posargs,
        env={CHECKPOINT_ENV: str(number), **ONE_BLAS_THREAD},
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
