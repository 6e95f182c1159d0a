"""Module 05 (Autograd) extras: gradient accumulation in the reference's float64 mode.

The random DAG of test_bugs_accumulation.py, built inside ``default_dtype(np.float64)`` and
held to float64 tolerances (rel 1e-12 on values, 1e-9 on gradients): the course-API version
there runs in float32 at looser ones.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from course_api import Tensor
from reference_extras import default_dtype


def _sibling(name):
    """tests/05_autograd/<name>.py, imported once per process (--import-mode=importlib puts
    no test folder on sys.path, so a plain import would not find it)."""
    key = f"suite05_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


# the same DAGs and plain-Python reverse mode as the course-API test
course = _sibling("test_bugs_accumulation")
random_dag, reference_forward_backward = course.random_dag, course.reference_forward_backward

pytestmark = [pytest.mark.accumulation, pytest.mark.extra("float64")]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_dag_with_node_reuse_matches_plain_python_in_float64(seed):
    leaves, nodes, weights = random_dag(seed)
    uses = np.bincount([i for _, i, j in nodes] + [j for _, i, j in nodes])
    assert uses.max() >= 4  # the DAG really reuses nodes
    assert any(i == j for _, i, j in nodes)
    values, loss_ref, grads_ref = reference_forward_backward(leaves, nodes, weights)

    with default_dtype(np.float64):
        # shape (1,) rather than 0-d, so that this test is about the graph alone
        tensors = [Tensor([v], requires_grad=True) for v in leaves]
        for op, i, j in nodes:
            a, b = tensors[i], tensors[j]
            tensors.append((a + b) * 0.5 if op == "avg" else a * b)
        loss = Tensor([0.0])
        for w, t in zip(weights, tensors[-len(weights) :], strict=True):
            loss = loss + t * w
        loss.backward()

    np.testing.assert_allclose([t.data[0] for t in tensors], values, rtol=1e-12, atol=1e-15)
    assert loss.data[0] == pytest.approx(loss_ref, rel=1e-12, abs=1e-15)
    for leaf, expected in zip(tensors[: len(leaves)], grads_ref, strict=True):
        assert isinstance(leaf.grad, np.ndarray)
        assert leaf.grad.dtype == np.float64
        assert leaf.grad.shape == (1,)
        assert leaf.grad[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(abs(g) for g in grads_ref) > 1e-3  # the check is not vacuous
