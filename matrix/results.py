"""What one checkpoint run left behind: its record (JSON) and its JUnit XML, read per suite.

Every checkpoint session writes a record whatever happens (built, installed, tested, or where
it stopped), so the report can show a crashed or uninstallable checkpoint instead of losing it.
Files are written to a temporary name and renamed, so a killed run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matrix.impl import IMPL_ENV, implementation_key, is_reference, package_dir_of

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
    if impl and not is_reference(package_dir_of(impl)):
        return Path("reports") / "impl" / implementation_key(impl)
    return Path("reports")


REPORTS_DIR = reports_dir_for(os.environ.get(IMPL_ENV))
RUNS_DIR = REPORTS_DIR / "runs"
JUNIT_DIR = REPORTS_DIR / "junit"
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
# pytest's exit codes (pytest.ExitCode) that mean the run itself broke, not a test.
PYTEST_BROKE = {2: "interrupted", 3: "internal error", 4: "usage error"}


@dataclass
class SuiteCount:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0


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

    @property
    def key(self) -> str:
        return run_key(self.checkpoint, self.python, self.numpy_choice)


def run_key(checkpoint: int, python: str, numpy_choice: str = "latest") -> str:
    suffix = "" if numpy_choice == "latest" else f"-numpy-{numpy_choice}"
    return f"checkpoint-{checkpoint:02d}-py{python}{suffix}"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def save_run(root: Path, run: CheckpointRun) -> Path:
    path = root / RUNS_DIR / f"{run.key}.json"
    write_atomically(path, json.dumps(asdict(run), indent=2) + "\n")
    return path


def load_run(path: Path) -> CheckpointRun:
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["suites"] = {name: SuiteCount(**count) for name, count in raw["suites"].items()}
    return CheckpointRun(**raw)


def load_runs(root: Path, runs_dir: Path = RUNS_DIR) -> list[CheckpointRun]:
    return [load_run(path) for path in sorted((root / runs_dir).glob("checkpoint-*.json"))]


def suite_of(classname: str) -> str:
    """'tests.01_tensor.test_x.TestY' -> '01_tensor'; 'tests.test_guard' -> the guard suite."""
    parts = classname.split(".")
    if len(parts) > 2 and SUITE_FOLDER.match(parts[1]):
        return parts[1]
    return CHECKPOINT_SUITE


def tests_not_failing(path: Path) -> list[str]:
    """The tests of a JUnit XML file that passed or were skipped, as class::name."""
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ElementTree.parse(path).getroot().iter("testcase")
        if not (case.findall("failure") or case.findall("error"))
    ]


def tests_failing(path: Path) -> list[str]:
    """The tests of a JUnit XML file that failed or errored, as class::name.

    A file pytest could not import is a testcase with no class, named by its dotted path;
    it is given as the file's path, which is what whoever fixes it needs.
    """
    failing = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        if case.findall("failure") or case.findall("error"):
            if case.get("classname"):
                failing.append(f"{case.get('classname')}::{case.get('name')}")
            else:
                failing.append(
                    f"{case.get('name', '').replace('.', '/')}.py (could not be collected)"
                )
    return failing


def read_junit(path: Path) -> tuple[dict[str, SuiteCount], str | None]:
    """Count outcomes per suite; also say whether a test timed out or a worker crashed."""
    suites: dict[str, SuiteCount] = {}
    trouble = None
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        count = suites.setdefault(suite_of(case.get("classname", "")), SuiteCount())
        count.seconds += float(case.get("time", 0) or 0)
        problems = case.findall("failure") + case.findall("error")
        if problems:
            count.failed += 1
            message = " ".join((p.get("message") or "") + (p.text or "") for p in problems)
            if "Timeout" in message:
                trouble = TIMED_OUT
            elif "crashed" in message and trouble is None:
                trouble = CRASHED
        elif case.find("skipped") is not None:
            count.skipped += 1
        else:
            count.passed += 1
    for count in suites.values():
        count.seconds = round(count.seconds, 3)
    return suites, trouble
