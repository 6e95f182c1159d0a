"""Module 06 (Optimizers), course API: API.md "06 Optimizers" on top of modules 01..05.

Expected values come from hand-worked steps or from the references of
tests/support/optimizer_references.py: float64 numpy written from PyTorch's published update
rules (torch.optim docs for SGD, Adam, AdamW), never from the code under test. API.md says
parameters stay float32, so the references store the parameter in float32 after each step. An
implementation may do a step's arithmetic in float32 (as the course and PyTorch do), which
drifts from the float64 reference by a few ulps a step: 100 steps must agree to 1e-5 here; the
reference's float64 arithmetic is held to 1e-6 in test_extras_reference_api.py. Every test
goes through an optimizer, so each fails while module 06 is a stub; those re-proving modules
01..05 feed what those modules compute into a step. The reference's extras (float64 mode,
no_grad, Sequential, state_dict, its argument checks and error words): test_extras.py and
test_extras_reference_api.py.
"""

import math

import numpy as np
import pytest
from course_api import (
    SGD,
    Adam,
    AdamW,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Dropout,
    Linear,
    MSELoss,
    Optimizer,
    ReLU,
    Sigmoid,
    Tanh,
    Tensor,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from models import Chain
from optimizer_references import (
    KINDS,
    OPTIMIZERS,
    P0,
    gradient_stream,
    reference,
    run,
)
from tinytorch_testing import F32, check, f32, linear_with, numeric_gradient, param

# What float32 arithmetic in the optimizer supports over 100 steps (see the docstring).
RTOL = ATOL = 1e-5
SMALL = float(np.float32(1e-6))  # a gradient this small shows eps = 1e-8 in Adam's first step


def ids(tensors):
    return [id(t) for t in tensors]


# ===========================================================================================
# (a) Modules 01..05 still work, with independently worked values, fed into an optimizer
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_ops_then_a_step(self):
        a = param([[1.0, 2.0], [3.0, 4.0]])
        optimizer = SGD([a], lr=0.5)
        product = a.matmul(Tensor([[5.0, 6.0], [7.0, 8.0]]))
        check(product, [[19, 22], [43, 50]])
        check(a * 2 - 1, [[1, 3], [5, 7]])
        check(a.mean(axis=0), [2.0, 3.0])
        # d sum(a B) / d a[i, k] = sum_j B[k, j]: rows of B sum to 11 and 15.
        product.sum().backward()
        optimizer.step()
        check(a, [[1 - 5.5, 2 - 7.5], [3 - 5.5, 4 - 7.5]])

    def test_operator_forms_and_log_then_a_step(self):
        # The forms of module 01 that test_tensor_ops_then_a_step avoids: `@`, a scalar on
        # the left, log.
        a = param([[1.0, 2.0], [3.0, 4.0]])
        optimizer = SGD([a], lr=0.5)
        product = a @ Tensor([[5.0, 6.0], [7.0, 8.0]])
        check(product, [[19, 22], [43, 50]])
        check(2 * a - 1, [[1, 3], [5, 7]])
        check(Tensor([1.0, math.e]).log(), [0.0, 1.0])
        product.sum().backward()
        optimizer.step()
        check(a, [[1 - 5.5, 2 - 7.5], [3 - 5.5, 4 - 7.5]])

    def test_activations_then_a_step(self):
        x0 = np.array([-1.0, 0.5, 2.5])  # not at 0, where API.md fixes no slope of ReLU
        x = param(x0)
        optimizer = SGD([x], lr=1.0)
        check(ReLU()(x), [0.0, 0.5, 2.5])
        check(Sigmoid()(Tensor([0.0, 1000.0, -1000.0])), [0.5, 1.0, 0.0])
        (Sigmoid()(x) + ReLU()(x)).sum().backward()
        optimizer.step()
        s = 1 / (1 + np.exp(-x0))
        check(x, x0 - (s * (1 - s) + (x0 > 0)), atol=1e-6)

    def test_tanh_then_a_step(self):
        x0 = np.array([-1.0, 0.0, 2.5])
        x = param(x0)
        optimizer = SGD([x], lr=1.0)
        check(Tanh()(Tensor([1.0])), [math.tanh(1.0)])
        Tanh()(x).sum().backward()
        assert x.grad is not None, "Tanh's output was not recorded: x got no gradient"
        optimizer.step()
        check(x, x0 - (1 - np.tanh(x0) ** 2), atol=1e-6)

    def test_linear_forward_by_hand_then_a_step(self):
        layer = linear_with([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]], [0.25, -0.5])
        optimizer = SGD(layer.parameters(), lr=0.1)
        assert ids(layer.parameters()) == ids([layer.weight, layer.bias])
        assert ids(optimizer.params) == ids([layer.weight, layer.bias])
        # [1, 2, 3] -> [1 + 1 - 3, -2 + 0 + 9] + b
        out = layer(Tensor([[1.0, 2.0, 3.0]]))
        check(out, [[-0.75, 6.5]])
        out.sum().backward()  # dW = x^T [1, 1], db = [1, 1]
        optimizer.step()
        check(layer.weight, [[0.9, -2.1], [0.3, -0.2], [-1.3, 2.7]])
        check(layer.bias, [0.15, -0.6])

    def test_losses_by_hand_then_a_step(self):
        p, logits, probs = param([1.0, 2.0, 3.0]), param([[0.0, 0.0]]), param([0.8, 0.3])
        optimizer = SGD([p, logits, probs], lr=0.1)
        mse = MSELoss()(p, Tensor([1.0, 1.0, 1.0]))
        check(mse, 5 / 3)
        ce = CrossEntropyLoss()(logits, Tensor([1]))
        check(ce, math.log(2.0))
        bce = BinaryCrossEntropyLoss()(probs, Tensor([1.0, 0.0]))
        check(bce, -(math.log(0.8) + math.log(0.7)) / 2)
        (mse + ce + bce).backward()
        optimizer.step()
        # MSE: 2 / 3 (p - t); CE: softmax - one-hot; BCE: (-t / p + (1 - t) / (1 - p)) / N.
        check(p, [1.0, 2.0 - 0.1 * 2 / 3, 3.0 - 0.1 * 4 / 3])
        check(logits, [[-0.05, 0.05]])
        check(probs, [0.8 + 0.1 / 0.8 / 2, 0.3 - 0.1 / 0.7 / 2], rtol=1e-5)

    def test_backward_by_hand_then_a_step(self):
        # d/dw sum((w * x - y)^2) = 2 x (w x - y): w = [1, 2], x = [3, 4], y = [1, 1].
        w = param([1.0, 2.0])
        optimizer = SGD([w], lr=0.01)
        residual = w * Tensor([3.0, 4.0]) - Tensor([1.0, 1.0])
        (residual * residual).sum().backward()
        assert isinstance(w.grad, np.ndarray)
        assert w.grad.dtype == F32
        np.testing.assert_allclose(w.grad, [2 * 3 * 2, 2 * 4 * 7])
        optimizer.step()
        check(w, [1.0 - 0.12, 2.0 - 0.56])

    def test_linear_mse_gradient_matches_central_differences_then_an_adam_step(self):
        x = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]])
        y = np.array([[1.0], [0.0], [2.0]])
        w0, b0 = f32([[0.3], [-0.7]]), f32([0.1])
        layer = linear_with(w0, b0)
        optimizer = Adam(layer.parameters(), lr=0.01)
        MSELoss()(layer(Tensor(x)), Tensor(y)).backward()

        def loss(w, b):
            return np.mean((x @ w + b - y) ** 2)

        numeric = numeric_gradient(lambda w: loss(w, b0), w0)
        np.testing.assert_allclose(layer.weight.grad, numeric, rtol=1e-5)
        numeric_b = numeric_gradient(lambda b: loss(w0, b), b0)
        np.testing.assert_allclose(layer.bias.grad, numeric_b, rtol=1e-5)
        optimizer.step()
        # Adam's first step: lr * g / (|g| + eps), i.e. lr against the sign of each gradient.
        check(layer.weight, w0 - 0.01 * np.sign(numeric), rtol=1e-6, atol=1e-7)
        check(layer.bias, b0 - 0.01 * np.sign(numeric_b), rtol=1e-6, atol=1e-7)

    def test_dropout_in_eval_mode_passes_values_and_gradients(self):
        x = param([1.0, -2.0])
        optimizer = SGD([x], lr=0.5)
        out = Dropout(0.5)(x, training=False)
        check(out, [1.0, -2.0])
        (out * Tensor([1.0, 2.0])).sum().backward()
        optimizer.step()
        check(x, [0.5, -3.0])


