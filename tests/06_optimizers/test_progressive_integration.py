"""Module 06 (Optimizers): API.md "06 Optimizers" on top of modules 01..05, at every checkpoint.

Expected values come from hand-worked steps or from the references below: plain float64 numpy
written from PyTorch's published update rules (torch.optim docs for SGD, Adam, AdamW), never
from the code under test. API.md says parameters stay float32, so the references store the
parameter in float32 after each step, as the optimizer must (all the arithmetic of a step is
float64); 100 steps must then agree to 1e-6.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinytorch_testing import F32, F64, check, f32, linear_with, numeric_gradient, param

from tinytorch.core.activations import ReLU, Sigmoid, Tanh
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Dropout, Linear, Sequential
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam, AdamW, Optimizer
from tinytorch.core.tensor import Tensor, default_dtype

# --- references: PyTorch's documented algorithms, float64, parameter stored in float32 ---------
# (f32: the parameter as the optimizer keeps it, float32, then back to float64 for the maths)


def ref_sgd(p0, grads, lr, momentum=0.0, weight_decay=0.0):
    """torch.optim.SGD (dampening 0, nesterov False). A None gradient skips the step."""
    p, buf = np.asarray(p0, dtype=np.float64), None
    for g in grads:
        if g is None:
            continue
        g = np.asarray(g, dtype=np.float64)
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = g.copy() if buf is None else momentum * buf + g
            g = buf
        p = f32(p - lr * g)
    return p


def ref_adam(p0, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """torch.optim.Adam (amsgrad False), or torch.optim.AdamW when decoupled. A None gradient
    skips the step without advancing this parameter's t."""
    beta1, beta2 = betas
    p = np.asarray(p0, dtype=np.float64)
    m, v, t = np.zeros_like(p), np.zeros_like(p), 0
    for g in grads:
        if g is None:
            continue
        t += 1
        g = np.asarray(g, dtype=np.float64)
        if decoupled:
            p = p - lr * weight_decay * p
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = f32(p - lr * m_hat / (np.sqrt(v_hat) + eps))
    return p


def run(optimizer_cls, p0, grads, **hyper):
    """Feed `grads` (None = no gradient that step) to an optimizer over one parameter."""
    p = param(p0)
    optimizer = optimizer_cls([p], **hyper)
    for g in grads:
        p.grad = None if g is None else np.array(g, dtype=np.float32)
        optimizer.step()
    return p, optimizer


def gradient_stream(seed, shape, steps=100, skip_every=None):
    rng = np.random.default_rng(seed)
    grads = [rng.normal(0.2, 0.5, size=shape).astype(np.float32) for _ in range(steps)]
    if skip_every:
        grads = [None if i % skip_every == skip_every - 1 else g for i, g in enumerate(grads)]
    return grads


P0 = np.random.default_rng(6).normal(size=(3, 4)).astype(np.float32)


