"""Which commit and which nox invocation a run record comes from, and when it started.

The report shows a record as current only if it was made from the commit the repository is
at now (and, inside a nox invocation that wrote records, by that invocation), so a record of
an earlier commit or run can never pass for today's result (matrix/sessions/report.py).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from matrix.git import GitError, git

# Shared by every session of one nox invocation: the noxfile sets it at import unless it is
# already set (`nox -j` runs sessions in threads of one process; the gate runs nox as a
# subprocess with its own value, which its sessions must keep).
RUN_ID_ENV = "MATRIX_RUN_ID"
RUN_ID_CHARS = 12
# Appended to the commit when tracked files differ from it: the code tested was not the commit.
DIRTY = "+dirty"
DIRTY_DIGEST_CHARS = 8
COMMIT_CHARS = 12


@dataclass(frozen=True)
class RunIdentity:
    commit: str  # HEAD's sha (+dirty), "" outside a git repository
    run_id: str  # the nox invocation's MATRIX_RUN_ID
    started: str  # ISO 8601, UTC

    def describe(self) -> str:
        """'commit abc123def456+dirty, run 1a2b3c4d5e6f, started 2026-12-01T09:00:00Z'."""
        return (
            f"commit {short_commit(self.commit)}, run {self.run_id or 'unknown'}, "
            f"started {self.started or 'unknown'}"
        )


def short_commit(commit: str) -> str:
    """'abc123def456', 'abc123def456+dirty.1a2b3c4d', or 'unknown' (no git, an older record)."""
    if not commit:
        return "unknown"
    head, dirty, edits = commit.partition(DIRTY)
    return head[:COMMIT_CHARS] + dirty + edits


def repo_commit(root: Path) -> str:
    """HEAD's sha; if a tracked file is modified, DIRTY and a digest of the edits (so a record
    made before a further edit is not current after it); "" if root is not in git."""
    try:
        head = git(root, "rev-parse", "--verify", "HEAD").strip()
        edits = git(root, "diff", "HEAD", "--binary")
    except GitError:
        return ""
    if not edits:
        return head
    return f"{head}{DIRTY}.{hashlib.sha256(edits.encode()).hexdigest()[:DIRTY_DIGEST_CHARS]}"


def current_run_id() -> str:
    return os.environ.get(RUN_ID_ENV, "")


def ensure_run_id() -> str:
    """This nox invocation's run id: the one it was given, else a new one for its sessions."""
    return os.environ.setdefault(RUN_ID_ENV, uuid.uuid4().hex[:RUN_ID_CHARS])


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def this_run(root: Path) -> RunIdentity:
    """The identity of a session starting now in the repository at root."""
    return RunIdentity(repo_commit(root), current_run_id(), utc_now())