# ===========================================================================================
# (b) Module 06 core: the Optimizer contract
# ===========================================================================================


class TestOptimizerBase:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize(
        "source",
        [list, tuple, lambda ps: (p for p in ps), iter],
        ids=["list", "tuple", "generator", "iterator"],
    )
    def test_params_from_any_iterable_are_read_once(self, kind, source):
        a, b = param([1.0]), param([[2.0, 3.0]])
        optimizer = OPTIMIZERS[kind](source([a, b]), lr=0.1)
        assert len(optimizer.params) == 2
        assert ids(optimizer.params) == ids([a, b])
        assert optimizer.step_count == 0
        # The control: the same optimizer class over a plain list of the same values (the
        # update rules themselves are TestSGD's, TestAdam's and TestAdamW's).
        c, d = param([1.0]), param([[2.0, 3.0]])
        control = OPTIMIZERS[kind]([c, d], lr=0.1)
        for _ in range(2):  # a generator read lazily would be empty by the second step
            for x, y in ((a, b), (c, d)):
                x.grad = np.ones(1, dtype=np.float32)
                y.grad = np.ones((1, 2), dtype=np.float32)
            optimizer.step()
            control.step()
        assert np.all(c.data < 1.0)  # the control moved
        assert np.all(d.data < [[2.0, 3.0]])
        for p, q in ((a, c), (b, d)):
            np.testing.assert_array_equal(
                p.data, q.data, err_msg=f"{kind} from a {source.__name__} steps unlike from a list"
            )

    @pytest.mark.parametrize("kind", KINDS)
    def test_is_an_optimizer(self, kind):
        optimizer = OPTIMIZERS[kind]([param([1.0])])
        assert isinstance(optimizer, Optimizer)
        assert optimizer.step_count == 0

    @pytest.mark.parametrize("kind", KINDS)
    def test_parameter_without_requires_grad_is_refused(self, kind):
        frozen = Tensor(np.zeros((2, 3)))
        # API.md fixes the type only; the words are test_extras.py's.
        with pytest.raises(ValueError):
            OPTIMIZERS[kind]([param([1.0]), frozen])
        with pytest.raises(ValueError):
            OPTIMIZERS[kind]([frozen])
        # The same list without the frozen tensor is fine and steps: by lr against the
        # gradient (SGD and Adam's first step: 0.9; AdamW's decay of 0.1% on top, whatever
        # its order; the exact rules are TestSGD's, TestAdam's and TestAdamW's).
        p = param([1.0])
        optimizer = OPTIMIZERS[kind]([p], lr=0.1)
        p.grad = np.ones(1, dtype=np.float32)
        optimizer.step()
        np.testing.assert_allclose(p.data, [0.9], atol=2e-3)

    def test_zero_grad_sets_every_grad_to_none(self):
        a, b, c = param([1.0]), param([2.0, 3.0]), param(4.0)
        optimizer = Adam([a, b, c])
        a.grad = np.array([1.0], dtype=np.float32)
        (b * b).sum().backward()
        np.testing.assert_allclose(b.grad, [4.0, 6.0])
        optimizer.zero_grad()
        assert (a.grad, b.grad, c.grad) == (None, None, None)
        (b * b).sum().backward()  # starts from nothing, not from [4, 6]
        np.testing.assert_allclose(b.grad, [4.0, 6.0])

    @pytest.mark.parametrize("kind", KINDS)
    def test_step_count_counts_steps(self, kind):
        p = param([1.0, 2.0])
        optimizer = OPTIMIZERS[kind]([p])
        for expected in (1, 2, 3):
            p.grad = np.ones(2, dtype=np.float32)
            optimizer.step()
            assert optimizer.step_count == expected

    @pytest.mark.parametrize("kind", KINDS)
    def test_parameter_without_grad_is_skipped_and_its_state_untouched(self, kind):
        hyper = {"lr": 0.1, "weight_decay": 0.1, **({"momentum": 0.9} if kind == "SGD" else {})}
        moving, idle = param([1.0, -1.0]), param([[0.5, 0.25]])
        optimizer = OPTIMIZERS[kind]([moving, idle], **hyper)
        moving_grads = [[1.0, 1.0], [0.5, -2.0], [1.0, 0.25], [-1.0, 0.5], [2.0, 1.0]]
        idle_grads = [None, None, None, [[1.0, -0.5]], [[0.25, 2.0]]]
        for step, (g, h) in enumerate(zip(moving_grads, idle_grads, strict=True)):
            moving.grad = np.array(g, dtype=np.float32)
            idle.grad = None if h is None else np.array(h, dtype=np.float32)
            optimizer.step()
            if step < 3:
                # Weight decay would move `idle` even with a zero gradient: it must not move.
                np.testing.assert_array_equal(idle.data, [[0.5, 0.25]])
                assert idle.grad is None
        # Controls: the same optimizer class over each parameter alone, given only its own
        # gradients (the update rules themselves are TestSGD's, TestAdam's and TestAdamW's).
        alone, _ = run(kind, [1.0, -1.0], moving_grads, **hyper)
        np.testing.assert_allclose(moving.data, alone.data, rtol=RTOL, atol=ATOL)
        fresh, _ = run(kind, [[0.5, 0.25]], [h for h in idle_grads if h is not None], **hyper)
        assert not np.allclose(fresh.data, [[0.5, 0.25]])  # the control moved
        np.testing.assert_allclose(
            idle.data,
            fresh.data,
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"{kind}: the first update of a parameter that had no gradient for 3 steps "
            "must start from fresh state, as PyTorch's does (no momentum; Adam's bias "
            "correction by the parameter's own step count, t = 1, not the optimizer's 4)",
        )


