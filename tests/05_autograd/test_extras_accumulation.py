"""Module 05 (Autograd) extras: gradient accumulation where the reference goes beyond API.md.

- The random DAG of test_bugs_accumulation.py (tests/support/random_graphs.py), built inside
  ``default_dtype(np.float64)`` and held to float64 tolerances (rel 1e-12 on values, 1e-9 on
  gradients): the course-API version there runs in float32 at looser ones.
- Repeated rows picked with a Tensor as the index (API.md 01 promises "basic and integer-array
  indexing"; a Tensor key is the reference's behaviour, "internals"): the list and ndarray
  forms are course-API tests in test_bugs_accumulation.py.
"""

import numpy as np
import pytest
from autograd_checks import repeated_rows_sum_their_gradients
from course_api import Tensor
from random_graphs import assert_dag_reuses_nodes, build_dag, random_dag, reference_forward_backward
from reference_extras import default_dtype

pytestmark = pytest.mark.accumulation


@pytest.mark.extra("internals")
def test_tensor_index_with_repeats_sums_the_rows_gradients():
    repeated_rows_sum_their_gradients(Tensor([1, 1, 1, 3]))


@pytest.mark.extra("float64")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_dag_with_node_reuse_matches_plain_python_in_float64(seed):
    leaves, nodes, weights = random_dag(seed)
    assert_dag_reuses_nodes(nodes)
    values, loss_ref, grads_ref = reference_forward_backward(leaves, nodes, weights)

    with default_dtype(np.float64):
        tensors, loss = build_dag(leaves, nodes, weights)
        loss.backward()

    np.testing.assert_allclose([t.data[0] for t in tensors], values, rtol=1e-12, atol=1e-15)
    assert loss.data[0] == pytest.approx(loss_ref, rel=1e-12, abs=1e-15)
    for leaf, expected in zip(tensors[: len(leaves)], grads_ref, strict=True):
        assert isinstance(leaf.grad, np.ndarray)
        assert leaf.grad.dtype == np.float64
        assert leaf.grad.shape == (1,)
        assert leaf.grad[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(abs(g) for g in grads_ref) > 1e-3  # the check is not vacuous
