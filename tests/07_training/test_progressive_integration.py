"""Module 07 (Training), course API: API.md "07 Training" on top of modules 01..06.

CosineSchedule, clip_grad_norm and the Trainer loop (epochs, gradient accumulation, clipping,
scheduling, evaluation, training/evaluation mode), and the losses' names that module 07
re-exports. Checkpoints have their own file, test_checkpoints.py; the reference's extras
(Sequential, no_grad, its argument checks and error words) are in test_extras.py. Expected
values are worked out by hand or by plain float64 numpy re-implementations of the loop
written from the module's documented rules, never by calling the code under test.
Every test goes through module 07, so each fails when module 07 is a stub.

API.md fixes train_epoch's signature and result (a real number), the history's keys and
evaluate's (loss, accuracy); the reference's finer Trainer semantics (loss as the mean per
sample, the accumulation rule, the scheduler's timing, lr recorded without a scheduler,
ndarray batches, binary accuracy) are test_extras_trainer_semantics.py's. Batches here are
Tensors, as a DataLoader yields them.

Models are small subclasses of the course's Layer listing their parameters (local ones, and
tests/support/models.py's Chain); loss functions are course losses or local classes with
``forward`` and ``__call__``. The regression problem, the three-class problem of ``evaluate``
and their float64 references are shared with the extras (tests/support/training_cases.py).
"""

import itertools
import math
import numbers

import numpy as np
import pytest
from course_api import (
    SGD,
    Adam,
    AdamW,
    BinaryCrossEntropyLoss,
    CosineSchedule,
    CrossEntropyLoss,
    Dropout,
    Layer,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Tanh,
    Tensor,
    Trainer,
    clip_grad_norm,
    name_in,
)
from models import Chain
from tinytorch_testing import (
    F32,
    check,
    f32,
    linear_with,
    numeric_gradient,
    param,
    ref_cross_entropy,
)
from training_cases import (
    B0,
    EVAL_T,
    EVAL_X,
    LOGITS_W,
    W0,
    X,
    Y,
    batches,
    classifier,
    clean_logits,
    cluster_batches,
    cluster_trainer,
    regression_trainer,
    sgd_reference,
)

# API.md: "tinytorch.core.training imports MSELoss and CrossEntropyLoss from losses ... a name
# a module re-exports that way is part of the course API of that module too."
TrainingMSELoss = name_in("tinytorch.core.training", "MSELoss")
TrainingCrossEntropyLoss = name_in("tinytorch.core.training", "CrossEntropyLoss")


class Formula(Layer):
    """A model computing fn(x, *weights) with weights of its own (Tensors requiring grad)."""

    def __init__(self, fn, *weights):
        self.fn = fn
        self.weights = [
            Tensor(np.asarray(w, dtype=np.float64), requires_grad=True) for w in weights
        ]

    def forward(self, x):
        return self.fn(x, *self.weights)

    def parameters(self):
        return list(self.weights)


class SumOfSquares:
    """loss = sum(outputs ** 2), targets ignored: d loss / d outputs = 2 outputs."""

    def forward(self, outputs, targets):
        return (outputs * outputs).sum()

    __call__ = forward


class Dot:
    """loss = sum(outputs * coefficients), targets ignored: d loss / d outputs = coefficients."""

    def __init__(self, coefficients):
        self.coefficients = np.asarray(coefficients, dtype=np.float64)

    def forward(self, outputs, targets):
        return (outputs * Tensor(self.coefficients)).sum()

    __call__ = forward


def split(size=4):
    return [(X[i : i + size], Y[i : i + size]) for i in range(0, len(X), size)]


def weighted_mean(losses):
    return sum(loss * n for loss, n in losses) / sum(n for _, n in losses)