# ===========================================================================================
# (a) Modules 01..05 still work, with independently worked values
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_ops(self):
        a = Tensor([[1, 2], [3, 4]])
        check(a @ Tensor([[5, 6], [7, 8]]), [[19, 22], [43, 50]])
        check(2 * a - 1, [[1, 3], [5, 7]])
        check(a.mean(axis=0), [2.0, 3.0])
        check(Tensor([1.0, math.e]).log(), [0.0, 1.0])

    def test_activations(self):
        check(ReLU()(Tensor([-1.0, 0.0, 2.5])), [0.0, 0.0, 2.5])
        check(Sigmoid()(Tensor([0.0, 1000.0, -1000.0])), [0.5, 1.0, 0.0])
        check(Tanh()(Tensor([1.0])), [math.tanh(1.0)])

    def test_linear_forward_by_hand(self):
        layer = linear_with([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]], [0.25, -0.5])
        # [1, 2, 3] -> [1 + 1 - 3, -2 + 0 + 9] + b
        check(layer(Tensor([[1.0, 2.0, 3.0]])), [[-0.75, 6.5]])
        assert layer.parameters() == [layer.weight, layer.bias]

    def test_losses_by_hand(self):
        check(MSELoss()(Tensor([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0]), 5 / 3)
        check(CrossEntropyLoss()(Tensor([[0.0, 0.0]]), [1]), math.log(2.0))
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), [1, 0]), expected)

    def test_backward_by_hand(self):
        # d/dw sum((w * x - y)^2) = 2 x (w x - y): w = [1, 2], x = [3, 4], y = [1, 1].
        w = param([1.0, 2.0])
        ((w * Tensor([3.0, 4.0]) - Tensor([1.0, 1.0])) ** 2).sum().backward()
        assert isinstance(w.grad, np.ndarray)
        assert w.grad.dtype == F32
        np.testing.assert_allclose(w.grad, [2 * 3 * 2, 2 * 4 * 7])

    def test_linear_mse_gradient_matches_central_differences(self):
        x = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]])
        y = np.array([[1.0], [0.0], [2.0]])
        w0, b0 = np.array([[0.3], [-0.7]]), np.array([0.1])
        layer = linear_with(w0, b0)
        MSELoss()(layer(Tensor(x)), y).backward()

        def loss(w, b):
            return np.mean((x @ w + b - y) ** 2)

        numeric = numeric_gradient(lambda w: loss(w, b0), w0)
        np.testing.assert_allclose(layer.weight.grad, numeric, rtol=1e-5)
        numeric_b = numeric_gradient(lambda b: loss(w0, b), b0)
        np.testing.assert_allclose(layer.bias.grad, numeric_b, rtol=1e-5)

    def test_no_grad_records_nothing(self):
        w = param([1.0, 2.0])
        with no_grad():
            out = (w * 3).sum()
        assert out.requires_grad is False
        check(out, 9.0)

    def test_dropout_eval_and_sequential(self):
        check(Dropout(0.5)(Tensor([1.0, -2.0]), training=False), [1.0, -2.0])
        model = Sequential(linear_with([[2.0], [1.0]], [0.5]), ReLU())
        check(model(Tensor([[1.0, -4.0], [1.0, 1.0]])), [[0.0], [3.5]])


# ===========================================================================================
# (b) Module 06 core: the Optimizer contract
# ===========================================================================================


