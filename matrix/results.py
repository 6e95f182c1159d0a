"""What one checkpoint run left behind: its record (JSON) and its JUnit XML, read per suite.

Every checkpoint session writes a record whatever happens (built, installed, tested, or where
it stopped), so the report can show a crashed or uninstallable checkpoint instead of losing it.
Files are written to a temporary name and renamed, so a killed run never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.impl import IMPL_ENV, implementation_key, is_reference
from matrix.run_identity import RunIdentity

REPORTS_ENV = "MATRIX_REPORTS_DIR"


def reports_dir_for(impl: str | None) -> Path:
    """Where runs of an implementation (a MATRIX_IMPL value; None: the reference) are kept.

    Relative to the repo root. MATRIX_REPORTS_DIR moves it (the benchmark's runs go
    elsewhere); another implementation's runs get reports/impl/<key>/, so testing a learner's
    package never overwrites the reference's records, nor those of another learner.
    """
    explicit = os.environ.get(REPORTS_ENV)
    if explicit:
        return Path(explicit)
    if impl and not is_reference(impl):
        return Path("reports") / "impl" / implementation_key(impl)
    return Path("reports")


REPORTS_DIR = reports_dir_for(os.environ.get(IMPL_ENV))
RUNS_DIR = REPORTS_DIR / "runs"
JUNIT_DIR = REPORTS_DIR / "junit"
DIGEST_CHARS = 12
TEST_FUNCTION = re.compile(r"^\s*(?:async\s+)?def\s+test", re.MULTILINE)
SUITE_FOLDER = re.compile(r"^\d{2}_")
# Tests that sit directly in tests/ (the checkpoint guard) are reported as this suite.
CHECKPOINT_SUITE = "guard"

PASSED = "passed"
FAILED = "failed"
BUILD_FAILED = "build failed"
INSTALL_FAILED = "install failed"
CRASHED = "crashed"
TIMED_OUT = "timed out"
NO_TESTS = "no tests"
NOT_RUN = "not run"
# A record of another commit, or of an earlier nox run than the one reporting: shown, not counted.
STALE = "stale"
# tests/conftest.py: the JUnit property that marks a test of an extra, and the start of the
# skip reason of one whose extra the implementation lacks (tests/support/reference_extras.py).
TIER_PROPERTY = "tier"
EXTRA_MISSING = "extra missing:"
# pytest's exit codes (pytest.ExitCode) that mean the run itself broke, not a test.
PYTEST_BROKE = {2: "interrupted", 3: "internal error", 4: "usage error"}


@dataclass
class SuiteCount:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0


@dataclass
class ExtrasCount:
    """Tests of the reference's extras (tests marked `extra`), counted apart from the suites.

    `missing`: the implementation lacks the extra (skipped as "extra missing: ..." under
    --extras=optional), which never fails a checkpoint; `failed` counts like any failure."""

    passed: int = 0
    failed: int = 0
    missing: int = 0

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.missing} missing"


@dataclass
class JunitCounts:
    """What one JUnit file says, read once (read_junit)."""

    suites: dict[str, SuiteCount]  # course-API tests (and the guard), per suite
    extras: ExtrasCount
    files: dict[str, int]  # tests per test file that was collected
    uncollectable: list[str]  # test files pytest could not import
    timed_out: list[str]  # names of the failed tests whose failure is pytest-timeout's
    crashed: list[str]  # names of the failed tests whose xdist worker crashed under them


@dataclass
class CheckpointRun:
    checkpoint: int
    python: str
    status: str
    detail: str = ""
    install_seconds: float | None = None
    test_seconds: float | None = None
    suites: dict[str, SuiteCount] = field(default_factory=dict)
    numpy: str = ""
    # "oldest" when the run installed the oldest numpy pyproject allows (MATRIX_NUMPY=oldest).
    numpy_choice: str = "latest"
    # Which tinytorch was built into the wheel: "reference" or a package folder (MATRIX_IMPL),
    # and the digest of its module files (matrix/impl.py).
    implementation: str = "reference"
    implementation_digest: str = ""
    extras: ExtrasCount = field(default_factory=ExtrasCount)
    files: dict[str, int] = field(default_factory=dict)
    # Test files that could not be collected, with the tests each held where it last collected
    # ("at least N" from its source when no run of these tests says: lost_tests).
    uncollectable: dict[str, str] = field(default_factory=dict)
    tests_digest: str = ""
    # Where and when the run happened (matrix/run_identity.py); "" in records older than that.
    commit: str = ""
    run_id: str = ""
    started: str = ""

    @property
    def key(self) -> str:
        return run_key(self.checkpoint, self.python, self.numpy_choice)

    @property
    def identity(self) -> RunIdentity:
        return RunIdentity(self.commit, self.run_id, self.started)


def run_key(checkpoint: int, python: str, numpy_choice: str = "latest") -> str:
    suffix = "" if numpy_choice == "latest" else f"-numpy-{numpy_choice}"
    return f"checkpoint-{checkpoint:02d}-py{python}{suffix}"


def save_run(root: Path, run: CheckpointRun) -> Path:
    path = root / RUNS_DIR / f"{run.key}.json"
    write_atomically(path, json.dumps(asdict(run), indent=2) + "\n")
    return path


def load_run(path: Path) -> CheckpointRun:
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["suites"] = {name: SuiteCount(**count) for name, count in raw["suites"].items()}
    raw["extras"] = ExtrasCount(**raw.get("extras", {}))
    return CheckpointRun(**raw)


def load_runs(root: Path, runs_dir: Path = RUNS_DIR) -> list[CheckpointRun]:
    return [load_run(path) for path in sorted((root / runs_dir).glob("checkpoint-*.json"))]


def suite_of(classname: str) -> str:
    """'tests.01_tensor.test_x.TestY' -> '01_tensor'; 'tests.test_guard' -> the guard suite."""
    parts = classname.split(".")
    if len(parts) > 2 and SUITE_FOLDER.match(parts[1]):
        return parts[1]
    return CHECKPOINT_SUITE


def file_of(case: ElementTree.Element) -> str:
    """The test file a JUnit testcase came from: 'tests/01_tensor/test_x.py'.

    A file pytest could not import is a testcase with no class, named by its dotted path."""
    dotted = case.get("classname") or case.get("name", "")
    parts = dotted.split(".")
    for position, part in enumerate(parts):
        if part.startswith("test_"):
            return "/".join(parts[: position + 1]) + ".py"
    return "/".join(parts) + ".py"


def _is_uncollectable(case: ElementTree.Element) -> bool:
    return not case.get("classname") and bool(case.findall("error"))


def tests_not_failing(path: Path) -> list[str]:
    """The tests of a JUnit XML file that passed or were skipped, as class::name."""
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ElementTree.parse(path).getroot().iter("testcase")
        if not (case.findall("failure") or case.findall("error"))
    ]


def course_tests_skipped(path: Path) -> list[tuple[str, str]]:
    """The course-API tests of a JUnit XML file that skipped or xfailed, as (class::name, reason).

    A test of an extra that the implementation lacks ("extra missing: ...") is not one of them:
    that skip is how the matrix reports a missing extra."""
    skipped = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is not None and _tier(case) != "extra":
            reason = (skip.get("message") or skip.get("type") or "no reason").strip()
            skipped.append((f"{case.get('classname')}::{case.get('name')}", reason))
    return skipped


def tests_failing(path: Path) -> list[str]:
    """The tests of a JUnit XML file that failed or errored, as class::name.

    An uncollectable file is given as the file's path, which is what whoever fixes it needs.
    """
    failing = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        if _is_uncollectable(case):
            failing.append(f"{file_of(case)} (could not be collected)")
        elif case.findall("failure") or case.findall("error"):
            failing.append(f"{case.get('classname')}::{case.get('name')}")
    return failing


def _tier(case: ElementTree.Element) -> str:
    for prop in case.iter("property"):
        if prop.get("name") == TIER_PROPERTY:
            return prop.get("value", "")
    return ""


def read_junit(path: Path) -> JunitCounts:
    """Count outcomes per suite and the extras apart; name uncollectable files, the tests
    that timed out and those a crashed worker took down."""
    counts = JunitCounts({}, ExtrasCount(), {}, [], [], [])
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        problems = case.findall("failure") + case.findall("error")
        skipped = case.find("skipped")
        message = " ".join((p.get("message") or "") + (p.text or "") for p in problems)
        if "Timeout" in message:
            counts.timed_out.append(case.get("name", ""))
        elif "crashed" in message:
            counts.crashed.append(case.get("name", ""))
        if _is_uncollectable(case):
            # Charged to the file's own suite, never the guard; the tests it held are added
            # by the session (lost_tests), which knows where to look them up.
            counts.uncollectable.append(file_of(case))
            counts.suites.setdefault(suite_of(case.get("name", "")), SuiteCount()).failed += 1
            continue
        counts.files[file_of(case)] = counts.files.get(file_of(case), 0) + 1
        if _tier(case) == "extra":
            if problems:
                counts.extras.failed += 1
            elif skipped is not None and (skipped.get("message") or "").startswith(EXTRA_MISSING):
                counts.extras.missing += 1
            elif skipped is not None:
                counts.extras.failed += 1  # an extra test never skips for another reason
            else:
                counts.extras.passed += 1
            continue
        count = counts.suites.setdefault(suite_of(case.get("classname", "")), SuiteCount())
        count.seconds += float(case.get("time", 0) or 0)
        if problems:
            count.failed += 1
        elif skipped is not None:
            count.skipped += 1
        else:
            count.passed += 1
    for count in counts.suites.values():
        count.seconds = round(count.seconds, 3)
    return counts


NAMED_AT_MOST = 5


def failed_run_status(counts: JunitCounts) -> tuple[str, str]:
    """A failed run's status and detail. Tests that timed out or crashed are named, and the
    other failures counted beside them, so neither hides the other."""
    failed = sum(count.failed for count in counts.suites.values()) + counts.extras.failed
    other = failed - len(counts.timed_out) - len(counts.crashed)
    parts = [f"{other} failed"] if other > 0 and (counts.timed_out or counts.crashed) else []
    for word, tests in ((TIMED_OUT, counts.timed_out), (CRASHED, counts.crashed)):
        if tests:
            named = ", ".join(tests[:NAMED_AT_MOST])
            more = f" and {len(tests) - NAMED_AT_MOST} more" if len(tests) > NAMED_AT_MOST else ""
            parts.append(f"{len(tests)} {word} ({named}{more})")
    if other <= 0 and bool(counts.timed_out) != bool(counts.crashed):
        return (TIMED_OUT if counts.timed_out else CRASHED), "; ".join(parts)
    return FAILED, "; ".join(parts)


def tests_digest(root: Path) -> str:
    """sha256 of every file under tests/: records with equal digests ran the same tests."""
    digest = hashlib.sha256()
    for path in sorted((root / "tests").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def static_test_count(path: Path) -> int:
    """Test functions in a file, read line by line from its source (which may not even parse):
    a floor on the tests it holds (each parametrize case counts once); 0 if unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return len(TEST_FUNCTION.findall(text))


def charge_uncollectable(root: Path, run: CheckpointRun, files: list[str]) -> None:
    """Charge each uncollectable file's tests to its suite as failed, and name them.

    The count is the tests the file held in the newest reference run of the same tests (same
    digest) that collected it, or else "at least N" read from its source: never fewer than
    were lost. read_junit has already charged one failure per file."""
    known: dict[str, int] = {}
    for earlier in load_runs(root, reports_dir_for(None) / RUNS_DIR.name):
        if earlier.tests_digest == run.tests_digest:
            known.update(earlier.files)
    for file in files:
        if file in known:
            lost, words = known[file], str(known[file])
        else:
            lost = static_test_count(root / file)
            words = f"at least {lost}"
        run.uncollectable[file] = words
        run.suites[suite_of(file.removesuffix(".py").replace("/", "."))].failed += max(lost - 1, 0)
