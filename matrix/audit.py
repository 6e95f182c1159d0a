"""The measured test audit (`nox -s audit`): the hand-written module-05 audit, made by numbers.

For every module N of the manifest, in one nox environment, one checkpoint after the other:

1. install checkpoint N's wheel (a new version each time, so the installer replaces the last
   one; the installed version is checked against the expected one before anything is run);
2. collect suite N (`pytest --collect-only` with matrix/audit_plugin.py): every test with its
   markers, counted per bug category (the markers of pyproject.toml);
3. run suite N under pytest-cov (branch coverage, pytest-xdist workers) with the plugin
   recording each test's outcome; line and branch coverage are read for the *installed*
   copies of module N's own files (the manifest's paths under site-packages). Suite N only:
   later suites exercise module N too, but crediting them would hide gaps in its own suite;
4. the vacuity check (matrix/vacuity.py `check_vacuity`): suite N against checkpoint N with
   module N stubbed; every test that does not fail is vacuous, every file that cannot be
   collected is named too (its tests were not judged).

Then misplaced tests (matrix/misplaced.py `find_misplaced`) and the seed audit's integration
points and named missing tests, each mapped to the module-05 tests that answer it
(INTEGRATION_POINTS, SEED_MISSING_TESTS: one declarative table each) with their outcomes
at checkpoint 05. Each module's planted bugs caught is read from the last `nox -s mutants`
(reports/mutants.json, matrix/mutants.py `catch_cells`), marked stale if of another commit.

Everything is written to reports/audit.md and reports/audit.json (atomically) and summarised
on stdout. The audit fails (non-zero exit) when a module's measurement failed (its row says
FAILED and why; rows never disappear), when any test is vacuous, or when a test of suite N
fails at checkpoint N (the numbers would describe a red suite). Misplaced tests are reported,
not failed on: the release gate owns that decision.

Everything from "Measurements" to `write_audit` is pure (data in, text out) and tested with
hand-made data in matrix/tests/test_audit.py; `run_audit` and `measure_module` drive nox.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nox
from nox.command import CommandFailed

from matrix.atomic import write_atomically
from matrix.build import BuildError, checkpoint_version, checkpoint_wheel
from matrix.checkpoint_session import ONE_BLAS_THREAD, checkpoint_env
from matrix.impl import Implementation, ImplError, implementation_from_env
from matrix.manifest import Manifest
from matrix.mutants import NOT_RUN as MUTANTS_NOT_RUN
from matrix.mutants import catch_cells
from matrix.report import render_terminal
from matrix.results import REPORTS_DIR
from matrix.vacuity import VacuityError, check_vacuity

MARKDOWN_PATH = REPORTS_DIR / "audit.md"
JSON_PATH = REPORTS_DIR / "audit.json"
WORK_DIR = REPORTS_DIR / "audit"  # per-module collections, outcomes, coverage data
PLUGIN = Path(__file__).with_name("audit_plugin.py")

# Module statuses (per-module table) and evidence statuses (integration points).
OK, VACUOUS, FAILING, FAILED = "ok", "vacuous", "failing", "FAILED"
COVERED, MISSING, UNPROVEN = "COVERED", "MISSING", "UNPROVEN"
POINT_FAILING, NOT_MEASURED = "FAILING", "NOT MEASURED"
OUTCOMES = ("passed", "failed", "skipped", "not run")
NONE = "-"


class AuditError(RuntimeError):
    """A measurement could not be made; the message says which and why."""


# --------------------------------------------------------------------------- the seed's data

SEED = "the hand-written Module 05 (Autograd) integration test audit of 2025-11-25"
SEED_MODULE = 5
SEED_OVERALL_COVERAGE = "40%"
# The seed's "Bug-Catching Priority Matrix", Coverage column (its estimates, not measured).
# Its Priority column is in each marker's description in pyproject.toml, "(audit: ...)".
SEED_CATEGORY_COVERAGE = {
    "gradient": "70%",
    "inplace": "0%",
    "memory": "0%",
    "accumulation": "0%",
    "integration": "30%",
    "regression": "0%",
    "broadcasting": "40%",
    "stability": "50%",
}


@dataclass(frozen=True)
class Evidence:
    """Which tests of the seed's module answer a question: any test that matches any field."""

    classes: tuple[str, ...] = ()  # the test's class is one of these
    markers: tuple[str, ...] = ()  # the test carries one of these markers
    names: str = ""  # a regular expression found in the test function's name

    def matches(self, test: CollectedTest) -> bool:
        return (
            test.cls in self.classes
            or any(marker in test.markers for marker in self.markers)
            or bool(self.names and re.search(self.names, test.name))
        )

    def describe(self) -> str:
        parts = [f"class {name}" for name in self.classes]
        parts += [f"marker {name}" for name in self.markers]
        parts += [f"name ~ /{self.names}/"] if self.names else []
        return " or ".join(parts)