class TestOptimizerBase:
    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_params_from_any_iterable(self, cls):
        a, b = param([1.0]), param([[2.0, 3.0]])
        for source in ([a, b], (a, b), (p for p in [a, b]), iter([a, b])):
            optimizer = cls(source)
            assert isinstance(optimizer.params, list)
            assert len(optimizer.params) == 2
            assert optimizer.params[0] is a
            assert optimizer.params[1] is b
            assert optimizer.step_count == 0

    def test_model_parameters(self):
        model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
        optimizer = SGD(model.parameters(), lr=0.1)
        assert optimizer.params == model.parameters()
        assert len(optimizer.params) == 4

    def test_is_an_optimizer(self):
        for cls in (SGD, Adam, AdamW):
            optimizer = cls([param([1.0])])
            assert isinstance(optimizer, Optimizer)
            assert optimizer.step_count == 0
        assert isinstance(AdamW([param([1.0])]), Adam)  # Adam with decoupled decay

    def test_parameter_without_requires_grad_is_refused_by_index_and_shape(self):
        frozen = Tensor(np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"parameter 1 .*\(2, 3\).*requires?.grad"):
            SGD([param([1.0]), frozen])
        with pytest.raises(ValueError, match=r"parameter 0 .*\(2, 3\)"):
            Adam([frozen])

    def test_non_tensor_parameter_is_refused(self):
        with pytest.raises(TypeError, match=r"parameter 1 .*ndarray.*Tensor"):
            SGD([param([1.0]), np.zeros(3)])

    def test_empty_parameter_list_is_refused(self):
        with pytest.raises(ValueError, match="empty"):
            Adam([])
        used = iter([param([1.0])])
        list(used)
        with pytest.raises(ValueError, match="empty"):
            SGD(used)

    def test_shared_parameter_is_updated_once(self):
        shared = param([1.0])
        optimizer = SGD([shared, shared], lr=0.5)
        assert optimizer.params == [shared]
        shared.grad = np.array([1.0], dtype=np.float32)
        optimizer.step()
        check(shared, [0.5])

    def test_zero_grad_sets_every_grad_to_none(self):
        a, b, c = param([1.0]), param([2.0, 3.0]), param(4.0)
        optimizer = Adam([a, b, c])
        a.grad = np.array([1.0], dtype=np.float32)
        (b * b).sum().backward()
        assert b.grad is not None
        np.testing.assert_allclose(b.grad, [4.0, 6.0])
        optimizer.zero_grad()
        assert (a.grad, b.grad, c.grad) == (None, None, None)

    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_step_count_counts_steps(self, cls):
        p = param([1.0, 2.0])
        optimizer = cls([p])
        for expected in (1, 2, 3):
            p.grad = np.ones(2, dtype=np.float32)
            optimizer.step()
            assert optimizer.step_count == expected

    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_parameter_without_grad_is_skipped_and_its_state_untouched(self, cls):
        moving, idle = param([1.0, -1.0]), param([[0.5, 0.25]])
        kwargs = {"momentum": 0.9} if cls is SGD else {}
        optimizer = cls([moving, idle], lr=0.1, weight_decay=0.1, **kwargs)
        idle_before = idle.data.copy()
        for _ in range(3):
            moving.grad = np.array([1.0, 1.0], dtype=np.float32)
            optimizer.step()
        # Weight decay would move `idle` even with a zero gradient: it must not move at all.
        np.testing.assert_array_equal(idle.data, idle_before)
        assert idle.grad is None
        assert optimizer.state_dict()["state"][1] == {}
        assert not np.allclose(moving.data, [1.0, -1.0])

    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_wrong_gradient_shape_is_refused_before_any_update(self, cls):
        a, b = param([1.0, 2.0]), param([3.0, 4.0])
        optimizer = cls([a, b], lr=0.1)
        a.grad = np.ones(2, dtype=np.float32)
        b.grad = np.ones(3, dtype=np.float32)
        with pytest.raises(ValueError, match=r"parameter 1.*\(2,\).*\(3,\)"):
            optimizer.step()
        check(a, [1.0, 2.0])
        check(b, [3.0, 4.0])


# ===========================================================================================
# (b) Module 06 core: the update rules, by hand and against the references for 100 steps
# ===========================================================================================


class TestSGD:
    def test_one_step_by_hand(self):
        p, _ = run(SGD, [1.0, 2.0], [[0.5, -1.0]], lr=0.1)
        check(p, [0.95, 2.1])

    def test_default_lr_is_0_01(self):
        p, optimizer = run(SGD, [1.0], [[1.0]])
        assert optimizer.lr == 0.01
        check(p, [0.99])

    def test_momentum_by_hand(self):
        # buf = g = 1 -> p = -0.1; buf = 0.9 * 1 + 1 = 1.9 -> p = -0.29; buf = 2.71 -> -0.561.
        p = param([0.0])
        optimizer = SGD([p], lr=0.1, momentum=0.9)
        for expected in (-0.1, -0.29, -0.561):
            p.grad = np.array([1.0], dtype=np.float32)
            optimizer.step()
            check(p, [expected], rtol=1e-6)

    def test_weight_decay_by_hand(self):
        # g = 0 + 0.5 * 2 = 1, p = 2 - 0.1 * 1 = 1.9
        p, _ = run(SGD, [2.0], [[0.0]], lr=0.1, weight_decay=0.5)
        check(p, [1.9])

    @pytest.mark.parametrize(
        "hyper",
        [
            {"lr": 0.05},
            {"lr": 0.05, "momentum": 0.9},
            {"lr": 0.02, "weight_decay": 0.1},
            {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.05},
        ],
        ids=["plain", "momentum", "weight-decay", "momentum+weight-decay"],
    )
    def test_100_steps_match_the_reference(self, hyper):
        grads = gradient_stream(1, P0.shape)
        p, optimizer = run(SGD, P0, grads, **hyper)
        assert p.dtype == F32
        assert optimizer.step_count == 100
        np.testing.assert_allclose(p.data, ref_sgd(P0, grads, **hyper), rtol=1e-6, atol=1e-6)

    def test_100_steps_with_skipped_steps_match_the_reference(self):
        grads = gradient_stream(2, P0.shape, skip_every=3)
        hyper = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}
        p, optimizer = run(SGD, P0, grads, **hyper)
        np.testing.assert_allclose(p.data, ref_sgd(P0, grads, **hyper), rtol=1e-6, atol=1e-6)
        assert optimizer.step_count == 100


