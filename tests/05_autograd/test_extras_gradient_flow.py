"""Module 05 (autograd), the reference's extras: float64 gradient flow and ``gradcheck`` itself.

The float64 forms of test_gradient_flow.py (same op families, tests/support/op_registry.py):
every analytical gradient is compared with float64 central differences
(``reference_extras.central_differences``: each element of a parameter moved by +-eps,
eps = 1e-6, inside ``default_dtype(np.float64)``, the loss re-evaluated under ``no_grad``). In
float64 that estimate is good to about |f| * 1e-16 / eps ~ 1e-10 (rounding) plus
eps**2 * |f'''| ~ 1e-12 (truncation), so rtol 1e-6 with atol 1e-8 is an honest bound that
still catches any wrong rule. Inputs are kept away from kinks (ReLU at 0, max ties, BCE's clip
bounds) by more than eps, and each test asserts that it is. The networks are built with
``Sequential``.

The second half checks ``tinytorch.core.autograd.gradcheck`` itself, including that it fails,
naming the worst element, when a backward rule is deliberately wrong (monkeypatched).
"""

import re

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
    Tanh,
    Tensor,
)
from op_registry import OP_FAMILIES, family_arrays, family_weights
from reference_extras import (
    BACKWARD,
    Sequential,
    central_differences,
    default_dtype,
    gradcheck,
    no_grad,
)

pytestmark = pytest.mark.gradient

FLOAT64 = pytest.mark.extra("float64", "no_grad")  # central_differences needs both

RTOL = 1e-6
ATOL = 1e-8


def check_all_gradients(loss_fn, params):
    """Autograd's gradient of loss_fn() w.r.t. each param equals central differences."""
    for p in params:
        p.zero_grad()
    loss = loss_fn()
    assert loss.shape == ()
    loss.backward()
    analytic = {id(p): p.grad for p in params}  # read before any value is perturbed
    for i, p in enumerate(params):
        grad = analytic[id(p)]
        assert isinstance(grad, np.ndarray), f"param {i}: .grad is {type(grad).__name__}"
        assert grad.shape == p.shape, f"param {i}: grad shape {grad.shape} != {p.shape}"
        assert grad.dtype == np.float64
        numeric = central_differences(loss_fn, p)
        assert np.abs(numeric).max() > 1e-6, f"param {i}: the test would check nothing"
        np.testing.assert_allclose(grad, numeric, rtol=RTOL, atol=ATOL, err_msg=f"param {i}")


def linear(rng, n_in, n_out):
    layer = Linear(n_in, n_out)
    layer.weight = Tensor(rng.standard_normal((n_in, n_out)) * 0.7, requires_grad=True)
    layer.bias = Tensor(rng.standard_normal(n_out) * 0.3, requires_grad=True)
    return layer


# =========================================================================================
# every op family
# =========================================================================================


@FLOAT64
@pytest.mark.parametrize("family", sorted(OP_FAMILIES))
def test_float64_gradient_flows_through_op_family(family):
    fn, _ = OP_FAMILIES[family]
    arrays = family_arrays(family)
    if family in ("relu_sigmoid_tanh", "max"):
        flat = np.sort(arrays[0].reshape(-1))
        assert np.abs(flat).min() > 1e-4  # away from ReLU's kink
        assert np.diff(flat).min() > 1e-4  # no ties for max
    with default_dtype(np.float64):
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        out_shape = fn(*[Tensor(a) for a in arrays]).shape
        weights = Tensor(family_weights(family, out_shape))

        def loss():
            return (fn(*inputs) * weights).sum()

        check_all_gradients(loss, inputs)


@FLOAT64
@pytest.mark.broadcasting
def test_float64_broadcast_gradients_keep_each_input_shape():
    with default_dtype(np.float64):
        rng = np.random.default_rng(30)
        shapes = [(2, 1, 4), (3, 1), (4,), (1,), ()]
        inputs = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
        a, b, c, d, e = inputs
        check_all_gradients(lambda: ((a * b + c) * d - e * a).exp().sum(), inputs)


# =========================================================================================
# whole networks: the audit's network, then cross-entropy and BCE heads
# =========================================================================================


@FLOAT64
@pytest.mark.integration
def test_float64_audit_network_every_gradient():
    # Dense(3, 4) -> ReLU -> Dense(4, 2) -> MSE, as in the audit; every parameter and the input
    rng = np.random.default_rng(31)
    with default_dtype(np.float64):
        layer1, layer2 = linear(rng, 3, 4), linear(rng, 4, 2)
        x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
        target = Tensor(rng.standard_normal((5, 2)))
        with no_grad():
            pre = layer1(x).data
        assert np.abs(pre).min() > 1e-4  # no pre-activation within eps of ReLU's kink

        def loss():
            return MSELoss()(layer2(ReLU()(layer1(x))), target)

        params = [layer1.weight, layer1.bias, layer2.weight, layer2.bias, x]
        check_all_gradients(loss, params)
        assert target.grad is None