# ===========================================================================================
# (a) Modules 01..06 still work, each through a module-07 object, with worked values
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_ops_in_a_model_the_trainer_trains(self):
        a = Tensor([[1, 2], [3, 4]])
        check(a.matmul(Tensor([[1], [1]])), [[3], [7]])
        check(a / 2 * -1.0 + 1, [[0.5, 0.0], [-0.5, -1.0]])
        check(a.sum(axis=1), [3.0, 7.0])
        model = Formula(lambda x, w: (x / 2 * -1.0 + 1).matmul(w), [[1.0], [1.0]])
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
        # z = 1 - a / 2 = [[0.5, 0], [-0.5, -1]], out = z @ [1, 1] = [0.5, -1.5] against 0:
        # loss (0.25 + 2.25) / 2 = 1.25; dL/dw = 2 / 2 * z^T out = [[1.0], [1.5]].
        loss, _ = trainer.evaluate([(a, Tensor(np.zeros((2, 1))))])
        assert loss == pytest.approx(1.25, rel=1e-6)
        loss = trainer.train_epoch([(a, Tensor(np.zeros((2, 1))))])
        assert loss == pytest.approx(1.25, rel=1e-6)
        check(model.weights[0], [[0.9], [0.85]], rtol=1e-6)

    def test_operator_forms_in_a_model_the_trainer_trains(self):
        # The forms of module 01 the test above avoids: `@` and a scalar on the left.
        a = Tensor([[1, 2], [3, 4]])
        check(a @ Tensor([[1], [1]]), [[3], [7]])
        check(1 - a / 2, [[0.5, 0.0], [-0.5, -1.0]])
        model = Formula(lambda x, w: (1 - x / 2) @ w, [[1.0], [1.0]])
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
        loss = trainer.train_epoch([(a, Tensor(np.zeros((2, 1))))])
        assert loss == pytest.approx(1.25, rel=1e-6)
        check(model.weights[0], [[0.9], [0.85]], rtol=1e-6)

    def test_activation_gradients_clipped(self):
        p, q = param([-3.0, 4.0]), param([0.0])
        check(ReLU()(p), [0.0, 4.0])
        check(Sigmoid()(q), [0.5])
        (ReLU()(p).sum() + Sigmoid()(q).sum()).backward()
        # relu' = [0, 1], sigmoid'(0) = 1/4: norm sqrt(1 + 1/16).
        norm = math.sqrt(1 + 1 / 16)
        assert clip_grad_norm([p, q], max_norm=0.5) == pytest.approx(norm, rel=1e-6)
        scale = 0.5 / norm
        np.testing.assert_allclose(p.grad, [0.0, scale], rtol=1e-6)
        np.testing.assert_allclose(q.grad, [0.25 * scale], rtol=1e-6)

    def test_tanh_gradient_clipped(self):
        r = param([0.0, -1000.0])
        check(Tanh()(r), [0.0, -1.0])
        Tanh()(r).sum().backward()
        assert r.grad is not None, "Tanh's output was not recorded: r got no gradient"
        # tanh' = 1 - tanh^2 = [1, 0]: norm 1.
        assert clip_grad_norm([r], max_norm=0.5) == pytest.approx(1.0, rel=1e-6)
        np.testing.assert_allclose(r.grad, [0.5, 0.0], rtol=1e-6, atol=1e-12)

    def test_linear_layers_by_hand(self):
        model = Chain(linear_with([[1.0, -1.0], [2.0, 0.5]], [0.0, 1.0]), ReLU())
        x = Tensor([[1.0, 1.0], [-1.0, 0.0]])
        # [1, 1] -> [1 + 2, -1 + 0.5 + 1] = [3, 0.5]; [-1, 0] -> [-1, 2] -> relu [0, 2]
        check(model(x), [[3.0, 0.5], [0.0, 2.0]])
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
        loss, _ = trainer.evaluate([(x, Tensor(np.zeros((2, 2))))])
        assert loss == pytest.approx((9 + 0.25 + 0 + 4) / 4, rel=1e-6)

    def test_losses_by_hand(self):
        check(MSELoss()(Tensor([[1.0, 2.0], [3.0, 4.0]]), Tensor(np.zeros((2, 2)))), 7.5)
        logits = Tensor([[0.0, math.log(3.0)]])  # softmax [1/4, 3/4]
        check(CrossEntropyLoss()(logits, Tensor([1])), math.log(4 / 3))
        identity = Formula(lambda x, w: x * w, [1.0, 1.0])
        mse = Trainer(identity, SGD(identity.parameters()), MSELoss())
        loss, _ = mse.evaluate([(Tensor([[1.0, 2.0], [3.0, 4.0]]), Tensor(np.zeros((2, 2))))])
        assert loss == pytest.approx(7.5, rel=1e-6)
        ce = Trainer(identity, SGD(identity.parameters()), CrossEntropyLoss())
        loss, accuracy = ce.evaluate([(logits, Tensor([1]))])
        assert loss == pytest.approx(math.log(4 / 3), rel=1e-6)
        assert accuracy == 1.0

    def test_gradient_by_central_differences_then_clipped(self):
        x = np.array([[0.5, -1.0], [2.0, 1.0]])
        w0 = np.array([[0.3, -0.2], [0.1, 0.4]])
        layer = linear_with(w0, [0.0, 0.0])
        CrossEntropyLoss()(layer(Tensor(x)), Tensor([1, 0])).backward()

        def loss(w, b=0.0):
            z = x @ w + b
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return -(logp[0, 1] + logp[1, 0]) / 2

        numeric_w = numeric_gradient(loss, w0)
        numeric_b = numeric_gradient(lambda b: loss(w0, b), np.zeros(2))
        np.testing.assert_allclose(layer.weight.grad, numeric_w, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(layer.bias.grad, numeric_b, rtol=1e-5, atol=1e-7)
        norm = math.sqrt(np.sum(numeric_w**2) + np.sum(numeric_b**2))
        assert clip_grad_norm(layer.parameters(), max_norm=norm / 2) == pytest.approx(
            norm, rel=1e-5
        )
        np.testing.assert_allclose(layer.weight.grad, numeric_w / 2, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(layer.bias.grad, numeric_b / 2, rtol=1e-5, atol=1e-7)

    def test_optimizer_steps_by_hand_through_the_trainer(self):
        ones = [(Tensor([1.0, 1.0]), Tensor(np.zeros(2)))]
        model = Formula(lambda x, p: x * p, [1.0, -2.0])
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1, momentum=0.9), SumOfSquares())
        # grad 2p = [2, -4]; p = [1, -2] - 0.1 [2, -4] = [0.8, -1.6]; then grad [1.6, -3.2],
        # buffer 0.9 [2, -4] + [1.6, -3.2] = [3.4, -6.8], p = [0.8, -1.6] - 0.1 buffer.
        assert trainer.train_epoch(ones) == pytest.approx(5.0, rel=1e-6)
        check(model.weights[0], [0.8, -1.6], rtol=1e-6)
        assert trainer.train_epoch(ones) == pytest.approx(0.64 + 2.56, rel=1e-6)
        check(model.weights[0], [0.46, -0.92], rtol=1e-5)
        assert model.weights[0].grad is None

        model = Formula(lambda x, p: x * p, [1.0, -2.0])
        trainer = Trainer(model, Adam(model.parameters(), lr=0.01), Dot([5.0, -0.5]))
        trainer.train_epoch(ones)  # first Adam step: lr * sign(g) with g = [5, -0.5]
        check(model.weights[0], [0.99, -1.99], rtol=1e-6)

        model = Formula(lambda x, p: x * p, [2.0, 2.0])
        trainer = Trainer(model, AdamW(model.parameters(), lr=0.1), Dot([3.0, -3.0]))
        trainer.train_epoch(ones)  # default decay 0.01, decoupled: 2 (1 - 0.1 * 0.01) -+ 0.1
        # rtol 1e-4: the order of decay and update (1e-4 apart here) is TestAdamW's, suite 06;
        # coupled decay or none would give 1.9 and 2.1.
        check(model.weights[0], [1.898, 2.098], rtol=1e-4)