class TestAdam:
    def test_first_step_moves_each_element_by_lr_against_the_gradient(self):
        # t = 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
        # Without bias correction it would be lr * 0.1 g / sqrt(0.001 g^2) ~ 3.16 lr.
        # For a gradient as small as 1e-3, eps = 1e-8 shows: the move is 0.1 * (1 - 1e-5).
        small = float(np.float32(1e-3))
        p, optimizer = run(Adam, [1.0, -1.0, 0.5], [[2.0, -3.0, small]], lr=0.1)
        check(p, [0.9, -0.9, 0.5 - 0.1 * small / (small + 1e-8)], rtol=1e-7)
        assert optimizer.state_dict()["state"][0]["step"] == 1

    def test_constant_gradient_moves_lr_per_step(self):
        # With g constant, m_hat = g and v_hat = g^2 at every t: each step moves lr * sign(g).
        p, _ = run(Adam, [0.0, 0.0], [[0.5, -4.0]] * 10, lr=0.01)
        check(p, [-0.1, 0.1], rtol=1e-5)

    def test_defaults(self):
        optimizer = Adam([param([1.0])])
        assert (optimizer.lr, optimizer.betas, optimizer.eps) == (0.001, (0.9, 0.999), 1e-8)
        assert optimizer.weight_decay == 0.0

    def test_weight_decay_is_added_to_the_gradient(self):
        # g = 0 + 0.5 * 2 = 1 > 0, so the first step moves by -lr, like a positive gradient.
        p, _ = run(Adam, [2.0], [[0.0]], lr=0.1, weight_decay=0.5)
        check(p, [1.9], rtol=1e-6)

    @pytest.mark.parametrize(
        "hyper",
        [
            {"lr": 0.01},
            {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
            {"lr": 0.01, "weight_decay": 0.1},
            {"lr": 0.005, "betas": (0.0, 0.9)},
        ],
        ids=["default-betas", "other-betas", "weight-decay", "beta1-zero"],
    )
    def test_100_steps_match_the_reference(self, hyper):
        grads = gradient_stream(3, P0.shape)
        p, optimizer = run(Adam, P0, grads, **hyper)
        assert p.dtype == F32
        expected = ref_adam(P0, grads, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-6)
        assert optimizer.state_dict()["state"][0]["step"] == 100
        # The moves are far larger than the tolerance: the comparison is not vacuous.
        assert np.abs(expected - P0).max() > 0.1

    def test_bias_correction_uses_the_parameters_own_step(self):
        # The parameter misses every third step; its t counts only its own updates.
        grads = gradient_stream(4, P0.shape, skip_every=3)
        p, optimizer = run(Adam, P0, grads, lr=0.01)
        np.testing.assert_allclose(p.data, ref_adam(P0, grads, lr=0.01), rtol=1e-6, atol=1e-6)
        assert optimizer.step_count == 100
        assert optimizer.state_dict()["state"][0]["step"] == 67


class TestAdamW:
    def test_zero_gradient_only_decays(self):
        # m = v = 0, so the Adam part is 0 / (0 + eps) = 0: p = p0 * (1 - lr * wd)^n.
        p, _ = run(AdamW, [2.0, -1.0], [[0.0, 0.0]] * 5, lr=0.1, weight_decay=0.5)
        check(p, np.array([2.0, -1.0]) * 0.95**5, rtol=1e-6)

    def test_decay_is_decoupled_unlike_adam(self):
        # Same data, Adam: g = wd * p enters the moments and the first step is -lr * sign(p).
        p, _ = run(Adam, [2.0, -1.0], [[0.0, 0.0]], lr=0.1, weight_decay=0.5)
        check(p, [1.9, -0.9], rtol=1e-6)
        q, _ = run(AdamW, [2.0, -1.0], [[0.0, 0.0]], lr=0.1, weight_decay=0.5)
        check(q, [1.9, -0.95], rtol=1e-6)

    def test_default_weight_decay_is_0_01(self):
        optimizer = AdamW([param([1.0])])
        assert optimizer.weight_decay == 0.01
        assert (optimizer.lr, optimizer.betas, optimizer.eps) == (0.001, (0.9, 0.999), 1e-8)

    @pytest.mark.parametrize(
        "hyper",
        [
            {"lr": 0.01},
            {"lr": 0.01, "weight_decay": 0.5},
            {"lr": 0.02, "betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": 0.1},
        ],
        ids=["default-decay", "strong-decay", "other-betas"],
    )
    def test_100_steps_match_the_reference(self, hyper):
        grads = gradient_stream(5, P0.shape)
        p, _ = run(AdamW, P0, grads, **hyper)
        assert p.dtype == F32
        expected = ref_adam(P0, grads, decoupled=True, **{"weight_decay": 0.01, **hyper})
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-6)

    def test_100_steps_differ_from_coupled_adam(self):
        grads = gradient_stream(5, P0.shape)
        p, _ = run(AdamW, P0, grads, lr=0.01, weight_decay=0.5)
        coupled = ref_adam(P0, grads, lr=0.01, weight_decay=0.5)
        assert np.abs(p.data - coupled).max() > 1e-3


