"""The one reader of pytest's JUnit XML: each testcase read once into a Case, and everything a
consumer needs (counts per suite, failing or skipped tests, files that failed to import)
derived from those Cases."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from matrix.records import (
    CHECKPOINT_SUITE,
    ExtrasCount,
    RecordError,
    SuiteCount,
    rerun_hint,
)

SUITE_FOLDER = re.compile(r"^\d{2}_")
# tests/conftest.py: the JUnit property that marks a test of an extra, and the start of the
# skip reason of one whose extra the implementation lacks (tests/support/reference_extras.py).
TIER_PROPERTY = "tier"
EXTRA_TIER = "extra"
EXTRA_MISSING = "extra missing:"


@dataclass(frozen=True)
class Case:
    """One JUnit testcase: a test, or a test file pytest could not import (`uncollectable`)."""

    classname: str
    name: str
    failed: bool  # a failure or an error
    skipped: bool
    message: str  # the failure's message and text, or the skip's reason
    tier: str  # EXTRA_TIER for a test of an extra
    seconds: float
    uncollectable: bool

    @property
    def id(self) -> str:
        return f"{self.classname}::{self.name}"

    @property
    def file(self) -> str:
        """The test file it came from: 'tests/01_tensor/test_x.py'.

        A file pytest could not import is a testcase with no class, named by its dotted path."""
        parts = (self.classname or self.name).split(".")
        for position, part in enumerate(parts):
            if part.startswith("test_"):
                return "/".join(parts[: position + 1]) + ".py"
        return "/".join(parts) + ".py"

    @property
    def suite(self) -> str:
        return suite_of(self.classname or self.name)


def suite_of(dotted: str) -> str:
    """'tests.01_tensor.test_x.TestY' -> '01_tensor'; 'tests.test_guard' -> the guard suite."""
    parts = dotted.split(".")
    if len(parts) > 2 and SUITE_FOLDER.match(parts[1]):
        return parts[1]
    return CHECKPOINT_SUITE


def _case(element: ElementTree.Element) -> Case:
    problems = element.findall("failure") + element.findall("error")
    skip = element.find("skipped")
    if problems:
        message = " ".join((p.get("message") or "") + (p.text or "") for p in problems)
    elif skip is not None:
        message = (skip.get("message") or skip.get("type") or "").strip()
    else:
        message = ""
    tier = next(
        (p.get("value", "") for p in element.iter("property") if p.get("name") == TIER_PROPERTY),
        "",
    )
    return Case(
        classname=element.get("classname") or "",
        name=element.get("name") or "",
        failed=bool(problems),
        skipped=skip is not None and not problems,
        message=message,
        tier=tier,
        seconds=float(element.get("time", 0) or 0),
        uncollectable=not element.get("classname") and bool(element.findall("error")),
    )


def read_cases(path: Path) -> list[Case]:
    """Every testcase of a JUnit XML file; RecordError naming the file when it is truncated or
    not XML."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        line, column = error.position
        raise RecordError(
            f"{path} is not valid XML at line {line}, column {column} "
            f"({str(error).split(':')[0]}; truncated?): {rerun_hint(path)}"
        ) from None
    return [_case(element) for element in root.iter("testcase")]


def tests_not_failing(path: Path) -> list[str]:
    """The tests that passed or were skipped, as class::name."""
    return [case.id for case in read_cases(path) if not case.failed]


def course_tests_skipped(path: Path) -> list[tuple[str, str]]:
    """The course-API tests that skipped or xfailed, as (class::name, reason).

    A test of an extra that the implementation lacks ("extra missing: ...") is not one of them:
    that skip is how the matrix reports a missing extra."""
    return [
        (case.id, case.message or "no reason")
        for case in read_cases(path)
        if case.skipped and case.tier != EXTRA_TIER
    ]


def tests_failing(path: Path) -> list[str]:
    """The tests that failed or errored, as class::name; an uncollectable file as its path,
    which is what whoever fixes it needs."""
    return [
        f"{case.file} (could not be collected)" if case.uncollectable else case.id
        for case in read_cases(path)
        if case.failed
    ]


@dataclass
class JunitCounts:
    """What one JUnit file says, counted (read_junit)."""

    suites: dict[str, SuiteCount]  # course-API tests (and the guard), per suite
    extras: ExtrasCount
    files: dict[str, int]  # tests per test file that was collected
    uncollectable: list[str]  # test files pytest could not import
    timed_out: list[str]  # names of the failed tests whose failure is pytest-timeout's
    crashed: list[str]  # names of the failed tests whose xdist worker crashed under them


def read_junit(path: Path) -> JunitCounts:
    """Count outcomes per suite and the extras apart; name uncollectable files, the tests
    that timed out and those a crashed worker took down."""
    counts = JunitCounts({}, ExtrasCount(), {}, [], [], [])
    for case in read_cases(path):
        if case.failed and "Timeout" in case.message:
            counts.timed_out.append(case.name)
        elif case.failed and "crashed" in case.message:
            counts.crashed.append(case.name)
        if case.uncollectable:
            # Charged to the file's own suite, never the guard; the tests it held are added
            # by the session (lost_tests), which knows where to look them up.
            counts.uncollectable.append(case.file)
            counts.suites.setdefault(suite_of(case.name), SuiteCount()).failed += 1
            continue
        counts.files[case.file] = counts.files.get(case.file, 0) + 1
        if case.tier == EXTRA_TIER:
            if case.skipped and case.message.startswith(EXTRA_MISSING):
                counts.extras.missing += 1
            elif case.failed or case.skipped:
                counts.extras.failed += 1  # an extra test never skips for another reason
            else:
                counts.extras.passed += 1
            continue
        count = counts.suites.setdefault(suite_of(case.classname), SuiteCount())
        count.seconds += case.seconds
        if case.failed:
            count.failed += 1
        elif case.skipped:
            count.skipped += 1
        else:
            count.passed += 1
    for count in counts.suites.values():
        count.seconds = round(count.seconds, 3)
    return counts
