"""The base's side of the gate: what the base's suites hold, and how they judge the head's code.

After the head's checkpoints have run, their environments (.nox/moduleNN) hold the head's
checkpoint wheels. In them the gate runs, from a checkout of the base commit:

1. the inventory: the base's and the head's suites collected at each selected checkpoint
   (`--collect-only`, after every conftest has had its say), compared test by test;
2. the base's version of every test file the branch changed or deleted, on the head's code
   (a base test that fails now: the code regressed, or the change to the test needs saying);
3. the base's checkpoint guard, on the head's checkpoints, when the branch changed the harness
   (the guard, a conftest, matrix/, the noxfile or pyproject.toml): a branch must not be the
   one to judge its own guard.

Each finding is an Item (matrix/gate/items.py). Work that could not be done is a problem,
never a silent pass.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from matrix.gate.items import (
    BASE_GUARD_FAILS,
    BASE_TEST_FAILS,
    CONFTEST,
    GUARD,
    REMOVED_MODULE,
    REMOVED_SUITE,
    REMOVED_TEST,
    SKIP_MARKER,
    Item,
)
from matrix.git import GitError
from matrix.impl import Implementation
from matrix.layout import Layout
from matrix.manifest import TEST_FOLDER_PATTERN, TESTS_DIR, Manifest, checkpoint_session
from matrix.pytest_env import GUARD_TEST, ONE_BLAS_THREAD, checkpoint_env
from matrix.pytest_plugins import audit_plugin, copy_alone, plugin_name

# Markers that keep a test from proving anything while it stays collected.
SKIPPING = frozenset({"skip", "skipif", "xfail"})
# What a branch changes when it changes how every test is run or judged.
HARNESS = ("matrix/", "noxfile.py", "pyproject.toml", GUARD_TEST)
# A collection or a run of a few files that takes longer than this is stuck.
PYTEST_SECONDS = 900


def is_harness(path: str) -> bool:
    return is_conftest(path) or any(
        path == prefix or (prefix.endswith("/") and path.startswith(prefix)) for prefix in HARNESS
    )


def is_conftest(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return parts[0] == TESTS_DIR and parts[-1] == "conftest.py"


def extract_base(layout: Layout, commit: str) -> Path:
    """The base commit's files in build/gate/base/<commit> (git archive; kept for reuse)."""
    tree = layout.at(layout.gate_base_trees) / commit[:12]
    if (tree / ".complete").is_file():
        return tree
    completed = subprocess.run(
        ["git", "archive", "--format=tar", commit],
        cwd=layout.root,
        capture_output=True,
        check=False,
    )
    if completed.returncode != 0:
        raise GitError(f"git archive {commit[:12]} failed: {completed.stderr.decode()[:200]}")
    shutil.rmtree(tree, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(completed.stdout)) as archive:
        # Our own commit's files; the filter (where this Python has it) refuses odd members.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tree, **safe)
    (tree / ".complete").write_text(commit + "\n")
    return tree


@dataclass(frozen=True)
class PytestRun:
    """One pytest in a head checkpoint's environment; what the audit plugin wrote back."""

    collected: dict[str, list[str]]  # node id -> marker names (collection)
    outcomes: dict[str, str]  # node id -> passed/failed/skipped (a run)
    failures: dict[str, str]  # node id -> one-line message
    problem: str = ""  # the run itself broke: what to say instead of its findings