class TestPrecision:
    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_float32_parameters_stay_float32_with_float64_gradients(self, cls):
        p = param([[1.0, 2.0], [3.0, 4.0]])
        optimizer = cls([p], lr=0.1)
        for _ in range(3):
            p.grad = np.full((2, 2), 0.3, dtype=np.float64)
            optimizer.step()
        assert p.dtype == F32
        assert p.data.dtype == F32
        assert p.requires_grad is True
        assert not np.allclose(p.data, [[1.0, 2.0], [3.0, 4.0]])

    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_float64_parameter_stays_float64(self, cls):
        with default_dtype(np.float64):
            p = param([1.0, 2.0])
        optimizer = cls([p], lr=0.1)
        p.grad = np.array([1.0, -1.0])
        optimizer.step()  # outside the float64 block
        assert p.dtype == F64
        expected = {SGD: [0.9, 2.1], Adam: [0.9, 2.1], AdamW: [0.899, 2.098]}[cls]
        check(p, expected, dtype=F64, rtol=1e-7)

    def test_update_counts_as_an_in_place_change(self):
        p = param([1.0])
        version = p._version
        optimizer = SGD([p], lr=0.1)
        p.grad = np.array([1.0], dtype=np.float32)
        optimizer.step()
        assert p._version > version

    def test_no_warning_for_huge_gradients(self):
        # filterwarnings = error: numpy overflow warnings would fail this test.
        p = param([1.0, -1.0])
        optimizer = SGD([p], lr=1.0)
        p.grad = np.array([3e38, -3e38], dtype=np.float32)
        optimizer.step()
        p.grad = np.array([3e38, -3e38], dtype=np.float32)
        optimizer.step()
        assert np.isinf(p.data).all()
        assert p.dtype == F32

    @settings(max_examples=40, deadline=None, database=None)
    @given(
        kind=st.sampled_from(["sgd", "adam", "adamw"]),
        lr=st.floats(0.0, 0.5),
        momentum=st.floats(0.0, 0.99),
        beta1=st.floats(0.0, 0.99),
        beta2=st.floats(0.0, 0.999),
        weight_decay=st.floats(0.0, 0.5),
        seed=st.integers(0, 2**16),
    )
    def test_property_short_runs_match_the_references(
        self, kind, lr, momentum, beta1, beta2, weight_decay, seed
    ):
        rng = np.random.default_rng(seed)
        p0 = rng.normal(size=5).astype(np.float32)
        grads = [rng.normal(size=5).astype(np.float32) for _ in range(8)]
        if kind == "sgd":
            hyper = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
            p, _ = run(SGD, p0, grads, **hyper)
            expected = ref_sgd(p0, grads, **hyper)
        else:
            hyper = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay}
            p, _ = run(Adam if kind == "adam" else AdamW, p0, grads, **hyper)
            expected = ref_adam(p0, grads, decoupled=kind == "adamw", **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-6)