@dataclass(frozen=True)
class Point:
    name: str
    seed: str  # what the seed says about it (its coverage estimate, or where it names it)
    evidence: Evidence


# The seed's seven "Critical Integration Points" with its coverage estimate for each. Points
# 1-4 are its test classes (its "Test Template"); 5-7 are bug categories (the markers).
INTEGRATION_POINTS = (
    Point("1. Autograd + Tensor (01)", "60%", Evidence(classes=("TestAutogradTensorIntegration",))),
    Point(
        "2. Autograd + Activations (02)",
        "70%",
        Evidence(classes=("TestAutogradActivationIntegration",)),
    ),
    Point("3. Autograd + Layers (03)", "0%", Evidence(classes=("TestAutogradLayerIntegration",))),
    Point("4. Autograd + Losses (04)", "0%", Evidence(classes=("TestAutogradLossIntegration",))),
    Point("5. In-place operations", "0%", Evidence(markers=("inplace",))),
    Point("6. Memory leaks (computational graph)", "0%", Evidence(markers=("memory",))),
    Point(
        "7. Gradient accumulation (parameter sharing)",
        "0%",
        Evidence(markers=("accumulation",)),
    ),
)

# The tests the seed names as missing, with where it names them.
SEED_MISSING_TESTS = (
    Point("Broadcasting backward", "point 1", Evidence(names=r"broadcast")),
    Point("Scalar tensor backward", "point 1", Evidence(names=r"one_element|scalar")),
    Point("Activation chain gradients", "point 2", Evidence(names=r"activation_chain")),
    Point("Dead ReLU gradient", "point 2", Evidence(names=r"dead")),
    Point("Dense layer gradients", "point 3", Evidence(names=r"dense")),
    Point("Multi-layer backprop", "point 3, missing 8", Evidence(names=r"multi_layer")),
    Point("MSE loss gradient", "point 4", Evidence(names=r"mse")),
    Point("CrossEntropy loss gradient", "point 4", Evidence(names=r"crossentropy|cross_entropy")),
    Point("BCE loss gradient", "point 4", Evidence(names=r"bce")),
    Point("In-place operation detection", "point 5", Evidence(markers=("inplace",))),
    Point("zero_grad prevents accumulation", "point 6", Evidence(names=r"zero_grad")),
    Point(
        "Shared-parameter gradient accumulation",
        "point 7",
        Evidence(names=r"shared|tied|used_twice"),
    ),
    Point(
        "Prior stack stability (modules 01-04)",
        "test class 1, missing 9",
        Evidence(classes=("TestPriorStackStillWorking",), markers=("regression",)),
    ),
    Point(
        "Full stack network backward (01-05)",
        "test class 3",
        Evidence(classes=("TestProgressiveStackIntegration",)),
    ),
    Point(
        "Numerical gradient checks",
        "priority matrix, action 6",
        Evidence(names=r"central_differences|numerically|gradcheck"),
    ),
    Point(
        "Large graphs, gradient speed",
        "action 7",
        Evidence(markers=("performance",)),
    ),
)


# ------------------------------------------------------------------------------ measurements


@dataclass(frozen=True)
class Category:
    name: str  # the pytest marker
    description: str
    priority: str  # the seed's priority, from the marker's "(audit: ...)" note
    seed_coverage: str  # the seed's estimate, "-" where it has none


