"""The CI matrix: which nox sessions become jobs, and how bad input is refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.ci_matrix import MatrixError, matrix_include, parse_nox_list

REPO_ROOT = Path(__file__).resolve().parents[2]


def nox_entry(session: str, name: str | None = None, python: object = None) -> dict:
    """One object shaped like those `nox -l --json` prints (nox 2026.10)."""
    return {
        "session": session,
        "name": name or session,
        "description": "",
        "python": python,
        "tags": [],
        "call_spec": {},
    }


# Checkpoints out of order and mixed with the tool sessions, plus names that only look close.
NOX_LIST = [
    nox_entry("lint"),
    nox_entry("module02"),
    nox_entry("report", python=False),
    nox_entry("module01"),
    nox_entry("selftest"),
    nox_entry("module1"),
    nox_entry("module001"),
    nox_entry("modules01"),
]


def run_cli(stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matrix.ci_matrix", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
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
    tools_only = [nox_entry("lint"), nox_entry("report"), nox_entry("module1")]
    with pytest.raises(MatrixError, match=r"^no session named moduleNN in the nox session list"):
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
            json.dumps([nox_entry("lint"), nox_entry("report")]),
            ("--pythons", "3.12", "--oldest-numpy-python", "3.10"),
            "no session named moduleNN in the nox session list; check that the noxfile "
            "registers one session per module of matrix/modules.toml and that `nox -l` shows them",
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
