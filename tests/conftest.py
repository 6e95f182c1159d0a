"""The two tiers of ../shared/API.md, for every suite: course API, and the reference's extras.

A test marked ``@pytest.mark.extra("feature", ...)`` tests an extra (tests/support/
reference_extras.py lists the features). Before it runs, its features are probed in the
installed tinytorch:
- all there: it runs and is judged like any other test;
- one missing, under ``--extras=optional`` (another implementation): it is skipped as
  "extra missing: ...", which the report counts apart and which never fails a checkpoint;
- one missing, under ``--extras=required`` (the default, for the reference): it fails.
Every extra test carries the JUnit property ``tier=extra``, so the report can count the tiers.

The robustness hooks at the end make whatever an implementation raises a short failure of
the test that raised it, never a crash of the run.

This file imports no tinytorch, so it works at every checkpoint and against any stub.
"""

import sys

import pytest
from hypothesis import Phase, settings
from reference_extras import EXTRAS, MISSING, absent_features, features_of, set_running

TIER_PROPERTY = "tier"

# The vacuity check (matrix/sessions/vacuity.py) asks only whether each test fails against a stub; a
# failing property test need not be shrunk to its smallest example for that (it would cost
# minutes against a stub that fails everything).
settings.register_profile("vacuity", phases=[Phase.explicit, Phase.reuse, Phase.generate])


def pytest_addoption(parser):
    parser.addoption(
        "--extras",
        choices=("required", "optional"),
        default="required",
        help="required: a missing reference extra fails its tests (the reference); "
        "optional: it is reported as missing (another implementation)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        features = features_of(item)
        if item.get_closest_marker("extra") is None:
            # API.md promises values (finite, exact where stated), not a warning-free numpy
            # path: a course-API test judges the values an implementation returns, and the
            # reference's silence at the float32 extremes is tested as an extra.
            item.add_marker(pytest.mark.filterwarnings("ignore::RuntimeWarning"))
            continue
        unknown = sorted(features - EXTRAS.keys()) or ([] if features else ["(none given)"])
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: extra marker with unknown feature(s) {', '.join(unknown)}; "
                f"use some of: {', '.join(EXTRAS)}"
            )
        item.user_properties.append((TIER_PROPERTY, "extra"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    set_running(item)
    absent = absent_features(features_of(item))
    if not absent:
        return
    what = "; ".join(f"{feature} ({EXTRAS[feature][0]})" for feature in absent)
    if item.config.getoption("extras") == "required":
        pytest.fail(f"the reference must have every extra, and this one lacks: {what}")
    pytest.skip(f"{MISSING} {what}")


def pytest_runtest_teardown(item):
    set_running(None)


# Robustness: the suites judge implementations that are not ours, and whatever one raises must
# become a failure of the test that raised it, by name and in a few lines, never a crash of
# pytest (INTERNALERROR stops the whole run) nor pages of traceback. These two hooks do nothing,
# beyond one generator step each, for a test that passes or fails in the ordinary way.

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # pytest's own dependency before 3.11

RECURSION_ADVICE = "The traversal must be iterative (API.md: backward is one topological pass)."


def _overflow_in(error):
    """The RecursionError in ``error``: itself, or one in an exception group (hypothesis
    groups a test's distinct failures, and an overflow's depth varies from example to example)."""
    pending = [error]
    while pending:
        error = pending.pop()
        if isinstance(error, RecursionError):
            return error
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
    return None


def _safe_str(error):
    try:
        text = str(error)
    except Exception:
        return "(its str() failed)"
    return text if len(text) <= 200 else text[:200] + "..."


def _recursion_message(overflow, raised):
    """Where ``overflow`` recursed, found by walking its traceback objects (a thousand of them
    cost nothing to walk; formatting them is what pytest's report would do)."""
    seen = {}
    tb = overflow.__traceback__
    innermost = None
    while tb is not None:
        code = tb.tb_frame.f_code
        innermost = (code.co_filename, tb.tb_lineno, code.co_name)
        seen[innermost] = seen.get(innermost, 0) + 1
        tb = tb.tb_next
    lines = [f"RecursionError: {_safe_str(overflow)}"]
    if innermost is not None:
        place, count = max(seen.items(), key=lambda entry: entry[1])
        frames = sum(seen.values())
        lines.append(
            f"  recursing at {place[0]}:{place[1]} in {place[2]} ({count} of {frames} frames)"
        )
        lines.append(f"  innermost frame: {innermost[0]}:{innermost[1]} in {innermost[2]}")
    if raised is not overflow:
        lines.append(f"  (one of the {len(raised.exceptions)} in {type(raised).__qualname__})")
    lines.append(RECURSION_ADVICE)
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    # A recursive traversal of a deep graph overflows the stack; pytest would format that
    # thousand-frame traceback (pages of source, hypothesis's groups of it, and through every
    # reporting hook). The overflow becomes a plain failure instead, saying where it recursed.
    try:
        return (yield)
    except Exception as error:
        try:
            overflow = _overflow_in(error)
            message = None if overflow is None else _recursion_message(overflow, error)
        except Exception:  # too broken to look into: left to pytest, and to the hook below
            message = None
        if message is None or item.get_closest_marker("xfail") is not None:
            raise  # (an xfail may name RecursionError in raises=)
    # Raised outside the except clause, so the failure holds no link to the deep traceback.
    raise pytest.fail.Exception(message, pytrace=False) from None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # An exception pytest cannot represent (one whose __cause__, __context__ or, before Python
    # 3.13, __notes__ cannot be read, say) makes pytest's own report of it raise: INTERNALERROR,
    # and the run stops. Outermost of the makereport hooks, this one turns any error of theirs
    # into a failed report of this test (matrix/tests/test_suite_robustness.py shows both).
    try:
        return (yield)
    except Exception as error:
        # under `filterwarnings = error`, pluggy's warning that a plugin's hook wrapper raised
        # (the hypothesis plugin's, here) replaces that error: name the error itself
        while isinstance(error, Warning) and error.__context__ is not None:
            error = error.__context__
        raised = (
            "no exception"
            if call.excinfo is None
            else f"{call.excinfo.type.__qualname__}: {_safe_str(call.excinfo.value)}"
        )
        return pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords=dict.fromkeys(item.keywords, 1),
            outcome="failed",
            longrepr=(  # what was raised first: the report reads "Timeout" as a timeout
                f"{raised}\n(pytest could not report this test's {call.when}: reporting it "
                f"raised {type(error).__qualname__}: {_safe_str(error)})"
            ),
            when=call.when,
            sections=[  # the captured output, as pytest's own report has it
                (f"Captured {key} {when}", content)
                for when, key, content in getattr(item, "_report_sections", ())
            ],
            duration=call.duration,
            start=call.start,
            stop=call.stop,
            user_properties=item.user_properties,
        )