@FLOAT64
@pytest.mark.extra("Sequential")
@pytest.mark.integration
def test_float64_cross_entropy_network_every_gradient():
    rng = np.random.default_rng(32)
    with default_dtype(np.float64):
        model = Sequential(linear(rng, 4, 6), ReLU(), linear(rng, 6, 3))
        x = Tensor(rng.standard_normal((6, 4)), requires_grad=True)
        labels = np.array([0, 2, 1, 2, 0, 1])
        with no_grad():
            pre = model[0](x).data
        assert np.abs(pre).min() > 1e-4

        def loss():
            return CrossEntropyLoss()(model(x), labels)

        check_all_gradients(loss, [*model.parameters(), x])


@FLOAT64
@pytest.mark.extra("Sequential")
@pytest.mark.integration
def test_float64_bce_network_every_gradient():
    rng = np.random.default_rng(33)
    with default_dtype(np.float64):
        model = Sequential(linear(rng, 3, 5), ReLU(), linear(rng, 5, 1), Sigmoid())
        x = Tensor(rng.standard_normal((8, 3)), requires_grad=True)
        targets = Tensor((rng.random((8, 1)) > 0.5).astype(float))
        with no_grad():
            pre = model[0](x).data
            prob = model(x).data
        assert np.abs(pre).min() > 1e-4
        assert prob.min() > 1e-3  # inside BCE's clip range
        assert prob.max() < 1 - 1e-3

        def loss():
            return BinaryCrossEntropyLoss()(model(x), targets)

        check_all_gradients(loss, [*model.parameters(), x])


@FLOAT64
@pytest.mark.integration
@pytest.mark.accumulation
def test_float64_residual_network_every_gradient():
    # h = l1(x); y = h + l2(relu(h)); loss = MSE(l3(y)): h feeds a short and a long path
    rng = np.random.default_rng(36)
    with default_dtype(np.float64):
        l1, l2, l3 = linear(rng, 3, 4), linear(rng, 4, 4), linear(rng, 4, 2)
        x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
        target = Tensor(rng.standard_normal((5, 2)))
        with no_grad():
            pre = l1(x).data
        assert np.abs(pre).min() > 1e-4

        def loss():
            h = l1(x)
            return MSELoss()(l3(h + l2(ReLU()(h))), target)

        params = [l1.weight, l1.bias, l2.weight, l2.bias, l3.weight, l3.bias, x]
        check_all_gradients(loss, params)


@FLOAT64
@pytest.mark.extra("Sequential")
@pytest.mark.integration
def test_float64_deeper_network_with_smooth_activations():
    rng = np.random.default_rng(34)
    with default_dtype(np.float64):
        model = Sequential(
            linear(rng, 3, 5), Tanh(), linear(rng, 5, 5), GELU(), linear(rng, 5, 4), Softmax()
        )
        x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
        target = Tensor(np.eye(4))

        def loss():
            return MSELoss()(model(x), target)

        check_all_gradients(loss, [*model.parameters(), x])


@FLOAT64
@pytest.mark.integration
def test_float32_network_gradients_match_float64_central_differences():
    # The audit's network run in float32 (the default) agrees with the float64 estimate to
    # float32 accuracy: its gradients are sums of a few dozen float32 products (rtol 1e-4).
    rng = np.random.default_rng(35)
    shapes = [(3, 4), (4,), (4, 2), (2,), (5, 3)]
    # rounded to float32 first, so that both runs see the same numbers
    values = [rng.standard_normal(s).astype(np.float32).astype(np.float64) for s in shapes]
    target = rng.standard_normal((5, 2)).astype(np.float32).astype(np.float64)
    assert np.abs(values[4] @ values[0] + values[1]).min() > 1e-4  # away from ReLU's kink

    def forward(params):
        w1, b1, w2, b2, x = params
        return MSELoss()(ReLU()(x @ w1 + b1) @ w2 + b2, Tensor(target))

    params32 = [Tensor(v, requires_grad=True) for v in values]
    loss32 = forward(params32)
    assert loss32.dtype == np.float32
    loss32.backward()
    with default_dtype(np.float64):
        params64 = [Tensor(v, requires_grad=True) for v in values]
        for p32, p64 in zip(params32, params64, strict=True):
            numeric = central_differences(lambda: forward(params64), p64)
            assert p32.grad.dtype == np.float32
            np.testing.assert_allclose(p32.grad, numeric, rtol=1e-4, atol=1e-5)