# ===========================================================================================
# (b) Module 06 core: the update rules, by hand and against the references for 100 steps
# ===========================================================================================


class TestSGD:
    def test_one_step_by_hand(self):
        p, _ = run("SGD", [1.0, 2.0], [[0.5, -1.0]], lr=0.1)
        check(p, [0.95, 2.1])

    def test_defaults_are_lr_0_01_without_momentum_or_decay(self):
        p = param([1.0])
        optimizer = SGD([p])
        for expected in (0.99, 0.98, 0.97):  # momentum would speed up, decay would add
            p.grad = np.array([1.0], dtype=np.float32)
            optimizer.step()
            check(p, [expected])

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
        p, _ = run("SGD", [2.0], [[0.0]], lr=0.1, weight_decay=0.5)
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
        p, optimizer = run("SGD", P0, grads, **hyper)
        assert p.dtype == F32
        assert optimizer.step_count == 100
        expected = reference("SGD", P0, grads, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=RTOL, atol=ATOL)
        assert np.abs(expected - P0).max() > 0.1  # far beyond the tolerance: not vacuous

    def test_100_steps_with_skipped_steps_match_the_reference(self):
        grads = gradient_stream(2, P0.shape, skip_every=3)
        hyper = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}
        p, optimizer = run("SGD", P0, grads, **hyper)
        expected = reference("SGD", P0, grads, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=RTOL, atol=ATOL)
        assert optimizer.step_count == 100


