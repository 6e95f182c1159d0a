"""Module 05 (autograd), course API: gradients of batched, broadcast and 1-D matrix products.

``L = sum(G * (A @ B))`` is linear in A and in B, so its exact gradient w.r.t. one element
A[i] is ``sum(G * (E_i @ B))`` with E_i the one-hot array at i: ``basis_gradient`` below
computes every gradient that way with plain float64 ``np.matmul`` (numpy's own broadcasting and
1-D rules), independently of any backward formula. The closed forms (dA = G B^T, dB = A^T G,
summed over broadcast batch axes) are checked too where they are the textbook ones, and every
case once more by float32 central differences through tinytorch itself
(``gradients.assert_gradients_match``, the loss scaled to order 1). No gradient shares memory
with an operand, the product or the other operand's gradient (API.md, Aliasing).

Every test calls ``.matmul``; ``test_the_at_operator_is_matmul`` alone checks that ``@`` gives
the same product and gradients.

Tolerances: a float32 gradient here is a sum of at most ~10 float32 products of O(1) numbers,
so rtol 1e-5 with atol 1e-5 bounds its rounding. The float64 forms (central differences with
eps = 1e-6, rtol 1e-6) are in test_extras_batched_matmul.py.
"""

import numpy as np
import pytest
from course_api import Softmax, Tensor
from gradients import assert_gradients_match, scale_to_one
from op_registry import MATMUL_CASES as CASES  # name: (shape of A, shape of B)
from tinytorch_testing import f32

pytestmark = [pytest.mark.gradient, pytest.mark.broadcasting]


def basis_gradient(a, b, g):
    """(dL/da, dL/db) of L = sum(g * (a @ b)), one element at a time, in float64."""
    a, b, g = (np.asarray(v, dtype=np.float64) for v in (a, b, g))
    ga, gb = np.zeros(a.shape), np.zeros(b.shape)
    for index in np.ndindex(a.shape):
        e = np.zeros(a.shape)
        e[index] = 1.0
        ga[index] = np.sum(g * np.matmul(e, b))
    for index in np.ndindex(b.shape):
        e = np.zeros(b.shape)
        e[index] = 1.0
        gb[index] = np.sum(g * np.matmul(a, e))
    return ga, gb


def grads_float32(av, bv, gv):
    """tinytorch's float32 gradients of sum(g * (a @ b)), via backward(g)."""
    a, b = Tensor(av, requires_grad=True), Tensor(bv, requires_grad=True)
    out = a.matmul(b)
    assert out.shape == np.matmul(av, bv).shape
    out.backward(gv)
    for t in (a, b):
        assert isinstance(t.grad, np.ndarray), f".grad is {type(t.grad).__name__}"
        assert t.grad.shape == t.shape
        assert t.grad.dtype == np.float32
        for name, other in (("A", a.data), ("B", b.data), ("A @ B", out.data), ("G", gv)):
            assert not np.shares_memory(t.grad, other), f"a .grad shares memory with {name}"
    assert not np.shares_memory(a.grad, b.grad)
    return a.grad, b.grad