MARKER_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<description>.*)$")
# The tier marker (tests/conftest.py: a test of a reference extra) says which API a test
# judges, not which bug it guards: it is no category. Registered as "extra(*features): ...".
TIER_MARKER = re.compile(r"^extra\(")
PRIORITY_NOTE = re.compile(r"\s*\(audit:\s*(?P<priority>[^)]*)\)\s*$")


def categories_from_pyproject(pyproject: dict) -> list[Category]:
    """The bug categories: the markers registered in [tool.pytest.ini_options] markers."""
    markers = pyproject.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("markers")
    if not markers:
        raise AuditError(
            "pyproject.toml registers no pytest markers ([tool.pytest.ini_options] markers); "
            "the audit counts tests per marker"
        )
    categories = []
    for line in markers:
        if TIER_MARKER.match(line):
            continue
        match = MARKER_LINE.match(line)
        if not match:
            raise AuditError(f"pytest marker {line!r} is not 'name: description'")
        description = match.group("description")
        note = PRIORITY_NOTE.search(description)
        categories.append(
            Category(
                name=match.group("name"),
                description=PRIORITY_NOTE.sub("", description),
                priority=note.group("priority") if note else NONE,
                seed_coverage=SEED_CATEGORY_COVERAGE.get(match.group("name"), NONE),
            )
        )
    return categories


@dataclass
class CollectedTest:
    nodeid: str
    cls: str | None
    name: str  # the function's name, without parameters
    markers: tuple[str, ...]
    outcome: str = "not run"


@dataclass
class Coverage:
    lines_covered: int
    lines: int
    branches_covered: int
    branches: int

    @property
    def line_percent(self) -> float | None:
        return percent(self.lines_covered, self.lines)

    @property
    def branch_percent(self) -> float | None:
        return percent(self.branches_covered, self.branches)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Finding:
    suite: str  # the suite folder the misplaced test sits in, "05_autograd"; "" if unknown
    text: str


