"""The autograd engine's speed and memory, each beside a baseline measured in the same run.

  recording   each op on (64, 128) float32 arrays: tinytorch with requires_grad vs raw numpy
  mlp step    784-128-10, batch 64, forward+backward: tinytorch vs the same step in numpy
  backward    backward time over forward time, for the MLP step
  chains      backward of chains of 1e3, 1e4, 1e5 nodes: time and graph bytes per node
              (linear = flat)
  memory      peak bytes traced during a training step vs the activations it must keep for
              backward plus the parameter gradients it must produce
Runs inside a venv holding the newest checkpoint (`nox -s bench`); prints each step as it
starts, checks the engine's goals (bench/goals.py) and writes the figures and the goals as
text, Markdown and JSON (bench/plots.py draws them and judges every goal).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from tinytorch.core.activations import ReLU
from tinytorch.core.autograd import enable_autograd
from tinytorch.core.layers import Linear
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.tensor import Tensor

ROOT = Path(__file__).resolve().parent.parent
# Appended, not prepended: tinytorch must stay the installed checkpoint, not the source tree.
sys.path.append(str(ROOT))

from goals import check, discard_verdict, table  # noqa: E402
from progress import run_steps  # noqa: E402

from matrix.atomic import write_atomically  # noqa: E402
from matrix.layout import Layout  # noqa: E402
from matrix.run_identity import this_run  # noqa: E402

# The reference's reports: the benchmark always measures the reference.
OUT_DIR = Layout(ROOT).at(Layout(ROOT).bench)


def best_times(fns, repeats: int, number: int) -> list[float]:
    """For each function, the best of `repeats` averages over `number` calls (seconds per call).

    The functions take turns, round after round, so a change in the machine's load (this is
    a shared 2-core box) hits a figure and its baseline alike instead of skewing their ratio.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter() - started) / number)
    return best


