"""What the gate found, the verdict it implies, and the Markdown that says so.

The verdict is GO only when nothing blocks: every selected checkpoint has a passing run
record from this gate run, every check (vacuity of the changed modules, lint) passed, no test
file is misplaced and nothing stopped the gate from running. Whatever did not run is a
blocker, never a silent pass. The Markdown is written for a pull-request comment: the verdict
and its reasons first, then which checkpoints ran and which changed files selected them,
what was skipped and why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from matrix.gate_items import Acknowledgement, Item, split_acknowledged
from matrix.misplaced import Misplaced
from matrix.results import PASSED, SuiteCount
from matrix.run_identity import RUN_ID_CHARS, utc_now
from matrix.selection import Selection

GO = "GO"
NO_GO = "NO-GO"
NOT_RUN = "not run"
# How much of a long list a PR comment shows before "and N more".
SHOWN_FILES = 3
SHOWN_FAILURES = 5
SHOWN_LISTED = 10


@dataclass
class CheckpointOutcome:
    number: int
    status: str
    detail: str = ""
    counts: SuiteCount | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class CheckOutcome:
    """A check beside the checkpoints: lint, or the vacuity check of one module."""

    name: str
    status: str
    detail: str = ""
    vacuous: list[str] = field(default_factory=list)


@dataclass
class GateResult:
    # This gate run: the id its nox run stamps on every record, and when it started.
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:RUN_ID_CHARS])
    started: str = field(default_factory=utc_now)
    base: str = ""
    base_commit: str = ""
    head_commit: str = ""
    implementation: str = "reference"
    implementation_digest: str = ""
    selection: Selection | None = None
    checkpoints: list[CheckpointOutcome] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    misplaced: list[Misplaced] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)
    # What kept the gate from running (bad input) or from trusting what ran (nox broke).
    problems: list[str] = field(default_factory=list)
    # What the branch did to the suites' strength (matrix/gate_items.py), and what the branch's
    # commits or --accept say about it; what was done to find out.
    items: list[Item] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    against_base: list[str] = field(default_factory=list)

    def open_items(self) -> list[Item]:
        return split_acknowledged(self.items, self.acknowledgements)[0]

    def blockers(self) -> list[str]:
        reasons = list(self.problems)
        if self.selection is None and not self.problems:
            reasons.append("no checkpoints were selected: the gate stopped before the diff")
        for outcome in self.checkpoints:
            if outcome.status != PASSED:
                reasons.append(f"checkpoint {outcome.number:02d}: {_status(outcome)}")
        for check in self.checks:
            if check.status != PASSED:
                reasons.append(f"{check.name}: {_check_status(check)}")
        reasons += [f"misplaced test: {finding.describe()}" for finding in self.misplaced]
        by_kind: dict[str, list[Item]] = {}
        for item in self.open_items():
            by_kind.setdefault(item.kind, []).append(item)
        for kind, items in by_kind.items():
            subjects = [item.subject for item in items]
            reasons.append(
                f"{kind}: {len(items)} not acknowledged: {_some(subjects, SHOWN_FAILURES, True)}"
            )
        return reasons

    @property
    def verdict(self) -> str:
        return NO_GO if self.blockers() else GO


def _status(outcome: CheckpointOutcome) -> str:
    text = outcome.status + (f" ({outcome.detail})" if outcome.detail else "")
    if outcome.failures:
        text += "; failing: " + _some(outcome.failures, SHOWN_FAILURES, quote=True)
    return text


def _check_status(check: CheckOutcome) -> str:
    if check.vacuous:
        return f"{len(check.vacuous)} test(s) not failing with the module stubbed: " + _some(
            check.vacuous, SHOWN_FAILURES, quote=True
        )
    return check.status + (f" ({check.detail})" if check.detail else "")


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a '|' in it would end the cell."""
    return text.replace("|", "\\|")


def _some(items: list[str], shown: int, quote: bool = False) -> str:
    listed = [f"`{item}`" if quote else item for item in items[:shown]]
    more = len(items) - shown
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "")


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
        lines += [
            "| checkpoint | result | passed/failed/skipped | selected by |",
            "|---|---|---|---|",
        ]
        for outcome in result.checkpoints:
            chosen_by = [f"`{path}`" for path in selection.selected_by(outcome.number)]
            lines.append(
                f"| {outcome.number:02d} | {_cell(outcome.status)} | {_counts(outcome.counts)} "
                f"| {_cell(_some(chosen_by, SHOWN_FILES))} |"
            )
        lines.append("")
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
    lines = ["### Checks", "", "| check | result |", "|---|---|"]
    for check in result.checks:
        if check.vacuous:
            lines.append(f"| {check.name} | failed: {len(check.vacuous)} vacuous (listed below) |")
        else:
            lines.append(f"| {check.name} | {_cell(_check_status(check))} |")
    found = f"{len(result.misplaced)} found (listed below)" if result.misplaced else "none"
    lines.append(f"| misplaced tests | {found} |")
    lines.append("")
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
            "`Gate-Accept: KIND: PATTERN`, see matrix/gate_items.py):",
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
    lines = [
        "### Changed files",
        "",
        "| file | reaches checkpoints | because it is |",
        "|---|---|---|",
    ]
    for change in selection.changes:
        reach = _reach(selection, change.first)
        lines.append(f"| `{_cell(change.path)}` | {reach} | {change.why} |")
    return [*lines, ""]
