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
import types
import typing
import xml.etree.ElementTree as ElementTree
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.impl import IMPL_ENV, REPORTS_ENV, Implementation, implementation_key, is_reference
from matrix.manifest import Manifest
from matrix.run_identity import RunIdentity


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
# A record that cannot be read, or whose claims do not hold: it fails the verdict, never stale.
INVALID_RECORD = "invalid record"
# A run CI expected (MATRIX_EXPECTED_RUNS) whose job left no record: lost, not passed.
NO_RECORD = "no record"
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
    # Module files of the checkpoint that do not compile ("line N: message"), each charged to
    # its module's suite (charge_broken_modules): nothing of the package can be imported.
    broken_modules: dict[str, str] = field(default_factory=dict)
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


# run_key's shape, read back from a record's file name: checkpoint, python, numpy choice.
RUN_KEY = re.compile(r"checkpoint-(\d+)-py(.+?)(?:-numpy-(.+))?")


class RecordError(ValueError):
    """A run record or JUnit file that cannot be read: the message names the file, what is
    wrong with it and how to get a good one."""


def rerun_hint(path: Path) -> str:
    """How to replace a checkpoint's record or JUnit file: rerun the session that writes it."""
    key = RUN_KEY.fullmatch(path.stem)
    session = f"`nox -s module{int(key[1]):02d}`" if key else "the nox session that wrote it"
    return f"rerun {session} to write it again, or delete it"


def save_run(root: Path, run: CheckpointRun) -> Path:
    path = root / RUNS_DIR / f"{run.key}.json"
    write_atomically(path, json.dumps(asdict(run), indent=2) + "\n")
    return path


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else names.get(type(value), "a number")


def _value_problems(value: object, hint: object, where: str) -> list[str]:
    """What is wrong with one JSON value against the type its dataclass field declares."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return []
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict):
            return [f"'{where}' is {_json_type(value)}, not an object"]
        inner = typing.get_args(hint)[1]
        return [
            problem
            for name, item in value.items()
            for problem in _value_problems(item, inner, f"{where}.{name}")
        ]
    if is_dataclass(hint):
        if not isinstance(value, dict):
            return [f"'{where}' is {_json_type(value)}, not an object"]
        return _fields_problems(value, hint, f"{where}.")
    wanted = (int, float) if hint is float else hint
    if isinstance(value, bool) or not isinstance(value, wanted):
        return [f"'{where}' is {_json_type(value)} ({json.dumps(value)}), not {hint.__name__}"]
    if hint in (int, float) and value < 0:
        return [f"'{where}' is negative ({value})"]
    return []


def _fields_problems(raw: dict, record_type: type, prefix: str = "") -> list[str]:
    """Unknown keys, missing required keys and ill-typed values of a record (or of a count in
    it), against its dataclass: the one statement of what a record holds."""
    declared = {spec.name: spec for spec in fields(record_type)}
    hints = typing.get_type_hints(record_type)
    problems = [f"unknown key '{prefix}{name}'" for name in raw if name not in declared]
    for name, spec in declared.items():
        if name in raw:
            problems += _value_problems(raw[name], hints[name], f"{prefix}{name}")
        elif spec.default is MISSING and spec.default_factory is MISSING:
            problems.append(f"missing key '{prefix}{name}'")
    return problems


def record_problems(raw: object, path: Path) -> list[str]:
    """What keeps a record's JSON from being a CheckpointRun read from this file: not an
    object, unknown or missing keys, wrong types, or another checkpoint's key than its name's.
    What it claims about its checkpoint's suites is judged by claim_problems."""
    if not isinstance(raw, dict):
        return [f"holds {_json_type(raw)}, not a JSON object"]
    problems = _fields_problems(raw, CheckpointRun)
    if problems:
        return problems
    key = run_key(raw["checkpoint"], raw["python"], raw.get("numpy_choice", "latest"))
    if key != path.stem:
        return [f"holds the record of {key}, not of {path.stem} (copied by hand?)"]
    return []


def claim_problems(run: CheckpointRun, suites: tuple[str, ...] | None) -> list[str]:
    """Where a record's claims do not hold for its checkpoint, whose suites are `suites` (the
    guard and suites 01..NN; None: unknown, then only the record's own counts are judged).

    A suite outside the checkpoint, or a `passed` that its counts do not bear out (a suite
    with no test counted, a failure counted, a file that could not be collected)."""
    problems = []
    if suites is not None:
        outside = [suite for suite in run.suites if suite not in suites]
        if outside:
            problems.append(
                f"has counts for {', '.join(outside)}, not part of checkpoint {run.checkpoint:02d}"
            )
    if run.status != PASSED:
        return problems
    counted = {
        name for name, count in run.suites.items() if count.passed + count.failed + count.skipped
    }
    uncounted = [suite for suite in suites or () if suite not in counted]
    if uncounted or not counted:
        missing = f"suites {', '.join(uncounted)}" if uncounted else "any suite"
        problems.append(f"says passed with no counts for {missing}: record incomplete")
    failed = sum(count.failed for count in run.suites.values()) + run.extras.failed
    if failed:
        problems.append(f"says passed but counts {failed} failed test(s)")
    if run.uncollectable or run.broken_modules:
        problems.append(
            "says passed but names files that could not be collected or compiled: "
            + ", ".join([*run.uncollectable, *run.broken_modules])
        )
    return problems


