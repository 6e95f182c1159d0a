"""The `audit` nox session's body: measure every module in one environment, then report.

Per module N, in one nox environment, one checkpoint after the other:

1. install checkpoint N's wheel (a new version each time, so the installer replaces the last
   one; the installed version is checked against the expected one before anything is run);
2. collect suite N (`pytest --collect-only` with matrix/pytest_plugins/audit_plugin.py):
   every test with its markers;
3. run suite N under pytest-cov (branch coverage, pytest-xdist workers) with the plugin
   recording each test's outcome; line and branch coverage are read for the *installed*
   copies of module N's own files (the manifest's paths under site-packages). Suite N only:
   later suites exercise module N too, but crediting them would hide gaps in its own suite;
4. the vacuity check (matrix/vacuity.py `check_vacuity`): suite N against checkpoint N with
   module N stubbed; every test that does not fail is vacuous, every file that cannot be
   collected is named too (its tests were not judged).

A measurement that fails is recorded in its module's row with why; rows never disappear.
Then misplaced tests (matrix/misplaced.py), the seed audit (seed.py) and each module's planted
bugs caught from the last `nox -s mutants` (matrix/mutants.py `catch_cells`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import nox
from nox.command import CommandFailed

from matrix.audit.model import (
    NO_COVERAGE,
    NOT_RUN,
    Audit,
    AuditError,
    CollectedTest,
    Coverage,
    ModuleAudit,
    categories_from_pyproject,
)
from matrix.audit.render import JSON_REPORT, MARKDOWN_REPORT, status_cell, write_audit
from matrix.audit.seed import SeedError, find_seed
from matrix.build import BuildError, checkpoint_version, checkpoint_wheel
from matrix.impl import Implementation, ImplError, implementation_from_env
from matrix.manifest import Manifest
from matrix.misplaced import Misplaced, find_misplaced
from matrix.project import Project
from matrix.pytest_env import ONE_BLAS_THREAD, checkpoint_env
from matrix.pytest_plugins import audit_plugin, copy_alone, plugin_name
from matrix.sessions.mutants import catch_cells
from matrix.sessions.vacuity import VacuityError, check_vacuity

# Where the report says misplaced tests come from: "matrix.misplaced.find_misplaced".
MISPLACED_SOURCE = f"{find_misplaced.__module__}.{find_misplaced.__qualname__}"


def run_audit(session: nox.Session, project: Project) -> None:
    """The `audit` nox session: measure every module in this one environment, then report.

    One environment serves every checkpoint: each `session.install` of the next checkpoint's
    wheel replaces the installed tinytorch (every wheel has its own version), and each
    installed version is checked before it is measured.
    """
    manifest, layout, pyproject = project.manifest, project.layout, project.pyproject
    started = time.perf_counter()
    session.install(*nox.project.dependency_groups(pyproject, "test", "audit"))
    plugin_dir = Path(session.create_tmp()) / "audit-plugin"
    copy_alone((audit_plugin,), plugin_dir)
    try:
        seed = find_seed(manifest)
        categories = categories_from_pyproject(pyproject, seed)
        impl = implementation_from_env(manifest)
    except (AuditError, ImplError, SeedError) as error:
        session.error(str(error))
    modules = tuple(
        measure_module(session, project, module.number, plugin_dir, impl)
        for module in manifest.modules
    )
    python = session.run(
        "python", "-I", "-c", "import platform; print(platform.python_version())", silent=True
    ).strip()
    findings, misplaced_failure = misplaced_tests(manifest)
    audit = Audit(
        modules=modules,
        categories=categories,
        seed=seed,
        misplaced_source=MISPLACED_SOURCE,
        misplaced=findings,
        misplaced_failure=misplaced_failure,
        python=".".join(python.split(".")[:2]),
        seconds=round(time.perf_counter() - started, 1),
        implementation=impl.label,
        mutants=catch_cells(layout, manifest.numbers),
    )
    text, passed = write_audit(layout, audit)
    print(text, flush=True)
    session.log(f"wrote {layout.report(MARKDOWN_REPORT)} and {layout.report(JSON_REPORT)}")
    if not passed:
        session.error("the audit found problems (listed above)")


def misplaced_tests(manifest: Manifest) -> tuple[tuple[Misplaced, ...], str]:
    """The misplaced tests, and why finding them failed ("" if it did not): a file that cannot
    be parsed or read is reported as a failure (the audit then fails), never lost."""
    try:
        findings, unparsable = find_misplaced(manifest)
    except (OSError, ValueError) as error:
        return (), f"{type(error).__name__}: {error}"
    return tuple(findings), f"could not parse {', '.join(unparsable)}" if unparsable else ""


def measure_module(
    session: nox.Session, project: Project, number: int, plugin_dir: Path, impl: Implementation
) -> ModuleAudit:
    """Collect, cover and vacuity-check suite N at checkpoint N; a failure is recorded, not lost."""
    manifest, layout = project.manifest, project.layout
    module = manifest.module(number)
    work = layout.at(layout.audit_work)
    work.mkdir(parents=True, exist_ok=True)
    collection, outcomes, report = (
        work / f"{module.label}-{kind}.json" for kind in ("tests", "outcomes", "coverage")
    )
    env = {
        **checkpoint_env(manifest, number, impl),
        **ONE_BLAS_THREAD,
        # The plugin's folder only: the repo root would shadow the installed tinytorch.
        "PYTHONPATH": str(plugin_dir),
        "COVERAGE_FILE": str(work / f"{module.label}.coverage"),
    }
    tests: tuple[CollectedTest, ...] | None = None
    coverage: Coverage | None = None
    vacuous: tuple[str, ...] | None = None
    failure = ""
    step = "build"
    try:
        wheel = checkpoint_wheel(manifest, number, impl=impl)
        step = "install"
        session.install(str(wheel))
        expected = checkpoint_version(manifest, number, impl=impl)
        site_packages = installed_checkpoint(session, expected)

        step = "collect"
        collection.unlink(missing_ok=True)
        session.run(
            "pytest", "--collect-only", "-q", "-p", plugin_name(audit_plugin),
            f"--audit-tests={collection}", module.tests,
            env=env, silent=True, success_codes=[0, 5],
        )  # fmt: skip
        tests = parse_collection(read_json(collection, "the collected tests"))

        step = "coverage"
        outcomes.unlink(missing_ok=True)
        report.unlink(missing_ok=True)
        session.run(
            "pytest", "-n", "auto", "-q", "-p", plugin_name(audit_plugin),
            f"--audit-outcomes={outcomes}",
            f"--cov={site_packages / 'tinytorch'}", "--cov-branch",
            f"--cov-report=json:{report}", module.tests,
            env=env, success_codes=[0, 1, 5],
        )  # fmt: skip
        tests = apply_outcomes(tests, read_json(outcomes, "the test outcomes"))
        coverage = coverage_of(
            module.files, read_json(report, "the coverage report"), site_packages, manifest.root
        )

        step = "vacuity"
        vacuity = check_vacuity(session, project, number, impl=impl)
        unjudged = [f"{file} (not collected)" for file in vacuity.unjudged]
        vacuous = (*vacuity.vacuous, *unjudged)
    except CommandFailed as error:
        failure = f"{step}: {error.reason or 'command failed'} (see the session log)"
    except (AuditError, BuildError, ImplError, VacuityError) as error:
        failure = f"{step}: {str(error).splitlines()[0]}"
    result = ModuleAudit(
        number, module.slug, module.title, module.tests, tests, coverage, vacuous, failure
    )
    session.log(f"audit of module {result.label}: {status_cell(result)}")
    return result


def parse_collection(raw: list[dict]) -> tuple[CollectedTest, ...]:
    """The audit plugin's --audit-tests JSON as tests."""
    return tuple(
        CollectedTest(test["nodeid"], test["cls"], test["name"], tuple(test["markers"]))
        for test in raw
    )