# ===========================================================================================
# (b) Module 07 re-exports the losses it imports (API.md, module map and "Two tiers")
# ===========================================================================================


class TestReexportedLosses:
    def test_mse_loss_from_training_is_the_losses_one(self):
        assert isinstance(TrainingMSELoss(), MSELoss)
        assert isinstance(MSELoss(), TrainingMSELoss)
        layer, trainer = regression_trainer(lr=0.05, loss_fn=TrainingMSELoss())
        loss = trainer.train_epoch(batches())
        w, b, losses = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)
        assert loss == pytest.approx(weighted_mean(losses), rel=1e-5)

    def test_cross_entropy_loss_from_training_is_the_losses_one(self):
        assert isinstance(TrainingCrossEntropyLoss(), CrossEntropyLoss)
        assert isinstance(CrossEntropyLoss(), TrainingCrossEntropyLoss)
        layer = linear_with(LOGITS_W, [0.0, 0.0, 0.0])
        trainer = Trainer(layer, SGD(layer.parameters()), TrainingCrossEntropyLoss())
        loss, accuracy = trainer.evaluate([(Tensor(EVAL_X), Tensor(EVAL_T))])
        assert loss == pytest.approx(ref_cross_entropy(EVAL_X @ LOGITS_W, EVAL_T), rel=1e-6)
        assert accuracy == 0.75


