"""What a branch did to the suites' strength, item by item, and how a reviewer accepts an item.

An item is something that can make the suites weaker while every test stays green: a test
removed, renamed, deselected or newly skipped, a conftest or the guard changed, a planted bug
that the base's suites catch and the head's do not. Each one is NO-GO until it is
acknowledged, and every acknowledgement is printed in the report beside what it covered.

An acknowledgement says `KIND: PATTERN`, PATTERN an fnmatch pattern over the item's subject
(a test's node id, a path, a skip's reason, a planted bug's id). It comes from a trailer in a
commit of the branch, so it is reviewed and merged with the change it excuses:

    Gate-Accept: removed test: tests/08_dataloader/test_batching.py::*

or, for a local try, from `nox -s gate -- --base main --accept "removed test: ..."`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from matrix.git import git

TRAILER = "Gate-Accept"
ACCEPT_FLAG = "--accept"

# Kinds of item: the word an acknowledgement names, and what its subject is.
REMOVED_TEST = "removed test"  # a node id the base collected at a checkpoint and the head does not
SKIP_MARKER = "skip marker"  # a node id the head marks skip/skipif/xfail and the base did not
SKIPPED = "skipped"  # a skip reason met in the head's checkpoint run
REMOVED_SUITE = "removed suite"  # a suite folder of the base's manifest the head lacks
REMOVED_MODULE = "removed module"  # a module number ("08") of the base's manifest the head lacks
CONFTEST = "conftest"  # the path of a conftest.py added, changed or deleted
GUARD = "guard"  # the path of the checkpoint guard, changed
BASE_TEST_FAILS = "base test fails"  # a node id of the base's version failing on the head's code
BASE_GUARD_FAILS = "base guard fails"  # "NN node id": the base's guard failing at checkpoint NN
REMOVED_MUTANT = "removed mutant"  # a planted bug's id in the base's catalog and not the head's
MUTANT_SURVIVES = "mutant survives"  # a planted bug's id the head's suites let through
KINDS = (
    REMOVED_TEST,
    SKIP_MARKER,
    SKIPPED,
    REMOVED_SUITE,
    REMOVED_MODULE,
    CONFTEST,
    GUARD,
    BASE_TEST_FAILS,
    BASE_GUARD_FAILS,
    REMOVED_MUTANT,
    MUTANT_SURVIVES,
)


class AcknowledgementError(ValueError):
    """An acknowledgement that cannot be read; the message says which and how to write one."""


@dataclass(frozen=True)
class Item:
    kind: str
    subject: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.kind}: `{self.subject}`" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Acknowledgement:
    kind: str
    pattern: str
    source: str  # "commit 1a2b3c4d5e6f" or the flag

    def covers(self, item: Item) -> bool:
        return item.kind == self.kind and fnmatchcase(item.subject, self.pattern)

    def describe(self) -> str:
        return f"`{self.kind}: {self.pattern}` ({self.source})"


def parse_acknowledgement(text: str, source: str) -> Acknowledgement:
    kind, colon, pattern = text.partition(":")
    kind, pattern = kind.strip(), pattern.strip()
    if not colon or kind not in KINDS or not pattern:
        raise AcknowledgementError(
            f"{source}: cannot read the acknowledgement {text.strip()!r}; write "
            f"'KIND: PATTERN' with KIND one of: {', '.join(KINDS)} "
            f"(e.g. '{REMOVED_TEST}: tests/08_dataloader/test_batching.py::*')"
        )
    return Acknowledgement(kind, pattern, source)


def acknowledgements_in_commits(root: Path, base: str) -> list[Acknowledgement]:
    """The Gate-Accept trailers of the commits base..HEAD, oldest first."""
    listing = git(
        root,
        "log",
        "--reverse",
        f"--format=%H%x1f%(trailers:key={TRAILER},valueonly,separator=%x1f)%x1e",
        f"{base}..HEAD",
    )
    found = []
    for entry in filter(str.strip, listing.split("\x1e")):
        commit, *values = entry.strip().split("\x1f")
        source = f"trailer of commit {commit[:12]}"
        found += [parse_acknowledgement(value, source) for value in values if value.strip()]
    return found


def split_acknowledged(
    items: list[Item], acknowledgements: list[Acknowledgement]
) -> tuple[list[Item], list[tuple[Item, Acknowledgement]]]:
    """The items no acknowledgement covers, and each covered item with its first cover."""
    open_items, covered = [], []
    for item in items:
        cover = next((ack for ack in acknowledgements if ack.covers(item)), None)
        if cover is None:
            open_items.append(item)
        else:
            covered.append((item, cover))
    return open_items, covered