# ===========================================================================================
# (b) Module 06 core: bad hyper-parameters
# ===========================================================================================

BAD_HYPER = [
    (SGD, {"lr": -0.1}, "lr"),
    (SGD, {"lr": float("nan")}, "lr"),
    (SGD, {"lr": float("inf")}, "lr"),
    (SGD, {"momentum": -0.5}, "momentum"),
    (SGD, {"weight_decay": -1e-4}, "weight_decay"),
    (Adam, {"lr": -1e-3}, "lr"),
    (Adam, {"betas": (1.0, 0.999)}, "beta1"),
    (Adam, {"betas": (0.9, 1.0)}, "beta2"),
    (Adam, {"betas": (-0.1, 0.999)}, "beta1"),
    (Adam, {"betas": (0.9, 1.5)}, "beta2"),
    (Adam, {"betas": (0.9,)}, "betas"),
    (Adam, {"eps": -1e-8}, "eps"),
    (Adam, {"weight_decay": -0.01}, "weight_decay"),
    (AdamW, {"lr": -0.5}, "lr"),
    (AdamW, {"betas": (0.9, 1.0)}, "beta2"),
    (AdamW, {"eps": -1.0}, "eps"),
    (AdamW, {"weight_decay": -0.01}, "weight_decay"),
]


class TestBadHyperparameters:
    @pytest.mark.parametrize(("cls", "hyper", "name"), BAD_HYPER)
    def test_bad_value_raises_a_value_error_naming_it(self, cls, hyper, name):
        with pytest.raises(ValueError, match=name):
            cls([param([1.0])], **hyper)

    @pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
    def test_non_number_lr_raises_a_type_error(self, value):
        with pytest.raises(TypeError, match="lr"):
            SGD([param([1.0])], lr=value)

    @pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
    def test_zero_values_are_allowed(self, cls):
        p = param([1.0])
        extra = {"momentum": 0.0} if cls is SGD else {"betas": (0.0, 0.0), "eps": 0.0}
        optimizer = cls([p], lr=0.0, weight_decay=0.0, **extra)
        p.grad = np.array([1.0], dtype=np.float32)
        optimizer.step()
        check(p, [1.0])  # lr 0: nothing moves

    def test_bad_lr_set_later_is_refused_at_step(self):
        p = param([1.0])
        optimizer = Adam([p], lr=0.1)
        optimizer.lr = -0.1
        p.grad = np.array([1.0], dtype=np.float32)
        with pytest.raises(ValueError, match="lr"):
            optimizer.step()
        check(p, [1.0])
        assert optimizer.step_count == 0


# ===========================================================================================
# (b) Module 06 core: state for checkpoints
# ===========================================================================================