class TestAdam:
    def test_first_step_moves_each_element_by_lr_against_the_gradient(self):
        # t = 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
        # Without bias correction it would be lr * 0.1 g / sqrt(0.001 g^2) ~ 3.16 lr.
        # For a gradient as small as 1e-6, eps = 1e-8 shows: the move is 0.1 / 1.01.
        p, _ = run("Adam", [1.0, -1.0, 0.0], [[2.0, -3.0, SMALL]], lr=0.1)
        check(p, [0.9, -0.9, -0.1 * SMALL / (SMALL + 1e-8)], rtol=1e-6)

    def test_constant_gradient_moves_lr_per_step(self):
        # With g constant, m_hat = g and v_hat = g^2 at every t: each step moves lr * sign(g).
        p, _ = run("Adam", [0.0, 0.0], [[0.5, -4.0]] * 10, lr=0.01)
        check(p, [-0.1, 0.1], rtol=1e-5)

    @pytest.mark.parametrize("kind", ["Adam", "AdamW"])
    def test_defaults_are_pytorchs(self, kind):
        # lr 0.001, betas (0.9, 0.999), eps 1e-8, weight decay 0 (Adam) or 0.01 (AdamW): 100
        # steps without arguments are the steps with PyTorch's values given (what those steps
        # must be is test_100_steps_match_the_reference's); eps also by a first tiny step.
        grads = gradient_stream(9, P0.shape)
        p, _ = run(kind, P0, grads)
        given = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8}
        explicit, _ = run(kind, P0, grads, weight_decay=0.01 if kind == "AdamW" else 0.0, **given)
        np.testing.assert_array_equal(p.data, explicit.data, err_msg=f"{kind}'s defaults")
        # Each default matters over these steps (no value is vacuous).
        for other in ({"lr": 0.002}, {"betas": (0.8, 0.999)}, {"betas": (0.9, 0.99)}):
            moved, _ = run(kind, P0, grads, **{**given, **other})
            assert np.abs(moved.data - p.data).max() > 1e-4, other
        if kind == "AdamW":
            undecayed, _ = run(kind, P0, grads, weight_decay=0.0)
            assert np.abs(undecayed.data - p.data).max() > 1e-6
        # eps 1e-7 would give 0.91 of this move; 1e-4 leaves room for AdamW's decay of the
        # moved value (1e-5 of it, by the decay order TestAdamW judges).
        q, _ = run(kind, [0.0], [[SMALL]])
        check(q, [-0.001 * SMALL / (SMALL + 1e-8)], rtol=1e-4)

    def test_weight_decay_is_added_to_the_gradient(self):
        # g = 0 + 0.5 * 2 = 1 > 0, so the first step moves by -lr, like a positive gradient.
        p, _ = run("Adam", [2.0], [[0.0]], lr=0.1, weight_decay=0.5)
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
        p, optimizer = run("Adam", P0, grads, **hyper)
        assert p.dtype == F32
        assert optimizer.step_count == 100
        expected = reference("Adam", P0, grads, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=RTOL, atol=ATOL)
        assert np.abs(expected - P0).max() > 0.1  # far beyond the tolerance: not vacuous

    def test_bias_correction_uses_the_parameters_own_step(self):
        # The parameter misses every third step; its t counts only its own updates (67), not
        # the optimizer's 100 steps.
        grads = gradient_stream(4, P0.shape, skip_every=3)
        p, optimizer = run("Adam", P0, grads, lr=0.01)
        expected = reference("Adam", P0, grads, lr=0.01)
        np.testing.assert_allclose(
            p.data,
            expected,
            rtol=RTOL,
            atol=ATOL,
            err_msg="Adam's bias correction must use the parameter's own step count (PyTorch: "
            "per-parameter state['step']), not the optimizer's step_count",
        )
        assert optimizer.step_count == 100

    def test_bias_correction_of_a_late_parameter_starts_at_its_first_update(self):
        # One parameter gets its first gradient at the optimizer's 4th step: its first move is
        # lr * sign(g) (t = 1), not the smaller move a global t = 4 would give.
        early, late = param([0.0]), param([0.0])
        optimizer = Adam([early, late], lr=0.1)
        for step in range(4):
            early.grad = np.array([1.0], dtype=np.float32)
            late.grad = np.array([1.0], dtype=np.float32) if step == 3 else None
            optimizer.step()
        assert np.isclose(late.data[0], -0.1, rtol=1e-6), (
            f"a parameter's first Adam update moved it to {late.data[0]}, not -0.1 = -lr: "
            "bias correction must count the parameter's own updates (t = 1), not step_count 4"
        )
        check(late, [-0.1], rtol=1e-6)
        check(early, [-0.4], rtol=1e-6)