# ===========================================================================================
# (b) Module 07 core: CosineSchedule
# ===========================================================================================


class TestCosineSchedule:
    def test_defaults_by_hand(self):
        schedule = CosineSchedule()
        assert schedule.get_lr(0) == pytest.approx(0.1, rel=1e-12)
        assert schedule.get_lr(50) == pytest.approx(0.055, rel=1e-12)  # cos(pi/2) = 0
        quarter = 0.01 + 0.09 * (1 + math.sqrt(0.5)) / 2  # cos(pi/4) = sqrt(1/2)
        assert schedule.get_lr(25) == pytest.approx(quarter, rel=1e-12)
        assert schedule.get_lr(100) == 0.01
        assert schedule.get_lr(1000) == 0.01

    def test_four_epochs_by_hand(self):
        schedule = CosineSchedule(max_lr=1.0, min_lr=0.0, total_epochs=4)
        h = math.sqrt(0.5) / 2
        expected = [1.0, 0.5 + h, 0.5, 0.5 - h, 0.0, 0.0]
        lrs = [schedule.get_lr(epoch) for epoch in range(6)]
        np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)
        assert all(isinstance(lr, float) for lr in lrs)

    def test_matches_the_formula_and_never_increases(self):
        schedule = CosineSchedule(max_lr=0.3, min_lr=0.02, total_epochs=37)
        lrs = [schedule.get_lr(e) for e in range(50)]
        formula = [
            0.02 + 0.28 * (1 + math.cos(math.pi * e / 37)) / 2 if e < 37 else 0.02
            for e in range(50)
        ]
        np.testing.assert_allclose(lrs, formula, rtol=1e-12)
        assert all(a >= b for a, b in itertools.pairwise(lrs))

    def test_constant_when_min_equals_max(self):
        schedule = CosineSchedule(max_lr=0.05, min_lr=0.05, total_epochs=10)
        assert [schedule.get_lr(e) for e in (0, 3, 10, 11)] == [0.05] * 4


# ===========================================================================================
# (b) Module 07 core: clip_grad_norm
# ===========================================================================================


