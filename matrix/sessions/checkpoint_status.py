"""How a checkpoint run is charged for what went wrong: its failed status named test by test,
and the tests it lost when a file could not be collected or a module file does not compile
(never fewer than were lost)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from matrix.impl import Implementation
from matrix.junit import JunitCounts, suite_of
from matrix.layout import Layout
from matrix.manifest import Manifest
from matrix.records import CheckpointRun, Status, SuiteCount, load_runs, total_of

DIGEST_CHARS = 12
TEST_FUNCTION = re.compile(r"^\s*(?:async\s+)?def\s+test", re.MULTILINE)


NAMED_AT_MOST = 5


def failed_run_status(counts: JunitCounts) -> tuple[Status, str]:
    """A failed run's status and detail. Tests that timed out or crashed are named, and the
    other failures counted beside them, so neither hides the other."""
    failed = total_of(counts.suites.values()).failed + counts.extras.failed
    other = failed - len(counts.timed_out) - len(counts.crashed)
    parts = [f"{other} failed"] if other > 0 and (counts.timed_out or counts.crashed) else []
    for word, tests in ((Status.TIMED_OUT, counts.timed_out), (Status.CRASHED, counts.crashed)):
        if tests:
            named = ", ".join(tests[:NAMED_AT_MOST])
            more = f" and {len(tests) - NAMED_AT_MOST} more" if len(tests) > NAMED_AT_MOST else ""
            parts.append(f"{len(tests)} {word} ({named}{more})")
    if other <= 0 and bool(counts.timed_out) != bool(counts.crashed):
        return (Status.TIMED_OUT if counts.timed_out else Status.CRASHED), "; ".join(parts)
    return Status.FAILED, "; ".join(parts)


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


def _tests_held(layout: Layout, run: CheckpointRun) -> dict[str, int]:
    """Tests per test file in the reference runs of the same tests (same digest), newest last."""
    known: dict[str, int] = {}
    for earlier in load_runs(layout.root, layout.reference_runs):
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


def charge_uncollectable(layout: Layout, run: CheckpointRun, files: list[str]) -> None:
    """Charge each uncollectable file's tests to its suite as failed, and name them.

    The count is the tests the file held in the newest reference run of the same tests (same
    digest) that collected it, or else "at least N" read from its source: never fewer than
    were lost. read_junit has already charged one failure per file."""
    known = _tests_held(layout, run)
    for file in files:
        lost, words = _lost(layout.root, known, [file])
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


def charge_broken_modules(
    layout: Layout, run: CheckpointRun, manifest: Manifest, impl: Implementation
) -> None:
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
        if not count.tests:
            tests = sorted((root / module.tests).rglob("test_*.py"))
            files = [path.relative_to(root).as_posix() for path in tests]
            count.failed += _lost(root, _tests_held(layout, run), files)[0]
        count.failed = max(count.failed, 1)