class TestStateDict:
    @pytest.mark.parametrize(
        ("cls", "hyper"),
        [(SGD, {"lr": 0.05, "momentum": 0.9}), (Adam, {"lr": 0.01}), (AdamW, {"lr": 0.01})],
    )
    def test_restored_optimizer_continues_bit_identically(self, cls, hyper):
        grads = gradient_stream(7, (2, 3), steps=10)
        a = param(P0[:2, :3])
        first = cls([a], **hyper)
        for g in grads[:5]:
            a.grad = g
            first.step()
        b = param(a.data.copy())
        second = cls([b], lr=0.5)  # other hyper-parameters: the state dict carries them
        second.load_state_dict(first.state_dict())
        assert second.lr == first.lr
        assert second.step_count == 5
        for g in grads[5:]:
            a.grad, b.grad = g, g.copy()
            first.step()
            second.step()
        np.testing.assert_array_equal(a.data, b.data)
        assert second.step_count == 10

    def test_state_dict_is_plain_data_and_a_copy(self):
        p = param([1.0, 2.0])
        optimizer = Adam([p], lr=0.1)
        p.grad = np.array([1.0, 1.0], dtype=np.float32)
        optimizer.step()
        state = optimizer.state_dict()
        assert state["type"] == "Adam"
        assert state["step_count"] == 1
        assert state["hyperparameters"]["lr"] == 0.1
        entry = state["state"][0]
        assert entry["step"] == 1
        # m = (1 - 0.9) * 1, v = (1 - 0.999) * 1
        np.testing.assert_allclose(entry["exp_avg"], [0.1, 0.1])
        np.testing.assert_allclose(entry["exp_avg_sq"], [0.001, 0.001])
        entry["exp_avg"][:] = 99.0
        again = optimizer.state_dict()["state"][0]["exp_avg"]
        np.testing.assert_allclose(again, [0.1, 0.1])

    def test_sgd_momentum_buffer_in_state(self):
        p = param([1.0])
        optimizer = SGD([p], lr=0.1, momentum=0.9)
        assert optimizer.state_dict()["state"] == [{}]
        p.grad = np.array([2.0], dtype=np.float32)
        optimizer.step()
        np.testing.assert_allclose(optimizer.state_dict()["state"][0]["momentum_buffer"], [2.0])

    def _stepped_adam(self):
        p = param([1.0, 2.0])
        optimizer = Adam([p], lr=0.1)
        p.grad = np.array([1.0, 1.0], dtype=np.float32)
        optimizer.step()
        return p, optimizer

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (lambda s: s.update(type="SGD"), "SGD"),
            (lambda s: s["state"][0].update(exp_avg=np.zeros(3)), r"\(3,\).*\(2,\)"),
            (lambda s: s["state"].append({}), "2 parameters"),
            (lambda s: s["state"][0].pop("exp_avg_sq"), "keys"),
            (lambda s: s["hyperparameters"].update(lr=-1.0), "lr"),
            (lambda s: s.update(step_count=-3), "step_count"),
        ],
        ids=["other-class", "shape", "count", "missing-key", "bad-lr", "bad-count"],
    )
    def test_bad_state_is_refused_and_nothing_changes(self, change, match):
        _, target = self._stepped_adam()
        before = target.state_dict()
        _, source = self._stepped_adam()
        source.step_count = 7
        source.lr = 0.5
        state = source.state_dict()
        change(state)
        with pytest.raises(ValueError, match=match):
            target.load_state_dict(state)
        assert target.step_count == before["step_count"]
        assert target.lr == 0.1
        np.testing.assert_array_equal(
            target.state_dict()["state"][0]["exp_avg"], before["state"][0]["exp_avg"]
        )


# ===========================================================================================
# (c) Integration with modules 01..05: autograd gradients, real training
# ===========================================================================================


