"""What git says a branch changed: the files of REF...HEAD, in a tree with nothing uncommitted.

The gate tests commits. The checkpoints are built from the working tree, so an uncommitted
edit or an untracked file (a stray test file is collected like any other) would be tested
without being part of what is merged: a dirty tree is refused rather than gated.
"""

from __future__ import annotations

from pathlib import Path

from matrix.git import GitError, git

SHOWN = 3


def require_clean_tree(root: Path) -> None:
    """Refuse uncommitted changes and untracked files (ignored ones, e.g. reports/, are fine)."""
    try:
        inside = git(root, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except GitError:
        inside = False
    if not inside:
        raise GitError(f"{root} is not a git working tree; the gate compares commits")
    status = git(root, "status", "--porcelain=v1", "--untracked-files=all", "-z")
    paths = porcelain_paths(status)
    if paths:
        shown = ", ".join(paths[:SHOWN]) + (
            f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
        )
        raise GitError(
            f"the working tree is not clean ({shown}): commit, stash or remove them "
            "(git stash -u), then gate again; the gate only tests committed changes"
        )


def porcelain_paths(status: str) -> list[str]:
    """The paths of `git status --porcelain=v1 -z`: 'XY path', a rename's old path after it."""
    entries = iter(status.split("\0"))
    paths = []
    for entry in entries:
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC":
                next(entries, None)
    return paths


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed on HEAD's side since it forked from base (git diff base...HEAD).

    Renames count as a deletion and an addition, so a test moved between suite folders
    selects the checkpoints of both folders.
    """
    try:
        listing = git(root, "diff", "--name-only", "--no-renames", "-z", f"{base}...HEAD")
    except GitError as error:
        raise GitError(
            f"cannot diff {base[:12]}...HEAD ({error}); do the branches share history?"
        ) from None
    return sorted(path for path in listing.split("\0") if path)