# =========================================================================================
# gradcheck itself
# =========================================================================================


@pytest.mark.extra("gradcheck")
class TestGradcheck:
    def test_returns_true_on_correct_ops(self):
        a = Tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
        b = Tensor([[1.0, 2.0], [0.5, 3.0]], requires_grad=True)
        assert gradcheck(lambda a, b: (a * b).exp() / (a * a + b), [a, b]) is True
        assert gradcheck(lambda a, b: Softmax()(a @ b), [a, b]) is True
        assert gradcheck(lambda a: CrossEntropyLoss()(a, [1, 0]), [a]) is True

    def test_does_not_change_its_inputs(self):
        a = Tensor([0.5, 1.5, -2.0], requires_grad=True)
        assert gradcheck(lambda a: (a * a).sum(), [a]) is True
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a.data, np.array([0.5, 1.5, -2.0], dtype=np.float32))

    @pytest.mark.extra("autograd-internals", "wording")
    def test_raises_naming_the_worst_element_on_a_wrong_rule(self, monkeypatch):
        # exp's derivative made 10% too large: the error grows with exp(x), so the worst
        # element is the largest x, index 1
        monkeypatch.setitem(BACKWARD.resolve(), "exp", lambda g, f: (g * f.out * 1.1,))
        x = Tensor([0.1, 2.0, 0.5], requires_grad=True)
        with pytest.raises(AssertionError, match=r"input 0\b.*element \(1,\)") as caught:
            gradcheck(lambda x: x.exp(), [x])
        worst_numeric = np.exp(np.float64(np.float32(2.0)))
        message = str(caught.value)
        # both values appear: autograd's 1.1 e^2 and the true e^2
        numbers = [float(n) for n in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", message)]
        assert any(abs(n - 1.1 * worst_numeric) < 1e-4 for n in numbers), message
        assert any(abs(n - worst_numeric) < 1e-4 for n in numbers), message

    @pytest.mark.extra("autograd-internals", "wording")
    def test_names_the_input_and_2d_element(self, monkeypatch):
        # mul's rule for its second input halved: only input 1 is wrong, worst where |a| is
        # largest, a[1, 0] = -4
        monkeypatch.setitem(BACKWARD.resolve(), "mul", lambda g, f: (g * f.b, g * f.a * 0.5))
        a = Tensor([[1.0, 2.0], [-4.0, 0.5]], requires_grad=True)
        b = Tensor([[3.0, 1.0], [2.0, 2.0]], requires_grad=True)
        with pytest.raises(AssertionError, match=r"input 1\b.*element \(1, 0\)"):
            gradcheck(lambda a, b: a * b, [a, b])

    @pytest.mark.extra("autograd-internals", "wording")
    def test_checks_only_inputs_that_require_grad(self, monkeypatch):
        monkeypatch.setitem(BACKWARD.resolve(), "mul", lambda g, f: (g * f.b, g * f.a * 0.5))
        a = Tensor([1.0, 2.0], requires_grad=True)
        b = Tensor([3.0, 4.0])  # its (wrong) gradient is never asked for
        assert gradcheck(lambda a, b: a * b, [a, b]) is True
        with pytest.raises(AssertionError, match="input 1"):
            gradcheck(lambda a, b: a * b, [a, Tensor([3.0, 4.0], requires_grad=True)])

    @pytest.mark.extra("autograd-internals", "wording")
    def test_tolerances_are_used(self, monkeypatch):
        # a gradient 1% off fails the default rtol (1e-3) and passes rtol 0.05
        monkeypatch.setitem(BACKWARD.resolve(), "sqrt", lambda g, f: (g / (2.0 * f.out) * 1.01,))
        x = Tensor([1.0, 4.0, 9.0], requires_grad=True)
        with pytest.raises(AssertionError, match="element"):
            gradcheck(lambda x: x.sqrt(), [x])
        assert gradcheck(lambda x: x.sqrt(), [x], rtol=0.05) is True
        assert gradcheck(lambda x: x.sqrt(), [x], atol=0.1, rtol=0.0) is True

    def test_uses_float64(self):
        # in float32, central differences with eps = 1e-6 are off by ~10%: only a float64
        # evaluation passes at the default tolerances
        seen = []

        def fn(x):
            seen.append(x.dtype)
            return (x * 3.0).exp()

        assert gradcheck(fn, [Tensor([0.3, 1.7], requires_grad=True)]) is True
        assert seen
        assert set(seen) == {np.dtype(np.float64)}
