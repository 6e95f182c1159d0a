"""Asking git: one command's output, or a GitError that says what to do.

Below the gate: the run identity (which commit a record is of) and CI's job list ask git too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(ValueError):
    """git cannot answer, or the answer rules the gate out; the message says what to do."""


def git(root: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not on PATH; install git, the gate compares commits") from None
    if completed.returncode != 0:
        first_line = (completed.stderr.strip().splitlines() or ["no message"])[0]
        raise GitError(f"git {' '.join(args)} failed: {first_line}")
    return completed.stdout


def resolve_commit(root: Path, ref: str) -> str:
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except GitError:
        raise GitError(
            f"--base {ref!r} is not a commit in this repository; fetch it "
            f"(e.g. git fetch origin {ref}) or name an existing branch, tag or commit"
        ) from None
