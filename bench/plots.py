"""The last step of `nox -s bench`: draw what it measured, then judge every goal.

engine.png: backward time and graph memory against graph size (chains of 1e3.. nodes).
matrix.png: per checkpoint, env+install and test seconds, uv under `nox -j auto` beside
venv + pip + serial pytest.
Then the goals of bench/goals.py over engine.json and matrix.json (of this run only): the
table, reports/bench/goals.json and goals.md, and in full mode a failing exit naming each
missed goal (in `--quick` mode a WARNING line each). The verdict comes after the plots, so a
missed goal still leaves this run's plots, not the last run's, beside its figures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
# Appended, not prepended: this venv's installed tinytorch stays the one it sees.
sys.path.append(str(ROOT))

from goals import BenchGoalError, judge_reports  # noqa: E402

from matrix.layout import Layout  # noqa: E402
from matrix.run_identity import current_run_id  # noqa: E402

# The reference's reports: the benchmark always measures the reference.
OUT_DIR = Layout(ROOT).at(Layout(ROOT).bench)


def save(fig, name: str) -> None:
    partial = OUT_DIR / f".{name}.partial.png"
    fig.tight_layout()
    fig.savefig(partial, dpi=100)
    os.replace(partial, OUT_DIR / f"{name}.png")


def plot_engine(engine: dict) -> None:
    chains = engine["chains"]
    sizes = [int(n) for n in chains]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.loglog(sizes, [chains[str(n)]["backward_s"] for n in sizes], "o-")
    left.set(xlabel="graph size (nodes)", ylabel="backward time (s)", title="backward vs size")
    right.loglog(sizes, [chains[str(n)]["graph_bytes"] for n in sizes], "o-")
    right.set(xlabel="graph size (nodes)", ylabel="graph memory (bytes)", title="memory vs size")
    save(fig, "engine")


def plot_matrix(matrix: dict) -> None:
    labels = sorted(matrix["install_seconds"]["uv_warm"])
    x = range(len(labels))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for axis, kind, title in (
        (left, "install_seconds", "env + install"),
        (right, "test_seconds", "tests"),
    ):
        uv = [matrix[kind]["uv_warm"][label] for label in labels]
        pip = [matrix[kind]["pip_baseline"][label] for label in labels]
        axis.bar([i - 0.2 for i in x], uv, 0.4, label="uv, nox -j auto (warm)")
        axis.bar([i + 0.2 for i in x], pip, 0.4, label="venv + pip + serial")
        axis.set(
            xticks=list(x), xticklabels=labels, xlabel="checkpoint", ylabel="seconds", title=title
        )
        axis.legend()
    save(fig, "matrix")


def judge() -> str | None:
    """Print the goals table and the verdict; the reason to fail, in full mode, or None."""
    try:
        verdict = judge_reports(OUT_DIR, current_run_id())
    except BenchGoalError as error:
        return f"bench goals cannot be judged: {error}"
    print("\nbench goals (bench/goals.py):\n" + verdict.report(), flush=True)
    return verdict.failure()


def main() -> int | str:
    plot_engine(json.loads((OUT_DIR / "engine.json").read_text()))
    plot_matrix(json.loads((OUT_DIR / "matrix.json").read_text()))
    return judge() or 0


if __name__ == "__main__":
    sys.exit(main())