class TestAdamW:
    def test_zero_gradient_only_decays(self):
        # m = v = 0, so the Adam part is 0 / (0 + eps) = 0: p = p0 * (1 - lr * wd)^n.
        p, _ = run("AdamW", [2.0, -1.0], [[0.0, 0.0]] * 5, lr=0.1, weight_decay=0.5)
        check(p, np.array([2.0, -1.0]) * 0.95**5, rtol=1e-6)

    def test_decay_is_decoupled_unlike_adam(self):
        # Same data, Adam: g = wd * p enters the moments and the first step is -lr * sign(p).
        p, _ = run("Adam", [2.0, -1.0], [[0.0, 0.0]], lr=0.1, weight_decay=0.5)
        check(p, [1.9, -0.9], rtol=1e-6)
        q, _ = run("AdamW", [2.0, -1.0], [[0.0, 0.0]], lr=0.1, weight_decay=0.5)
        check(q, [1.9, -0.95], rtol=1e-6)

    def test_default_weight_decay_is_0_01(self):
        # lr 0.001, wd 0.01, zero gradient: p = p0 * (1 - 1e-5)^5.
        p, _ = run("AdamW", [1000.0, -2.0], [[0.0, 0.0]] * 5)
        check(p, reference("AdamW", [1000.0, -2.0], [[0.0, 0.0]] * 5), rtol=1e-6)
        assert abs(float(p.data[0]) - 1000.0) > 0.04  # 0.05 expected: the decay is not vacuous

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
        p, _ = run("AdamW", P0, grads, **hyper)
        assert p.dtype == F32
        expected = reference("AdamW", P0, grads, **hyper)
        np.testing.assert_allclose(
            p.data,
            expected,
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"AdamW{hyper} differs from PyTorch's rule: p *= 1 - lr * wd BEFORE the "
            "Adam update (the decay uses the parameter as it was before this step)",
        )

    def test_100_steps_differ_from_coupled_adam(self):
        grads = gradient_stream(5, P0.shape)
        p, _ = run("AdamW", P0, grads, lr=0.01, weight_decay=0.5)
        coupled = reference("Adam", P0, grads, lr=0.01, weight_decay=0.5)
        assert np.abs(p.data - coupled).max() > 1e-3