class TestIntegration:
    def test_one_sgd_step_on_linear_mse_matches_hand_gradients(self):
        x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]])
        y = np.array([[1.0], [0.0], [-1.0]])
        w0, b0 = np.array([[0.5], [-0.25]]), np.array([0.1])
        layer = linear_with(w0, b0)
        optimizer = SGD(layer.parameters(), lr=0.1)
        optimizer.zero_grad()
        MSELoss()(layer(Tensor(x)), y).backward()
        optimizer.step()
        residual = x @ w0 + b0 - y  # dL/dW = 2/N x^T r, dL/db = 2/N sum r
        check(layer.weight, w0 - 0.1 * 2 / 3 * x.T @ residual, rtol=1e-6)
        check(layer.bias, b0 - 0.1 * 2 / 3 * residual.sum(axis=0), rtol=1e-6)

    def test_without_zero_grad_gradients_accumulate(self):
        p = param([1.0])
        optimizer = SGD([p], lr=0.1)
        (p * 2).sum().backward()
        (p * 2).sum().backward()  # .grad = 2 + 2
        optimizer.step()
        check(p, [0.6])
        optimizer.zero_grad()
        (p * 2).sum().backward()
        optimizer.step()
        check(p, [0.4])

    def test_step_after_backward_then_reusing_the_graph_is_detected(self):
        # The update is an in-place change; a retained graph that saved the weight must refuse
        # to give stale gradients (module 05).
        layer = linear_with([[1.0], [2.0]], [0.0])
        optimizer = SGD(layer.parameters(), lr=0.1)
        loss = MSELoss()(layer(Tensor([[1.0, 1.0]])), [[0.0]])
        loss.backward(retain_graph=True)
        optimizer.step()
        with pytest.raises(RuntimeError, match="modified in place"):
            loss.backward()

    def test_linear_regression_converges_to_least_squares(self):
        rng = np.random.default_rng(60)
        x = rng.normal(size=(64, 3))
        y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.25 + 0.01 * rng.normal(size=(64, 1))
        np.random.seed(0)
        layer = Linear(3, 1)
        optimizer = SGD(layer.parameters(), lr=0.1, momentum=0.9)
        for _ in range(150):
            optimizer.zero_grad()
            MSELoss()(layer(Tensor(x)), y).backward()
            optimizer.step()
        design = np.hstack([x, np.ones((64, 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        np.testing.assert_allclose(layer.weight.data, solution[:3], atol=1e-3)
        np.testing.assert_allclose(layer.bias.data, solution[3], atol=1e-3)

    @pytest.mark.parametrize(
        ("cls", "hyper", "steps"),
        [(Adam, {"lr": 0.1}, 300), (SGD, {"lr": 0.5, "momentum": 0.9}, 300)],
        ids=["adam", "sgd-momentum"],
    )
    def test_xor_is_solved_by_a_two_layer_network(self, cls, hyper, steps):
        np.random.seed(6)
        x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
        y = np.array([[0.0], [1.0], [1.0], [0.0]])
        model = Sequential(Linear(2, 4), Tanh(), Linear(4, 1), Sigmoid())
        optimizer = cls(model.parameters(), **hyper)
        loss_fn = BinaryCrossEntropyLoss()
        first = float(loss_fn(model(x), y).data)
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
        with no_grad():
            out = model(x)
            final = float(loss_fn(out, y).data)
        np.testing.assert_array_equal(out.data > 0.5, y > 0.5)
        assert final < 0.05
        assert final < first / 10
        assert all(p.dtype == F32 for p in model.parameters())

    def test_cross_entropy_classifier_with_adamw(self):
        rng = np.random.default_rng(61)
        centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
        labels = np.repeat(np.arange(3), 10)
        x = centers[labels] + 0.3 * rng.normal(size=(30, 2))
        np.random.seed(1)
        model = Sequential(Linear(2, 8), ReLU(), Linear(8, 3))
        optimizer = AdamW(model.parameters(), lr=0.05)
        losses = []
        for _ in range(60):
            optimizer.zero_grad()
            loss = CrossEntropyLoss()(model(Tensor(x)), labels)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.data))
        predictions = model(Tensor(x)).data.argmax(axis=1)
        np.testing.assert_array_equal(predictions, labels)
        assert losses[-1] < 0.1 < losses[0]
