"""What the gate found, and the verdict it implies: GO only when nothing blocks.

Nothing blocks when every selected checkpoint has a passing run record from this gate run,
every check (vacuity of the changed modules, lint) passed, no test file is misplaced, every
item (matrix/gate/items.py) is acknowledged and nothing stopped the gate from running.
Whatever did not run is a blocker, never a silent pass. matrix/gate/render.py writes it down.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from matrix.gate.items import Acknowledgement, Item, split_acknowledged
from matrix.gate.selection import Selection
from matrix.misplaced import Misplaced
from matrix.records import Status, SuiteCount
from matrix.run_identity import RUN_ID_CHARS, utc_now

GO = "GO"
NO_GO = "NO-GO"
# How many failing tests or items a reason names before "and N more".
SHOWN_FAILURES = 5


@dataclass
class CheckpointOutcome:
    number: int
    # A Status, or a word of the gate's own for a record it cannot use (matrix/gate/outcomes.py).
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
    # What the branch did to the suites' strength (matrix/gate/items.py), and what the branch's
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
            if outcome.status != Status.PASSED:
                reasons.append(f"checkpoint {outcome.number:02d}: {checkpoint_text(outcome)}")
        for check in self.checks:
            if check.status != Status.PASSED:
                reasons.append(f"{check.name}: {check_text(check)}")
        reasons += [f"misplaced test: {finding.describe()}" for finding in self.misplaced]
        by_kind: dict[str, list[Item]] = {}
        for item in self.open_items():
            by_kind.setdefault(item.kind, []).append(item)
        for kind, items in by_kind.items():
            subjects = [item.subject for item in items]
            reasons.append(
                f"{kind}: {len(items)} not acknowledged: {some(subjects, SHOWN_FAILURES, True)}"
            )
        return reasons

    @property
    def verdict(self) -> str:
        return NO_GO if self.blockers() else GO


def checkpoint_text(outcome: CheckpointOutcome) -> str:
    """'failed (detail); failing: `a`, `b`': a checkpoint's outcome in one line."""
    text = outcome.status + (f" ({outcome.detail})" if outcome.detail else "")
    if outcome.failures:
        text += "; failing: " + some(outcome.failures, SHOWN_FAILURES, quote=True)
    return text


def check_text(check: CheckOutcome) -> str:
    if check.vacuous:
        return f"{len(check.vacuous)} test(s) not failing with the module stubbed: " + some(
            check.vacuous, SHOWN_FAILURES, quote=True
        )
    return check.status + (f" ({check.detail})" if check.detail else "")


def some(items: list[str], shown: int, quote: bool = False) -> str:
    """The first `shown` of items, then "and N more"."""
    listed = [f"`{item}`" if quote else item for item in items[:shown]]
    more = len(items) - shown
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "")
