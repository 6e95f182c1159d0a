"""Module 05 (Autograd) bugs: gradient accumulation.

A tensor used several times gets the SUM of the gradients of its uses: shared weights,
``a + a``, repeated embedding indices, nodes reused all over a random DAG, and successive
backward() calls into the same leaf. Expected values are worked by hand or, for the random
DAG, by a reverse-mode pass in plain Python floats (tests/support/random_graphs.py). Every
leaf gets a ``.grad`` of its own: never shared with another leaf's, nor with the gradient
passed to backward(), and of the leaf's own shape when it was broadcast. Course API,
float32; the random DAG in float64 (the reference's extra) is in test_extras_accumulation.py.
"""

import numpy as np
import pytest
from autograd_checks import repeated_rows_sum_their_gradients
from course_api import Linear, ReLU, Tensor
from random_graphs import assert_dag_reuses_nodes, build_dag, random_dag, reference_forward_backward
from tinytorch_testing import f32, param

pytestmark = pytest.mark.accumulation


def test_weight_used_twice():
    # the audit's case: d(w x1 + w x2)/dw = x1 + x2 = 1 + 3
    weight = Tensor([2.0], requires_grad=True)
    y1 = weight * Tensor([1.0])
    y2 = weight * Tensor([3.0])
    (y1.sum() + y2.sum()).backward()
    np.testing.assert_array_equal(weight.grad, [4.0])


def test_a_plus_a_twice_gives_four():
    a = Tensor([1.5, -2.0], requires_grad=True)
    b = a + a
    c = b + b
    np.testing.assert_array_equal(c.data, [6.0, -8.0])
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0, 4.0])


def test_x_times_x_plus_x_at_3_gives_7():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = x * x + x  # 12; dy/dx = 2x + 1 = 7
    assert y.data[0] == 12.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [7.0])


def test_same_tensor_as_both_inputs_of_every_binary_op():
    xv = np.array([0.5, 2.0, -3.0])
    for fn, expected in [
        (lambda x: x - x, np.zeros(3)),  # identically 0
        (lambda x: x / x, np.zeros(3)),  # identically 1
        (lambda x: x * x, 2 * xv),
    ]:
        x = Tensor(xv, requires_grad=True)
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-7)


def test_matrix_times_itself():
    # L = sum_ij (X X)_ij = sum_ijk X_ik X_kj: dL/dX_ab = sum_j X_bj + sum_i X_ia
    xv = np.array([[1.0, 2.0], [-3.0, 0.5]])
    x = Tensor(xv, requires_grad=True)
    x.matmul(x).sum().backward()
    expected = xv.sum(axis=1)[np.newaxis, :] + xv.sum(axis=0)[:, np.newaxis]
    np.testing.assert_array_equal(x.grad, expected)


# --- an intermediate (non-leaf) used by paths of different lengths -----------------------
# Its gradient is complete only once every path has delivered its share; a topological order
# that visits it too early silently drops the longer paths' contributions.


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        # h = 3x at x = 1: y = h + h*h, dy/dx = (1 + 2h) 3 = 21, whichever operand comes first
        (lambda h: h + h * h, 21.0),
        (lambda h: h * h + h, 21.0),
        # y = h * (2h) = 2 h^2: dy/dx = 4h * 3 = 36, whichever operand comes first
        (lambda h: h * (h * 2), 36.0),
        (lambda h: (h * 2) * h, 36.0),
        # y = h + relu(h) + relu(relu(h)): three paths of lengths 1, 2, 3, each of slope 3
        (lambda h: h + ReLU()(h) + ReLU()(ReLU()(h)), 9.0),
        (lambda h: ReLU()(ReLU()(h)) + ReLU()(h) + h, 9.0),
    ],
    ids=["h+hh", "hh+h", "h(2h)", "(2h)h", "short-first", "long-first"],
)
def test_intermediate_reused_at_different_depths(build, expected):
    x = Tensor([1.0], requires_grad=True)
    h = x * 3
    build(h).backward()
    np.testing.assert_array_equal(x.grad, [expected])


def test_residual_block_by_hand():
    # h = x W1; y = h + relu(h) W2; L = sum(y)
    w1 = Tensor([[1.0, -2.0], [0.5, 1.0]], requires_grad=True)
    w2 = Tensor([[2.0, 0.0], [1.0, 3.0]], requires_grad=True)
    x = Tensor([[1.0, 1.0]], requires_grad=True)
    h = x.matmul(w1)  # [1.5, -1]
    y = h + ReLU()(h).matmul(w2)
    y.sum().backward()
    # dL/dh = 1 + (1 W2^T) * (h > 0) = [1, 1] + [2, 4] * [1, 0] = [3, 1]
    # dL/dW1 = x^T [3, 1]; dL/dW2 = relu(h)^T 1 = [[1.5, 1.5], [0, 0]]; dL/dx = [3, 1] W1^T
    np.testing.assert_array_equal(w1.grad, [[3.0, 1.0], [3.0, 1.0]])
    np.testing.assert_array_equal(w2.grad, [[1.5, 1.5], [0.0, 0.0]])
    np.testing.assert_array_equal(x.grad, [[3.0 * 1.0 + 1.0 * -2.0, 3.0 * 0.5 + 1.0 * 1.0]])


