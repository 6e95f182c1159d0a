"""A pytest plugin the checkpoint sessions load (`-p progress_log`): what ran, kept as it runs.

Under `nox -j` a checkpoint runs its tests in pytest's own process (`-n 0`), where a test that
kills the interpreter (os.abort(), a segfault, os._exit()) takes pytest down before it writes
its JUnit XML: every count is lost and nothing names the culprit. pytest-xdist survives that
(a worker that dies is named and replaced), but one worker per checkpoint costs a third more
CPU time (warm checkpoint 05: 15.9 s against 11.9 s, user+sys, mean of five runs each). This
plugin costs two short lines per test instead (2% of that checkpoint's CPU time, measured the
same way): when MATRIX_PROGRESS_LOG names a file, it appends a JSON line as each test starts
and another with the test's outcome when it ends, each flushed at once. After a crash the
session turns the lines into JUnit XML (`junit_from_progress`): every test that finished keeps
its outcome, and the test that started and never ended is a failure "crashed: ...", which
matrix/junit.py counts and names like a crashed xdist worker's test. Under xdist (`-n 1` or
more) the plugin stays idle: xdist already names a crashed worker's test.

matrix/sessions/checkpoint.py copies this file alone into a folder on PYTHONPATH (the repo root
would shadow the installed tinytorch) and imports `junit_from_progress` from it: it imports
nothing from matrix/, and not pytest, which the nox process may not have.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

LOG_ENV = "MATRIX_PROGRESS_LOG"
# The failure message of the test that was running when the process died; matrix/junit.py
# counts a failure whose message says "crashed" as a crash.
CRASH_MESSAGE = "crashed: the test process died while running this test ({how})"

# The open log of this process (empty: not logging, e.g. under xdist).
_log: list = []
# The test running now: its phases' time, outcome and message so far (one line when it ends).
_current: dict = {}


def pytest_configure(config):
    path = os.environ.get(LOG_ENV)
    under_xdist = hasattr(config, "workerinput") or config.getoption("numprocesses", None)
    if path and not under_xdist:
        _log.append(open(path, "a", encoding="utf-8"))  # noqa: SIM115 - open for the whole run


def pytest_unconfigure(config):
    if _log:
        _log.pop().close()


def _write(entry: dict) -> None:
    if _log:
        _log[0].write(json.dumps(entry) + "\n")
        _log[0].flush()  # into the OS's hands now: a crash of this process cannot lose it


def pytest_runtest_logstart(nodeid, location):
    _current.clear()
    _current.update(nodeid=nodeid, outcome="passed", time=0.0)
    _write({"started": nodeid})


def pytest_runtest_logreport(report):
    if not _log:
        return
    _current["time"] += report.duration
    # The first failure decides, as in pytest's JUnit XML; a skip only stands over a pass.
    if report.failed and _current["outcome"] != "failed":
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash else str(report.longrepr).splitlines()[-1]
        _current.update(outcome="failed", message=message)
    elif report.skipped and _current["outcome"] == "passed":
        _current.update(outcome="skipped", message=_skip_reason(report))
    if report.when == "teardown":
        properties = [[str(name), str(value)] for name, value in report.user_properties]
        _write({**_current, "properties": properties})


def _skip_reason(report) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}".rstrip(": ")
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's JUnit XML spells a node id (junitxml.mangle_test_address)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def junit_from_progress(log: Path, return_code: int | None) -> str | None:
    """The JUnit XML of the tests a progress log saw (None: it saw none), for the caller to
    write where pytest's own would have been and read as it reads that."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    tests: dict[str, dict] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line the crash cut short
        if "started" in entry:  # until its line comes, the test that was running
            tests[entry["started"]] = {"outcome": "running", "time": 0.0, "properties": []}
        else:
            tests[entry["nodeid"]] = entry
    if not tests:
        return None
    suite = ElementTree.Element("testsuite", name="pytest", tests=str(len(tests)))
    for nodeid, test in tests.items():
        classname, name = _junit_names(nodeid)
        case = ElementTree.SubElement(
            suite, "testcase", classname=classname, name=name, time=f"{test['time']:.3f}"
        )
        if test["properties"]:
            properties = ElementTree.SubElement(case, "properties")
            for key, value in test["properties"]:
                ElementTree.SubElement(properties, "property", name=key, value=value)
        if test["outcome"] == "running":
            ElementTree.SubElement(case, "failure", message=crash_message(return_code))
        elif test["outcome"] in ("failed", "skipped"):
            tag = "failure" if test["outcome"] == "failed" else "skipped"
            ElementTree.SubElement(case, tag, message=test["message"])
    document = ElementTree.Element("testsuites")
    document.append(suite)
    return ElementTree.tostring(document, encoding="unicode")


def crash_message(return_code: int | None) -> str:
    return CRASH_MESSAGE.format(how=how_it_ended(return_code))


def how_it_ended(return_code: int | None) -> str:
    """'signal 6' or 'exit 3': how a process ended, from its return code."""
    return f"signal {-return_code}" if return_code and return_code < 0 else f"exit {return_code}"