class TestPrecisionAndHyperparameters:
    @pytest.mark.parametrize("kind", KINDS)
    def test_float32_parameters_stay_float32(self, kind):
        p = param([[1.0, 2.0], [3.0, 4.0]])
        hyper = {"lr": 0.1, "weight_decay": 0.1, **({"momentum": 0.9} if kind == "SGD" else {})}
        optimizer = OPTIMIZERS[kind]([p], **hyper)
        for _ in range(3):
            p.grad = np.full((2, 2), 0.3, dtype=np.float32)
            optimizer.step()
        assert p.dtype == F32
        assert p.data.dtype == F32
        assert p.requires_grad is True
        assert not np.allclose(p.data, [[1.0, 2.0], [3.0, 4.0]])

    @pytest.mark.parametrize("kind", KINDS)
    def test_zero_values_are_allowed(self, kind):
        p = param([1.0])
        extra = {"momentum": 0.0} if kind == "SGD" else {"betas": (0.0, 0.0), "eps": 0.0}
        optimizer = OPTIMIZERS[kind]([p], lr=0.0, weight_decay=0.0, **extra)
        p.grad = np.array([1.0], dtype=np.float32)
        optimizer.step()
        check(p, [1.0])  # lr 0: nothing moves
        assert optimizer.step_count == 1

    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(
        kind=st.sampled_from(KINDS),
        lr=st.floats(0.0, 0.5),
        momentum=st.floats(0.0, 0.99),
        beta1=st.floats(0.0, 0.99),
        # beta2 below 0.5 makes v follow the last g^2 alone: when weight decay cancels the
        # gradient, m / sqrt(v) then divides by float32 rounding noise (ill-conditioned).
        beta2=st.floats(0.5, 0.999),
        weight_decay=st.floats(0.0, 0.5),
        seed=st.integers(0, 2**16),
    )
    def test_property_short_runs_match_the_references(
        self, kind, lr, momentum, beta1, beta2, weight_decay, seed
    ):
        rng = np.random.default_rng(seed)
        p0 = rng.normal(size=5).astype(np.float32)
        grads = [rng.normal(size=5).astype(np.float32) for _ in range(8)]
        if kind == "SGD":
            hyper = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        else:
            hyper = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay}
        p, _ = run(kind, p0, grads, **hyper)
        expected = reference(kind, p0, grads, **hyper)
        np.testing.assert_allclose(
            p.data,
            expected,
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"8 steps of {kind}{hyper} differ from PyTorch's published update rule",
        )


# ===========================================================================================
# (b) Module 06 core: aliasing (API.md, last section) through what the API shows
# ===========================================================================================


# The expected values here are controls: the same optimizer class driven with fresh arrays
# (a new .grad each step, parameters alone in their optimizer), so a deviation from PyTorch's
# rules (TestSGD's, TestAdam's and TestAdamW's to judge) does not fail a test of aliasing.


def hyper_for(kind, decay):
    """Hyper-parameters that give every optimizer state (momentum, moments)."""
    return {"lr": 0.05, "weight_decay": decay, **({"momentum": 0.9} if kind == "SGD" else {})}


# Without weight decay, SGD's first momentum buffer is the gradient itself: the place where
# an implementation may keep the .grad array instead of a copy.
WITH_STATE = pytest.mark.parametrize(
    ("kind", "decay"),
    [(kind, decay) for kind in KINDS for decay in (0.0, 0.1)],
    ids=[f"{kind}-{tag}" for kind in KINDS for tag in ("no-decay", "decay")],
)


