"""Module 05 (autograd), the reference's extras: float64 gradients of matrix products.

The float64 forms of test_batched_matmul_backward.py's central-difference checks: inside
``default_dtype(np.float64)`` the gradients of ``sum(G * (A @ B))`` for every case (batched,
broadcast, 1-D) and of a full attention head equal float64 central differences through
tinytorch itself (``reference_extras.central_differences``, eps 1e-6: good to ~1e-9), checked
with rtol 1e-6, atol 1e-8.
"""

import numpy as np
import pytest
from course_api import Softmax, Tensor
from op_registry import MATMUL_CASES as CASES  # name: (shape of A, shape of B)
from reference_extras import central_differences, default_dtype

pytestmark = [
    pytest.mark.gradient,
    pytest.mark.broadcasting,
    pytest.mark.extra("float64", "no_grad"),  # central_differences needs both
]


def check_numerically_float64(av, bv, gv):
    with default_dtype(np.float64):
        a, b = Tensor(av, requires_grad=True), Tensor(bv, requires_grad=True)
        weights = Tensor(gv)

        def loss():
            return ((a @ b) * weights).sum()

        loss().backward()
        analytic = (a.grad, b.grad)
        for t, grad in zip((a, b), analytic, strict=True):
            assert grad.shape == t.shape
            assert grad.dtype == np.float64
            np.testing.assert_allclose(grad, central_differences(loss, t), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_float64_central_differences(case):
    shape_a, shape_b = CASES[case]
    rng = np.random.default_rng(100 + list(CASES).index(case))
    av, bv = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    gv = rng.standard_normal(np.matmul(av, bv).shape)
    check_numerically_float64(av, bv, gv)


@pytest.mark.integration
def test_full_attention_head_numerically():
    # softmax(Q K^T / sqrt(D)) V, every input checked by float64 central differences
    rng = np.random.default_rng(10)
    with default_dtype(np.float64):
        q, k, v = (Tensor(rng.standard_normal((2, 2, 3, 4)), requires_grad=True) for _ in "qkv")
        weights = Tensor(rng.standard_normal((2, 2, 3, 4)))

        def loss():
            scores = q @ k.transpose(-2, -1) / 2.0  # sqrt(D) = 2
            return ((Softmax()(scores, dim=-1) @ v) * weights).sum()

        loss().backward()
        analytic = {"q": q.grad, "k": k.grad, "v": v.grad}
        for name, t in (("q", q), ("k", k), ("v", v)):
            assert analytic[name].shape == (2, 2, 3, 4)
            np.testing.assert_allclose(
                analytic[name], central_differences(loss, t), rtol=1e-6, atol=1e-8, err_msg=name
            )
