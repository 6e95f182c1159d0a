"""Draw what `nox -s bench` measured: reports/bench/engine.png and reports/bench/matrix.png.

engine.png: backward time and graph memory against graph size (chains of 1e3.. nodes).
matrix.png: per checkpoint, env+install and test seconds, uv under `nox -j auto` beside
venv + pip + serial pytest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUT_DIR = Path("reports/bench")


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


def main() -> None:
    plot_engine(json.loads((OUT_DIR / "engine.json").read_text()))
    plot_matrix(json.loads((OUT_DIR / "matrix.json").read_text()))


if __name__ == "__main__":
    main()
