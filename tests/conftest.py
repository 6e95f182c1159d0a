"""The two tiers of ../shared/API.md, for every suite: course API, and the reference's extras.

A test marked ``@pytest.mark.extra("feature", ...)`` tests an extra (tests/support/
reference_extras.py lists the features). Before it runs, its features are probed in the
installed tinytorch:
- all there: it runs and is judged like any other test;
- one missing, under ``--extras=optional`` (another implementation): it is skipped as
  "extra missing: ...", which the report counts apart and which never fails a checkpoint;
- one missing, under ``--extras=required`` (the default, for the reference): it fails.
Every extra test carries the JUnit property ``tier=extra``, so the report can count the tiers.

This file imports no tinytorch, so it works at every checkpoint and against any stub.
"""

import pytest
from hypothesis import Phase, settings
from reference_extras import EXTRAS, MISSING, absent_features, features_of, set_running

TIER_PROPERTY = "tier"

# The vacuity check (matrix/vacuity.py) asks only whether each test fails against a stub; a
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
