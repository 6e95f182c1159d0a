"""Run records: what one checkpoint run left behind, as JSON under reports/runs/.

Every checkpoint session writes a record whatever happens (built, installed, tested, or where
it stopped), so the report can show a crashed or uninstallable checkpoint instead of losing it.
Files are written to a temporary name and renamed, so a killed run never leaves half a file.
A record read back is judged before it is believed (record_problems, claim_problems).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path

from matrix.atomic import write_atomically
from matrix.layout import Layout
from matrix.manifest import checkpoint_session
from matrix.run_identity import RunIdentity

# Tests that sit directly in tests/ (the checkpoint guard) are reported as this suite.
CHECKPOINT_SUITE = "guard"
# pytest's exit codes (pytest.ExitCode) that mean the run itself broke, not a test.
PYTEST_BROKE = {2: "interrupted", 3: "internal error", 4: "usage error"}


class Words(str, Enum):
    """A closed set of words, each written as itself (in JSON, f-strings and tables)."""

    def __str__(self) -> str:
        return self.value


class Status(Words):
    """Where a checkpoint run ended: the one vocabulary of records, reports and the gate."""

    PASSED = "passed"
    FAILED = "failed"
    BUILD_FAILED = "build failed"
    INSTALL_FAILED = "install failed"
    CRASHED = "crashed"
    TIMED_OUT = "timed out"
    NO_TESTS = "no tests"
    NOT_RUN = "not run"
    # A record that cannot be read, or whose claims do not hold: it fails the verdict.
    INVALID_RECORD = "invalid record"
    # A run CI expected (MATRIX_EXPECTED_RUNS) whose job left no record: lost, not passed.
    NO_RECORD = "no record"


def pytest_failure(return_code: int | None) -> tuple[Status, str]:
    """The status (and detail) of a pytest that exited with a non-zero `return_code`."""
    if return_code == 1:
        return Status.FAILED, ""
    if return_code == 5:
        return Status.NO_TESTS, ""
    return Status.CRASHED, PYTEST_BROKE.get(return_code, "")


@dataclass
class SuiteCount:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def tests(self) -> int:
        return self.passed + self.failed + self.skipped

    def __add__(self, other: SuiteCount) -> SuiteCount:
        return SuiteCount(
            self.passed + other.passed,
            self.failed + other.failed,
            self.skipped + other.skipped,
            round(self.seconds + other.seconds, 3),
        )


def total_of(counts: Iterable[SuiteCount]) -> SuiteCount:
    """The sum of suite counts: the one place they are added up."""
    return sum(counts, SuiteCount())


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

    def __add__(self, other: ExtrasCount) -> ExtrasCount:
        return ExtrasCount(
            self.passed + other.passed, self.failed + other.failed, self.missing + other.missing
        )


@dataclass
class CheckpointRun:
    checkpoint: int
    python: str
    status: Status
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
    if not key:
        return "rerun the nox session that wrote it to write it again, or delete it"
    return f"rerun `nox -s {checkpoint_session(int(key[1]))}` to write it again, or delete it"


def record_path(layout: Layout, key: str) -> Path:
    """Where the record of the run `key` (CheckpointRun.key) is kept, relative to the root."""
    return layout.runs / f"{key}.json"


def save_run(layout: Layout, run: CheckpointRun) -> Path:
    path = layout.at(record_path(layout, run.key))
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
    if isinstance(hint, type) and issubclass(hint, Enum):
        known = [member.value for member in hint]
        if value not in known:
            return [f"'{where}' is {json.dumps(value)}, not one of {', '.join(known)}"]
        return []
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
    if run.status != Status.PASSED:
        return problems
    counted = {name for name, count in run.suites.items() if count.tests}
    uncounted = [suite for suite in suites or () if suite not in counted]
    if uncounted or not counted:
        missing = f"suites {', '.join(uncounted)}" if uncounted else "any suite"
        problems.append(f"says passed with no counts for {missing}: record incomplete")
    failed = total_of(run.suites.values()).failed + run.extras.failed
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
        status=Status.INVALID_RECORD,
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
    raw["status"] = Status(raw["status"])
    raw["suites"] = {name: SuiteCount(**count) for name, count in raw["suites"].items()}
    raw["extras"] = ExtrasCount(**raw.get("extras", {}))
    return CheckpointRun(**raw)


def load_runs(root: Path, runs_dir: Path) -> list[CheckpointRun]:
    """Every record under root/runs_dir, an unreadable one as its INVALID_RECORD row."""
    paths = sorted((root / runs_dir).glob("checkpoint-*.json"))
    return [
        load_run(path, path.relative_to(root) if path.is_relative_to(root) else path)
        for path in paths
    ]
