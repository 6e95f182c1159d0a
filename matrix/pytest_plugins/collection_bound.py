"""A pytest plugin the checkpoint sessions load (`-p collection_bound`): collection is bounded.

pytest-timeout bounds each test, not what comes before the tests: importing the conftests and
the test modules (and through them the implementation). A module that hangs at import, such as
a learner's training loop at module level or a lock that is never released, would hang its
checkpoint for ever and leave no record. This plugin arms faulthandler's watchdog before pytest
imports the first conftest and disarms it when collection is done, in pytest's own process and
in each xdist worker (an xdist controller, which collects nothing, disarms at session start).
When the watchdog fires, the traceback of every thread is appended to the file that
MATRIX_COLLECTION_DUMP names and the process exits at once; the session reads that file
(`collection_timeout_detail`) and records the run as timed out during collection, naming where
it hung.

The bound is 120 s (MATRIX_COLLECTION_TIMEOUT overrides it): a warm checkpoint 08 collects its
few thousand tests in seconds on two busy cores, so 120 s leaves a wide margin for a slow
machine or an implementation that works at import, and a hang still costs two minutes, well
under pytest-timeout's 300 s for a single test.

matrix/sessions/checkpoint.py copies this file alone into a folder on PYTHONPATH (the repo root
would shadow the installed tinytorch), and imports its constants and its reader of the dump:
it imports nothing from matrix/, and not pytest, which the nox process may not have.
"""

from __future__ import annotations

import faulthandler
import os
import re
from pathlib import Path

TIMEOUT_ENV = "MATRIX_COLLECTION_TIMEOUT"
DUMP_ENV = "MATRIX_COLLECTION_DUMP"
DEFAULT_TIMEOUT_SECONDS = 120.0
# One line of a faulthandler traceback: '  File "/path/x.py", line 3 in <module>'.
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<function>.+)$')
THREAD = re.compile(r"^(Current thread|Thread) ")

# The file the watchdog writes to; faulthandler needs it open for as long as it is armed.
_armed: list = []


def timeout_seconds() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise ValueError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; unset it for the default "
            f"({DEFAULT_TIMEOUT_SECONDS:g} s) or give e.g. {TIMEOUT_ENV}=300"
        ) from None
    if seconds <= 0:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r} must be more than 0 seconds")
    return seconds


def _arm() -> None:
    path = os.environ.get(DUMP_ENV)
    if not path or _armed:
        return
    if Path(path).is_file() and Path(path).stat().st_size:
        # An xdist worker started in place of one whose collection timed out: this run is
        # already timed out during collection, and collecting again would only hang again
        # (xdist replaces a dead worker up to 4 times per worker: minutes, not seconds).
        os._exit(1)
    # Appended to: each xdist worker is a process of its own with its own watchdog.
    dump = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open while the watchdog is armed
    _armed.append(dump)
    faulthandler.dump_traceback_later(timeout_seconds(), file=dump, exit=True)


def _disarm() -> None:
    if _armed:
        faulthandler.cancel_dump_traceback_later()
        _armed.pop().close()


def pytest_load_initial_conftests(early_config, parser, args):
    # pytest's own implementation, which imports the conftests, runs after every other one.
    _arm()


def pytest_sessionstart(session):
    if session.config.pluginmanager.has_plugin("dsession"):
        _disarm()  # an xdist controller: its workers collect, each under its own watchdog


def pytest_collection_finish(session):
    _disarm()


def collection_timeout_detail(dump: Path, root: Path) -> str | None:
    """What a checkpoint's record says when the watchdog fired (None: it did not): the bound and
    the innermost frame of the thread that was collecting, and the test file it was importing.
    """
    try:
        text = dump.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    threads: list[list[str]] = []
    for line in text.splitlines():
        if THREAD.match(line):
            threads.append([])
        elif (frame := FRAME.match(line)) and threads and not frame["path"].startswith("<"):
            threads[-1].append(_describe(frame, root))  # not importlib's <frozen ...> frames
    collecting = [frames for frames in threads if any("_pytest" in f for f in frames)]
    frames = (collecting or threads or [[]])[-1]
    where = f": hung in {frames[0]}" if frames else ""
    importing = next((f for f in frames if f.startswith("tests/")), None)
    if importing and importing != frames[0]:
        where += f", importing {importing}"
    return f"timed out during collection (bound {timeout_seconds():g} s){where}"


def _describe(frame: re.Match, root: Path) -> str:
    path = Path(frame["path"])
    if path.is_relative_to(root):
        path = path.relative_to(root)
    return f"{path.as_posix()}:{frame['line']} ({frame['function']})"
