"""The GitHub Actions matrix of checkpoint jobs, made from nox's own session list.

    nox -l --json -t checkpoint | python -m matrix.ci_matrix \\
        --pythons 3.10 3.11 3.12 3.13 3.14 --oldest-numpy-python 3.10 \\
        [--changed-since origin/main] >> "$GITHUB_OUTPUT"

prints one line, `include=[...]`, that a later job expands with
`strategy.matrix.include: ${{ fromJSON(needs.sessions.outputs.include) }}`. Each entry is one
job: every `moduleNN` session on every Python with the newest numpy, plus, per session, one
job on the oldest numpy that pyproject.toml allows (the session reads MATRIX_NUMPY).

With `--changed-since REF` (a pull request) only the checkpoints that the files changed in
REF...HEAD can break get jobs: the gate's own selection (matrix/gate/selection.py over
matrix/gate/changes.py), so CI and `nox -s gate` never disagree on what a branch reaches. The list
may then be empty (`include=[]`, a README-only change); the workflow skips the checkpoint job
for it. Which files selected what is written to stderr, for the log and the job summary.

The sessions come from nox rather than from matrix/modules.toml so that CI runs exactly the
sessions the noxfile registers: a module added to the manifest shows up in CI with no
workflow edit (`-t checkpoint`: the noxfile tags each `moduleNN` session so, whatever else is
or is not a default session). Standard library and matrix/ only (run from the repository
root), so it runs before anything but nox is installed. Bad input is one line on stderr and
exit code 2, never a traceback: it lands in a CI log.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from matrix.gate.changes import changed_files
from matrix.gate.selection import Selection, select_checkpoints
from matrix.git import GitError, resolve_commit
from matrix.manifest import CHECKPOINT_TAG, ManifestError, load_manifest

PROG = "python -m matrix.ci_matrix"
PYTHON_VERSION = re.compile(r"\d+\.\d+")
# GitHub rejects a matrix that expands to more jobs than this; say so before it does.
MAX_JOBS = 256
USAGE_ERROR = 2


class MatrixError(ValueError):
    """Input that cannot become a matrix; the message says what is wrong and what to do."""


def parse_nox_list(text: str) -> list[dict]:
    """The session objects in the text that `nox -l --json` prints."""
    if not text.strip():
        raise MatrixError("stdin is empty; pipe the output of `nox -l --json` into this command")
    try:
        sessions = json.loads(text)
    except json.JSONDecodeError as error:
        raise MatrixError(
            f"stdin is not JSON ({error}); pipe the output of `nox -l --json` into this command"
        ) from None
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise MatrixError(
            "stdin is JSON but not a list of session objects; "
            "pipe the output of `nox -l --json` into this command"
        )
    return sessions


def checkpoint_sessions(sessions: list[dict]) -> list[str]:
    """The distinct names of the sessions tagged CHECKPOINT_TAG, in checkpoint order.

    Matching nox's `name` (not its `session` signature, e.g. `module01-3.12`) keeps this right
    if the sessions ever get a python list: `--force-python` then picks one per job.
    """
    names = {
        s.get("name") for s in sessions if CHECKPOINT_TAG in (s.get("tags") or ()) and s.get("name")
    }
    found = sorted(str(name) for name in names)
    if not found:
        raise MatrixError(
            f"no session tagged {CHECKPOINT_TAG!r} in the nox session list; check that the "
            "noxfile registers one per module of matrix/modules.toml and that `nox -l` shows them"
        )
    return found


def check_pythons(pythons: Sequence[str], oldest_numpy_python: str) -> None:
    """Reject what setup-python would choke on, or would turn into two identical jobs."""
    if not pythons:
        raise MatrixError("--pythons: no Python version given; pass at least one, like 3.12")
    for option, version in [
        *(("--pythons", p) for p in pythons),
        ("--oldest-numpy-python", oldest_numpy_python),
    ]:
        if not PYTHON_VERSION.fullmatch(version):
            raise MatrixError(
                f"{option}: {version!r} is not a Python version of the form X.Y; write it like 3.12"
            )
    repeated = sorted({v for v in pythons if pythons.count(v) > 1})
    if repeated:
        # Two identical jobs would also collide on their artifact name.
        raise MatrixError(f"--pythons: {', '.join(repeated)} given twice; list each version once")


def matrix_include(
    sessions: list[dict],
    pythons: Sequence[str],
    oldest_numpy_python: str,
    affected: Collection[str] | None = None,
) -> list[dict[str, str]]:
    """One job per checkpoint session x python (newest numpy), plus one oldest-numpy job each;
    with `affected` (session names), only for those sessions."""
    check_pythons(pythons, oldest_numpy_python)
    listed = checkpoint_sessions(sessions)
    unlisted = sorted(set(affected or ()) - set(listed))
    if unlisted:
        # The noxfile registers one session per manifest entry; a gap means they disagree.
        raise MatrixError(
            f"the changes reach {', '.join(unlisted)}, which `nox -l` does not list; check "
            "that the noxfile registers one session per module of matrix/modules.toml"
        )
    include = []
    for session in listed if affected is None else [s for s in listed if s in affected]:
        include += [{"session": session, "python": p, "numpy": "latest"} for p in pythons]
        include.append({"session": session, "python": oldest_numpy_python, "numpy": "oldest"})
    if len(include) > MAX_JOBS:
        raise MatrixError(
            f"the matrix has {len(include)} jobs, more than GitHub's limit of {MAX_JOBS}; "
            "pass fewer --pythons or split the workflow"
        )
    return include


def affected_sessions(root: Path, base: str) -> tuple[set[str], Selection]:
    """The checkpoint sessions the files changed in base...HEAD can break, and the selection
    that says why (the gate's: matrix/gate/selection.py)."""
    try:
        commit = resolve_commit(root, base)
    except GitError:
        raise MatrixError(
            f"--changed-since {base!r} is not a commit in {root}; run from the repository root, "
            "with the base's history fetched (actions/checkout with fetch-depth: 0)"
        ) from None
    try:
        manifest = load_manifest(root)
        selection = select_checkpoints(manifest, changed_files(root, commit))
    except (GitError, ManifestError) as error:
        raise MatrixError(f"--changed-since {base}: {error}") from None
    return {manifest.module(number).session for number in selection.checkpoints}, selection


def explain(selection: Selection, base: str) -> str:
    """Markdown for the log and the job summary: what ran, what did not, and which file why."""
    ran = ", ".join(f"{number:02d}" for number in selection.checkpoints) or "none"
    skipped = ", ".join(f"{number:02d}" for number in selection.skipped) or "none"
    lines = [
        f"Checkpoints the changes since {base} can break: {ran}; not affected, not run: {skipped}.",
        "",
    ]
    for change in selection.changes:
        reach = "none" if change.first is None else f"checkpoint {change.first:02d} and later"
        lines.append(f"- `{change.path}` ({change.why}): {reach}")
    if not selection.changes:
        lines.append("- no file changed")
    return "\n".join(lines) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line like every other error here, instead of argparse's usage block.
        self.exit(USAGE_ERROR, f"{PROG}: error: {message}; see {PROG} --help\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog=PROG,
        description="Read `nox -l --json` on stdin; print `include=<JSON>` for $GITHUB_OUTPUT.",
    )
    parser.add_argument("--pythons", nargs="+", required=True, metavar="X.Y")
    parser.add_argument("--oldest-numpy-python", required=True, metavar="X.Y")
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="only the checkpoints that REF...HEAD can break (the gate's selection)",
    )
    args = parser.parse_args(argv)
    try:
        check_pythons(args.pythons, args.oldest_numpy_python)  # before waiting on stdin
        affected = None
        if args.changed_since is not None:
            affected, selection = affected_sessions(Path.cwd(), args.changed_since)
            print(explain(selection, args.changed_since), file=sys.stderr, end="")
        if sys.stdin.isatty():
            raise MatrixError("stdin is a terminal; pipe the output of `nox -l --json` into it")
        sessions = parse_nox_list(sys.stdin.read())
        include = matrix_include(sessions, args.pythons, args.oldest_numpy_python, affected)
    except MatrixError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print("include=" + json.dumps(include, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
