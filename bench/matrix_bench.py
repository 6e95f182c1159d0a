"""How long the matrix takes, beside the plain way of doing the same work, in one run.

Measured here, each as wall time on this machine:
  cold      `nox -j auto` over every checkpoint with an empty uv cache and fresh venvs
  warm      the same again, uv cache now warm, venvs still created fresh
  baseline  per checkpoint: `python -m venv`, `pip install` (warm pip cache), serial pytest
The figure that matters is the ratio baseline / warm, measured in the same run, so machine
speed cancels out. Each run is announced as it starts (each checkpoint, for the baseline);
the matrix's goals (bench/goals.py) are checked after measuring and written with the figures.
Usage: `nox -s bench` (full) or `nox -s bench -- --quick` (CI).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goals import check, table  # noqa: E402
from progress import Progress  # noqa: E402

from matrix.atomic import write_atomically  # noqa: E402
from matrix.build import build_checkpoint_wheel  # noqa: E402
from matrix.impl import REPORTS_ENV, layout_from_env, layout_of  # noqa: E402
from matrix.manifest import load_manifest  # noqa: E402
from matrix.pytest_env import checkpoint_test_paths  # noqa: E402
from matrix.records import load_runs  # noqa: E402
from matrix.run_identity import this_run  # noqa: E402

# A script: its top level is its entry point, where the layout is decided.
_LAYOUT = layout_from_env(ROOT)
OUT_DIR = _LAYOUT.at(_LAYOUT.bench)
NOX = [sys.executable, "-m", "nox"]
OUTPUT_SHOWN_ON_FAILURE = 20_000  # characters: the end of a failed step's output


def run_quietly(command: list, env: dict | None = None, cwd: Path = ROOT) -> None:
    """Run a step of the benchmark with its output kept back, shown only if it fails."""
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        print(done.stdout[-OUTPUT_SHOWN_ON_FAILURE:], flush=True)
        raise SystemExit(
            f"bench/matrix_bench.py: {' '.join(map(str, command))} failed with exit code "
            f"{done.returncode} (its output's end is above)"
        )


def timed(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    run_quietly(command, env)
    return time.perf_counter() - started


def nox_matrix(sessions: list[str], work: Path, uv_cache: Path) -> tuple[float, dict, dict]:
    """`nox -j auto` over the checkpoints, with its own venvs and reports under `work`.

    Returns the wall time, and per checkpoint the env+install and the test seconds.
    """
    seconds = timed(
        [*NOX, "-j", "auto", "--envdir", str(work / "envs"), "-s", *sessions],
        env={"UV_CACHE_DIR": str(uv_cache), REPORTS_ENV: str(work / "reports")},
    )
    runs = load_runs(ROOT, layout_of(ROOT, None, str(work / "reports")).runs)
    installs = {f"{run.checkpoint:02d}": run.install_seconds for run in runs}
    return seconds, installs, {f"{run.checkpoint:02d}": run.test_seconds for run in runs}


def baseline_matrix(
    manifest, numbers: list[int], test_deps: list[str], work: Path, progress: Progress
) -> tuple[float, dict, dict]:
    """The same checkpoints the plain way: venv + pip + serial pytest, one after another."""
    installs, tests, started = {}, {}, time.perf_counter()
    for position, number in enumerate(numbers, start=1):
        progress.detail(f"checkpoint {number:02d} ({position}/{len(numbers)})")
        wheel = build_checkpoint_wheel(manifest, number, work / f"wheel{number:02d}")
        venv = work / f"venv{number:02d}"
        begun = time.perf_counter()
        run_quietly([sys.executable, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        run_quietly(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel),
             *test_deps],
        )  # fmt: skip
        installs[f"{number:02d}"] = round(time.perf_counter() - begun, 3)
        begun = time.perf_counter()
        suites = checkpoint_test_paths(manifest, number)
        run_quietly(
            # The pytest script, not `python -m pytest`, which would put the source tree first.
            [venv / "bin" / "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", *suites],
            env={"TINYTORCH_CHECKPOINT": str(number)},
        )  # fmt: skip
        tests[f"{number:02d}"] = round(time.perf_counter() - begun, 3)
    return time.perf_counter() - started, installs, tests


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/matrix_bench.py")
    parser.add_argument(
        "--quick", action="store_true", help="one repeat over checkpoints 01-02 only (CI)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="warm and baseline repeats")
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1 (got {args.repeats})")
    import tomllib  # the bench runs on nox's own interpreter, 3.11+

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    test_deps = pyproject["dependency-groups"]["test"]
    manifest = load_manifest(ROOT)
    # Quick mode keeps the benchmark from rotting in CI without running the matrix four times.
    modules = manifest.modules[:2] if args.quick else manifest.modules
    numbers = [module.number for module in modules]
    sessions = [module.session for module in modules]
    repeats = args.repeats or (1 if args.quick else 3)
    identity = this_run(ROOT)
    span = f"checkpoints {numbers[0]:02d}-{numbers[-1]:02d}"
    progress = Progress("matrix", 2 + 2 * repeats)
    with tempfile.TemporaryDirectory(prefix="matrix-bench-") as tmp:
        work = Path(tmp)
        progress.step(f"nox -j auto (uv) over {span}, cold: empty uv cache, new venvs")
        cold, cold_installs, _ = nox_matrix(sessions, work / "cold", work / "uv-cache")
        warm_runs = []
        for i in range(repeats):
            progress.step(f"nox -j auto (uv) over {span}, warm uv cache: run {i + 1}/{repeats}")
            warm_runs.append(nox_matrix(sessions, work / f"warm{i}", work / "uv-cache"))
        progress.step(f"venv + pip + serial pytest over {span}: warming pip's cache (not timed)")
        baseline_matrix(manifest, numbers, test_deps, work / "pip-warmup", progress)
        baseline_runs = []
        for i in range(repeats):
            progress.step(f"venv + pip + serial pytest over {span}: run {i + 1}/{repeats}")
            baseline_runs.append(
                baseline_matrix(manifest, numbers, test_deps, work / f"baseline{i}", progress)
            )
    progress.finish()
    warm, warm_installs, warm_tests = min(warm_runs, key=lambda run: run[0])
    baseline, baseline_installs, baseline_tests = min(baseline_runs, key=lambda run: run[0])
    result = {
        "checkpoints": len(sessions),
        "repeats": repeats,
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(warm, 2),
        "baseline_seconds": round(baseline, 2),
        "baseline_over_warm": round(baseline / warm, 2),
        "baseline_over_cold": round(baseline / cold, 2),
        "install_seconds": {
            "uv_cold": cold_installs, "uv_warm": warm_installs, "pip_baseline": baseline_installs,
        },
        "test_seconds": {"uv_warm": warm_tests, "pip_baseline": baseline_tests},
        "install_share_of_warm": round(sum(warm_installs.values()) / warm, 3),
    }  # fmt: skip
    goals = check("matrix", result)
    result.update(quick=args.quick, identity=asdict(identity), goals=[g.as_json() for g in goals])
    text = "\n".join(
        [
            f"matrix of {len(sessions)} checkpoint(s), best of {repeats}",
            f"  cold  (nox -j auto, uv, empty cache): {cold:7.2f}s",
            f"  warm  (nox -j auto, uv, warm cache):  {warm:7.2f}s",
            f"  baseline (venv + pip + serial pytest): {baseline:7.2f}s",
            f"  baseline / warm = {baseline / warm:.2f}x",
            f"  baseline / cold = {baseline / cold:.2f}x",
            "  env+install per checkpoint (s): uv warm "
            f"{warm_installs}, pip baseline {baseline_installs}",
            "",
            "matrix goals:",
            table(goals),
        ]
    )
    print(text, flush=True)
    write_atomically(OUT_DIR / "matrix.json", json.dumps(result, indent=2) + "\n")
    write_atomically(OUT_DIR / "matrix.md", "```\n" + text + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