def apply_outcomes(
    tests: tuple[CollectedTest, ...], outcomes: dict[str, str]
) -> tuple[CollectedTest, ...]:
    """Each collected test with its outcome from the plugin's --audit-outcomes JSON."""
    return tuple(replace(test, outcome=outcomes.get(test.nodeid, NOT_RUN)) for test in tests)


def coverage_of(files: Sequence[str], report: dict, site_packages: Path, base: Path) -> Coverage:
    """Line and branch coverage of the installed copies of `files` (manifest paths).

    `report` is coverage.py's JSON report; its file names are relative to `base` (the
    directory the run started in) or absolute. A file missing from the report is an error:
    coverage of a module must never be computed from fewer files than it has.
    """
    summaries = {
        os.path.normcase((base / name).resolve()): entry["summary"]
        for name, entry in report.get("files", {}).items()
    }
    total = NO_COVERAGE
    for path in files:
        installed = os.path.normcase((site_packages / path).resolve())
        summary = summaries.get(installed)
        if summary is None:
            raise AuditError(f"coverage has no data for {path} (installed as {installed})")
        total += Coverage(
            summary["covered_lines"],
            summary["num_statements"],
            summary.get("covered_branches", 0),
            summary.get("num_branches", 0),
        )
    return total


def installed_checkpoint(session: nox.Session, expected_version: str) -> Path:
    """Check the environment holds exactly this checkpoint; return its site-packages folder.

    `-I` keeps the working directory (the repo root, with the tinytorch/ source tree) off
    sys.path; find_spec locates the package without importing it.
    """
    probe = (
        "import importlib.metadata, importlib.util; "
        "print(importlib.metadata.version('tinytorch')); "
        "print(importlib.util.find_spec('tinytorch').submodule_search_locations[0])"
    )
    version, package_dir = session.run("python", "-I", "-c", probe, silent=True).split("\n")[:2]
    if version.strip() != expected_version:
        raise AuditError(
            f"installed tinytorch {version.strip()}, expected {expected_version}; "
            "the installer did not replace the previous checkpoint"
        )
    return Path(package_dir.strip()).parent


def read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{path.name} ({what}) was not written") from None
    except json.JSONDecodeError as error:
        raise AuditError(f"{path.name} ({what}) is not valid JSON: {error}") from None