class TestAliasing:
    @WITH_STATE
    def test_after_a_step_no_data_shares_memory_with_a_grad_and_grads_stay(self, kind, decay):
        a, b = param(P0), param(P0[::-1].copy())
        optimizer = OPTIMIZERS[kind]([a, b], **hyper_for(kind, decay))
        grads_a, grads_b = gradient_stream(10, P0.shape, 3), gradient_stream(11, P0.shape, 3)
        for ga, gb in zip(grads_a, grads_b, strict=True):
            a.grad, b.grad = ga.copy(), gb.copy()
            optimizer.step()
            for p in (a, b):
                for q in (a, b):
                    assert not np.shares_memory(p.data, q.grad)
            assert not np.shares_memory(a.data, b.data)
            # step() reads .grad and never writes into it.
            np.testing.assert_array_equal(a.grad, ga)
            np.testing.assert_array_equal(b.grad, gb)
        control, _ = run(kind, P0, grads_a, **hyper_for(kind, decay))
        np.testing.assert_allclose(a.data, control.data, rtol=RTOL, atol=ATOL)

    @WITH_STATE
    def test_after_backward_and_step_data_and_grads_stay_apart(self, kind, decay):
        layer = linear_with([[0.5, -1.0], [2.0, 0.25]], [0.1, -0.2])
        optimizer = OPTIMIZERS[kind](layer.parameters(), **hyper_for(kind, decay))
        x = Tensor([[1.0, 2.0], [-1.0, 0.5]])
        weight_before = layer.weight.data.copy()
        for _ in range(3):
            optimizer.zero_grad()
            MSELoss()(layer(x), Tensor([[1.0, 0.0], [0.0, 1.0]])).backward()
            optimizer.step()
            params = layer.parameters()
            for p in params:
                for q in params:
                    assert not np.shares_memory(p.data, q.grad)
            assert not np.shares_memory(layer.weight.data, layer.bias.data)
        assert np.abs(layer.weight.data - weight_before).min() > 1e-3  # every weight moved

    @WITH_STATE
    def test_state_does_not_share_memory_with_the_grad(self, kind, decay):
        # Writing into the same .grad array after a step (gradient clipping does) must not
        # change what the optimizer remembers of that step (momentum buffer, moments).
        p = param(P0)
        optimizer = OPTIMIZERS[kind]([p], **hyper_for(kind, decay))
        grads = gradient_stream(12, P0.shape, steps=4)
        p.grad = grads[0].copy()
        optimizer.step()
        for g in grads[1:]:
            p.grad[...] = g
            optimizer.step()
        control, _ = run(kind, P0, grads, **hyper_for(kind, decay))  # a new .grad each step
        assert np.abs(control.data - P0).max() > 0.05  # the control moved
        np.testing.assert_allclose(p.data, control.data, rtol=RTOL, atol=ATOL)

    @WITH_STATE
    def test_state_does_not_share_memory_with_the_parameter(self, kind, decay):
        # Writing a new value into the parameter's array between steps: the next step starts
        # from that value with the state the first steps left, untouched by the write. The
        # control gets the value as a new array instead of a write into the old one.
        p, q = param(P0), param(P0)
        optimizer = OPTIMIZERS[kind]([p], **hyper_for(kind, decay))
        control = OPTIMIZERS[kind]([q], **hyper_for(kind, decay))
        grads = gradient_stream(13, P0.shape, steps=4)
        new = f32(0.5 * P0 + 1.0)
        for step, g in enumerate(grads):
            if step == 2:
                p.data[...] = new
                q.data = new.copy()
            p.grad, q.grad = g.copy(), g.copy()
            optimizer.step()
            control.step()
        assert np.abs(q.data - new).max() > 0.05  # the control moved after the write
        np.testing.assert_allclose(p.data, q.data, rtol=RTOL, atol=ATOL)

    @WITH_STATE
    def test_each_parameter_has_its_own_state(self, kind, decay):
        # Same shapes, different gradients: a state array shared between parameters (one
        # zeros array reused for every parameter) would mix their histories.
        a, b = param(P0), param(-P0)
        optimizer = OPTIMIZERS[kind]([a, b], **hyper_for(kind, decay))
        grads_a, grads_b = gradient_stream(14, P0.shape, 6), gradient_stream(15, P0.shape, 6)
        for ga, gb in zip(grads_a, grads_b, strict=True):
            a.grad, b.grad = ga.copy(), -3.0 * gb
            optimizer.step()
        alone_a, _ = run(kind, P0, grads_a, **hyper_for(kind, decay))
        alone_b, _ = run(kind, -P0, [-3.0 * g for g in grads_b], **hyper_for(kind, decay))
        np.testing.assert_allclose(a.data, alone_a.data, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(b.data, alone_b.data, rtol=RTOL, atol=ATOL)


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
        MSELoss()(layer(Tensor(x)), Tensor(y)).backward()
        optimizer.step()
        residual = x @ w0 + f32(b0) - y  # dL/dW = 2/N x^T r, dL/db = 2/N sum r
        check(layer.weight, w0 - 0.1 * 2 / 3 * x.T @ residual, rtol=1e-6)
        check(layer.bias, f32(b0) - 0.1 * 2 / 3 * residual.sum(axis=0), rtol=1e-6)

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

    def test_step_after_backward_then_reusing_the_graph_is_refused(self):
        # The update is an in-place change; a retained graph that saved the weight must refuse
        # to give stale gradients (module 05). API.md fixes no exception type, so the refusal
        # is paired with controls that need the step to have worked.
        layer = linear_with([[1.0], [2.0]], [0.0])
        optimizer = SGD(layer.parameters(), lr=0.1)
        x, target = Tensor([[1.0, 1.0]]), Tensor([[0.0]])
        loss = MSELoss()(layer(x), target)
        loss.backward(retain_graph=True)
        np.testing.assert_allclose(layer.weight.grad, [[6.0], [6.0]])  # 2 * (3 - 0) * x
        optimizer.step()
        check(layer.weight, [[0.4], [1.4]])
        check(layer.bias, [-0.6])
        with pytest.raises(Exception):  # noqa: B017 (API.md fixes no type)
            loss.backward()
        # A new graph at the new weights: out = 0.4 + 1.4 - 0.6 = 1.2, so dW = 2.4 x.
        optimizer.zero_grad()
        MSELoss()(layer(x), target).backward()
        np.testing.assert_allclose(layer.weight.grad, [[2.4], [2.4]], rtol=1e-6)

    def test_linear_regression_converges_to_least_squares(self):
        rng = np.random.default_rng(60)
        x = rng.normal(size=(64, 3))
        y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.25 + 0.01 * rng.normal(size=(64, 1))
        np.random.seed(0)
        layer = Linear(3, 1)
        optimizer = SGD(layer.parameters(), lr=0.1, momentum=0.9)
        for _ in range(150):
            optimizer.zero_grad()
            MSELoss()(layer(Tensor(x)), Tensor(y)).backward()
            optimizer.step()
        design = np.hstack([x, np.ones((64, 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        np.testing.assert_allclose(layer.weight.data, solution[:3], atol=1e-3)
        np.testing.assert_allclose(layer.bias.data, solution[3], atol=1e-3)

    @pytest.mark.parametrize(
        ("kind", "hyper", "steps"),
        [("Adam", {"lr": 0.1}, 300), ("SGD", {"lr": 0.5, "momentum": 0.9}, 300)],
        ids=["adam", "sgd-momentum"],
    )
    def test_xor_is_solved_by_a_two_layer_network(self, kind, hyper, steps):
        np.random.seed(6)
        x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
        y = np.array([[0.0], [1.0], [1.0], [0.0]])
        model = Chain(Linear(2, 8), Sigmoid(), Linear(8, 1), Sigmoid())
        optimizer = OPTIMIZERS[kind](model.parameters(), **hyper)
        loss_fn = BinaryCrossEntropyLoss()
        first = float(loss_fn(model(x), Tensor(y)).data)
        for _ in range(steps):
            optimizer.zero_grad()
            loss_fn(model(x), Tensor(y)).backward()
            optimizer.step()
        out = model(x)
        final = float(loss_fn(out, Tensor(y)).data)
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
        model = Chain(Linear(2, 8), ReLU(), Linear(8, 3))
        optimizer = AdamW(model.parameters(), lr=0.05)
        losses = []
        for _ in range(60):
            optimizer.zero_grad()
            loss = CrossEntropyLoss()(model(Tensor(x)), Tensor(labels))
            loss.backward()
            optimizer.step()
            losses.append(float(loss.data))
        predictions = model(Tensor(x)).data.argmax(axis=1)
        np.testing.assert_array_equal(predictions, labels)
        assert losses[-1] < 0.1 < losses[0]