@pytest.mark.parametrize(
    "index",
    [lambda: [1, 1, 1, 3], lambda: np.array([1, 1, 1, 3])],
    ids=["list", "ndarray"],
)
def test_integer_array_indexing_with_repeats(index):
    # (a Tensor as the key, which API.md does not promise: test_extras_accumulation.py)
    repeated_rows_sum_their_gradients(index())


def test_plain_sum_over_repeated_index_counts_occurrences():
    table = Tensor(np.zeros((5, 2)), requires_grad=True)
    table[[1, 1, 1, 3]].sum().backward()
    np.testing.assert_array_equal(table.grad[:, 0], [0.0, 3.0, 0.0, 1.0, 0.0])


def test_embedding_lookup_with_2d_index_and_repeats():
    table = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    ids = np.array([[0, 2, 2], [2, 3, 0]])  # a batch of two "sentences"
    emb = table[ids]
    assert emb.shape == (2, 3, 3)
    (emb * 2).sum().backward()
    # each row gets 2 per occurrence: 0 twice, 1 never, 2 three times, 3 once
    np.testing.assert_array_equal(table.grad, np.repeat([[4.0], [0.0], [6.0], [2.0]], 3, axis=1))


def test_repeated_pairs_in_a_tuple_index():
    x = Tensor(np.zeros((3, 3)), requires_grad=True)
    picked = x[[0, 0, 2, 0], [1, 1, 2, 1]]  # (0, 1) three times, (2, 2) once
    (picked * Tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    expected = np.zeros((3, 3))
    expected[0, 1] = 1.0 + 2.0 + 4.0
    expected[2, 2] = 3.0
    np.testing.assert_array_equal(x.grad, expected)


def test_tied_weights_used_transposed():
    # y = (x W) W^T, L = sum(y): dL/dW = x^T (1 W) + 1^T (x W), worked out below in numpy
    w = Tensor([[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0]], requires_grad=True)  # (2, 3)
    x = Tensor([[1.0, 2.0]])
    y = x.matmul(w).matmul(w.transpose())
    y.sum().backward()
    wv, xv, ones = w.data.astype(np.float64), x.data.astype(np.float64), np.ones((1, 2))
    h = xv @ wv  # (1, 3)
    expected = xv.T @ (ones @ wv) + (ones.T @ h)  # first use + second (transposed) use
    np.testing.assert_allclose(w.grad, expected, rtol=1e-6)


def test_shared_bias_broadcast_to_different_shapes():
    bias = Tensor([0.5], requires_grad=True)
    a = Tensor(np.ones((2, 3)))
    b = Tensor(np.ones(4))
    ((a + bias).sum() * 2 + (b * bias).sum()).backward()
    # 2 * 6 elements + sum(b) = 12 + 4
    assert bias.grad.shape == (1,)
    np.testing.assert_array_equal(bias.grad, [16.0])


def test_successive_backward_calls_accumulate():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()  # adds 2x
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    layer = Linear(2, 1)
    layer.weight = Tensor([[1.0], [1.0]], requires_grad=True)
    for _ in range(3):
        layer(Tensor([[1.0, -1.0]])).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad, [[3.0], [-3.0]])
    np.testing.assert_array_equal(layer.bias.grad, [3.0])


def test_accumulated_grads_are_separate_arrays():
    # add passes its upstream gradient to both inputs unchanged: each leaf must still get
    # its own .grad array, so changing one (as an optimizer does) cannot change the other,
    # nor the caller's gradient array
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    g = np.array([1.0, 1.0], dtype=np.float32)
    (a + b).backward(g)
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, g)
    a.grad *= 0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(g, [1.0, 1.0])
    # and a leaf that is itself the root
    c = Tensor([5.0], requires_grad=True)
    seed = np.array([2.0], dtype=np.float32)
    c.backward(seed)
    c.grad += 1
    np.testing.assert_array_equal(seed, [2.0])
    np.testing.assert_array_equal(c.grad, [3.0])