@dataclass(frozen=True)
class HeadEnvironments:
    """The head's checkpoint environments, as the gate's nox run left them."""

    layout: Layout  # of the gated implementation: where its environments and scratch are
    manifest: Manifest
    impl: Implementation
    options: tuple[str, ...]  # implementation_options(impl)

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def work(self) -> Path:
        """Scratch: the plugin and what it writes."""
        return self.layout.at(self.layout.gate_work)

    @property
    def plugin_dir(self) -> Path:
        return self.work / "plugin"

    def install_plugin(self) -> None:
        """Once, before the runs start side by side: a copy being written is no plugin."""
        copy_alone((audit_plugin,), self.plugin_dir)

    def pytest(self, number: int) -> Path:
        return self.layout.at(self.layout.nox_envs) / checkpoint_session(number) / "bin" / "pytest"

    def run(self, number: int, cwd: Path, paths: list[str], label: str, collect: bool) -> PytestRun:
        """pytest at head checkpoint `number` on `paths` of the tree at `cwd`."""
        pytest = self.pytest(number)
        if not pytest.is_file():
            return PytestRun({}, {}, {}, f"checkpoint {number:02d} left no environment ({pytest})")
        out = self.work / label
        out.mkdir(parents=True, exist_ok=True)
        files = {"tests": out / "tests.json", "outcomes": out / "outcomes.json"}
        files["failures"] = out / "failures.json"
        for path in files.values():
            path.unlink(missing_ok=True)
        command = [
            str(pytest),
            "-q",
            "-p",
            plugin_name(audit_plugin),
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
        ]
        if collect:
            command += ["--collect-only", f"--audit-tests={files['tests']}"]
        else:
            command += ["--tb=no", f"--audit-outcomes={files['outcomes']}"]
            command += [f"--audit-failures={files['failures']}"]
        command += [*self.options, "--continue-on-collection-errors", *paths]
        env = {
            **os.environ,
            **checkpoint_env(self.manifest, number, self.impl),
            **ONE_BLAS_THREAD,
            "PYTHONPATH": str(self.plugin_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            completed = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, timeout=PYTEST_SECONDS
            )
        except subprocess.TimeoutExpired:
            return PytestRun({}, {}, {}, f"{label}: pytest ran over {PYTEST_SECONDS} s")
        written = files["tests"] if collect else files["outcomes"]
        if completed.returncode not in (0, 1) or not written.is_file():
            last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
            return PytestRun(
                {}, {}, {}, f"{label}: pytest exited {completed.returncode} ({last[:200]})"
            )
        if collect:
            raw = json.loads(written.read_text(encoding="utf-8"))
            return PytestRun({test["nodeid"]: test["markers"] for test in raw}, {}, {})
        failures = files["failures"]
        return PytestRun(
            {},
            json.loads(written.read_text(encoding="utf-8")),
            json.loads(failures.read_text(encoding="utf-8")) if failures.is_file() else {},
        )


def suites_at(manifest: Manifest, tree: Path, number: int) -> list[str]:
    """What checkpoint `number` runs in `tree`: the guard and suites 01..number that exist."""
    # Not manifest.checkpoint(number): the base's manifest may lack a module the head adds.
    paths = [GUARD_TEST] + [module.tests for module in manifest.modules if module.number <= number]
    return [path for path in paths if (tree / path).exists()]


@dataclass
class BaseFindings:
    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # What the report says was done: "collected at checkpoints 05..08 on both sides", ...
    done: list[str] = field(default_factory=list)


def compare_with_base(
    head: HeadEnvironments,
    base_tree: Path,
    base: Manifest,
    checkpoints: list[int],
    changed: list[str],
    workers: int,
) -> BaseFindings:
    """Inventory, the base's changed tests on the head's code, and (harness changes) its guard."""
    findings = BaseFindings()
    findings.items += file_items(changed, base_tree, head.root)
    last = head.manifest.numbers[-1]
    removed_modules = [m for m in base.modules if m.number not in head.manifest.numbers]
    for module in removed_modules:
        findings.items.append(Item(REMOVED_MODULE, module.label, f"module {module.slug}"))
        if not (head.root / module.tests).exists():
            findings.items.append(Item(REMOVED_SUITE, module.tests))
    # Where each base checkpoint is collected: its own head checkpoint, or the head's last.
    base_points = {number: number for number in checkpoints}
    base_points.update({module.number: last for module in removed_modules})
    head.install_plugin()
    jobs: dict[tuple, object] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for number in checkpoints:
            paths = suites_at(head.manifest, head.root, number)
            jobs[("head", number)] = pool.submit(
                head.run, number, head.root, paths, f"head-collect-{number:02d}", True
            )
        for number, at in base_points.items():
            paths = suites_at(base, base_tree, number)
            jobs[("base", number)] = pool.submit(
                head.run, at, base_tree, paths, f"base-collect-{number:02d}", True
            )
        for at, files in base_test_files(changed, base_tree, head.manifest).items():
            jobs[("tests", at)] = pool.submit(
                head.run, at, base_tree, files, f"base-tests-{at:02d}", False
            )
        harness = sorted(path for path in changed if is_harness(path))
        guarded = [number for number in checkpoints if number in base.numbers]
        if harness and (base_tree / GUARD_TEST).is_file():
            for number in guarded:
                jobs[("guard", number)] = pool.submit(
                    head.run, number, base_tree, [GUARD_TEST], f"base-guard-{number:02d}", False
                )
        results = {key: job.result() for key, job in jobs.items()}
    findings.problems += [run.problem for run in results.values() if run.problem]
    collected = {
        side: {key[1]: run.collected for key, run in results.items() if key[0] == side}
        for side in ("head", "base")
    }
    findings.items += inventory_items(collected["base"], collected["head"], base_points)
    for (kind, at), run in results.items():
        if kind == "tests":
            findings.items += failing_items(BASE_TEST_FAILS, run, at, prefix="")
        elif kind == "guard":
            findings.items += failing_items(BASE_GUARD_FAILS, run, at, prefix=f"{at:02d} ")
    findings.done += _what_was_done(checkpoints, base_points, results, harness, guarded)
    return findings


def _what_was_done(checkpoints, base_points, results, harness, guarded) -> list[str]:
    if not checkpoints:
        return ["no checkpoint selected, so no suite to compare with the base's"]
    numbers = ", ".join(f"{number:02d}" for number in checkpoints)
    done = [
        f"inventory: the head's suites collected at checkpoint(s) {numbers}, the base's at "
        + ", ".join(f"{number:02d}" for number in base_points)
    ]
    tested = sorted(at for kind, at in results if kind == "tests")
    if tested:
        done.append(
            "the base's version of each changed or deleted test file ran on the head's "
            "checkpoint(s) " + ", ".join(f"{number:02d}" for number in tested)
        )
    if harness:
        shown = ", ".join(f"`{path}`" for path in harness[:3])
        more = f" and {len(harness) - 3} more" if len(harness) > 3 else ""
        where = ", ".join(f"{number:02d}" for number in guarded) or "none (no common checkpoint)"
        done.append(
            f"the harness changed ({shown}{more}): the base's guard ran on the head's "
            f"checkpoint(s) {where}"
        )
    return done


def file_items(changed: list[str], base_tree: Path, head_root: Path) -> list[Item]:
    """A conftest added, changed or deleted; the guard changed."""
    items = []
    for path in changed:
        before, after = (base_tree / path).is_file(), (head_root / path).is_file()
        how = "added" if not before else "deleted" if not after else "changed"
        if is_conftest(path):
            items.append(Item(CONFTEST, path, how))
        elif path == GUARD_TEST:
            items.append(Item(GUARD, path, how))
    return items


def base_test_files(
    changed: list[str], base_tree: Path, manifest: Manifest
) -> dict[int, list[str]]:
    """The base's test files the branch changed or deleted, by the head checkpoint to run them
    at: their suite's own. A suite of a module the head removed is not run (it cannot import
    what is gone): its removal is an item of its own."""
    by_checkpoint: dict[int, list[str]] = {}
    for path in changed:
        parts = PurePosixPath(path).parts
        is_test = parts[-1].startswith("test_") and parts[-1].endswith(".py")
        if not (is_test and (base_tree / path).is_file() and len(parts) > 2):
            continue
        if parts[0] != TESTS_DIR or not TEST_FOLDER_PATTERN.match(parts[1]):
            continue
        number = int(parts[1][:2])
        if number in manifest.numbers:
            by_checkpoint.setdefault(number, []).append(path)
    return by_checkpoint


def inventory_items(
    base: dict[int, dict[str, list[str]]],
    head: dict[int, dict[str, list[str]]],
    collected_at: dict[int, int],
) -> list[Item]:
    """Tests the base collected and the head does not; tests the head newly marks skipping.

    The base's checkpoint N was collected at the head's checkpoint collected_at[N] (a module the
    head removed: its newest), and is compared with what the head collects there."""
    removed: dict[str, list[int]] = {}
    marked: dict[str, list[int]] = {}
    for number, tests in base.items():
        for nodeid in tests.keys() - head.get(collected_at[number], {}).keys():
            removed.setdefault(nodeid, []).append(number)
    for number, tests in head.items():
        before = base.get(number, {})
        for nodeid, markers in tests.items():
            if SKIPPING & set(markers) and not SKIPPING & set(before.get(nodeid, [])):
                marked.setdefault(nodeid, []).append(number)
    return [
        Item(REMOVED_TEST, nodeid, f"the base collects it at {_numbers(numbers)}, the head not")
        for nodeid, numbers in sorted(removed.items())
    ] + [
        Item(SKIP_MARKER, nodeid, f"marked skip or xfail at {_numbers(numbers)}")
        for nodeid, numbers in sorted(marked.items())
    ]


def failing_items(kind: str, run: PytestRun, at: int, prefix: str) -> list[Item]:
    return [
        Item(kind, prefix + nodeid, f"at checkpoint {at:02d}: {run.failures.get(nodeid, '')}")
        for nodeid, outcome in sorted(run.outcomes.items())
        if outcome == "failed"
    ]


def _numbers(numbers: list[int]) -> str:
    return "checkpoint(s) " + ", ".join(f"{number:02d}" for number in sorted(numbers))
