"""`nox -s random_order`: each seed's order is run and judged on its own, a failing seed is
named with a command that fails the same way again, and nothing is written where the
checkpoint report reads its run records."""

from __future__ import annotations

import json
import re

import pytest

from matrix.layout import Layout
from matrix.records import Status
from matrix.sessions.random_order import (
    DEFAULT_SEEDS,
    JSON_NAME,
    SeedRun,
    SeedsError,
    parse_posargs,
    verdict,
)
from matrix.tests.repo_helpers import BETA_TEST, nox

# The second test (the victim) fails in any order that runs it after the first, which leaves
# state behind, and passes in any order that runs it before.
ORDER_DEPENDENT_PAIR = (
    "SEEN = []\n\n\n"
    "def test_leaves_state_behind():\n"
    "    SEEN.append('left behind')\n"
    "    assert SEEN[-1] == 'left behind'\n\n\n"
    "def test_needs_a_clean_slate():\n"
    "    assert SEEN == [], 'an earlier test left state behind'\n"
)
VICTIM = "tests.02_beta.test_order::test_needs_a_clean_slate"
# pytest-randomly 5.1 runs the victim after the other test under seeds 1-3, before it under
# 4-8: one seed of each (a shuffle that changes is told apart by the assertions below).
SEEDS = ("1", "4")
REPRODUCE = re.compile(r"reproduce: (nox -s random_order -- .*)")


def test_seeds_come_first_and_the_rest_goes_to_pytest():
    assert parse_posargs(["7", "11", "-k", "3", "-x"]) == ((7, 11), ("-k", "3", "-x"))
    assert parse_posargs(["-x"]) == (DEFAULT_SEEDS, ("-x",))
    assert parse_posargs([]) == (DEFAULT_SEEDS, ())


@pytest.mark.parametrize(
    ("posargs", "words"),
    [
        (["1", "seven"], "'seven' is neither a seed"),
        (["2", "2"], "seed 2 is given twice"),
    ],
)
def test_posargs_that_are_not_seeds_are_refused_with_the_usage(posargs, words):
    with pytest.raises(SeedsError, match=words) as raised:
        parse_posargs(posargs)
    assert "nox -s random_order -- SEED [SEED ...] [pytest options]" in str(raised.value)


def test_a_seed_that_did_not_run_fails_the_session_like_a_failing_one():
    passed = SeedRun(1, Status.PASSED, 10, 0, 0, (), 1.0)
    failed = SeedRun(2, Status.FAILED, 9, 1, 0, (VICTIM,), 1.0)
    assert verdict([passed], (1,)) is None
    assert "seed(s) 2, 3 not run" in verdict([passed], (1, 2, 3))
    assert "seed 2 failed" in verdict([passed, failed], (1, 2))


def test_a_failing_seed_is_named_and_its_command_fails_the_same_way(fake_repo_with_tools):
    root = fake_repo_with_tools
    (root / "tests/02_beta/test_beta.py").write_text(BETA_TEST)
    (root / "tests/02_beta/test_order.py").write_text(ORDER_DEPENDENT_PAIR)

    # -n 0: the seed's whole order in one process, so the pair always meets.
    everything = nox(root, "-s", "random_order", "--", *SEEDS, "-n", "0")
    output = everything.stdout + everything.stderr
    assert everything.returncode != 0, output
    record = json.loads((root / Layout(root).report(JSON_NAME)).read_text())
    assert [run["seed"] for run in record["seeds"]] == [int(seed) for seed in SEEDS]
    assert record["not_run"] == []
    failing = [run for run in record["seeds"] if run["status"] != Status.PASSED]
    passing = [run for run in record["seeds"] if run["status"] == Status.PASSED]
    assert failing, f"no seed put the pair in the failing order; pick other SEEDS\n{output}"
    assert passing, f"every seed failed, so the failure is not the order's\n{output}"
    for run in failing:
        assert run["status"] == Status.FAILED
        assert run["failing"] == [VICTIM]
        assert f"seed {run['seed']}: failed" in output
    for run in passing:
        assert run["failed"] == 0
        assert run["passed"] > 2  # the guard, alpha, beta and the pair
    assert "a test depends on the order" in output
    # One set of draws per seed for the property tests hypothesis does not derandomize.
    assert all(f"--hypothesis-seed={seed}" in output for seed in SEEDS), output
    for records in (Layout(root).runs, Layout(root).junit):
        assert not (root / records).exists(), "the checkpoint report would read this as its run"

    # The command printed for the first failing seed reproduces that failure.
    commands = REPRODUCE.findall(output)
    assert len(commands) == len(failing), output
    first = commands[0].split()
    assert first[4] == str(failing[0]["seed"])
    again = nox(root, *first[1:])
    assert again.returncode != 0, again.stdout + again.stderr
    (rerun,) = json.loads((root / Layout(root).report(JSON_NAME)).read_text())["seeds"]
    assert (rerun["seed"], rerun["failing"]) == (failing[0]["seed"], [VICTIM])