ONE_HOT_FIRST = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("loss_of", "grad_a", "grad_b"),
    [
        (lambda a, b: (a + b).sum(), np.ones((2, 3)), np.ones((2, 3))),
        (lambda a, b: (a - b).mean(), np.full((2, 3), 1 / 6), np.full((2, 3), -1 / 6)),
        (lambda a, b: (a + b).reshape(6).sum(), np.ones((2, 3)), np.ones((2, 3))),
        (lambda a, b: (a + b).transpose().sum(), np.ones((2, 3)), np.ones((2, 3))),
        (lambda a, b: (a + b)[0].sum(), [[1, 1, 1], [0, 0, 0]], [[1, 1, 1], [0, 0, 0]]),
        (lambda a, b: (a + b).max(), ONE_HOT_FIRST, ONE_HOT_FIRST),
        (lambda a, b: (a * 1 + b).sum(), np.ones((2, 3)), np.ones((2, 3))),
    ],
    ids=["add-sum", "sub-mean", "reshape", "transpose", "getitem", "max", "mul-add"],
)
def test_two_leaves_fed_by_one_op_never_share_a_grad(loss_of, grad_a, grad_b):
    # these rules hand the same upstream gradient (often a broadcast view) to both inputs:
    # each leaf must still get its own, writable array, as an optimizer writes into it
    a = param([[5.0, 1.0, 2.0], [1.0, 0.0, 1.0]])
    b = param(np.zeros((2, 3)))
    loss_of(a, b).backward()
    assert a.grad is not None, "a got no gradient from backward() (.grad is None)"
    assert b.grad is not None, "b got no gradient from backward() (.grad is None)"
    np.testing.assert_allclose(a.grad, grad_a, rtol=1e-6)
    np.testing.assert_allclose(b.grad, grad_b, rtol=1e-6)
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, a.data)
    assert not np.shares_memory(b.grad, b.data)
    a.grad *= 0.0
    a.grad[...] = 7.0
    np.testing.assert_allclose(b.grad, grad_b, rtol=1e-6)


def test_leaves_of_one_add_chain_and_the_seed_gradient_are_all_apart():
    leaves = [param([1.0, 2.0]) for _ in range(4)]
    seed = np.array([3.0, -1.0], dtype=np.float32)
    (leaves[0] + leaves[1] + leaves[2] + leaves[3]).backward(seed)
    for leaf in leaves:
        np.testing.assert_array_equal(leaf.grad, [3.0, -1.0])
        assert not np.shares_memory(leaf.grad, seed)
    for i, first in enumerate(leaves):
        for second in leaves[i + 1 :]:
            assert not np.shares_memory(first.grad, second.grad)
    # accumulating a second pass makes no sharing either
    (leaves[0] - leaves[1]).backward(seed)
    assert not np.shares_memory(leaves[0].grad, leaves[1].grad)
    np.testing.assert_array_equal(leaves[0].grad, [6.0, -2.0])
    np.testing.assert_array_equal(leaves[1].grad, [0.0, 0.0])


def sum_to_shape(array, shape):
    """array summed over the axes numpy broadcasting added or stretched to reach its shape."""
    array = np.asarray(array, dtype=np.float64)
    array = (
        array.sum(axis=tuple(range(array.ndim - len(shape)))) if array.ndim > len(shape) else array
    )
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=stretched, keepdims=True).reshape(shape)


@pytest.mark.broadcasting
@pytest.mark.parametrize("shape", [(), (1,), (3,), (1, 3), (2, 1), (1, 1), (2, 3)])
def test_broadcast_leaf_gets_a_grad_of_its_own_shape(shape):
    # x (2, 3) + leaf and x * leaf: the leaf's gradient is the upstream one summed back over
    # every axis that broadcasting added or stretched, in the leaf's own shape, (1,) included
    x = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]])
    weights = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    leaf = param(np.full(shape, 2.0))
    ((Tensor(x) + leaf) * Tensor(weights)).sum().backward()
    assert isinstance(leaf.grad, np.ndarray)
    assert leaf.grad.shape == shape
    np.testing.assert_allclose(leaf.grad, sum_to_shape(weights, shape), rtol=1e-6)
    leaf.zero_grad()
    ((Tensor(x) * leaf) * Tensor(weights)).sum().backward()
    assert leaf.grad.shape == shape
    np.testing.assert_allclose(leaf.grad, sum_to_shape(x * weights, shape), rtol=1e-6)


def test_grad_of_leaf_used_by_two_graphs_then_one_backward_each():
    x = Tensor([2.0], requires_grad=True)
    y1 = x * 5
    y2 = x * x
    y1.backward()
    np.testing.assert_array_equal(x.grad, [5.0])
    y2.backward()
    np.testing.assert_array_equal(x.grad, [5.0 + 4.0])


# --- a random DAG of add and mul nodes, against plain-Python reverse mode ----------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_dag_with_node_reuse_matches_plain_python(seed):
    leaves, nodes, weights = random_dag(seed)
    assert_dag_reuses_nodes(nodes)
    # the reference starts from the leaves as float32 holds them; float32 rounding along
    # the way stays near 1e-7 (measured), far below what a missed path would change
    values, loss_ref, grads_ref = reference_forward_backward(
        [float(v) for v in f32(leaves)], nodes, weights
    )

    tensors, loss = build_dag(leaves, nodes, weights)
    loss.backward()

    np.testing.assert_allclose([t.data[0] for t in tensors], values, rtol=1e-5, atol=1e-6)
    assert loss.data[0] == pytest.approx(loss_ref, rel=1e-5, abs=1e-6)
    for leaf, expected in zip(tensors[: len(leaves)], grads_ref, strict=True):
        assert isinstance(leaf.grad, np.ndarray)
        assert leaf.grad.shape == (1,)
        assert leaf.grad[0] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert max(abs(g) for g in grads_ref) > 1e-3  # the check is not vacuous
