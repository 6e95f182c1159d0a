"""Module 05 (autograd): every test here says which bug category it guards.

The categories are the rows of the autograd audit's "Bug-Catching Priority Matrix" (plus
``performance``, its long-term action 7); each is registered with a one-line description in
``[tool.pytest.ini_options] markers`` of pyproject.toml. A test collected from this folder
without at least one of them stops the run with a usage error that lists the unmarked tests
(under pytest-xdist, where a worker cannot report a usage error, each unmarked test fails
with that message instead), so a run by category (``pytest -m inplace tests/05_autograd``)
never silently misses a test.

This file imports nothing from tinytorch, so it works at every checkpoint and with any module
emptied (the vacuity check).
"""

from pathlib import Path

import pytest

BUG_CATEGORIES = (
    "gradient",
    "inplace",
    "memory",
    "accumulation",
    "integration",
    "regression",
    "broadcasting",
    "stability",
    "performance",
)

HERE = Path(__file__).resolve().parent


def _in_this_folder(item):
    path = Path(str(item.path)).resolve()
    return path == HERE or HERE in path.parents


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if _in_this_folder(item)]
    if not ours:
        return
    unmarked = [
        item for item in ours if not any(item.get_closest_marker(name) for name in BUG_CATEGORIES)
    ]
    if not unmarked:
        return
    message = (
        f"tests/05_autograd: {len(unmarked)} test(s) carry no bug-category marker; mark each "
        f"(or its module, with pytestmark) with at least one of: {', '.join(BUG_CATEGORIES)}."
    )
    if hasattr(config, "workerinput"):
        # A pytest-xdist worker: a usage error raised here would only crash the worker and be
        # reported as an INTERNALERROR without this message, so each unmarked test fails
        # with it instead.
        for item in unmarked:
            item.runtest = _fail_with(f"{message}\nThis one is unmarked: {item.nodeid}")
        return
    listing = "\n  ".join(item.nodeid for item in unmarked)
    raise pytest.UsageError(f"{message}\nUnmarked:\n  {listing}")


def _fail_with(message):
    def runtest():
        pytest.fail(message, pytrace=False)

    return runtest
