"""Nox sessions: one per module checkpoint (from matrix/modules.toml), plus the tools around them.

nox                  every checkpoint, then the report
nox -j auto          the same, checkpoints side by side
nox -s module03      checkpoint 03 only: modules 01..03 installed, suites 01..03 run
nox -s report        the checkpoint x suite table of the latest runs
nox -s vacuity03     suite 03 against checkpoint 03 with module 03 stubbed: every test must fail
nox -s milestone     the newest checkpoint learns scikit-learn's digits (>= 95%)
nox -s bench         speed and memory, as ratios to baselines measured in the same run
nox -s mutants       planted bugs (mutants/*.toml): each must make its checkpoint fail
nox -s random_order  the newest checkpoint's suites in the random order of each seed (-- 1 2 3)
nox -s audit         per module: tests per bug category, coverage, vacuous and misplaced tests
nox -s lint          ruff, import-linter, actionlint, zizmor
nox -s selftest      the matrix tool's own tests
nox -s gate -- --base main    GO / NO-GO for main...HEAD (`--impl PATH`: a learner's tinytorch)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

# nox imports this file without putting its folder on sys.path; matrix/ lives beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix.audit.measure import run_audit
from matrix.build import checkpoint_wheel
from matrix.gate.refusal import refuse_broken_manifest
from matrix.gate.run import run_gate
from matrix.impl import IMPL_ENV, layout_from_env
from matrix.layering import importlinter_config
from matrix.manifest import CHECKPOINT_TAG, REPO_ROOT, ManifestError, Module, load_manifest
from matrix.project import Project
from matrix.run_identity import ensure_run_id
from matrix.sessions import random_order as random_order_session
from matrix.sessions.checkpoint import run_checkpoint
from matrix.sessions.mutants import run_mutants
from matrix.sessions.parent_watch import hand_down_nox_pid
from matrix.sessions.report import EXPECTED_RUNS_ENV, ExpectedRunsError, expected_runs, write_report
from matrix.sessions.vacuity import run_vacuity

# Every session of this nox invocation stamps its record with one run id (the report tells
# this invocation's records from older ones by it).
ensure_run_id()
# A session that `nox -j` runs in a child nox ends when this nox dies (sessions/parent_watch.py).
hand_down_nox_pid()

# Where this invocation's reports, wheels and environments go (MATRIX_IMPL, MATRIX_REPORTS_DIR).
LAYOUT = layout_from_env(REPO_ROOT)
try:
    MANIFEST = load_manifest()
except ManifestError as error:
    # No session can run, the gate included: an earlier GO must not stand as this tree's verdict.
    refuse_broken_manifest(LAYOUT, os.environ.get(IMPL_ENV), error)
    sys.exit(f"nox: the module manifest is broken: {error}")

PYPROJECT = nox.project.load_toml("pyproject.toml")
PROJECT = Project(MANIFEST, LAYOUT, PYPROJECT)
VACUITY_TAG = "vacuity"
# The workflows, the setup action they share and dependabot.yml: zizmor audits them all.
GITHUB_CONFIG = ".github"

# The first nox with `Session.parallel` (2026.8.17 lacks it; 2026.7.11 lacks allow_parallel=):
# nox reads this before importing the file, so an older nox says so instead of a traceback.
nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
# Test the interpreters this machine has; never fetch one (CI sets up each Python itself).
nox.options.download_python = "never"
# Another implementation's sessions get environments of their own (`--envdir` still wins).
nox.options.envdir = str(LAYOUT.nox_envs)


def _register_module_sessions(module: Module) -> None:
    number = module.number

    def checkpoint(session: nox.Session) -> None:
        run_checkpoint(session, PROJECT, number)

    def vacuity(session: nox.Session) -> None:
        run_vacuity(session, PROJECT, number)

    checkpoint.__doc__ = (
        f"Checkpoint {number:02d}: install modules 01..{number:02d}, run suites 01..{number:02d}."
    )
    vacuity.__doc__ = f"Suite {number:02d} with module {number:02d} stubbed: every test must fail."
    # A bare `nox` runs the default sessions in the order they are registered: these
    # checkpoints, then `report` (registered below them).
    nox.session(name=module.session, python=None, allow_parallel=True, tags=[CHECKPOINT_TAG])(
        checkpoint
    )
    nox.session(
        name=module.vacuity_session,
        python=None,
        allow_parallel=True,
        tags=[VACUITY_TAG],
        default=False,
    )(vacuity)


for _module in MANIFEST.modules:
    _register_module_sessions(_module)


@nox.session(python=False, allow_parallel=False)
def report(session: nox.Session) -> None:
    """Print the checkpoint x suite table; write reports/matrix.md and reports/matrix.json."""
    try:
        expected = expected_runs(MANIFEST, os.environ.get(EXPECTED_RUNS_ENV))
    except ExpectedRunsError as error:
        session.error(str(error))
    text, failure = write_report(PROJECT, expected)
    print(text, flush=True)
    if failure:
        session.error(failure)


@nox.session(python=None, default=False)
def audit(session: nox.Session) -> None:
    """Measured audit per module (categories, coverage, vacuous, misplaced): reports/audit.md."""
    run_audit(session, PROJECT)


@nox.session(python=None, default=False)
def mutants(session: nox.Session) -> None:
    """Each planted bug of mutants/ (`-- 05 08`: those modules') must fail a checkpoint."""
    run_mutants(session, PROJECT)


@nox.session(python=None, default=False)
def bench(session: nox.Session) -> None:
    """Engine and matrix speed and memory, as ratios to baselines (`-- --quick` for CI)."""
    wheel = checkpoint_wheel(MANIFEST, MANIFEST.numbers[-1])
    session.install(str(wheel), *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "bench/engine_bench.py", *session.posargs)
    # The matrix benchmark drives nox itself, so it runs on nox's own interpreter.
    session.run(sys.executable, "bench/matrix_bench.py", *session.posargs, external=True)
    session.run("python", "bench/plots.py")


@nox.session(python=None, default=False)
def milestone(session: nox.Session) -> None:
    """The newest checkpoint trains an MLP on scikit-learn's digits to >= 95% held-out."""
    wheel = checkpoint_wheel(MANIFEST, MANIFEST.numbers[-1])
    session.install(str(wheel), *nox.project.dependency_groups(PYPROJECT, "milestone"))
    session.run("python", "milestone/train_digits.py", *session.posargs)


@nox.session(name=random_order_session.SESSION_NAME, python=None, default=False)
def random_order(session: nox.Session) -> None:
    """The newest checkpoint's suites in random order, once per seed (`-- 1 2 3`)."""
    random_order_session.run_random_order(session, PROJECT)


@nox.session(python=None, default=False)
def selftest(session: nox.Session) -> None:
    """The matrix tool's own tests (manifest errors, builds, report)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "matrix"))
    # `python -m` puts the repo root on sys.path, so the tests import the matrix package.
    session.run("python", "-m", "pytest", "-n", "auto", "matrix/tests", *session.posargs)


@nox.session(python=False, default=False)
def gate(session: nox.Session) -> None:
    """GO/NO-GO for REF...HEAD: affected checkpoints, their vacuity, lint (-- --base REF)."""
    if run_gate(MANIFEST, session.posargs) != 0:
        session.error("NO-GO (the report above says why)")


@nox.session(python=None, default=False)
def lint(session: nox.Session) -> None:
    """ruff; import-linter's layers contract (from the manifest); actionlint and zizmor."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    contract = Path(session.create_tmp()) / "importlinter.ini"
    contract.write_text(importlinter_config(MANIFEST), encoding="utf-8")
    # The source tree is what is linted; PYTHONPATH lets import-linter find the package.
    session.run("lint-imports", "--no-cache", str(contract), env={"PYTHONPATH": str(MANIFEST.root)})
    session.run("actionlint")
    # --strict-collection: a file zizmor cannot parse fails lint instead of being skipped.
    session.run("zizmor", "--offline", "--strict-collection", GITHUB_CONFIG)
