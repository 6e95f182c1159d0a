"""The suites' robustness hooks (tests/conftest.py): whatever an implementation raises fails
that test, by name and in a few lines, and the run goes on.

pytest runs in a subprocess on one small test file (SUITE) in a temporary folder, next to a
copy of tests/conftest.py (the hooks as they are, byte for byte), or, for the contrast, next to
no conftest at all: plain pytest with the same plugins (hypothesis's among them). The copy
imports ``reference_extras`` from tests/support, which needs numpy and the course API; the
matrix tool's environment has neither, so PYTHONPATH points at a stand-in with the same names
(fixtures/robustness/reference_extras.py). tests/conftest.py imports hypothesis, so these tests
need it installed, as the checkpoint sessions have it.

The temporary pytest config (`-c`, `--rootdir`) keeps the repository's pyproject out of the
runs but copies the one setting that matters here: every warning is an error. Each run is
made once per module (pytest starts slowly) and read by the tests below.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STAND_IN = Path(__file__).resolve().parent / "fixtures" / "robustness"

CONFIG = """\
[pytest]
filterwarnings = error
markers =
    extra(*features): a test of a reference extra (tests/conftest.py)
"""

SUITE = '''
import pytest
from hypothesis import given, settings, strategies as st


class Node:
    """A recursive backward, as an engine that is not ours may have: one frame per node, each
    with its own locals (pytest cannot locate the recursion, and shows twenty frames of it)."""

    def __init__(self, parent):
        self.parent = parent
        self.grad = 0.0

    def backward(self, grad):
        self.grad += grad
        if self.parent is not None:
            self.parent.backward(grad)


def chain(depth):
    node = None
    for _ in range(depth):
        node = Node(node)
    return node


def test_fails_normally():
    assert 1 + 1 == 3


def test_recursive_backward():
    chain(10_000).backward(1.0)


@settings(max_examples=5, database=None, deadline=None)
@given(st.integers(min_value=2_000, max_value=5_000))
def test_recursive_backward_property(depth):
    chain(depth).backward(1.0)


def test_passes():
    assert chain(10).parent is not None


# The case that crashes plain pytest (seen with pytest 9.2 on Python 3.10 to 3.13): an
# exception whose __cause__ cannot be read. Formatting the failure reads it; the error escapes
# pytest_runtest_makereport (through the hypothesis plugin's hook wrapper): INTERNALERROR, and
# the tests after it never run. (One whose __notes__ cannot be read does the same on Python
# 3.11 and 3.12; 3.13's traceback module catches that one.)
class Unreadable(Exception):
    @property
    def __cause__(self):
        raise RuntimeError("no cause to read")


@pytest.mark.extra("probe")
def test_unreportable():
    raise Unreadable("an implementation's exception")


def test_after():
    pass
'''

RUNS = {  # name: (with tests/conftest.py's hooks, extra pytest arguments)
    "hooks": (True, ()),
    "hooks-xdist": (True, ("-n", "2")),
    "plain": (False, ()),
}


def run_pytest(folder: Path, hooks: bool, args: tuple[str, ...]):
    """Run pytest on SUITE in `folder`: the finished process and the JUnit test cases by name."""
    (folder / "pytest.ini").write_text(CONFIG)
    (folder / "test_suite.py").write_text(textwrap.dedent(SUITE))
    if hooks:
        shutil.copyfile(REPO_ROOT / "tests" / "conftest.py", folder / "conftest.py")
    junit = folder / "junit.xml"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(STAND_IN)
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", "pytest.ini",
            f"--rootdir={folder}", f"--junitxml={junit}", *args, "test_suite.py",
        ],
        cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert junit.exists(), run.stdout + run.stderr
    cases = {case.get("name"): case for case in ET.parse(junit).iter("testcase")}
    return run, cases


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            made[name] = run_pytest(tmp_path_factory.mktemp(name), *RUNS[name])
        return made[name]

    return get


def failure_of(case: ET.Element) -> ET.Element:
    failure = case.find("failure")
    assert failure is not None, ET.tostring(case, encoding="unicode")
    return failure


def assert_passed(case: ET.Element) -> None:
    assert [child.tag for child in case if child.tag in ("failure", "error", "skipped")] == []


@pytest.mark.parametrize("name", ["hooks", "hooks-xdist"])
def test_the_run_fails_by_tests_not_by_internal_error(suite_run, name):
    run, cases = suite_run(name)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output  # tests failed; 3 would be pytest's internal error
    assert "INTERNALERROR" not in output
    assert_passed(cases["test_passes"])
    assert_passed(cases["test_after"])


@pytest.mark.parametrize(
    ("name", "test"),
    [
        ("hooks", "test_recursive_backward"),
        ("hooks", "test_recursive_backward_property"),  # under hypothesis's @given
        ("hooks-xdist", "test_recursive_backward"),
    ],
)
def test_a_recursion_error_is_a_short_named_failure(suite_run, name, test):
    _, cases = suite_run(name)
    failure = failure_of(cases[test])
    assert "RecursionError: maximum recursion depth exceeded" in failure.get("message")
    assert "test_suite.py" in failure.text, failure.text  # where it recursed: file:line
    assert "in backward" in failure.text, failure.text  # and function
    assert "iterative" in failure.text, failure.text
    assert len(failure.text.splitlines()) <= 6, failure.text


@pytest.mark.parametrize("name", ["hooks", "hooks-xdist"])
def test_an_unreportable_exception_is_a_short_named_failure(suite_run, name):
    _, cases = suite_run(name)
    failure = failure_of(cases["test_unreportable"])
    text = f"{failure.get('message')}\n{failure.text}"
    assert "Unreadable: an implementation's exception" in text, text  # what pytest could not report
    assert "RuntimeError: no cause to read" in text, text  # and why
    assert len(text) < 600, text
    properties = cases["test_unreportable"].find("properties")
    assert properties is not None  # the item's user properties survive: the tier
    assert [(p.get("name"), p.get("value")) for p in properties] == [("tier", "extra")]


def test_without_the_hooks_an_unreportable_exception_crashes_the_run(suite_run):
    run, cases = suite_run("plain")
    assert run.returncode == 3, run.stdout + run.stderr  # pytest's internal error
    assert "INTERNALERROR" in run.stdout + run.stderr
    assert "test_unreportable" not in cases  # JUnit has a nameless case, and "internal"
    assert "internal" in cases
    assert "test_after" not in cases  # the run stopped there


def test_without_the_hooks_a_recursion_error_is_pages_of_traceback(suite_run):
    # The contrast, as it is: plain pytest 9 fails the test by name too, but reports the
    # overflow as twenty frames of source (having compared the locals of every pair of frames).
    _, cases = suite_run("plain")
    text = failure_of(cases["test_recursive_backward"]).text
    assert "RecursionError" in text
    assert len(text.splitlines()) > 50, text


def test_the_hooks_leave_an_ordinary_failure_alone(suite_run):
    _, plain = suite_run("plain")
    _, hooked = suite_run("hooks")
    assert failure_of(hooked["test_fails_normally"]).attrib == {"message": "assert (1 + 1) == 3"}
    assert failure_of(hooked["test_fails_normally"]).attrib == (
        failure_of(plain["test_fails_normally"]).attrib
    )
    assert failure_of(hooked["test_fails_normally"]).text == (
        failure_of(plain["test_fails_normally"]).text
    )
