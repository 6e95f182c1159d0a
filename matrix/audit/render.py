"""The audit as people and programs read it: reports/audit.md, reports/audit.json (the same
data) and the terminal summary. Pure but for `write_audit`, which writes the two files."""

from __future__ import annotations

import json
from dataclasses import asdict

from matrix.atomic import write_atomically
from matrix.audit.model import (
    COVERED,
    FAILED,
    MISSING,
    NO_COVERAGE,
    NONE,
    NOT_RUN,
    OUTCOMES,
    POINT_FAILING,
    Audit,
    ModuleAudit,
    PointStatus,
    categorized,
    category_counts,
    count_of,
    integration_statuses,
    misplaced_in,
    missing_test_statuses,
    percent,
    problems,
    seed_module_of,
)
from matrix.layout import Layout
from matrix.sessions.mutants import NOT_RUN_CELL
from matrix.tables import append_step_summary, markdown_table, terminal_table

MARKDOWN_REPORT = "audit.md"
JSON_REPORT = "audit.json"


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
                if m.tests is None or counts[NOT_RUN] == len(m.tests) > 0
                else f"{counts['passed']}/{counts['failed']}/{counts['skipped']}",
                line_cell(m),
                branch_cell(m),
                NONE if m.vacuous is None else str(len(m.vacuous)),
                str(len(misplaced_in(audit, m))),
                audit.mutants.get(m.number, NOT_RUN_CELL),
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


def point_rows(statuses: list[PointStatus], first: str, seed: str, suite: str) -> list[list[str]]:
    rows = [[first, seed, f"evidence in suite {suite}", "tests", "passed", "status"]]
    rows += [[s.name, s.seed, s.evidence, str(s.tests), str(s.passed), s.status] for s in statuses]
    return rows


def summary_lines(audit: Audit) -> list[str]:
    """The executive summary, one measured statement a line (Markdown bullets)."""
    modules = audit.modules
    measured = [m for m in modules if not m.failure]
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for m in measured:
        for key, value in m.outcomes().items():
            outcomes[key] += value
    coverage = sum((m.coverage for m in measured if m.coverage), start=NO_COVERAGE)
    collected = sum(len(m.tests) for m in measured if m.tests is not None)
    vacuous = sum(len(m.vacuous or ()) for m in modules)
    vacuity_checked = sum(m.vacuous is not None for m in modules)
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
        f"skipped, {outcomes[NOT_RUN]} not run",
        "**Coverage of each module's own files by its own suite** (all measured modules "
        f"together): line {fmt_percent(coverage.lines_covered, coverage.lines)}, branch "
        f"{fmt_percent(coverage.branches_covered, coverage.branches)}",
    ]
    seed_module = seed_module_of(audit)
    if audit.seed is not None and seed_module is not None:
        every = (
            NONE
            if seed_module.tests is None
            else f"{categorized(seed_module.tests, audit.categories)} of {len(seed_module.tests)}"
        )
        lines.append(
            f"**Module {seed_module.label} ({seed_module.title}), the seed's module**: line "
            f"{line_cell(seed_module)}, branch {branch_cell(seed_module)} (the seed estimated "
            f"{audit.seed.overall_coverage} test coverage); tests in a bug category: {every}"
        )
    lines += [
        f"**Vacuous tests**: {vacuous} (suite N against checkpoint N with module N stubbed; "
        f"{vacuity_checked} of {len(modules)} modules checked)",
        "**Misplaced tests**: "
        + str(len(audit.misplaced))
        + (f", FAILED: {audit.misplaced_failure}" if audit.misplaced_failure else "")
        + f" (source: {audit.misplaced_source})",
    ]
    if audit.seed is not None:
        points, named = integration_statuses(audit), missing_test_statuses(audit)
        lines += [
            f"**Seed's integration points**: {count_status(points, COVERED)} of {len(points)} "
            f"COVERED, {count_status(points, MISSING)} MISSING, "
            f"{count_status(points, POINT_FAILING)} FAILING",
            f"**Tests the seed named as missing**: {count_status(named, COVERED)} of "
            f"{len(named)} COVERED, {count_status(named, MISSING)} MISSING, "
            f"{count_status(named, POINT_FAILING)} FAILING",
        ]
    return lines


def count_status(statuses: list[PointStatus], status: str) -> int:
    return sum(s.status == status for s in statuses)


