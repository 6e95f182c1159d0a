"""Module 05 (autograd), course API: gradients flow through every op family and whole networks.

Every gradient here is compared with float32 central differences of our own
(``gradients.assert_gradients_match``: eps 1e-3, rtol 1e-2, atol 1e-3), which never ask
tinytorch for a gradient. Float32 differences need a loss of order 1 (the rounding error of a
loss L is about L * 6e-8 / eps): each op family's output is weighted by fixed weights scaled by
a power of two so that sum(|weight * output|) <= 1, and the networks end in a mean loss.
Inputs are kept away from kinks (ReLU at 0, max ties, BCE's clip bounds) by far more than the
step, and each test asserts that they are.

The float64 forms of these checks (eps 1e-6, rtol 1e-6) and the tests of ``gradcheck`` itself
are in test_extras_gradient_flow.py; the op families are shared with it
(tests/support/op_registry.py).
"""

import itertools

import numpy as np
import pytest
from course_api import (
    GELU,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tensor,
)
from gradients import assert_gradients_match, scale_to_one
from op_registry import OP_FAMILIES, family_arrays, family_weights

pytestmark = pytest.mark.gradient


KINK_MARGIN = 1e-2  # ten steps of the central differences


def layer_of(weight, bias):
    """A Linear layer whose parameters are the given Tensors."""
    layer = Linear(weight.shape[0], weight.shape[1])
    layer.weight, layer.bias = weight, bias
    return layer


def network_arrays(rng, sizes, batch):
    """Weights (n_in, n_out) * 0.7 and biases * 0.3 of each layer, then the input."""
    arrays = []
    for n_in, n_out in itertools.pairwise(sizes):
        arrays += [rng.standard_normal((n_in, n_out)) * 0.7, rng.standard_normal(n_out) * 0.3]
    return [*arrays, rng.standard_normal((batch, sizes[0]))]


def layers_of(tensors):
    """The Linear layers of network_arrays' weights and biases (the input is last, left out)."""
    return [layer_of(w, b) for w, b in zip(tensors[:-1:2], tensors[1:-1:2], strict=True)]


def assert_away_from_relu_kink(pre_activation):
    assert np.abs(pre_activation).min() > KINK_MARGIN, "a pre-activation is within the step of 0"


# =========================================================================================
# every op family
# =========================================================================================


@pytest.mark.parametrize("family", sorted(OP_FAMILIES))
def test_gradient_flows_through_op_family(family):
    fn, _ = OP_FAMILIES[family]
    arrays = family_arrays(family)
    if family in ("relu_sigmoid_tanh", "max"):
        flat = np.sort(arrays[0].reshape(-1))
        assert np.abs(flat).min() > KINK_MARGIN  # away from ReLU's kink
        assert np.diff(flat).min() > KINK_MARGIN  # no ties for max
    out = np.asarray(fn(*[Tensor(a) for a in arrays]).data, dtype=np.float64)
    weights = family_weights(family, out.shape)
    weights = weights * scale_to_one(weights * out)

    def loss(*inputs):
        return (fn(*inputs) * Tensor(weights)).sum()

    assert_gradients_match(loss, arrays)


@pytest.mark.broadcasting
def test_broadcast_gradients_keep_each_input_shape():
    rng = np.random.default_rng(30)
    shapes = [(2, 1, 4), (3, 1), (4,), (1,), ()]
    arrays = [rng.uniform(-1.0, 1.0, s) for s in shapes]
    a, b, c, d, e = arrays
    value = (a * b + c) * d - e * a
    scale = scale_to_one(value * value)

    def loss(a, b, c, d, e):
        f = (a * b + c) * d - e * a
        return (f * f).sum() * scale

    assert_gradients_match(loss, arrays)  # also: each .grad has its input's shape


# =========================================================================================
# whole networks: the audit's network, then cross-entropy and BCE heads
# =========================================================================================


@pytest.mark.integration
def test_audit_network_every_gradient():
    # Linear(3, 4) -> ReLU -> Linear(4, 2) -> MSE, the audit's network; every parameter and x
    rng = np.random.default_rng(31)
    arrays = network_arrays(rng, (3, 4, 2), batch=5)
    w1, b1, _, _, x = arrays
    target = rng.standard_normal((5, 2))
    assert_away_from_relu_kink(x @ w1 + b1)
    target_tensor = Tensor(target)

    def loss(*params):
        layer1, layer2 = layers_of(params)
        return MSELoss()(layer2(ReLU()(layer1(params[-1]))), target_tensor)

    assert_gradients_match(loss, arrays)
    assert target_tensor.grad is None


@pytest.mark.integration
def test_cross_entropy_network_every_gradient():
    rng = np.random.default_rng(32)
    arrays = network_arrays(rng, (4, 6, 3), batch=6)
    w1, b1, _, _, x = arrays
    labels = np.array([0, 2, 1, 2, 0, 1])
    assert_away_from_relu_kink(x @ w1 + b1)

    def loss(*params):
        layer1, layer2 = layers_of(params)
        return CrossEntropyLoss()(layer2(ReLU()(layer1(params[-1]))), Tensor(labels))

    assert_gradients_match(loss, arrays)


@pytest.mark.integration
def test_bce_network_every_gradient():
    rng = np.random.default_rng(39)  # 33, the float64 form's seed, comes within 5e-3 of a kink
    arrays = network_arrays(rng, (3, 5, 1), batch=8)
    w1, b1, w2, b2, x = arrays
    targets = Tensor((rng.random((8, 1)) > 0.5).astype(float))
    pre = x @ w1 + b1
    assert_away_from_relu_kink(pre)
    prob = 1 / (1 + np.exp(-(np.maximum(pre, 0) @ w2 + b2)))
    assert prob.min() > 1e-3  # inside BCE's clip range
    assert prob.max() < 1 - 1e-3

    def loss(*params):
        layer1, layer2 = layers_of(params)
        return BinaryCrossEntropyLoss()(Sigmoid()(layer2(ReLU()(layer1(params[-1])))), targets)

    assert_gradients_match(loss, arrays)


@pytest.mark.integration
@pytest.mark.accumulation
def test_residual_network_every_gradient():
    # h = l1(x); y = h + l2(relu(h)); loss = MSE(l3(y)): h feeds a short and a long path
    rng = np.random.default_rng(36)
    arrays = network_arrays(rng, (3, 4, 4, 2), batch=5)
    w1, b1, *_, x = arrays
    target = Tensor(rng.standard_normal((5, 2)))
    assert_away_from_relu_kink(x @ w1 + b1)

    def loss(*params):
        l1, l2, l3 = layers_of(params)
        h = l1(params[-1])
        return MSELoss()(l3(h + l2(ReLU()(h))), target)

    assert_gradients_match(loss, arrays)


@pytest.mark.integration
def test_deeper_network_with_smooth_activations():
    rng = np.random.default_rng(34)
    arrays = network_arrays(rng, (3, 5, 5, 4), batch=4)
    target = Tensor(np.eye(4))

    def loss(*params):
        l1, l2, l3 = layers_of(params)
        # (Tanh's own gradient: test_op_registry.py)
        return MSELoss()(Softmax()(l3(GELU()(l2(Sigmoid()(l1(params[-1])))))), target)

    assert_gradients_match(loss, arrays)
