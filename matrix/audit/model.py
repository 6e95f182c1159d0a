"""What the audit measured, and what it makes of it: the records and their judging.

Records: a module's collected tests, coverage and vacuity (ModuleAudit), the bug categories,
the seed audit's questions (Seed, Point, Evidence) and the whole Audit. Judging: each module's
status, each seed question's status at the seed's checkpoint, and the problems that fail the
audit. Pure: data in, data out; measure.py makes the records, render.py prints them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from matrix.misplaced import Misplaced
from matrix.records import Words

# Module statuses (per-module table) and evidence statuses (the seed's questions).
OK, VACUOUS, FAILING, FAILED = "ok", "vacuous", "failing", "FAILED"
COVERED, MISSING, UNPROVEN = "COVERED", "MISSING", "UNPROVEN"
POINT_FAILING, NOT_MEASURED = "FAILING", "NOT MEASURED"


class Outcome(Words):
    """What became of one collected test of suite N at checkpoint N."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_RUN = "not run"


OUTCOMES = tuple(Outcome)
NOT_RUN = Outcome.NOT_RUN
NONE = "-"


class AuditError(RuntimeError):
    """A measurement could not be made; the message says which and why."""


@dataclass(frozen=True)
class CollectedTest:
    nodeid: str
    cls: str | None
    name: str  # the function's name, without parameters
    markers: tuple[str, ...]
    outcome: str = NOT_RUN


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
    """One question of the seed: an integration point, or a test it names as missing."""

    name: str
    seed: str  # what the seed says about it (its coverage estimate, or where it names it)
    evidence: Evidence


@dataclass(frozen=True)
class Seed:
    """The seed audit: the hand-written audit of one module's suite that this one measures."""

    source: str  # its file, relative to the repository root
    module: int  # the module whose suite folder holds it
    description: str
    overall_coverage: str  # its estimate for the whole module
    # Per bug category (pytest marker): its coverage estimate.
    category_coverage: Mapping[str, str]
    integration_points: tuple[Point, ...]
    missing_tests: tuple[Point, ...]

    @property
    def label(self) -> str:
        return f"{self.module:02d}"


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


def categories_from_pyproject(pyproject: dict, seed: Seed | None) -> tuple[Category, ...]:
    """The bug categories: the markers registered in [tool.pytest.ini_options] markers, with
    the seed's coverage estimate for each."""
    markers = pyproject.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("markers")
    if not markers:
        raise AuditError(
            "pyproject.toml registers no pytest markers ([tool.pytest.ini_options] markers); "
            "the audit counts tests per marker"
        )
    estimates = seed.category_coverage if seed else {}
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
                seed_coverage=estimates.get(match.group("name"), NONE),
            )
        )
    unknown = sorted(set(estimates) - {category.name for category in categories})
    if unknown:
        raise AuditError(
            f"{seed.source}: category_coverage: {', '.join(unknown)} is no pytest marker of "
            "pyproject.toml; name a registered marker, or register it"
        )
    return tuple(categories)


@dataclass(frozen=True)
class Coverage:
    lines_covered: int
    lines: int
    branches_covered: int
    branches: int

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(
            self.lines_covered + other.lines_covered,
            self.lines + other.lines,
            self.branches_covered + other.branches_covered,
            self.branches + other.branches,
        )

    @property
    def line_percent(self) -> float | None:
        return percent(self.lines_covered, self.lines)

    @property
    def branch_percent(self) -> float | None:
        return percent(self.branches_covered, self.branches)


