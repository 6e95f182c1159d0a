"""Random DAGs of add and mul nodes, and plain-Python reverse mode to check them against.

Used by tests/05_autograd/test_bugs_accumulation.py (course API, float32) and
test_extras_accumulation.py (the reference's float64 mode): the same DAGs, the same
reference values. ``build_dag`` evaluates a DAG with course_api stand-ins, looked up when it
runs: importing this file imports no tinytorch.
"""

import numpy as np
from course_api import Tensor


def random_dag(seed, n_leaves=5, n_nodes=200):
    """Nodes (op, i, j): node k = op(node i, node j) with i, j < k; the first n_leaves are
    leaves. 'avg' is (a + b) * 0.5, 'mul' is a * b: with leaves in [-1, 1] every value
    stays in [-1, 1]. About one node in eight uses the same node twice."""
    rng = np.random.default_rng(seed)
    leaves = [float(v) for v in rng.uniform(-1.0, 1.0, n_leaves)]
    nodes = []
    for k in range(n_leaves, n_leaves + n_nodes):
        i = int(rng.integers(0, k))
        j = i if rng.random() < 0.125 else int(rng.integers(0, k))
        nodes.append(("avg" if rng.random() < 0.5 else "mul", i, j))
    weights = [float(w) for w in rng.standard_normal(20)]  # loss = sum w_m * last 20 nodes
    return leaves, nodes, weights


def reference_forward_backward(leaves, nodes, weights):
    """Values and d(loss)/d(leaf) in plain Python floats, by reverse-mode accumulation."""
    values = list(leaves)
    for op, i, j in nodes:
        values.append((values[i] + values[j]) * 0.5 if op == "avg" else values[i] * values[j])
    adjoint = [0.0] * len(values)
    for offset, w in enumerate(weights):
        adjoint[len(values) - len(weights) + offset] += w
    for k in range(len(values) - 1, len(leaves) - 1, -1):
        op, i, j = nodes[k - len(leaves)]
        if op == "avg":
            adjoint[i] += 0.5 * adjoint[k]
            adjoint[j] += 0.5 * adjoint[k]
        else:
            adjoint[i] += values[j] * adjoint[k]
            adjoint[j] += values[i] * adjoint[k]
    loss = sum(w * v for w, v in zip(weights, values[-len(weights) :], strict=True))
    return values, loss, adjoint[: len(leaves)]


def assert_dag_reuses_nodes(nodes):
    """The DAG really reuses nodes (one used at least four times, one node fed twice by the
    same input): what makes it a test of accumulation."""
    uses = np.bincount([i for _, i, j in nodes] + [j for _, i, j in nodes])
    assert uses.max() >= 4
    assert any(i == j for _, i, j in nodes)


def build_dag(leaves, nodes, weights):
    """The DAG in Tensors (of the dtype in force), and its loss: (tensors, loss), the leaves
    first. Shape (1,) rather than 0-d, so that a test of it is about the graph alone."""
    tensors = [Tensor([v], requires_grad=True) for v in leaves]
    for op, i, j in nodes:
        a, b = tensors[i], tensors[j]
        tensors.append((a + b) * 0.5 if op == "avg" else a * b)
    loss = Tensor([0.0])
    for w, t in zip(weights, tensors[-len(weights) :], strict=True):
        loss = loss + t * w
    return tensors, loss
