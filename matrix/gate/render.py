"""The gate's verdict as Markdown, written for a pull-request comment (reports/gate.md).

The verdict and its reasons first, then which checkpoints ran and which changed files selected
them, the checks, what the comparison with the base found, and what was skipped and why.
"""

from __future__ import annotations

from matrix.gate.items import split_acknowledged
from matrix.gate.selection import Selection
from matrix.gate.verdict import GateResult, check_text, some
from matrix.records import SuiteCount
from matrix.tables import markdown_table

# How much of a long list a PR comment shows: files selecting a checkpoint, then the entries
# of a list before it is folded away.
SHOWN_FILES = 3
SHOWN_LISTED = 10


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"{number:02d}" for number in numbers)


def _reach(selection: Selection, first: int | None) -> str:
    if first is None:
        return "none"
    last = selection.numbers[-1]
    return f"{first:02d}" if first == last else f"{first:02d}..{last:02d}"


def _counts(counts: SuiteCount | None) -> str:
    return "-" if counts is None else f"{counts.passed}/{counts.failed}/{counts.skipped}"


def render(result: GateResult) -> str:
    blockers = result.blockers()
    lines = [f"## Gate: {result.verdict}", "", _header(result), ""]
    if blockers:
        lines += ["**Why NO-GO**", ""] + [f"- {reason}" for reason in blockers] + [""]
    else:
        lines += ["Every selected checkpoint and every check passed.", ""]
    if result.selection is not None:
        lines += _checkpoint_section(result) + _check_section(result) + _base_section(result)
        lines += _misplaced_section(result) + _changes_section(result.selection)
    return "\n".join(lines).rstrip() + "\n"


def _header(result: GateResult) -> str:
    implementation = f"implementation: {result.implementation}"
    if result.implementation_digest:
        implementation += f" (module files sha256 `{result.implementation_digest}`)"
    run = f"gate run `{result.run_id}`, started {result.started}"
    if not result.base_commit:
        return f"{implementation}; {run}"
    return (
        f"`{result.base}` (`{result.base_commit[:12]}`) ... HEAD (`{result.head_commit[:12]}`); "
        + f"{implementation}; {run}"
    )


def _checkpoint_section(result: GateResult) -> list[str]:
    selection = result.selection
    lines = ["### Checkpoints", ""]
    if result.checkpoints:
        rows = [["checkpoint", "result", "passed/failed/skipped", "selected by"]]
        for outcome in result.checkpoints:
            chosen_by = [f"`{path}`" for path in selection.selected_by(outcome.number)]
            rows.append(
                [
                    f"{outcome.number:02d}",
                    outcome.status,
                    _counts(outcome.counts),
                    some(chosen_by, SHOWN_FILES),
                ]
            )
        lines += [markdown_table(rows), ""]
    if not selection.checkpoints:
        lines += ["No checkpoint ran: no changed file reaches one (see Changed files).", ""]
    elif selection.skipped:
        lines += [
            f"Skipped: checkpoint(s) {_numbers(selection.skipped)}: no changed file reaches "
            "them (a change reaches its own checkpoint and every later one).",
            "",
        ]
    return lines


def _check_section(result: GateResult) -> list[str]:
    rows = [["check", "result"]]
    for check in result.checks:
        if check.vacuous:
            rows.append([check.name, f"failed: {len(check.vacuous)} vacuous (listed below)"])
        else:
            rows.append([check.name, check_text(check)])
    found = f"{len(result.misplaced)} found (listed below)" if result.misplaced else "none"
    rows.append(["misplaced tests", found])
    lines = ["### Checks", "", markdown_table(rows), ""]
    vacuous = [check for check in result.checks if check.vacuous]
    for check in vacuous:
        names = [f"- `{name}`" for name in check.vacuous]
        names = _maybe_folded(names, f"{check.name}: {len(names)} vacuous tests")
        lines += [
            f"Vacuous in {check.name} (not failing with the module stubbed, or not collected):",
            "",
            *names,
            "",
        ]
    changed = result.selection.changed_modules
    unchanged = [number for number in result.selection.numbers if number not in changed]
    if unchanged:
        lines += [
            f"Skipped: vacuity of module(s) {_numbers(unchanged)}: neither their code nor "
            "their suite changed.",
            "",
        ]
    return lines


def _base_section(result: GateResult) -> list[str]:
    if not (result.against_base or result.items or result.acknowledgements):
        return []  # the gate stopped before comparing
    lines = ["### Against the base", ""] + [f"- {line}" for line in result.against_base]
    open_items, covered = split_acknowledged(result.items, result.acknowledgements)
    if not result.items:
        lines.append("- nothing found that weakens the suites")
    lines.append("")
    if open_items:
        lines += [
            "Not acknowledged (each is NO-GO until a commit of the branch carries "
            "`Gate-Accept: KIND: PATTERN`, see matrix/gate/items.py):",
            "",
        ]
        entries = [f"- {item.describe()}" for item in open_items]
        lines += [*_maybe_folded(entries, f"{len(entries)} items"), ""]
    if covered:
        lines += ["Acknowledged:", ""]
        entries = [f"- {item.describe()}, accepted by {ack.describe()}" for item, ack in covered]
        lines += [*_maybe_folded(entries, f"{len(entries)} acknowledged items"), ""]
    unused = [ack for ack in result.acknowledgements if not any(ack is a for _, a in covered)]
    if unused:
        lines += ["Acknowledgements that matched nothing: "]
        lines += [", ".join(ack.describe() for ack in unused), ""]
    return lines


def _maybe_folded(entries: list[str], summary: str) -> list[str]:
    """A long list folded under its summary, so the verdict stays on a PR comment's first screen."""
    if len(entries) <= SHOWN_LISTED:
        return entries
    return ["<details>", f"<summary>{summary}</summary>", "", *entries, "</details>"]


def _misplaced_section(result: GateResult) -> list[str]:
    lines = []
    if result.misplaced:
        lines += ["### Misplaced tests", ""]
        lines += [f"- {finding.describe()}" for finding in result.misplaced] + [""]
    if result.unparsable:
        lines += [
            "Not checked for misplaced imports (they do not parse; their checkpoint run "
            "reports them): " + ", ".join(f"`{path}`" for path in result.unparsable),
            "",
        ]
    return lines


def _changes_section(selection: Selection) -> list[str]:
    if not selection.changes:
        return ["### Changed files", "", "None: the branch changes nothing since its base.", ""]
    rows = [["file", "reaches checkpoints", "because it is"]]
    rows += [
        [f"`{change.path}`", _reach(selection, change.first), change.why]
        for change in selection.changes
    ]
    return ["### Changed files", "", markdown_table(rows), ""]