NO_COVERAGE = Coverage(0, 0, 0, 0)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class ModuleAudit:
    number: int
    slug: str
    title: str
    suite: str  # its test folder, "tests/05_autograd"
    tests: tuple[CollectedTest, ...] | None = None  # None: not collected
    coverage: Coverage | None = None
    vacuous: tuple[str, ...] | None = None  # None: not checked
    failure: str = ""  # non-empty: a measurement failed, and why

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def folder(self) -> str:
        return Path(self.suite).name

    def outcomes(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for test in self.tests or ():
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        return counts

    @property
    def status(self) -> str:
        if self.failure:
            return FAILED
        if self.vacuous:
            return VACUOUS
        if self.outcomes()[Outcome.FAILED]:
            return FAILING
        return OK


@dataclass(frozen=True)
class Audit:
    modules: tuple[ModuleAudit, ...]
    categories: tuple[Category, ...]
    seed: Seed | None
    misplaced_source: str
    misplaced: tuple[Misplaced, ...] = ()
    misplaced_failure: str = ""  # non-empty: finding misplaced tests failed, and why
    python: str = ""
    seconds: float | None = None
    implementation: str = "reference"  # what was built: the reference, or MATRIX_IMPL's folder
    # Per module number: its planted bugs caught, from `nox -s mutants` (matrix/mutants.py).
    mutants: Mapping[int, str] = field(default_factory=dict)


def count_of(tests: tuple[CollectedTest, ...], category: Category) -> int:
    return sum(category.name in test.markers for test in tests)


def category_counts(
    tests: tuple[CollectedTest, ...], categories: tuple[Category, ...]
) -> dict[str, int]:
    return {c.name: count_of(tests, c) for c in categories}


def categorized(tests: tuple[CollectedTest, ...], categories: tuple[Category, ...]) -> int:
    names = {c.name for c in categories}
    return sum(bool(names.intersection(test.markers)) for test in tests)


@dataclass(frozen=True)
class PointStatus:
    name: str
    seed: str
    evidence: str
    tests: int
    passed: int
    failed: int
    status: str
    failing: tuple[str, ...]


def point_status(point: Point, seed: Seed, seed_module: ModuleAudit | None) -> PointStatus:
    """COVERED: tests match, none failed, at least one passed; FAILING: a matching test failed;
    MISSING: no test matches; UNPROVEN: tests match but none passed (skipped, not run);
    NOT MEASURED: the seed's module has no data."""
    evidence = point.evidence.describe()
    if seed_module is None or seed_module.tests is None or seed_module.failure:
        why = f"module {seed.label} FAILED" if seed_module else f"no module {seed.label}"
        return PointStatus(point.name, point.seed, evidence, 0, 0, 0, f"{NOT_MEASURED} ({why})", ())
    matching = [test for test in seed_module.tests if point.evidence.matches(test)]
    passed = sum(test.outcome == Outcome.PASSED for test in matching)
    failing = tuple(test.nodeid for test in matching if test.outcome == Outcome.FAILED)
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
    if audit.seed is None:
        return None
    return next((m for m in audit.modules if m.number == audit.seed.module), None)


def integration_statuses(audit: Audit) -> list[PointStatus]:
    """The seed's integration points at the seed's checkpoint; none without a seed."""
    if audit.seed is None:
        return []
    seed_module = seed_module_of(audit)
    return [point_status(p, audit.seed, seed_module) for p in audit.seed.integration_points]


def missing_test_statuses(audit: Audit) -> list[PointStatus]:
    """The tests the seed named as missing, at the seed's checkpoint; none without a seed."""
    if audit.seed is None:
        return []
    seed_module = seed_module_of(audit)
    return [point_status(p, audit.seed, seed_module) for p in audit.seed.missing_tests]


def misplaced_in(audit: Audit, module: ModuleAudit) -> list[Misplaced]:
    return [finding for finding in audit.misplaced if finding.folder == module.number]


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
        failed = module.outcomes()[Outcome.FAILED]
        if failed:
            found.append(
                f"module {module.label}: {failed} test(s) of {module.suite} fail at checkpoint "
                f"{module.label}"
            )
    if audit.misplaced_failure:
        found.append(f"misplaced tests: FAILED: {audit.misplaced_failure}")
    return found
