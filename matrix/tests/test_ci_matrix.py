"""The CI matrix: which nox sessions become jobs, and how bad input is refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.ci_matrix import MatrixError, affected_sessions, matrix_include, parse_nox_list
from matrix.manifest import CHECKPOINT_TAG
from matrix.tests.repo_helpers import commit_all, git, make_repository

REPO_ROOT = Path(__file__).resolve().parents[2]


def nox_entry(
    session: str, name: str | None = None, python: object = None, tags: tuple = (CHECKPOINT_TAG,)
) -> dict:
    """One object shaped like those `nox -l --json` prints (nox 2026.10)."""
    return {
        "session": session,
        "name": name or session,
        "description": "",
        "python": python,
        "tags": list(tags),
        "call_spec": {},
    }


# Checkpoints out of order and mixed with the tool sessions, untagged names that only look close.
NOX_LIST = [
    nox_entry("lint", tags=()),
    nox_entry("module02"),
    nox_entry("report", python=False, tags=()),
    nox_entry("module01"),
    nox_entry("selftest", tags=()),
    nox_entry("module1", tags=()),
    nox_entry("module001", tags=("vacuity",)),
    nox_entry("modules01", tags=()),
]


def run_cli(stdin: str, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matrix.ci_matrix", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        # The matrix package is this repository's, whichever repository the CLI reads.
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
        check=False,
    )


def test_include_has_every_python_and_one_oldest_numpy_job_per_checkpoint():
    assert matrix_include(NOX_LIST, ["3.10", "3.12"], "3.10") == [
        {"session": "module01", "python": "3.10", "numpy": "latest"},
        {"session": "module01", "python": "3.12", "numpy": "latest"},
        {"session": "module01", "python": "3.10", "numpy": "oldest"},
        {"session": "module02", "python": "3.10", "numpy": "latest"},
        {"session": "module02", "python": "3.12", "numpy": "latest"},
        {"session": "module02", "python": "3.10", "numpy": "oldest"},
    ]


def test_a_session_with_a_python_list_is_one_checkpoint():
    # nox lists `module03-3.11` and `module03-3.12`; `nox -s module03 --force-python` runs one.
    sessions = [
        nox_entry("module03-3.11", name="module03", python="3.11"),
        nox_entry("module03-3.12", name="module03", python="3.12"),
    ]
    assert matrix_include(sessions, ["3.13"], "3.11") == [
        {"session": "module03", "python": "3.13", "numpy": "latest"},
        {"session": "module03", "python": "3.11", "numpy": "oldest"},
    ]


def test_cli_prints_one_github_output_line():
    result = run_cli(
        json.dumps(NOX_LIST),
        *("--pythons", "3.10", "3.11", "3.12", "3.13", "--oldest-numpy-python", "3.10"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == (
        "include=["
        '{"session":"module01","python":"3.10","numpy":"latest"},'
        '{"session":"module01","python":"3.11","numpy":"latest"},'
        '{"session":"module01","python":"3.12","numpy":"latest"},'
        '{"session":"module01","python":"3.13","numpy":"latest"},'
        '{"session":"module01","python":"3.10","numpy":"oldest"},'
        '{"session":"module02","python":"3.10","numpy":"latest"},'
        '{"session":"module02","python":"3.11","numpy":"latest"},'
        '{"session":"module02","python":"3.12","numpy":"latest"},'
        '{"session":"module02","python":"3.13","numpy":"latest"},'
        '{"session":"module02","python":"3.10","numpy":"oldest"}'
        "]\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "stdin is empty"),
        ("nox > Running session lint\n", "stdin is not JSON (Expecting value: line 1 column 1"),
        ('{"session": "module01"}', "stdin is JSON but not a list of session objects"),
        ('["module01"]', "stdin is JSON but not a list of session objects"),
    ],
)
def test_input_that_is_not_a_nox_list_is_refused(text, message):
    with pytest.raises(MatrixError, match="pipe the output of `nox -l --json`") as caught:
        parse_nox_list(text)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("pythons", "oldest", "message"),
    [
        (["3"], "3.10", "--pythons: '3' is not a Python version of the form X.Y"),
        (["3.12", "py3.11"], "3.10", "--pythons: 'py3.11' is not a Python version"),
        (["3.12"], "3.10.4", "--oldest-numpy-python: '3.10.4' is not a Python version"),
        (["3.12", "3.11", "3.12"], "3.10", "--pythons: 3.12 given twice"),
        ([], "3.10", "--pythons: no Python version given"),
    ],
)
def test_bad_python_versions_are_refused(pythons, oldest, message):
    with pytest.raises(MatrixError) as caught:
        matrix_include(NOX_LIST, pythons, oldest)
    assert str(caught.value).startswith(message)


def test_no_checkpoint_session_is_refused():
    tools_only = [nox_entry(name, tags=()) for name in ("lint", "report", "module01")]
    with pytest.raises(MatrixError, match=r"^no session tagged 'checkpoint' in the nox"):
        matrix_include(tools_only, ["3.12"], "3.10")


def test_a_matrix_github_would_reject_is_refused():
    many = [nox_entry(f"module{n:02d}") for n in range(60)]  # 60 x (4 + 1) = 300 jobs
    with pytest.raises(MatrixError, match=r"^the matrix has 300 jobs, more than GitHub's limit"):
        matrix_include(many, ["3.10", "3.11", "3.12", "3.13"], "3.10")


PREFIX = "python -m matrix.ci_matrix: error: "


@pytest.mark.parametrize(
    ("stdin", "args", "message"),
    [
        (
            "not json",
            ("--pythons", "3.12", "--oldest-numpy-python", "3.10"),
            "stdin is not JSON (Expecting value: line 1 column 1 (char 0)); "
            "pipe the output of `nox -l --json` into this command",
        ),
        (
            json.dumps([nox_entry("lint", tags=()), nox_entry("report", tags=())]),
            ("--pythons", "3.12", "--oldest-numpy-python", "3.10"),
            "no session tagged 'checkpoint' in the nox session list; check that the noxfile "
            "registers one per module of matrix/modules.toml and that `nox -l` shows them",
        ),
        (
            json.dumps(NOX_LIST),
            ("--pythons", "3.12", "3", "--oldest-numpy-python", "3.10"),
            "--pythons: '3' is not a Python version of the form X.Y; write it like 3.12",
        ),
        (
            json.dumps(NOX_LIST),
            ("--pythons", "3.12", "--oldest-numpy-python", "latest"),
            "--oldest-numpy-python: 'latest' is not a Python version of the form X.Y; "
            "write it like 3.12",
        ),
        (
            json.dumps(NOX_LIST),
            ("--pythons", "3.12"),
            "the following arguments are required: --oldest-numpy-python; "
            "see python -m matrix.ci_matrix --help",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(stdin, args, message):
    result = run_cli(stdin, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == PREFIX + message + "\n"


# --- Pull requests: only the checkpoints the branch can break (the gate's selection) ---------

# The fake repo's two checkpoints as `nox -l --json` lists them.
FAKE_NOX_LIST = [nox_entry("module01"), nox_entry("module02"), nox_entry("lint", tags=())]


def branch_changing(root: Path, files: dict[str, str]) -> Path:
    """The fake repo committed on main, then a branch that writes files and commits them."""
    make_repository(root)
    git(root, "checkout", "-q", "-b", "topic")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    commit_all(root, "topic")
    return root


BRANCHES = {
    "readme only": ({"README.md": "words\n"}, set()),
    "suite 02": ({"tests/02_beta/test_beta.py": "# more\n"}, {"module02"}),
    "module 01 code": ({"tinytorch/core/alpha.py": "ALPHA = 1\n"}, {"module01", "module02"}),
    "the matrix tool": ({"matrix/report.py": "# edited\n"}, {"module01", "module02"}),
}


@pytest.mark.parametrize(("files", "sessions"), BRANCHES.values(), ids=BRANCHES.keys())
def test_a_branch_gets_the_sessions_its_changes_reach(fake_repo, files, sessions):
    root = branch_changing(fake_repo, files)
    affected, selection = affected_sessions(root, "main")
    assert affected == sessions
    assert [change.path for change in selection.changes] == sorted(files)


def test_only_affected_sessions_become_jobs_in_checkpoint_order():
    assert matrix_include(NOX_LIST, ["3.12"], "3.10", affected={"module02"}) == [
        {"session": "module02", "python": "3.12", "numpy": "latest"},
        {"session": "module02", "python": "3.10", "numpy": "oldest"},
    ]
    assert matrix_include(NOX_LIST, ["3.12"], "3.10", affected=set()) == []


def test_an_affected_session_nox_does_not_list_is_refused():
    with pytest.raises(MatrixError, match=r"^the changes reach module09, which `nox -l` does not"):
        matrix_include(NOX_LIST, ["3.12"], "3.10", affected={"module02", "module09"})


def test_cli_readme_only_branch_gets_an_empty_include_and_says_why(fake_repo):
    root = branch_changing(fake_repo, {"README.md": "words\n"})
    args = ("--pythons", "3.12", "--oldest-numpy-python", "3.10", "--changed-since", "main")
    result = run_cli(json.dumps(FAKE_NOX_LIST), *args, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "include=[]\n"
    assert result.stderr == (
        "Checkpoints the changes since main can break: none; not affected, not run: 01, 02.\n\n"
        "- `README.md` (not package code, a suite or the matrix tool): none\n"
    )


def test_cli_suite_branch_gets_only_that_checkpoint(fake_repo):
    root = branch_changing(fake_repo, {"tests/02_beta/test_beta.py": "# more\n"})
    args = ("--pythons", "3.12", "--oldest-numpy-python", "3.10", "--changed-since", "main")
    result = run_cli(json.dumps(FAKE_NOX_LIST), *args, cwd=root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.removeprefix("include=")) == [
        {"session": "module02", "python": "3.12", "numpy": "latest"},
        {"session": "module02", "python": "3.10", "numpy": "oldest"},
    ]
    assert "- `tests/02_beta/test_beta.py` (suite 02_beta): checkpoint 02 and later\n" in (
        result.stderr
    )


def test_cli_base_that_is_not_a_commit_is_one_line_and_exit_2(fake_repo):
    root = make_repository(fake_repo)
    args = ("--pythons", "3.12", "--oldest-numpy-python", "3.10", "--changed-since", "origin/main")
    result = run_cli(json.dumps(FAKE_NOX_LIST), *args, cwd=root)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"{PREFIX}--changed-since 'origin/main' is not a commit in {root}; run from the "
        "repository root, with the base's history fetched (actions/checkout with fetch-depth: 0)\n"
    )


# --- uv.lock: CI's pins (.github/actions/setup) ----------------------------------------------


def test_uv_lock_is_in_sync_with_pyproject():
    # The matrix group installs uv; offline, so the check needs no registry while in sync.
    from uv import find_uv_bin

    result = subprocess.run(
        [find_uv_bin(), "lock", "--check", "--offline"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        "uv.lock does not match pyproject.toml's dependency groups; run `uv lock` at the "
        f"repository root and commit uv.lock:\n{result.stderr}"
    )