class TestClipGradNorm:
    def test_three_four_five_by_hand(self):
        a, b = param([0.0]), param([[0.0]])
        a.grad = np.array([3.0], dtype=np.float32)
        b.grad = np.array([[-4.0]], dtype=np.float32)
        norm = clip_grad_norm([a, b], max_norm=1.0)
        assert isinstance(norm, float)
        assert norm == pytest.approx(5.0, rel=1e-12)
        np.testing.assert_allclose(a.grad, [0.6], rtol=1e-6)
        np.testing.assert_allclose(b.grad, [[-0.8]], rtol=1e-6)
        assert isinstance(a.grad, np.ndarray)
        assert a.grad.dtype == F32
        assert b.grad.shape == (1, 1)

    def test_clipped_gradients_share_no_memory(self):
        # API.md, Aliasing: a gradient in .grad never shares memory with another tensor's
        # .grad or with an input.
        a, b = param(np.ones((2, 3))), param(np.ones((2, 3)))
        a.grad = np.full((2, 3), 3.0, dtype=np.float32)
        b.grad = np.full((2, 3), -4.0, dtype=np.float32)
        clip_grad_norm([a, b], max_norm=1.0)
        np.testing.assert_allclose(a.grad, np.full((2, 3), 3 / math.sqrt(150)), rtol=1e-6)
        assert not np.shares_memory(a.grad, b.grad)
        for grad in (a.grad, b.grad):
            assert not np.shares_memory(grad, a.data)
            assert not np.shares_memory(grad, b.data)

    def test_below_the_limit_nothing_changes(self):
        a = param([1.0, 2.0])
        a.grad = np.array([0.3, -0.4], dtype=np.float32)
        before = a.grad.copy()
        assert clip_grad_norm([a], max_norm=1.0) == pytest.approx(0.5, rel=1e-6)
        np.testing.assert_array_equal(a.grad, before)
        assert clip_grad_norm([a], max_norm=0.5 + 1e-6) == pytest.approx(0.5, rel=1e-6)
        np.testing.assert_array_equal(a.grad, before)

    def test_parameters_without_grad_are_ignored(self):
        a, b, c = param([1.0]), param([1.0, 1.0]), param([2.0])
        a.grad = np.array([6.0], dtype=np.float32)
        c.grad = np.array([8.0], dtype=np.float32)
        assert clip_grad_norm([a, b, c], max_norm=5.0) == pytest.approx(10.0, rel=1e-12)
        assert b.grad is None
        np.testing.assert_allclose([a.grad[0], c.grad[0]], [3.0, 4.0], rtol=1e-6)

    def test_no_gradients_gives_zero(self):
        assert clip_grad_norm([param([1.0])], max_norm=1.0) == 0.0

    def test_random_gradients_against_numpy(self):
        rng = np.random.default_rng(71)
        params = [param(np.zeros(s)) for s in [(3, 4), (4,), (2, 2, 2)]]
        grads = [rng.normal(size=p.shape) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.astype(np.float32)
        total = math.sqrt(sum(np.sum(f32(g) ** 2) for g in grads))
        assert clip_grad_norm(params, max_norm=0.5) == pytest.approx(total, rel=1e-6)
        for p, g in zip(params, grads, strict=True):
            np.testing.assert_allclose(p.grad, f32(g) * 0.5 / total, rtol=1e-6)
        after = math.sqrt(sum(np.sum(p.grad.astype(np.float64) ** 2) for p in params))
        assert after == pytest.approx(0.5, rel=1e-6)

    def test_gradients_from_backward(self):
        layer = linear_with([[1.0], [1.0]], [0.0])
        MSELoss()(layer(Tensor([[3.0, 4.0]])), Tensor([[0.0]])).backward()
        # r = 7: dW = 2 * 7 * [3, 4] = [42, 56], db = 14; norm = sqrt(42^2 + 56^2 + 14^2).
        norm = math.sqrt(42**2 + 56**2 + 14**2)
        assert clip_grad_norm(layer.parameters(), max_norm=1.0) == pytest.approx(norm, rel=1e-6)
        np.testing.assert_allclose(layer.weight.grad, [[42 / norm], [56 / norm]], rtol=1e-6)


# ===========================================================================================
# (b) Module 07 core: the Trainer loop
# ===========================================================================================


class RecordingSGD(SGD):
    """SGD that checks, at each step, that no two of the gradients it is handed share memory
    with each other or with a parameter (API.md, Aliasing), and counts its steps."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.checked = 0

    def step(self):
        grads = [p.grad for p in self.params]
        for i, grad in enumerate(grads):
            for other in grads[i + 1 :]:
                assert not np.shares_memory(grad, other)
            for p in self.params:
                assert not np.shares_memory(grad, p.data)
        self.checked += 1
        super().step()


class TestTrainerLoop:
    def test_initial_state(self):
        _, trainer = regression_trainer()
        assert (trainer.epoch, trainer.step) == (0, 0)
        assert trainer.history == {"train_loss": [], "eval_loss": [], "learning_rates": []}

    def test_one_epoch_matches_the_reference(self):
        layer, trainer = regression_trainer(lr=0.05)
        loss = trainer.train_epoch(batches())
        w, b, losses = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)
        # API.md: "-> float"; a numpy float32 scalar is a real number too. (A Python float
        # exactly, and the lr recorded without a scheduler: test_extras_trainer_semantics.py.)
        assert isinstance(loss, (numbers.Real, np.floating)), (
            f"train_epoch returned a {type(loss).__name__}, not a real number"
        )
        assert loss == pytest.approx(weighted_mean(losses), rel=1e-5)
        assert (trainer.epoch, trainer.step) == (1, 3)
        assert trainer.history["train_loss"] == [loss]
        assert all(p.grad is None for p in layer.parameters())

    def test_the_optimizer_is_handed_gradients_in_arrays_of_their_own(self):
        layer = linear_with(W0, B0)
        optimizer = RecordingSGD(layer.parameters(), lr=0.1)
        trainer = Trainer(layer, optimizer, MSELoss())
        trainer.train_epoch(batches())
        assert optimizer.checked == 3
        w, b, _ = sgd_reference([[xy] for xy in split()], lr=0.1)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)

    def test_several_epochs(self):
        layer, trainer = regression_trainer(lr=0.05)
        losses = [trainer.train_epoch(batches()) for _ in range(3)]
        w, b, _ = sgd_reference([[xy] for xy in split()] * 3, lr=0.05)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)
        assert (trainer.epoch, trainer.step) == (3, 9)
        assert trainer.history["train_loss"] == losses
        assert losses[2] < losses[0]

    def test_any_iterable_without_len(self):
        layer, trainer = regression_trainer(lr=0.05)
        trainer.train_epoch(batch for batch in batches())
        w, _, _ = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)
        assert trainer.step == 3


class TestGradientAccumulation:
    # How a group's gradients are combined and counted is not API.md's (the reference's rule
    # is test_extras_trainer_semantics.py's); accumulation_steps is, and training must work.
    def test_accumulation_steps_is_accepted_and_training_converges(self):
        _, trainer = regression_trainer(lr=0.02)
        start, _ = trainer.evaluate(batches())
        losses = [trainer.train_epoch(batches(size=2), accumulation_steps=3) for _ in range(60)]
        end, _ = trainer.evaluate(batches())
        assert trainer.epoch == 60
        assert trainer.history["train_loss"] == losses
        assert all(math.isfinite(loss) for loss in losses)
        assert end < start / 20, f"accumulating 3 batches, the loss went from {start} to {end}"

    def test_accumulation_with_clipping_clips_the_mean(self):
        layer, trainer = regression_trainer(lr=0.1, grad_clip_norm=0.5)
        trainer.train_epoch(batches(size=6), accumulation_steps=2)
        w, b, _ = sgd_reference([split(size=6)], lr=0.1, clip=0.5)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)


class TestClippingAndScheduling:
    def test_clipping_limits_each_update(self):
        layer, trainer = regression_trainer(lr=1.0, grad_clip_norm=0.01)
        trainer.train_epoch(batches(size=12))
        # One step with a gradient clipped to norm 0.01 and lr 1: the parameters move 0.01.
        moved = np.concatenate([(layer.weight.data - W0).ravel(), layer.bias.data - B0])
        assert np.linalg.norm(moved) == pytest.approx(0.01, rel=1e-4)
        w, b, _ = sgd_reference([split(size=12)], lr=1.0, clip=0.01)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)

    def test_with_a_scheduler_the_lr_of_each_epoch_is_recorded(self):
        # Which epoch's lr is recorded, and when it is set, is not API.md's (the reference's
        # timing: test_extras_trainer_semantics.py): one lr per epoch, from the schedule.
        schedule = CosineSchedule(max_lr=0.1, min_lr=0.02, total_epochs=3)
        layer, trainer = regression_trainer(lr=0.05, scheduler=schedule)
        for epoch in range(1, 5):
            trainer.train_epoch(batches())
            assert len(trainer.history["learning_rates"]) == epoch
        values = [schedule.get_lr(e) for e in range(6)]
        for lr in trainer.history["learning_rates"]:
            assert any(lr == pytest.approx(v, rel=1e-12) for v in values), lr
        assert trainer.optimizer.lr in trainer.history["learning_rates"]
        assert len(trainer.history["train_loss"]) == 4
        assert not np.allclose(layer.weight.data, W0)

    def test_large_clip_norm_changes_nothing(self):
        layer, trainer = regression_trainer(lr=0.05, grad_clip_norm=1e6)
        trainer.train_epoch(batches())
        w, _, _ = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)


# ===========================================================================================
# (b) Module 07 core: evaluate and training mode
# ===========================================================================================


class TestEvaluate:
    def test_loss_and_accuracy_by_hand(self):
        layer, trainer = classifier()
        check(layer.weight, LOGITS_W)
        # argmax per row: 0, 1, 0, 2 against targets 0, 1, 2, 2: three of four right.
        loss, accuracy = trainer.evaluate([(Tensor(EVAL_X), Tensor(EVAL_T))])
        assert accuracy == 0.75
        assert loss == pytest.approx(ref_cross_entropy(EVAL_X @ LOGITS_W, EVAL_T), rel=1e-6)
        assert trainer.history["eval_loss"] == [loss]
        assert (trainer.epoch, trainer.step) == (0, 0)

    def test_tensor_class_targets(self):
        _, trainer = classifier()
        _, accuracy = trainer.evaluate([(Tensor(EVAL_X), Tensor(EVAL_T))])
        assert accuracy == 0.75

    def test_changes_nothing(self):
        layer, trainer = classifier()
        loss, _ = trainer.evaluate([(Tensor(EVAL_X), Tensor(EVAL_T))])
        assert loss == pytest.approx(ref_cross_entropy(EVAL_X @ LOGITS_W, EVAL_T), rel=1e-6)
        assert layer.weight.grad is None
        check(layer.weight, LOGITS_W)
        assert trainer.optimizer.step_count == 0
        assert (trainer.epoch, trainer.step) == (0, 0)
        assert trainer.history["train_loss"] == []

    def test_binary_outputs_give_the_bce_loss(self):
        # API.md defines no accuracy of one-column outputs (the reference's threshold at one
        # half: test_extras_trainer_semantics.py); the loss is the BCE of the outputs.
        model = Chain(linear_with([[1.0]], [0.0]), Sigmoid())
        trainer = Trainer(model, SGD(model.parameters()), BinaryCrossEntropyLoss())
        x = np.array([[2.0], [-1.0], [0.5], [-3.0]])
        y = np.array([[1.0], [1.0], [1.0], [0.0]])
        loss, accuracy = trainer.evaluate([(Tensor(x), Tensor(y))])
        assert 0.0 <= accuracy <= 1.0
        p = 1 / (1 + np.exp(-x))
        assert loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)


class DropoutNet(Layer):
    """Linear -> ReLU -> Dropout -> Linear. It hears the mode both ways a Trainer may tell it
    (module 07's docstring): a ``training`` argument of forward, else its ``training``
    attribute."""

    def __init__(self, p=0.5):
        self.first, self.drop, self.last = Linear(2, 16), Dropout(p), Linear(16, 3)
        self.training = True

    def forward(self, x, training=None):
        training = self.training if training is None else training
        return self.last(self.drop(ReLU()(self.first(x)), training=training))

    def parameters(self):
        return self.first.parameters() + self.last.parameters()


class FlagNet(Layer):
    """A model with a `training` attribute; it records the value at every call."""

    def __init__(self):
        self.layer, self.training, self.seen = Linear(2, 3), True, []

    def forward(self, x):
        self.seen.append(self.training)
        return self.layer(x)

    def parameters(self):
        return self.layer.parameters()


class TestTrainingMode:
    def test_dropout_only_in_training(self):
        np.random.seed(72)
        model = DropoutNet(p=0.5)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.0), CrossEntropyLoss())
        data = [(Tensor(EVAL_X), Tensor(EVAL_T))]
        first, second = trainer.evaluate(data), trainer.evaluate(data)
        assert first == second  # no dropout: deterministic
        expected = ref_cross_entropy(clean_logits(model, EVAL_X), EVAL_T)
        assert first[0] == pytest.approx(expected, rel=1e-5)
        # With lr 0 nothing learns: a training-mode loss differs from the clean one only
        # because dropout is on.
        train_losses = {trainer.train_epoch(data) for _ in range(3)}
        assert len(train_losses) > 1
        assert first[0] not in train_losses

    def test_training_attribute_is_set(self):
        model = FlagNet()
        trainer = Trainer(model, SGD(model.parameters()), CrossEntropyLoss())
        data = [(Tensor(EVAL_X), Tensor(EVAL_T))]
        trainer.evaluate(data)
        trainer.train_epoch(data)
        trainer.evaluate(data)
        assert model.seen == [False, True, False]


# ===========================================================================================
# (c) Integration with modules 01..06
# ===========================================================================================


class TestIntegration:
    def test_classifier_learns_with_adamw_schedule_clipping_and_accumulation(self):
        data = cluster_batches()
        np.random.seed(74)
        model = Chain(Linear(2, 16), ReLU(), Linear(16, 3))
        trainer = cluster_trainer(model)
        start_loss, start_accuracy = trainer.evaluate(data)
        for _ in range(15):
            trainer.train_epoch(data, accumulation_steps=2)
        loss, accuracy = trainer.evaluate(data)
        assert accuracy == 1.0
        assert loss < start_loss / 5
        assert start_accuracy < 0.9
        assert (trainer.epoch, trainer.step) == (15, 45)
        assert len(trainer.history["train_loss"]) == 15
        assert trainer.history["train_loss"][-1] < trainer.history["train_loss"][0]
        assert trainer.history["eval_loss"] == [start_loss, loss]
        assert trainer.history["learning_rates"][0] == 0.05
        assert all(p.dtype == F32 for p in model.parameters())

    def test_xor_with_the_trainer(self):
        np.random.seed(75)
        model = Chain(Linear(2, 8), Sigmoid(), Linear(8, 1), Sigmoid())
        trainer = Trainer(model, Adam(model.parameters(), lr=0.1), BinaryCrossEntropyLoss())
        data = [(Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), Tensor([[0], [1], [1], [0]]))]
        for _ in range(250):
            trainer.train_epoch(data)
        loss, accuracy = trainer.evaluate(data)
        assert accuracy == 1.0
        assert loss < 0.05