def seed_sections(audit: Audit) -> list[str]:
    """The seed's questions answered at the seed's checkpoint; nothing without a seed."""
    if audit.seed is None:
        return []
    suite = audit.seed.label
    points, named = integration_statuses(audit), missing_test_statuses(audit)
    out = [
        "",
        f"## Integration points (module {suite})",
        "",
        "The seed's seven critical integration points, each answered by the tests of suite "
        f"{suite} that match its evidence, with their outcomes at checkpoint {suite}. COVERED: "
        "tests match and every one that ran passed; FAILING: one failed; MISSING: no test "
        "matches; UNPROVEN: tests match but none passed.",
        "",
        markdown_table(point_rows(points, "integration point", "seed coverage", suite)),
        "",
        "## Tests the seed named as missing",
        "",
        markdown_table(point_rows(named, "missing test (seed)", "seed section", suite)),
    ]
    failing = [(s.name, nodeid) for s in points + named for nodeid in s.failing]
    if failing:
        out += ["", "Failing evidence:", "", *[f"- {name}: `{n}`" for name, n in failing]]
    return out


def render_markdown(audit: Audit) -> str:
    found = problems(audit)
    timing = f" in {audit.seconds:.0f}s" if audit.seconds is not None else ""
    structure = (
        f" Structured like {audit.seed.description} (the seed); every"
        if audit.seed is not None
        else " Every"
    )
    out = [
        "# Test audit (measured)",
        "",
        f"Generated by `nox -s audit` on Python {audit.python or '?'}{timing} for the "
        f"{audit.implementation} implementation.{structure} number here is measured, each "
        "suite at its own checkpoint.",
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
        *seed_sections(audit),
    ]
    out += ["", "## Misplaced tests", "", f"Source: {audit.misplaced_source}.", ""]
    if audit.misplaced_failure:
        out += [f"FAILED: {audit.misplaced_failure}", ""]
    if audit.misplaced:
        out += [f"- {finding.describe()}" for finding in audit.misplaced]
    elif not audit.misplaced_failure:
        out.append("None found.")
    out += ["", "## Vacuous tests", ""]
    vacuous = [(m, name) for m in audit.modules for name in m.vacuous or ()]
    unchecked = [m.label for m in audit.modules if m.vacuous is None]
    out += [f"- module {m.label}: `{name}`" for m, name in vacuous] or ["None."]
    if unchecked:
        out += ["", f"Not checked (measurement FAILED): modules {', '.join(unchecked)}."]
    return "\n".join(out) + "\n"


def render_terminal_summary(audit: Audit) -> str:
    lines = ["audit: " + line.replace("**", "") for line in summary_lines(audit)]
    lines += ["", terminal_table(module_rows(audit))]
    lines += [f"audit problem: {p}" for p in problems(audit)]
    return "\n".join(lines)


def audit_document(audit: Audit) -> dict:
    """The JSON form: the same data as the Markdown."""
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
                "misplaced": [f.describe() for f in misplaced_in(audit, m)],
                "planted_bugs_caught": audit.mutants.get(m.number, NOT_RUN_CELL),
            }
        )
    seed = audit.seed
    folders = {m.number: m.folder for m in audit.modules}
    return {
        "status": "failed" if problems(audit) else "passed",
        "problems": problems(audit),
        "implementation": audit.implementation,
        "python": audit.python,
        "seconds": audit.seconds,
        "seed": None
        if seed is None
        else {"module": seed.module, "coverage_estimate": seed.overall_coverage},
        "categories": [asdict(c) for c in audit.categories],
        "modules": modules,
        "misplaced": {
            "source": audit.misplaced_source,
            "failure": audit.misplaced_failure,
            "findings": [
                {"suite": folders.get(f.folder, ""), "text": f.describe()} for f in audit.misplaced
            ],
        },
        "integration_points": [asdict(s) for s in integration_statuses(audit)],
        "seed_missing_tests": [asdict(s) for s in missing_test_statuses(audit)],
    }


def write_audit(layout: Layout, audit: Audit) -> tuple[str, bool]:
    """Write reports/audit.md and reports/audit.json; return the summary and whether it passed."""
    markdown = render_markdown(audit)
    write_atomically(layout.at(layout.report(MARKDOWN_REPORT)), markdown)
    document = json.dumps(audit_document(audit), indent=2) + "\n"
    write_atomically(layout.at(layout.report(JSON_REPORT)), document)
    append_step_summary(markdown)
    return render_terminal_summary(audit), not problems(audit)
