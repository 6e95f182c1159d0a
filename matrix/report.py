"""The matrix report: one row per checkpoint run, one column per suite.

A cell reads `passed/failed/skipped seconds`. Every checkpoint of the manifest gets a row:
one that never ran says "not run", one that broke says how (build failed, install failed,
crashed, timed out), so nothing silently drops out of the table. The same table is printed,
written as Markdown (for GitHub's step summary) and as JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from matrix.atomic import write_atomically
from matrix.manifest import Manifest
from matrix.results import (
    CHECKPOINT_SUITE,
    NOT_RUN,
    PASSED,
    REPORTS_DIR,
    CheckpointRun,
    ExtrasCount,
    SuiteCount,
    load_runs,
)

MARKDOWN_PATH = REPORTS_DIR / "matrix.md"
JSON_PATH = REPORTS_DIR / "matrix.json"
NOT_IN_CHECKPOINT = "-"


def matrix_rows(manifest: Manifest, runs: list[CheckpointRun]) -> list[CheckpointRun]:
    """The runs in checkpoint order, plus a 'not run' row for each checkpoint without one."""
    ran = {run.checkpoint for run in runs}
    missing = [
        CheckpointRun(n, python="", status=NOT_RUN) for n in manifest.numbers if n not in ran
    ]
    return sorted(runs + missing, key=lambda run: (run.checkpoint, run.python, run.numpy))


def suite_columns(manifest: Manifest) -> list[str]:
    return [CHECKPOINT_SUITE] + [module.suite for module in manifest.modules]


def cell(count: SuiteCount | None) -> str:
    if count is None:
        return NOT_IN_CHECKPOINT
    return f"{count.passed}/{count.failed}/{count.skipped} {count.seconds:.1f}s"


def seconds(value: float | None) -> str:
    return NOT_IN_CHECKPOINT if value is None else f"{value:.1f}s"


def status_text(run: CheckpointRun) -> str:
    """The status, its detail, and every test file that could not be collected."""
    parts = [run.detail] if run.detail else []
    parts += [
        f"{file} could not be collected ({lost} tests lost)"
        for file, lost in run.uncollectable.items()
    ]
    return run.status if not parts else f"{run.status}: {'; '.join(parts)}"


def table(manifest: Manifest, rows: list[CheckpointRun]) -> list[list[str]]:
    header = ["checkpoint", "python", "numpy", "status", "install", "tests"]
    header += [*suite_columns(manifest), "extras"]
    body = [
        [
            f"{run.checkpoint:02d}",
            run.python or NOT_IN_CHECKPOINT,
            run.numpy or NOT_IN_CHECKPOINT,
            status_text(run),
            seconds(run.install_seconds),
            seconds(run.test_seconds),
        ]
        + [cell(run.suites.get(suite)) for suite in suite_columns(manifest)]
        + [NOT_IN_CHECKPOINT if run.test_seconds is None else str(run.extras)]
        for run in rows
    ]
    return [header, *body]


def totals(rows: list[CheckpointRun]) -> tuple[SuiteCount, ExtrasCount]:
    total, extras = SuiteCount(), ExtrasCount()
    for run in rows:
        for count in run.suites.values():
            total.passed += count.passed
            total.failed += count.failed
            total.skipped += count.skipped
        extras.passed += run.extras.passed
        extras.failed += run.extras.failed
        extras.missing += run.extras.missing
    return total, extras


def closing_line(rows: list[CheckpointRun]) -> str:
    total, extras = totals(rows)
    return (
        f"matrix: {total.passed} passed, {total.failed} failed, {total.skipped} skipped "
        f"(course API); extras: {extras}"
    )


def implementation_line(rows: list[CheckpointRun]) -> str:
    """Which tinytorch the rows tested: 'reference' or a package folder, with its digest.

    Rows of one implementation usually share a digest; a learner who edits between runs gets
    one entry per digest, each naming its checkpoints, so no row is misattributed.
    """
    tested: dict[tuple[str, str], list[str]] = {}
    for run in rows:
        if run.status != NOT_RUN:
            key = (run.implementation, run.implementation_digest or "unknown")
            tested.setdefault(key, []).append(f"{run.checkpoint:02d}")
    if not tested:
        return "implementation: none tested yet"
    if len(tested) == 1:
        ((label, digest),) = tested
        return f"implementation: {label} (module files sha256 {digest})"
    parts = [
        f"{label} (module files sha256 {digest}) for {', '.join(numbers)}"
        for (label, digest), numbers in tested.items()
    ]
    return "implementations: " + "; ".join(parts)


def render_terminal(cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def render_markdown(cells: list[list[str]], rows: list[CheckpointRun]) -> str:
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return (
        f"## Checkpoint matrix\n\n{implementation_line(rows)}\n\n"
        "Each suite cell counts the course-API tests, `passed/failed/skipped seconds`; `-` "
        "means the suite is not part of that checkpoint. `extras` counts the tests of the "
        "reference's extras (API.md, Two tiers): a missing extra never fails a checkpoint.\n\n"
        + "\n".join(lines)
        + f"\n\n{closing_line(rows)}\n"
    )


def write_report(manifest: Manifest) -> tuple[str, bool]:
    """Write the Markdown and JSON reports; return the terminal text and whether all ran green."""
    root = manifest.root
    rows = matrix_rows(manifest, load_runs(root))
    cells = table(manifest, rows)
    markdown = render_markdown(cells, rows)
    write_atomically(root / MARKDOWN_PATH, markdown)
    document = {"suites": suite_columns(manifest), "rows": [asdict(run) for run in rows]}
    write_atomically(root / JSON_PATH, json.dumps(document, indent=2) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as step_summary:
            step_summary.write(markdown)
    green = all(run.status in (PASSED, NOT_RUN) for run in rows)
    terminal = [render_terminal(cells), implementation_line(rows), closing_line(rows)]
    return "\n".join(terminal), green
