"""The gate's verdict and its Markdown, from outcomes built by hand (nothing runs here)."""

from matrix.gate.render import render
from matrix.gate.selection import Change, Selection
from matrix.gate.verdict import CheckOutcome, CheckpointOutcome, GateResult
from matrix.misplaced import Import, Misplaced
from matrix.records import Status, SuiteCount

README = Change("README.md", None, "not package code, a suite or the matrix tool")
SUITE_02 = Change("tests/02_beta/test_beta.py", 2, "suite 02_beta", 2)


def result(**changes) -> GateResult:
    fields = {
        "base": "main",
        "base_commit": "a" * 40,
        "head_commit": "b" * 40,
        "implementation": "reference",
        "implementation_digest": "0123456789ab",
        "run_id": "1a2b3c4d5e6f",
        "started": "2026-12-01T09:00:00Z",
        "selection": Selection(numbers=(1, 2, 3), changes=[README, SUITE_02]),
        "checkpoints": [
            CheckpointOutcome(2, "passed", counts=SuiteCount(10, 0, 1)),
            CheckpointOutcome(3, "passed", counts=SuiteCount(20, 0, 0)),
        ],
        "checks": [
            CheckOutcome("vacuity 02", "passed", "every test fails with the module stubbed"),
            CheckOutcome("lint", "passed"),
        ],
    }
    return GateResult(**{**fields, **changes})


GO_REPORT = """\
## Gate: GO

`main` (`aaaaaaaaaaaa`) ... HEAD (`bbbbbbbbbbbb`); implementation: reference (module files \
sha256 `0123456789ab`); gate run `1a2b3c4d5e6f`, started 2026-12-01T09:00:00Z

Every selected checkpoint and every check passed.

### Checkpoints

| checkpoint | result | passed/failed/skipped | selected by |
|---|---|---|---|
| 02 | passed | 10/0/1 | `tests/02_beta/test_beta.py` |
| 03 | passed | 20/0/0 | `tests/02_beta/test_beta.py` |

Skipped: checkpoint(s) 01: no changed file reaches them (a change reaches its own checkpoint \
and every later one).

### Checks

| check | result |
|---|---|
| vacuity 02 | passed (every test fails with the module stubbed) |
| lint | passed |
| misplaced tests | none |

Skipped: vacuity of module(s) 01, 03: neither their code nor their suite changed.

### Changed files

| file | reaches checkpoints | because it is |
|---|---|---|
| `README.md` | none | not package code, a suite or the matrix tool |
| `tests/02_beta/test_beta.py` | 02..03 | suite 02_beta |
"""


def test_all_green_is_go_and_says_what_ran_and_why():
    gate = result()
    assert gate.blockers() == []
    assert gate.verdict == "GO"
    assert render(gate) == GO_REPORT


def test_failures_vacuous_tests_and_misplaced_files_are_each_a_reason():
    misplaced = Misplaced(
        "tests/02_beta/test_gamma.py",
        2,
        (Import("tinytorch.core.gamma", 1, 3),),
        "tests/03_gamma",
        "confirmed: checkpoint 02 could not import it",
    )
    gate = result(
        checkpoints=[
            CheckpointOutcome(2, "failed", counts=SuiteCount(9, 1, 1), failures=["t.a::x"]),
            CheckpointOutcome(3, "passed", counts=SuiteCount(20, 0, 0)),
        ],
        checks=[
            CheckOutcome("vacuity 02", "failed", vacuous=["tests.02_beta.test_beta::test_v"]),
            CheckOutcome("lint", "failed", "its output is in reports/gate-nox.log"),
        ],
        misplaced=[misplaced],
    )
    assert gate.verdict == "NO-GO"
    assert gate.blockers() == [
        "checkpoint 02: failed; failing: `t.a::x`",
        "vacuity 02: 1 test(s) not failing with the module stubbed: "
        "`tests.02_beta.test_beta::test_v`",
        "lint: failed (its output is in reports/gate-nox.log)",
        "misplaced test: tests/02_beta/test_gamma.py imports tinytorch.core.gamma (module 03, "
        "line 1): it cannot run at checkpoint 02; move it to tests/03_gamma/ "
        "[confirmed: checkpoint 02 could not import it]",
    ]
    text = render(gate)
    assert text.startswith("## Gate: NO-GO\n")
    assert "| 02 | failed | 9/1/1 | `tests/02_beta/test_beta.py` |\n" in text
    assert "| vacuity 02 | failed: 1 vacuous (listed below) |\n" in text
    assert (
        "Vacuous in vacuity 02 (not failing with the module stubbed, or not collected):\n\n" in text
    )
    assert "- `tests.02_beta.test_beta::test_v`\n" in text
    assert "| misplaced tests | 1 found (listed below) |\n" in text
    assert "### Misplaced tests\n\n- tests/02_beta/test_gamma.py imports" in text


def test_a_checkpoint_without_a_record_or_a_check_not_run_is_never_go():
    gate = result(
        checkpoints=[
            CheckpointOutcome(2, "no record", "module02 left no run record this time"),
            CheckpointOutcome(3, "passed", counts=SuiteCount(20, 0, 0)),
        ],
        checks=[CheckOutcome("lint", Status.NOT_RUN)],
    )
    assert gate.blockers() == [
        "checkpoint 02: no record (module02 left no run record this time)",
        "lint: not run",
    ]
    assert "| 02 | no record | - | `tests/02_beta/test_beta.py` |" in render(gate)


def test_long_lists_are_cut_with_a_count():
    failures = [f"t::test_{n}" for n in range(7)]
    gate = result(checkpoints=[CheckpointOutcome(2, "failed", failures=failures)])
    assert gate.blockers() == [
        "checkpoint 02: failed; failing: `t::test_0`, `t::test_1`, `t::test_2`, `t::test_3`, "
        "`t::test_4` and 2 more"
    ]


def test_stopped_before_running_shows_only_the_reason():
    gate = GateResult(
        implementation="/learners/ada/tinytorch",
        problems=["--base 'nope' is not a commit in this repository; fetch it"],
        run_id="1a2b3c4d5e6f",
        started="2026-12-01T09:00:00Z",
    )
    assert render(gate) == (
        "## Gate: NO-GO\n\n"
        "implementation: /learners/ada/tinytorch; gate run `1a2b3c4d5e6f`, started "
        "2026-12-01T09:00:00Z\n\n"
        "**Why NO-GO**\n\n"
        "- --base 'nope' is not a commit in this repository; fetch it\n"
    )


def test_nothing_changed_is_go_when_lint_passes():
    gate = result(
        selection=Selection(numbers=(1, 2, 3), changes=[]),
        checkpoints=[],
        checks=[CheckOutcome("lint", "passed")],
    )
    assert gate.verdict == "GO"
    text = render(gate)
    assert "No checkpoint ran: no changed file reaches one (see Changed files).\n" in text
    assert "None: the branch changes nothing since its base.\n" in text