def recording_cases() -> dict:
    """Each op on (64, 128) float32 arrays: (the raw numpy op, the same op recorded)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 128)).astype(np.float32)
    b = rng.standard_normal((64, 128)).astype(np.float32)
    w = rng.standard_normal((128, 128)).astype(np.float32)
    ta, tb, tw = (Tensor(x, requires_grad=True) for x in (a, b, w))
    return {
        "add": (lambda: a + b, lambda: ta + tb),
        "mul": (lambda: a * b, lambda: ta * tb),
        "matmul": (lambda: a @ w, lambda: ta @ tw),
        "exp": (lambda: np.exp(a), lambda: ta.exp()),
        "sum": (lambda: a.sum(axis=1), lambda: ta.sum(axis=1)),
        "relu": (lambda: np.maximum(a, 0), lambda: ReLU()(ta)),
    }


def recording_overhead(raw, recorded, repeats: int) -> dict:
    raw_s, rec_s = best_times([raw, recorded], repeats, 200)
    return {"numpy_us": raw_s * 1e6, "tinytorch_us": rec_s * 1e6, "ratio": rec_s / raw_s}


def mlp_step(repeats: int) -> dict:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    np.random.seed(0)
    l1, l2, relu, ce = Linear(784, 128), Linear(128, 10), ReLU(), CrossEntropyLoss()
    w1, b1, w2, b2 = (p.data.copy() for p in (l1.weight, l1.bias, l2.weight, l2.bias))
    tx = Tensor(x)

    def forward():
        return ce(l2(relu(l1(tx))), y)

    def tinytorch_step():
        for p in (l1.weight, l1.bias, l2.weight, l2.bias):
            p.grad = None
        forward().backward()

    def numpy_step():
        h = x @ w1 + b1
        a = np.maximum(h, 0)
        z = a @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(64), y]).mean()
        g = p
        g[np.arange(64), y] -= 1
        g /= 64
        gw2, gb2 = a.T @ g, g.sum(axis=0)
        ga = (g @ w2.T) * (h > 0)
        gw1, gb1 = x.T @ ga, ga.sum(axis=0)
        return loss, gw1, gb1, gw2, gb2

    for _ in range(10):  # warm up caches and numpy's allocator on both sides
        numpy_step()
        tinytorch_step()
    tiny, raw, fwd = best_times([tinytorch_step, numpy_step, forward], repeats * 4, 20)
    return {
        "tinytorch_ms": tiny * 1e3,
        "numpy_ms": raw * 1e3,
        "ratio": tiny / raw,
        "forward_ms": fwd * 1e3,
        "backward_over_forward": (tiny - fwd) / fwd,
    }


def chain_backward_seconds(n: int) -> float:
    leaf = Tensor([1.0], requires_grad=True)
    z = leaf
    for _ in range(n):
        z = z * 1.0
    started = time.perf_counter()
    z.backward()
    return time.perf_counter() - started


def chain(n: int, repeats: int) -> dict:
    # Best of a few: one backward of a 1e5-node graph is a single, noisy measurement.
    seconds = min(chain_backward_seconds(n) for _ in range(repeats))
    leaf = Tensor([1.0], requires_grad=True)
    tracemalloc.start()
    z = leaf
    for _ in range(n):
        z = z * 1.0
    graph_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del z
    return {
        "backward_s": seconds,
        "per_node_us": seconds / n * 1e6,
        "graph_bytes": graph_bytes,
        "bytes_per_node": graph_bytes / n,
    }


def spread(values: list[float]) -> float:
    """Largest over smallest: 1.0 when a per-node figure does not grow with the graph."""
    return max(values) / min(values)


def step_memory() -> dict:
    """Peak traced memory of one training step, against what the step cannot do without.

    The step must keep, for its backward pass, x@W1+b1 and its ReLU (64x128 each), the logits
    and their log-softmax (64x10 each), and must produce one gradient per parameter; all
    float32. After zero_grad() the traced memory must be back where it started.
    """
    np.random.seed(0)
    l1, l2, relu, ce = Linear(784, 128), Linear(128, 10), ReLU(), CrossEntropyLoss()
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    x = Tensor(np.random.standard_normal((64, 784)))
    y = np.random.randint(0, 10, 64)
    ce(l2(relu(l1(x))), y).backward()  # warm up numpy's and Python's caches
    for p in params:
        p.zero_grad()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    loss = ce(l2(relu(l1(x))), y)
    loss.backward()
    del loss
    peak = tracemalloc.get_traced_memory()[1]
    for p in params:
        p.zero_grad()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    needed = 4 * (64 * 128 * 2 + 64 * 10 * 2) + sum(p.data.nbytes for p in params)
    return {
        "peak_bytes": peak - before,
        "needed_bytes": needed,
        "peak_over_needed": (peak - before) / needed,
        "retained_after_zero_grad_bytes": after - before,
        "retained_over_needed": (after - before) / needed,
    }


def measure(quick: bool, repeats: int) -> dict:
    """Every figure, one announced step at a time."""
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    cases = recording_cases()
    steps = [
        *(
            (f"recording overhead of {name} vs numpy", partial(recording_overhead, *fns, repeats))
            for name, fns in cases.items()
        ),
        ("MLP step 784-128-10 vs numpy, and its backward vs forward", partial(mlp_step, repeats)),
        *((f"backward, chain of {n:,} nodes", partial(chain, n, repeats)) for n in sizes),
        ("peak memory of a training step", step_memory),
    ]
    measured = run_steps("engine", steps)
    recording = dict(zip(cases, measured[: len(cases)], strict=True))
    chains = {str(n): row for n, row in zip(sizes, measured[len(cases) + 1 : -1], strict=True)}
    return {
        "recording": recording,
        "recording_worst_ratio": max(row["ratio"] for row in recording.values()),
        "mlp_step": measured[len(cases)],
        "chains": chains,
        "chains_per_node_spread": spread([row["per_node_us"] for row in chains.values()]),
        "chains_bytes_per_node_spread": spread([row["bytes_per_node"] for row in chains.values()]),
        "memory": measured[-1],
    }


def describe(result: dict) -> str:
    lines = ["op       numpy us  tinytorch us  ratio"]
    for name, row in result["recording"].items():
        lines.append(
            f"{name:8} {row['numpy_us']:8.1f}  {row['tinytorch_us']:12.1f}  {row['ratio']:5.1f}x"
        )
    mlp = result["mlp_step"]
    lines += [
        f"mlp step 784-128-10 b64: tinytorch {mlp['tinytorch_ms']:.2f} ms, numpy "
        f"{mlp['numpy_ms']:.2f} ms, ratio {mlp['ratio']:.2f}x",
        f"backward / forward: {mlp['backward_over_forward']:.2f}x",
        "chains: "
        + ", ".join(
            f"{n} nodes {c['per_node_us']:.1f} us/node {c['bytes_per_node']:.0f} B/node"
            for n, c in result["chains"].items()
        )
        + f" (spread {result['chains_per_node_spread']:.2f}x time, "
        f"{result['chains_bytes_per_node_spread']:.2f}x memory)",
        "step memory: peak {peak_bytes} B vs activations + parameter gradients "
        "{needed_bytes} B = {peak_over_needed:.2f}x; "
        "retained after zero_grad {retained_after_zero_grad_bytes} B".format(**result["memory"]),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/engine_bench.py")
    parser.add_argument("--quick", action="store_true", help="few repeats, small chains (CI)")
    # matrix_bench.py takes it too: `nox -s bench -- --repeats N` reaches both.
    parser.add_argument("--repeats", type=int, default=None, help="rounds per figure (7; quick 2)")
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1 (got {args.repeats})")
    # The first step of a bench run: the last run's verdict no longer stands.
    discard_verdict(OUT_DIR)
    enable_autograd()
    identity = this_run(ROOT)
    result = measure(args.quick, args.repeats or (2 if args.quick else 7))
    goals = check("engine", result)
    result.update(
        quick=args.quick,
        identity=asdict(identity),
        goals=[goal.as_json() for goal in goals],
    )
    text = describe(result) + "\n\nengine goals:\n" + table(goals)
    print(text, flush=True)
    write_atomically(OUT_DIR / "engine.json", json.dumps(result, indent=2) + "\n")
    write_atomically(OUT_DIR / "engine.md", "```\n" + text + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
