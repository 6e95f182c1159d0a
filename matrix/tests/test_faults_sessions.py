"""Faults a checkpoint session meets, each reproduced as a user meets it (real nox, real pytest,
in the fake repo of conftest.py) and each ending in a clear record or message:

1. a test module that hangs at import: "timed out during collection", naming the file;
2. a test that kills the interpreter under `-n 0` (as under `nox -j`): the tests that ran keep
   their counts and the crashing test is named;
3. `kill -9` of `nox -j`: its child sessions and their pytest end, and claim no result;
4. a checkpoint wheel cut short in the build folder: rebuilt, with a note, not reused;
5. `MATRIX_IMPL=... python -m matrix build N` builds the implementation pointed at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from matrix.pytest_plugins.collection_bound import TIMEOUT_ENV
from matrix.sessions.parent_watch import PARENT_DIED
from matrix.tests.repo_helpers import ALPHA_MODULE

# Longer than any of these sessions takes when it works (seconds): a run still going then hangs.
SESSION_LIMIT = 240


def run(root: Path, *command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A command in the fake repo, as a user types it, stopped with everything it started
    (failing the test) if it hangs."""
    with subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # its own process group, to stop it whole
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=SESSION_LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, _ = process.communicate()
            pytest.fail(f"`{' '.join(command)}` still running after {SESSION_LIMIT} s: {stdout}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def record(root: Path, checkpoint: int) -> dict:
    (path,) = (root / "reports/runs").glob(f"checkpoint-{checkpoint:02d}-*.json")
    return json.loads(path.read_text())


HANGS_AT_IMPORT = "import time\n\ntime.sleep(3600)\n\n\ndef test_never_reached():\n    pass\n"


@pytest.mark.parametrize(
    ("hangs", "workers"),  # "0": pytest's own process, as under `nox -j`; "2": xdist workers
    [
        ("tests/01_alpha/test_hangs.py", "0"),
        ("tests/01_alpha/test_hangs.py", "2"),
        ("tests/01_alpha/conftest.py", "2"),  # imported before any worker starts
    ],
)
def test_a_module_that_hangs_at_import_times_out_during_collection(
    fake_repo_with_tools, hangs, workers
):
    root = fake_repo_with_tools
    (root / hangs).write_text(HANGS_AT_IMPORT)
    # Well above the collection's own time on a busy machine, well below SESSION_LIMIT.
    session = run(root, "nox", "-s", "module01", "--", "-n", workers, env={TIMEOUT_ENV: "30"})
    assert session.returncode != 0, session.stdout + session.stderr
    written = record(root, 1)
    assert written["status"] == "timed out", written
    assert written["detail"].startswith("timed out during collection (bound 30 s): hung in "), (
        written["detail"]
    )
    assert f"{hangs}:3 (<module>)" in written["detail"], written["detail"]


def test_a_bad_collection_bound_is_refused_naming_the_variable(fake_repo_with_tools):
    session = run(fake_repo_with_tools, "nox", "-s", "module01", env={TIMEOUT_ENV: "2min"})
    assert session.returncode != 0
    assert (
        f"{TIMEOUT_ENV}='2min' is not a number of seconds; unset it for the default (120 s) "
        f"or give e.g. {TIMEOUT_ENV}=300"
    ) in session.stdout + session.stderr


CRASHES = """\
import os


def test_before():
    pass


def test_skipped():
    pytest.skip("not here")


@pytest.mark.parametrize("x", [1])
def test_kills_the_interpreter(x):
    {kill}


def test_after():
    pass
"""


@pytest.mark.parametrize("kill", ["os.abort()", "os._exit(3)"])
def test_a_test_that_kills_the_interpreter_is_named_and_the_counts_kept(fake_repo_with_tools, kill):
    root = fake_repo_with_tools
    (root / "tests/01_alpha/test_crash.py").write_text(
        "import pytest\n" + CRASHES.format(kill=kill)
    )
    session = run(root, "nox", "-s", "module01", "--", "-n", "0", "-p", "no:randomly")
    assert session.returncode != 0, session.stdout + session.stderr
    written = record(root, 1)
    assert written["status"] == "crashed", written
    assert written["detail"] == "1 crashed (test_kills_the_interpreter[1])", written["detail"]
    # test_alpha.py's test, test_before and test_skipped ran before it, the guard's before them.
    assert written["suites"]["01_alpha"] == {
        "passed": 2,
        "failed": 1,
        "skipped": 1,
        "seconds": written["suites"]["01_alpha"]["seconds"],
    }
    assert written["suites"]["guard"]["passed"] > 0
    assert written["suites"]["guard"]["failed"] == 0
    assert written["files"]["tests/01_alpha/test_crash.py"] == 3  # test_after never ran


def test_a_failure_and_a_crash_are_both_said(fake_repo_with_tools):
    root = fake_repo_with_tools
    (root / "tests/01_alpha/test_crash.py").write_text(
        "import pytest\n\n\ndef test_fails():\n    assert 1 == 2\n\n"
        + CRASHES.format(kill="os.abort()")
    )
    session = run(root, "nox", "-s", "module01", "--", "-n", "0", "-p", "no:randomly")
    assert session.returncode != 0, session.stdout + session.stderr
    written = record(root, 1)
    assert (written["status"], written["detail"]) == (
        "failed",
        "1 failed; 1 crashed (test_kills_the_interpreter[1])",
    ), written


SLOW = """\
import os
import time
from pathlib import Path


def test_slow():
    Path(os.environ["FAULTS_STARTED"], str(os.getpid())).touch()
    time.sleep(90)
"""


def process_ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has ended; only its parent has yet to reap it


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes' states in /proc")
def test_sessions_of_a_killed_nox_end_and_claim_no_result(fake_repo_with_tools, tmp_path):
    root = fake_repo_with_tools
    for suite in ("01_alpha", "02_beta"):
        (root / f"tests/{suite}/test_slow.py").write_text(SLOW)
    started = tmp_path / "started"
    started.mkdir()
    env = {**os.environ, "FAULTS_STARTED": str(started)}
    nox = subprocess.Popen(
        [sys.executable, "-m", "nox", "-j", "2", "-s", "module01", "module02"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so that nothing of the test's own is in its process groups
    )
    deadline = time.monotonic() + SESSION_LIMIT
    while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    pytest_pids = [int(path.name) for path in started.iterdir()]
    assert len(pytest_pids) == 2, "both sessions' slow tests should have started"

    nox.send_signal(signal.SIGKILL)
    nox.wait()
    deadline = time.monotonic() + 30
    while not all(map(process_ended, pytest_pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    still = [pid for pid in pytest_pids if not process_ended(pid)]
    for pid in still:  # the test's own clean-up: the failure below says what was wrong
        os.kill(pid, signal.SIGKILL)
    assert not still, "the sessions' pytest went on after their nox was killed"

    time.sleep(2)  # the sessions' last words, had they any left
    for checkpoint in (1, 2):
        written = record(root, checkpoint)
        assert (written["status"], written["detail"]) == ("crashed", PARENT_DIED), written


def test_a_wheel_cut_short_is_rebuilt_not_reinstalled(fake_repo_with_tools):
    root = fake_repo_with_tools
    first = run(root, "nox", "-s", "module01")
    assert first.returncode == 0, first.stdout + first.stderr
    (wheel,) = (root / "build/checkpoints/cp01").glob("*.whl")
    whole = wheel.read_bytes()
    wheel.write_bytes(whole[: len(whole) // 2])  # as a build killed while writing it leaves it

    second = run(root, "nox", "-s", "module01")
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert (
        f"checkpoint 01: {wheel.name} does not match the sha256 recorded when it was built "
        "(cut short or changed); rebuilding it"
    ) in output
    assert wheel.read_bytes() == whole, "the same sources build the same bytes again"
    assert record(root, 1)["status"] == "passed"


def test_a_wheel_without_its_sha256_record_is_rebuilt(fake_repo_with_tools):
    root = fake_repo_with_tools
    built = run(root, "matrix", "build", "1")
    assert built.returncode == 0, built.stderr
    wheel = Path(built.stdout.strip())
    Path(f"{wheel}.sha256").unlink()
    again = run(root, "matrix", "build", "1")
    assert again.returncode == 0, again.stderr
    assert f"checkpoint 01: {wheel.name} has no recorded sha256; rebuilding it" in again.stderr
    assert Path(f"{wheel}.sha256").read_text().split()[1] == wheel.name


def test_matrix_build_builds_the_implementation_that_matrix_impl_names(
    fake_repo_with_tools, tmp_path
):
    root = fake_repo_with_tools
    learner = tmp_path / "ada"
    learner_alpha = ALPHA_MODULE.replace("ALPHA = 1", "ALPHA = 1  # ada's")
    (learner / "tinytorch/core").mkdir(parents=True)
    (learner / "tinytorch/core/alpha.py").write_text(learner_alpha)

    built = run(root, "matrix", "build", "1", env={"MATRIX_IMPL": str(learner)})
    assert built.returncode == 0, built.stderr
    wheel = Path(built.stdout.strip())
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("tinytorch/core/alpha.py").decode() == learner_alpha
    assert wheel.parent.parent.name.startswith("ada-"), "in the learner's own build folder"
    assert f"(built from {learner / 'tinytorch'})" in built.stderr

    reference = run(root, "matrix", "build", "1", env={"MATRIX_IMPL": ""})
    assert reference.returncode == 0, reference.stderr
    with zipfile.ZipFile(Path(reference.stdout.strip())) as archive:
        assert archive.read("tinytorch/core/alpha.py").decode() == ALPHA_MODULE