@dataclass
class ModuleAudit:
    number: int
    slug: str
    title: str
    suite: str  # its test folder, "tests/05_autograd"
    tests: list[CollectedTest] | None = None  # None: not collected
    coverage: Coverage | None = None
    vacuous: list[str] | None = None  # None: not checked
    failure: str = ""  # non-empty: a measurement failed, and why

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def folder(self) -> str:
        return Path(self.suite).name

    def outcomes(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for test in self.tests or []:
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return counts

    @property
    def status(self) -> str:
        if self.failure:
            return FAILED
        if self.vacuous:
            return VACUOUS
        if self.outcomes()["failed"]:
            return FAILING
        return OK


@dataclass
class Audit:
    modules: list[ModuleAudit]
    categories: list[Category]
    misplaced_source: str
    misplaced: list[Finding] = field(default_factory=list)
    misplaced_failure: str = ""  # non-empty: finding misplaced tests failed, and why
    python: str = ""
    seconds: float | None = None
    implementation: str = "reference"  # what was built: the reference, or MATRIX_IMPL's folder
    # Per module number: its planted bugs caught, from `nox -s mutants` (matrix/mutants.py).
    mutants: dict[int, str] = field(default_factory=dict)


def parse_collection(raw: list[dict]) -> list[CollectedTest]:
    """The audit plugin's --audit-tests JSON as tests."""
    return [
        CollectedTest(test["nodeid"], test["cls"], test["name"], tuple(test["markers"]))
        for test in raw
    ]


def apply_outcomes(tests: list[CollectedTest], outcomes: dict[str, str]) -> None:
    """Give each collected test its outcome from the plugin's --audit-outcomes JSON."""
    for test in tests:
        test.outcome = outcomes.get(test.nodeid, "not run")


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
    total = Coverage(0, 0, 0, 0)
    for path in files:
        installed = os.path.normcase((site_packages / path).resolve())
        summary = summaries.get(installed)
        if summary is None:
            raise AuditError(f"coverage has no data for {path} (installed as {installed})")
        total.lines_covered += summary["covered_lines"]
        total.lines += summary["num_statements"]
        total.branches_covered += summary.get("covered_branches", 0)
        total.branches += summary.get("num_branches", 0)
    return total


def count_of(tests: list[CollectedTest], category: Category) -> int:
    return sum(category.name in test.markers for test in tests)


def category_counts(tests: list[CollectedTest], categories: list[Category]) -> dict[str, int]:
    return {c.name: count_of(tests, c) for c in categories}


def categorized(tests: list[CollectedTest], categories: list[Category]) -> int:
    names = {c.name for c in categories}
    return sum(bool(names.intersection(test.markers)) for test in tests)


@dataclass
class PointStatus:
    name: str
    seed: str
    evidence: str
    tests: int
    passed: int
    failed: int
    status: str
    failing: list[str]


def point_status(point: Point, seed_module: ModuleAudit | None) -> PointStatus:
    """COVERED: tests match, none failed, at least one passed; FAILING: a matching test failed;
    MISSING: no test matches; UNPROVEN: tests match but none passed (skipped, not run);
    NOT MEASURED: the seed's module has no data."""
    evidence = point.evidence.describe()
    if seed_module is None or seed_module.tests is None or seed_module.failure:
        why = (
            f"no module {SEED_MODULE:02d}"
            if seed_module is None
            else f"module {seed_module.label} FAILED"
        )
        return PointStatus(point.name, point.seed, evidence, 0, 0, 0, f"{NOT_MEASURED} ({why})", [])
    matching = [test for test in seed_module.tests if point.evidence.matches(test)]
    passed = sum(test.outcome == "passed" for test in matching)
    failing = [test.nodeid for test in matching if test.outcome == "failed"]
    if not matching:
        status = MISSING
    elif failing:
        status = POINT_FAILING
    elif not passed:
        status = UNPROVEN
    else:
        status = COVERED
    return PointStatus(
        point.name, point.seed, evidence, len(matching), passed, len(failing), status, failing
    )


def seed_module_of(audit: Audit) -> ModuleAudit | None:
    return next((m for m in audit.modules if m.number == SEED_MODULE), None)


def misplaced_in(audit: Audit, module: ModuleAudit) -> list[Finding]:
    return [finding for finding in audit.misplaced if finding.suite == module.folder]


def problems(audit: Audit) -> list[str]:
    """What makes the audit fail; empty when it passes."""
    found = []
    for module in audit.modules:
        if module.failure:
            found.append(f"module {module.label}: measurement FAILED: {module.failure}")
            continue
        if module.vacuous:
            found.append(
                f"module {module.label}: {len(module.vacuous)} vacuous test(s) in {module.suite}"
            )
        failed = module.outcomes()["failed"]
        if failed:
            found.append(
                f"module {module.label}: {failed} test(s) of {module.suite} fail at checkpoint "
                f"{module.label}"
            )
    if audit.misplaced_failure:
        found.append(f"misplaced tests: FAILED: {audit.misplaced_failure}")
    return found


# ---------------------------------------------------------------------------------- rendering


def fmt_percent(part: int, whole: int) -> str:
    value = percent(part, whole)
    return "n/a (0 of 0)" if value is None else f"{value:.1f}% ({part}/{whole})"


def line_cell(module: ModuleAudit) -> str:
    c = module.coverage
    return NONE if c is None else fmt_percent(c.lines_covered, c.lines)


def branch_cell(module: ModuleAudit) -> str:
    c = module.coverage
    return NONE if c is None else fmt_percent(c.branches_covered, c.branches)


def status_cell(module: ModuleAudit) -> str:
    return f"{FAILED}: {module.failure}" if module.failure else module.status


def module_rows(audit: Audit) -> list[list[str]]:
    header = [
        "module", "suite", "tests", "passed/failed/skipped", "line coverage",
        "branch coverage", "vacuous", "misplaced", "planted bugs caught", "status",
    ]  # fmt: skip
    rows = [header]
    for m in audit.modules:
        counts = m.outcomes()
        rows.append(
            [
                f"{m.label} {m.title}",
                m.suite,
                NONE if m.tests is None else str(len(m.tests)),
                NONE
                if m.tests is None or counts["not run"] == len(m.tests) > 0
                else f"{counts['passed']}/{counts['failed']}/{counts['skipped']}",
                line_cell(m),
                branch_cell(m),
                NONE if m.vacuous is None else str(len(m.vacuous)),
                str(len(misplaced_in(audit, m))),
                audit.mutants.get(m.number, MUTANTS_NOT_RUN),
                status_cell(m),
            ]
        )
    return rows


def category_rows(audit: Audit) -> list[list[str]]:
    header = ["category", "seed priority", "seed coverage"]
    header += [m.label for m in audit.modules] + ["all"]
    rows = [header]

    def row(first: list[str], count_of) -> list[str]:
        values = [None if m.tests is None else count_of(m.tests) for m in audit.modules]
        total = sum(v for v in values if v is not None)
        return [*first, *(NONE if v is None else str(v) for v in values), str(total)]

    for c in audit.categories:
        rows.append(
            row([c.name, c.priority, c.seed_coverage], lambda tests, c=c: count_of(tests, c))
        )
    rows.append(row(["(any category)", NONE, NONE], lambda t: categorized(t, audit.categories)))
    rows.append(row(["(all tests)", NONE, NONE], len))
    return rows


def point_rows(statuses: list[PointStatus], first: str, seed: str) -> list[list[str]]:
    rows = [[first, seed, "evidence in suite 05", "tests", "passed", "status"]]
    rows += [[s.name, s.seed, s.evidence, str(s.tests), str(s.passed), s.status] for s in statuses]
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def totals(modules: list[ModuleAudit]) -> tuple[dict[str, int], Coverage]:
    outcomes = dict.fromkeys(OUTCOMES, 0)
    coverage = Coverage(0, 0, 0, 0)
    for m in modules:
        for key, value in m.outcomes().items():
            outcomes[key] += value
        if m.coverage:
            coverage.lines_covered += m.coverage.lines_covered
            coverage.lines += m.coverage.lines
            coverage.branches_covered += m.coverage.branches_covered
            coverage.branches += m.coverage.branches
    return outcomes, coverage


def summary_lines(audit: Audit) -> list[str]:
    """The executive summary, one measured statement a line (Markdown bullets)."""
    modules = audit.modules
    measured = [m for m in modules if not m.failure]
    outcomes, coverage = totals(measured)
    collected = sum(len(m.tests) for m in measured if m.tests is not None)
    vacuous = sum(len(m.vacuous or []) for m in modules)
    vacuity_checked = sum(m.vacuous is not None for m in modules)
    points = [point_status(p, seed_module_of(audit)) for p in INTEGRATION_POINTS]
    named = [point_status(p, seed_module_of(audit)) for p in SEED_MISSING_TESTS]
    lines = [
        f"**Status**: {'PASSED' if not problems(audit) else 'FAILED'}",
        f"**Modules measured**: {len(measured)} of {len(modules)}"
        + (
            f" ({len(modules) - len(measured)} FAILED: "
            + ", ".join(m.label for m in modules if m.failure)
            + ")"
            if len(measured) < len(modules)
            else ""
        ),
        f"**Tests** (suite N at checkpoint N, measured modules): {collected} collected, "
        f"{outcomes['passed']} passed, {outcomes['failed']} failed, {outcomes['skipped']} "
        f"skipped, {outcomes['not run']} not run",
        "**Coverage of each module's own files by its own suite** (all measured modules "
        f"together): line {fmt_percent(coverage.lines_covered, coverage.lines)}, branch "
        f"{fmt_percent(coverage.branches_covered, coverage.branches)}",
    ]
    seed = seed_module_of(audit)
    if seed is not None:
        every = (
            NONE
            if seed.tests is None
            else f"{categorized(seed.tests, audit.categories)} of {len(seed.tests)}"
        )
        lines.append(
            f"**Module {seed.label} ({seed.title}), the seed's module**: line {line_cell(seed)}, "
            f"branch {branch_cell(seed)} (the seed estimated {SEED_OVERALL_COVERAGE} test "
            f"coverage); tests in a bug category: {every}"
        )
    lines += [
        f"**Vacuous tests**: {vacuous} (suite N against checkpoint N with module N stubbed; "
        f"{vacuity_checked} of {len(modules)} modules checked)",
        "**Misplaced tests**: "
        + str(len(audit.misplaced))
        + (f", FAILED: {audit.misplaced_failure}" if audit.misplaced_failure else "")
        + f" (source: {audit.misplaced_source})",
        f"**Seed's integration points**: {count_status(points, COVERED)} of {len(points)} "
        f"COVERED, {count_status(points, MISSING)} MISSING, "
        f"{count_status(points, POINT_FAILING)} FAILING",
        f"**Tests the seed named as missing**: {count_status(named, COVERED)} of {len(named)} "
        f"COVERED, {count_status(named, MISSING)} MISSING, "
        f"{count_status(named, POINT_FAILING)} FAILING",
    ]
    return lines


def count_status(statuses: list[PointStatus], status: str) -> int:
    return sum(s.status == status for s in statuses)


def render_markdown(audit: Audit) -> str:
    seed = seed_module_of(audit)
    points = [point_status(p, seed) for p in INTEGRATION_POINTS]
    named = [point_status(p, seed) for p in SEED_MISSING_TESTS]
    found = problems(audit)
    timing = f" in {audit.seconds:.0f}s" if audit.seconds is not None else ""
    out = [
        "# Test audit (measured)",
        "",
        f"Generated by `nox -s audit` on Python {audit.python or '?'}{timing} for the "
        f"{audit.implementation} implementation. Structured like "
        f"{SEED} (the seed); every number here is measured, each suite at its own checkpoint.",
        "",
        "## Executive summary",
        "",
        *[f"- {line}" for line in summary_lines(audit)],
    ]
    if found:
        out += ["", "### Problems (the audit fails)", "", *[f"- {p}" for p in found]]
    out += [
        "",
        "## Per module",
        "",
        "Suite N at checkpoint N. Coverage: the installed copies of module N's own files "
        "(matrix/modules.toml) under suite N only, lines and branches. Vacuous: tests of suite "
        "N that do not fail with module N stubbed (must be 0). Planted bugs caught: the "
        "module's mutants (mutants/NN_*.toml) that made a checkpoint fail in the last `nox -s "
        "mutants`, which fails on any other; reported here, not failed on.",
        "",
        markdown_table(module_rows(audit)),
        "",
        "## Bug-category matrix",
        "",
        "Tests per bug category (pytest marker of pyproject.toml) in suite N at checkpoint N; a "
        "test with two markers counts in both. Seed priority and coverage are the seed's "
        "own (estimated) figures. `-`: the module was not collected.",
        "",
        markdown_table(category_rows(audit)),
        "",
        f"## Integration points (module {SEED_MODULE:02d})",
        "",
        "The seed's seven critical integration points, each answered by the tests of suite "
        f"{SEED_MODULE:02d} that match its evidence, with their outcomes at checkpoint "
        f"{SEED_MODULE:02d}. COVERED: tests match and every one that ran passed; FAILING: one "
        "failed; MISSING: no test matches; UNPROVEN: tests match but none passed.",
        "",
        markdown_table(point_rows(points, "integration point", "seed coverage")),
        "",
        "## Tests the seed named as missing",
        "",
        markdown_table(point_rows(named, "missing test (seed)", "seed section")),
    ]
    failing = [(s.name, nodeid) for s in points + named for nodeid in s.failing]
    if failing:
        out += ["", "Failing evidence:", "", *[f"- {name}: `{n}`" for name, n in failing]]
    out += ["", "## Misplaced tests", "", f"Source: {audit.misplaced_source}.", ""]
    if audit.misplaced_failure:
        out += [f"FAILED: {audit.misplaced_failure}", ""]
    if audit.misplaced:
        out += [f"- {finding.text}" for finding in audit.misplaced]
    elif not audit.misplaced_failure:
        out.append("None found.")
    out += ["", "## Vacuous tests", ""]
    vacuous = [(m, name) for m in audit.modules for name in m.vacuous or []]
    unchecked = [m.label for m in audit.modules if m.vacuous is None]
    out += [f"- module {m.label}: `{name}`" for m, name in vacuous] or ["None."]
    if unchecked:
        out += ["", f"Not checked (measurement FAILED): modules {', '.join(unchecked)}."]
    return "\n".join(out) + "\n"


def render_terminal_summary(audit: Audit) -> str:
    lines = ["audit: " + line.replace("**", "") for line in summary_lines(audit)]
    lines += ["", render_terminal(module_rows(audit))]
    lines += [f"audit problem: {p}" for p in problems(audit)]
    return "\n".join(lines)


def audit_document(audit: Audit) -> dict:
    """The JSON form: the same data as the Markdown."""
    seed = seed_module_of(audit)
    modules = []
    for m in audit.modules:
        coverage = None
        if m.coverage is not None:
            coverage = {
                **asdict(m.coverage),
                "line_percent": m.coverage.line_percent,
                "branch_percent": m.coverage.branch_percent,
            }
        modules.append(
            {
                "number": m.number,
                "slug": m.slug,
                "title": m.title,
                "suite": m.suite,
                "status": m.status,
                "failure": m.failure,
                "tests": None if m.tests is None else len(m.tests),
                "outcomes": None if m.tests is None else m.outcomes(),
                "categories": None
                if m.tests is None
                else category_counts(m.tests, audit.categories),
                "categorized": None if m.tests is None else categorized(m.tests, audit.categories),
                "coverage": coverage,
                "vacuous": m.vacuous,
                "misplaced": [f.text for f in misplaced_in(audit, m)],
                "planted_bugs_caught": audit.mutants.get(m.number, MUTANTS_NOT_RUN),
            }
        )
    return {
        "status": "failed" if problems(audit) else "passed",
        "problems": problems(audit),
        "implementation": audit.implementation,
        "python": audit.python,
        "seconds": audit.seconds,
        "seed": {"module": SEED_MODULE, "coverage_estimate": SEED_OVERALL_COVERAGE},
        "categories": [asdict(c) for c in audit.categories],
        "modules": modules,
        "misplaced": {
            "source": audit.misplaced_source,
            "failure": audit.misplaced_failure,
            "findings": [asdict(f) for f in audit.misplaced],
        },
        "integration_points": [asdict(point_status(p, seed)) for p in INTEGRATION_POINTS],
        "seed_missing_tests": [asdict(point_status(p, seed)) for p in SEED_MISSING_TESTS],
    }


def write_audit(root: Path, audit: Audit) -> tuple[str, bool]:
    """Write reports/audit.md and reports/audit.json; return the summary and whether it passed."""
    markdown = render_markdown(audit)
    write_atomically(root / MARKDOWN_PATH, markdown)
    write_atomically(root / JSON_PATH, json.dumps(audit_document(audit), indent=2) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as step_summary:
            step_summary.write(markdown)
    return render_terminal_summary(audit), not problems(audit)


# ------------------------------------------------------------------------- misplaced tests

SUITE_IN_PATH = re.compile(r"tests/(\d{2}_[a-z][a-z0-9_]*)/")
MISPLACED_MODULE = "matrix.misplaced"


def as_finding(raw: object) -> Finding:
    """One finding of matrix.misplaced.find_misplaced as a Finding.

    Its text is its describe() if it has one, else str(); its suite is read from a path-like
    attribute (path, file, nodeid) or else from the text.
    """
    if isinstance(raw, Finding):
        return raw
    describe = getattr(raw, "describe", None)
    text = str(describe()) if callable(describe) else str(raw)
    where = next(
        (str(getattr(raw, a)) for a in ("path", "file", "nodeid") if getattr(raw, a, None)), ""
    )
    match = SUITE_IN_PATH.search(where.replace("\\", "/")) or SUITE_IN_PATH.search(text)
    return Finding(match.group(1) if match else "", text)


def misplaced_findings(
    manifest: Manifest, module_name: str = MISPLACED_MODULE
) -> tuple[str, list[Finding], str]:
    """(source, findings, failure): the one place the audit gets misplaced tests from.

    `module_name`'s find_misplaced(manifest) (matrix/misplaced.py), which returns the findings
    or (findings, unparsable files); an unparsable file, a missing module or an error raised
    is a failure the report shows (the audit then fails).
    """
    source = f"{module_name}.find_misplaced"
    if importlib.util.find_spec(module_name) is None:
        return source, [], f"{module_name} does not exist"
    try:
        result = importlib.import_module(module_name).find_misplaced(manifest)
    except Exception as error:  # reported as a FAILED section, never lost
        return source, [], f"{type(error).__name__}: {error}"
    unparsable: list[str] = []
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):
        result, unparsable = result
    findings = [as_finding(raw) for raw in result]
    failure = f"could not parse {', '.join(map(str, unparsable))}" if unparsable else ""
    return source, findings, failure


# ------------------------------------------------------------------------------ measurement


def run_audit(session: nox.Session, manifest: Manifest, pyproject: dict) -> None:
    """The `audit` nox session: measure every module in this one environment, then report.

    One environment serves every checkpoint: each `session.install` of the next checkpoint's
    wheel replaces the installed tinytorch (every wheel has its own version), and each
    installed version is checked before it is measured.
    """
    started = time.perf_counter()
    session.install(*nox.project.dependency_groups(pyproject, "test", "audit"))
    plugin_dir = Path(session.create_tmp()) / "audit-plugin"
    plugin_dir.mkdir(exist_ok=True)
    shutil.copyfile(PLUGIN, plugin_dir / "audit_plugin.py")
    categories = categories_from_pyproject(pyproject)
    try:
        impl = implementation_from_env(manifest)
    except ImplError as error:
        session.error(str(error))
    modules = [
        measure_module(session, manifest, module.number, pyproject, plugin_dir, impl)
        for module in manifest.modules
    ]
    python = session.run(
        "python", "-I", "-c", "import platform; print(platform.python_version())", silent=True
    ).strip()
    source, findings, failure = misplaced_findings(manifest)
    audit = Audit(
        modules=modules,
        categories=categories,
        misplaced_source=source,
        misplaced=findings,
        misplaced_failure=failure,
        python=".".join(python.split(".")[:2]),
        seconds=round(time.perf_counter() - started, 1),
        implementation=impl.label,
        mutants=catch_cells(manifest.root, manifest.numbers),
    )
    text, passed = write_audit(manifest.root, audit)
    print(text, flush=True)
    session.log(f"wrote {MARKDOWN_PATH} and {JSON_PATH}")
    if not passed:
        session.error("the audit found problems (listed above)")


def measure_module(
    session: nox.Session,
    manifest: Manifest,
    number: int,
    pyproject: dict,
    plugin_dir: Path,
    impl: Implementation,
) -> ModuleAudit:
    """Collect, cover and vacuity-check suite N at checkpoint N; a failure is recorded, not lost."""
    module = manifest.module(number)
    result = ModuleAudit(number, module.slug, module.title, module.tests)
    work = manifest.root / WORK_DIR
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
            "pytest", "--collect-only", "-q", "-p", "audit_plugin",
            f"--audit-tests={collection}", module.tests,
            env=env, silent=True, success_codes=[0, 5],
        )  # fmt: skip
        result.tests = parse_collection(read_json(collection, "the collected tests"))

        step = "coverage"
        outcomes.unlink(missing_ok=True)
        report.unlink(missing_ok=True)
        session.run(
            "pytest", "-n", "auto", "-q", "-p", "audit_plugin", f"--audit-outcomes={outcomes}",
            f"--cov={site_packages / 'tinytorch'}", "--cov-branch",
            f"--cov-report=json:{report}", module.tests,
            env=env, success_codes=[0, 1, 5],
        )  # fmt: skip
        apply_outcomes(result.tests, read_json(outcomes, "the test outcomes"))
        result.coverage = coverage_of(
            module.files, read_json(report, "the coverage report"), site_packages, manifest.root
        )

        step = "vacuity"
        vacuity = check_vacuity(session, manifest, number, pyproject, impl=impl)
        unjudged = [f"{file} (not collected)" for file in vacuity.unjudged]
        result.vacuous = [*vacuity.vacuous, *unjudged]
    except CommandFailed as error:
        result.failure = f"{step}: {error.reason or 'command failed'} (see the session log)"
    except (AuditError, BuildError, ImplError, VacuityError) as error:
        result.failure = f"{step}: {str(error).splitlines()[0]}"
    session.log(f"audit of module {result.label}: {status_cell(result)}")
    return result


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