@pytest.mark.parametrize("case", list(CASES))
def test_matches_float64_basis_gradient(case):
    shape_a, shape_b = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    av, bv = f32(rng.standard_normal(shape_a)), f32(rng.standard_normal(shape_b))
    gv = f32(rng.standard_normal(np.matmul(av, bv).shape))
    ga, gb = grads_float32(av, bv, gv)
    expected_a, expected_b = basis_gradient(av, bv, gv)
    np.testing.assert_allclose(ga, expected_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gb, expected_b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_float32_central_differences(case):
    shape_a, shape_b = CASES[case]
    rng = np.random.default_rng(100 + list(CASES).index(case))
    av, bv = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    gv = rng.standard_normal(np.matmul(av, bv).shape)
    gv = gv * scale_to_one(gv * np.matmul(av, bv))

    def loss(a, b):
        return (a.matmul(b) * Tensor(gv)).sum()

    assert_gradients_match(loss, [av, bv])


def test_attention_scores_closed_form():
    # S = Q K^T with Q, K of shape (B, H, T, D): dQ = G K, dK = G^T Q (per batch and head)
    rng = np.random.default_rng(7)
    q, k = f32(rng.standard_normal((2, 3, 4, 5))), f32(rng.standard_normal((2, 3, 4, 5)))
    g = f32(rng.standard_normal((2, 3, 4, 4)))
    tq, tk = Tensor(q, requires_grad=True), Tensor(k, requires_grad=True)
    scores = tq.matmul(tk.transpose(-2, -1))
    assert scores.shape == (2, 3, 4, 4)
    scores.backward(g)
    np.testing.assert_allclose(tq.grad, g @ k, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tk.grad, np.swapaxes(g, -1, -2) @ q, rtol=1e-5, atol=1e-5)
    assert tq.grad.shape == tk.grad.shape == (2, 3, 4, 5)


def test_broadcast_batch_gradient_is_summed_over_the_batch():
    # (1, 3, 4) @ (2, 4, 5): A is shared by both batch entries, so dA = sum_b G_b B_b^T
    rng = np.random.default_rng(8)
    a, b = f32(rng.standard_normal((1, 3, 4))), f32(rng.standard_normal((2, 4, 5)))
    g = f32(rng.standard_normal((2, 3, 5)))
    ga, gb = grads_float32(a, b, g)
    expected_a = (g @ np.swapaxes(b, -1, -2)).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(ga, expected_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gb, np.swapaxes(a, -1, -2) @ g, rtol=1e-5, atol=1e-5)
    assert ga.shape == (1, 3, 4)


def test_vector_dot_vector_is_a_scalar_with_swapped_gradients():
    a = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = Tensor([0.5, 4.0, -1.0], requires_grad=True)
    out = a.matmul(b)
    assert out.shape == ()
    assert float(out.data) == 0.5 - 8.0 - 3.0
    out.backward()  # one element: no gradient argument needed
    np.testing.assert_array_equal(a.grad, [0.5, 4.0, -1.0])
    np.testing.assert_array_equal(b.grad, [1.0, -2.0, 3.0])
    assert a.grad.shape == b.grad.shape == (3,)


def test_one_dimensional_operands_by_hand():
    # v @ M = sum_i v_i M_i: dv = M g, dM = v g^T
    v = Tensor([1.0, 2.0], requires_grad=True)
    m = Tensor([[1.0, 0.0, -1.0], [2.0, 1.0, 3.0]], requires_grad=True)
    v.matmul(m).backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(v.grad, [1.0 - 100.0, 2.0 + 10.0 + 300.0])
    np.testing.assert_array_equal(m.grad, [[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    # M @ v with M (3, 2): dv = M^T g, dM = g v^T
    m2 = Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    v2 = Tensor([1.0, -1.0], requires_grad=True)
    m2.matmul(v2).backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(v2.grad, [11.0, 14.0])
    np.testing.assert_array_equal(m2.grad, [[1.0, -1.0], [0.0, 0.0], [2.0, -2.0]])


def test_only_the_input_that_requires_grad_gets_one():
    rng = np.random.default_rng(9)
    a = Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = Tensor(rng.standard_normal((4, 2)))
    a.matmul(b).sum().backward()
    assert b.grad is None
    expected = np.ones((2, 3, 2)) @ b.data.T.astype(np.float64)
    np.testing.assert_allclose(a.grad, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.integration
def test_full_attention_head():
    # softmax(Q K^T / sqrt(D)) V, every input checked by float32 central differences
    rng = np.random.default_rng(10)
    q, k, v = (rng.standard_normal((2, 2, 3, 4)) for _ in "qkv")
    weights = rng.standard_normal((2, 2, 3, 4)) / 16  # sum(|weights * output|) is about 1

    def loss(q, k, v):
        scores = q.matmul(k.transpose(-2, -1)) / 2.0  # sqrt(D) = 2
        return (Softmax()(scores, dim=-1).matmul(v) * Tensor(weights)).sum()

    assert_gradients_match(loss, [q, k, v])


@pytest.mark.parametrize("case", ["2d", "attention_scores", "vector_times_batch"])
def test_the_at_operator_is_matmul(case):
    # API.md 01: `@` is matmul. Every other test here calls .matmul, so that an implementation
    # without the operator fails here only.
    shape_a, shape_b = CASES[case]
    rng = np.random.default_rng(200 + list(CASES).index(case))
    av, bv = f32(rng.standard_normal(shape_a)), f32(rng.standard_normal(shape_b))
    gv = f32(rng.standard_normal(np.matmul(av, bv).shape))
    a, b = Tensor(av, requires_grad=True), Tensor(bv, requires_grad=True)
    out = a @ b
    by_method = Tensor(av).matmul(Tensor(bv))
    np.testing.assert_array_equal(out.data, by_method.data)
    out.backward(gv)
    ga, gb = grads_float32(av, bv, gv)
    np.testing.assert_array_equal(a.grad, ga)
    np.testing.assert_array_equal(b.grad, gb)
