"""The benchmark's goal check (bench/goals.py): met, missed in full mode, missed in quick mode.

And its progress lines (bench/progress.py), which item 9 of issue 14 asks for beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.goals import (
    AT_LEAST,
    AT_MOST,
    GOALS_FILE,
    GOALS_MARKDOWN,
    BenchGoalError,
    Goal,
    Verdict,
    check,
    judge_reports,
    table,
)
from bench.progress import Progress, run_steps

CEILING = Goal("ceiling", "engine", ("speed", "ratio"), AT_MOST, 1.5, "x", "a over b", "here")
FLOOR = Goal("floor", "matrix", ("speedup",), AT_LEAST, 4.0, "x", "b over a", "there")
RUN = "run-now"


def engine_figures(**changes: object) -> dict:
    """engine.json as bench/engine_bench.py writes it, with README's measured figures."""
    figures = {
        "identity": {"commit": "abc", "run_id": RUN, "started": "2026-12-07T19:00:00Z"},
        "quick": False,
        "recording_worst_ratio": 3.6,
        "mlp_step": {"ratio": 1.25, "backward_over_forward": 0.95},
        "chains_per_node_spread": 1.08,
        "chains_bytes_per_node_spread": 1.01,
        "memory": {"peak_over_needed": 1.07, "retained_over_needed": 0.0001},
    }
    return {**figures, **changes}


def matrix_figures(**changes: object) -> dict:
    """matrix.json as bench/matrix_bench.py writes it, with README's measured figures."""
    figures = {
        "identity": {"commit": "abc", "run_id": RUN, "started": "2026-12-07T19:05:00Z"},
        "quick": False,
        "baseline_over_warm": 4.25,
        "install_share_of_warm": 0.073,
    }
    return {**figures, **changes}


def write_reports(directory: Path, engine: dict, matrix: dict) -> Path:
    (directory / "engine.json").write_text(json.dumps(engine), encoding="utf-8")
    (directory / "matrix.json").write_text(json.dumps(matrix), encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("goal", "figures", "measured", "met"),
    [
        (CEILING, {"speed": {"ratio": 1.5}}, 1.5, True),
        (CEILING, {"speed": {"ratio": 1.51}}, 1.51, False),
        (FLOOR, {"speedup": 4}, 4.0, True),
        (FLOOR, {"speedup": 3.99}, 3.99, False),
    ],
)
def test_a_goal_is_met_up_to_its_bound_in_its_direction(goal, figures, measured, met):
    [result] = check(goal.part, figures, (goal,))
    assert (result.measured, result.met) == (measured, met)


def test_a_figure_that_is_not_a_number_is_refused():
    with pytest.raises(BenchGoalError, match="is None, not a number"):
        check("matrix", {"speedup": None}, (FLOOR,))


def test_met_goals_neither_fail_nor_warn_in_either_mode():
    results = check("engine", {"speed": {"ratio": 1.2}}, (CEILING,))
    for quick in (False, True):
        verdict = Verdict(results, quick=quick)
        assert (verdict.missed, verdict.failure(), verdict.warnings()) == ((), None, ())
    assert Verdict(results, quick=False).summary() == "bench goals: 1 met, 0 missed (full mode)"


def test_a_missed_goal_fails_full_mode_naming_it():
    results = check("engine", {"speed": {"ratio": 1.62}}, (CEILING,))
    verdict = Verdict(results, quick=False)
    assert verdict.failure() == "bench goals missed (full mode): ceiling 1.62x (goal <= 1.50x)"
    assert verdict.warnings() == ()


def test_a_missed_goal_is_only_a_warning_in_quick_mode():
    results = check("matrix", {"speedup": 2.5}, (FLOOR,))
    verdict = Verdict(results, quick=True)
    assert verdict.failure() is None
    [warning] = verdict.warnings()
    assert warning.startswith(
        "WARNING: bench goal missed in quick mode: floor 2.50x (goal >= 4.00x)"
    )
    assert verdict.as_json()["missed"] == ["floor"]


def test_the_table_says_met_or_missed_per_goal():
    results = (
        *check("engine", {"speed": {"ratio": 1.2}}, (CEILING,)),
        *check("matrix", {"speedup": 2.5}, (FLOOR,)),
    )
    rows = table(results).splitlines()
    assert rows[0].split() == ["goal", "measured", "bound", "verdict", "figure"]
    assert rows[2].split() == ["ceiling", "1.20x", "<=", "1.50x", "met", "a", "over", "b"]
    assert rows[3].split() == ["floor", "2.50x", ">=", "4.00x", "MISSED", "b", "over", "a"]