def invalid_run(shown: Path, problems: list[str]) -> CheckpointRun:
    """The row of a record that cannot be trusted: no counts, the file and what is wrong.

    Its checkpoint comes from its file name (0 when even that is not a record's)."""
    key = RUN_KEY.fullmatch(shown.stem)
    return CheckpointRun(
        checkpoint=int(key[1]) if key else 0,
        python=key[2] if key else "",
        status=INVALID_RECORD,
        detail=f"{shown.as_posix()} {'; '.join(problems)}: {rerun_hint(shown)}",
        numpy_choice=(key[3] or "latest") if key else "latest",
    )


def load_run(path: Path, shown: Path | None = None) -> CheckpointRun:
    """The record at path; one that cannot be read as a record is returned as an
    INVALID_RECORD run naming it as `shown` (default: path) and saying what is wrong."""
    shown = shown or path
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problems = [f"is not valid JSON at line {error.lineno}, column {error.colno} ({error.msg})"]
    except (OSError, UnicodeDecodeError) as error:
        problems = [f"cannot be read ({error})"]
    else:
        problems = record_problems(raw, path)
    if problems:
        return invalid_run(shown, problems)
    raw["suites"] = {name: SuiteCount(**count) for name, count in raw["suites"].items()}
    raw["extras"] = ExtrasCount(**raw.get("extras", {}))
    return CheckpointRun(**raw)


def load_runs(root: Path, runs_dir: Path = RUNS_DIR) -> list[CheckpointRun]:
    """Every record under root/runs_dir, an unreadable one as its INVALID_RECORD row."""
    paths = sorted((root / runs_dir).glob("checkpoint-*.json"))
    return [
        load_run(path, path.relative_to(root) if path.is_relative_to(root) else path)
        for path in paths
    ]


def read_xml(path: Path) -> ElementTree.Element:
    """The root of a JUnit XML file; RecordError naming it when it is truncated or not XML."""
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        line, column = error.position
        raise RecordError(
            f"{path} is not valid XML at line {line}, column {column} "
            f"({str(error).split(':')[0]}; truncated?): {rerun_hint(path)}"
        ) from None


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
        for case in read_xml(path).iter("testcase")
        if not (case.findall("failure") or case.findall("error"))
    ]


def course_tests_skipped(path: Path) -> list[tuple[str, str]]:
    """The course-API tests of a JUnit XML file that skipped or xfailed, as (class::name, reason).

    A test of an extra that the implementation lacks ("extra missing: ...") is not one of them:
    that skip is how the matrix reports a missing extra."""
    skipped = []
    for case in read_xml(path).iter("testcase"):
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
    for case in read_xml(path).iter("testcase"):
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
    for case in read_xml(path).iter("testcase"):
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


def _tests_held(root: Path, run: CheckpointRun) -> dict[str, int]:
    """Tests per test file in the reference runs of the same tests (same digest), newest last."""
    known: dict[str, int] = {}
    for earlier in load_runs(root, reports_dir_for(None) / RUNS_DIR.name):
        if earlier.tests_digest == run.tests_digest:
            known.update(earlier.files)
    return known


def _lost(root: Path, known: dict[str, int], files: list[str]) -> tuple[int, str]:
    """How many tests `files` held: as a run of the same tests counted them, or else "at least
    N" read from their sources: never fewer than were lost."""
    if all(file in known for file in files):
        lost = sum(known[file] for file in files)
        return lost, str(lost)
    lost = sum(known.get(file) or static_test_count(root / file) for file in files)
    return lost, f"at least {lost}"


def charge_uncollectable(root: Path, run: CheckpointRun, files: list[str]) -> None:
    """Charge each uncollectable file's tests to its suite as failed, and name them.

    The count is the tests the file held in the newest reference run of the same tests (same
    digest) that collected it, or else "at least N" read from its source: never fewer than
    were lost. read_junit has already charged one failure per file."""
    known = _tests_held(root, run)
    for file in files:
        lost, words = _lost(root, known, [file])
        run.uncollectable[file] = words
        run.suites[suite_of(file.removesuffix(".py").replace("/", "."))].failed += max(lost - 1, 0)


def syntax_error(path: Path) -> str:
    """'line N: message' when the Python file at path does not compile; "" when it does."""
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    except (OSError, ValueError) as error:
        return str(error)
    return ""


def charge_broken_modules(run: CheckpointRun, manifest: Manifest, impl: Implementation) -> None:
    """Name each module file of the checkpoint that does not compile, and fail its module's
    suite with it. No tinytorch module imports then, so when the suite's tests got results
    they already fail and are kept as they are (at least one failure); when none did, the
    tests the suite holds are charged, counted as charge_uncollectable counts a file's."""
    root = manifest.root
    for module in manifest.checkpoint(run.checkpoint):
        broken = {path: syntax_error(impl.source(manifest, path)) for path in module.files}
        broken = {path: problem for path, problem in broken.items() if problem}
        if not broken:
            continue
        run.broken_modules.update(broken)
        count = run.suites.setdefault(module.suite, SuiteCount())
        if not count.passed + count.failed + count.skipped:
            tests = sorted((root / module.tests).rglob("test_*.py"))
            files = [path.relative_to(root).as_posix() for path in tests]
            count.failed += _lost(root, _tests_held(root, run), files)[0]
        count.failed = max(count.failed, 1)
