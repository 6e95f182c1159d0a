"""A pytest plugin the audit and the gate load into a checkpoint's environment: tests, markers,
outcomes, failures.

    pytest --collect-only -p audit_plugin --audit-tests=tests.json tests/05_autograd
    pytest -p audit_plugin --audit-outcomes=outcomes.json -n auto tests/05_autograd

`--audit-tests` writes every collected test with the names of its markers (its own, its
class's, its module's pytestmark) after the suite's conftest has seen them, so a conftest
that rejects unmarked tests still does. `--audit-outcomes` writes each test's outcome by node
id (failed if any phase failed; skipped covers xfail) from the process that reports, which is
the pytest-xdist controller when workers run the tests. `--audit-failures` writes each failed
test's (or uncollectable file's) message in one line, for the gate to quote.

The audit (matrix/audit/measure.py) and the gate (matrix/gate/base.py) load it as every
plugin of matrix/pytest_plugins/ is loaded: copied alone, so it imports nothing from matrix/.
"""

from __future__ import annotations

import json
from pathlib import Path


def pytest_addoption(parser):
    group = parser.getgroup("matrix audit")
    group.addoption("--audit-tests", metavar="PATH", help="write the collected tests as JSON")
    group.addoption("--audit-outcomes", metavar="PATH", help="write the outcomes as JSON")
    group.addoption(
        "--audit-failures", metavar="PATH", help="write each failure's one-line message as JSON"
    )


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _write(path: str, data: object) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def pytest_collection_finish(session):
    path = session.config.getoption("audit_tests")
    if not path or _is_xdist_worker(session.config):
        return
    tests = [
        {
            "nodeid": item.nodeid,
            "cls": item.cls.__name__ if getattr(item, "cls", None) else None,
            "name": getattr(item, "originalname", None) or item.name,
            "markers": sorted({mark.name for mark in item.iter_markers()}),
        }
        for item in session.items
    ]
    _write(path, tests)


def _one_line(report) -> str:
    """What a failure says in one line: pytest's crash message, else the report's last line."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = getattr(crash, "message", "") or ""
    if not message:
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        message = lines[-1] if lines else "no message"
    return message.strip().splitlines()[0] if message.strip() else "no message"


class _Outcomes:
    def __init__(self, path: str | None, failures: str | None) -> None:
        self.path = path
        self.failures_path = failures
        self.outcomes: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
            self.failures.setdefault(report.nodeid, f"{report.when}: {_one_line(report)}")
        elif report.skipped and self.outcomes.get(report.nodeid) != "failed":
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and report.nodeid not in self.outcomes:
            self.outcomes[report.nodeid] = "passed"

    def pytest_collectreport(self, report):
        # A file that cannot be imported is a failure of every test it held.
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
            self.failures.setdefault(report.nodeid, f"collection: {_one_line(report)}")

    def pytest_sessionfinish(self, session):
        if self.path:
            _write(self.path, self.outcomes)
        if self.failures_path:
            _write(self.failures_path, self.failures)


def pytest_configure(config):
    paths = config.getoption("audit_outcomes"), config.getoption("audit_failures")
    if any(paths) and not _is_xdist_worker(config):
        config.pluginmanager.register(_Outcomes(*paths), "matrix-audit-outcomes")