def test_a_missing_figure_names_the_goal_and_the_key():
    with pytest.raises(
        BenchGoalError, match=r"goal 'ceiling': engine\.json has no figure 'speed\.ratio'"
    ):
        check("engine", {"speed": {}}, (CEILING,))


def test_a_goal_of_an_unknown_part_is_refused_when_declared():
    with pytest.raises(ValueError, match="part must be one of"):
        Goal("typo", "engin", ("x",), AT_MOST, 1.0, "x", "", "")


def test_the_declared_goals_pass_on_readme_figures_and_write_goals_json(tmp_path: Path):
    verdict = judge_reports(write_reports(tmp_path, engine_figures(), matrix_figures()), RUN)
    assert verdict.failure() is None
    record = json.loads((tmp_path / GOALS_FILE).read_text(encoding="utf-8"))
    assert (record["met"], record["missed"]) == (True, [])
    assert {goal["name"] for goal in record["goals"]} >= {
        "matrix-warm-speedup",
        "mlp-step-vs-numpy",
        "backward-linear-in-graph-size",
    }
    assert record["identity"]["run_id"] == RUN
    summary = (tmp_path / GOALS_MARKDOWN).read_text(encoding="utf-8").splitlines()
    assert summary[-2:] == ["bench goals: 9 met, 0 missed (full mode)", "```"]


def test_a_declared_goal_missed_in_full_mode_fails_and_is_recorded(tmp_path: Path):
    reports = write_reports(tmp_path, engine_figures(), matrix_figures(baseline_over_warm=3.3))
    verdict = judge_reports(reports, RUN)
    assert verdict.failure() == (
        "bench goals missed (full mode): matrix-warm-speedup 3.30x (goal >= 4.00x)"
    )
    record = json.loads((tmp_path / GOALS_FILE).read_text(encoding="utf-8"))
    assert (record["met"], record["missed"]) == (False, ["matrix-warm-speedup"])


def test_the_same_miss_in_quick_mode_warns_and_passes(tmp_path: Path):
    engine, matrix = engine_figures(quick=True), matrix_figures(quick=True, baseline_over_warm=3.3)
    verdict = judge_reports(write_reports(tmp_path, engine, matrix), RUN)
    assert verdict.failure() is None
    assert [line.split(":")[1].strip() for line in verdict.warnings()] == [
        "bench goal missed in quick mode"
    ]


def test_figures_of_another_run_are_not_judged_and_the_old_verdict_goes(tmp_path: Path):
    old_identity = {"commit": "old", "run_id": "run-before", "started": "2026-12-01T09:00:00Z"}
    reports = write_reports(tmp_path, engine_figures(identity=old_identity), matrix_figures())
    (tmp_path / GOALS_FILE).write_text('{"met": true}', encoding="utf-8")
    with pytest.raises(BenchGoalError, match=r"engine\.json is from run run-before"):
        judge_reports(reports, RUN)
    assert not (tmp_path / GOALS_FILE).exists()


def test_figures_of_two_modes_are_not_judged_together(tmp_path: Path):
    reports = write_reports(tmp_path, engine_figures(quick=True), matrix_figures())
    with pytest.raises(BenchGoalError, match="different modes"):
        judge_reports(reports, RUN)


def test_a_missing_report_says_how_to_make_it(tmp_path: Path):
    (tmp_path / "engine.json").write_text(json.dumps(engine_figures()), encoding="utf-8")
    with pytest.raises(BenchGoalError, match=r"matrix\.json is missing: run `nox -s bench`"):
        judge_reports(tmp_path, RUN)


def progress_lines(output: str) -> list[str]:
    """The printed lines without their elapsed-time prefix (`[  1.2s] `)."""
    return [line.split("] ", 1)[1] for line in output.splitlines()]


def test_each_step_is_announced_with_its_place_then_the_part_ends(capsys):
    results = run_steps("engine", [("first figure", lambda: 1), ("second figure", lambda: 2)])
    assert results == [1, 2]
    assert progress_lines(capsys.readouterr().out) == [
        "engine: first figure (1/2)...",
        "engine: second figure (2/2)...",
        "engine: measured (2 steps)",
    ]


def test_a_step_beyond_the_announced_count_is_refused():
    progress = Progress("matrix", 1)
    progress.step("cold run")
    with pytest.raises(RuntimeError, match="beyond the 1 planned"):
        progress.step("warm run")


def test_ending_before_every_announced_step_ran_is_refused():
    progress = Progress("matrix", 3)
    progress.step("cold run")
    with pytest.raises(RuntimeError, match="1 steps ran, 3 were announced"):
        progress.finish()
