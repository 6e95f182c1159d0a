"""Module 07 (Training): Trainer semantics of the reference that API.md does not state.

API.md gives ``train_epoch(dataloader, accumulation_steps=1) -> float``, ``evaluate`` ->
(loss, accuracy) and a ``history`` with ``train_loss``, ``eval_loss`` and ``learning_rates``;
the reference fixes more, and these tests hold it to that (feature ``internals``: another
implementation, the course's included, may do otherwise and still follow API.md):

- the epoch's loss (and evaluate's) is the mean per sample, a short last batch counting for
  its own samples, not the mean of the batch means; the loss is a Python float;
- ndarray inputs and targets are wrapped in Tensors; gradients left in ``.grad`` from outside
  the loop are cleared before the first batch;
- gradient accumulation steps with the mean gradient of a group of k batches (PyTorch's
  loss / k), a partial last group with the mean of its own batches, and counts that step;
- ``evaluate``'s accuracy of one-column (binary) outputs thresholds them at one half;
- the scheduler sets the learning rate an epoch trains with before it trains; without a
  scheduler the optimizer's lr is recorded in ``learning_rates`` every epoch.

The course-API side of these (train_epoch returns a real number, the history grows,
accumulation_steps is accepted and training converges) is test_progressive_integration.py's.
"""

import numpy as np
import pytest
from course_api import (
    SGD,
    BinaryCrossEntropyLoss,
    CosineSchedule,
    MSELoss,
    Sigmoid,
    Tensor,
    Trainer,
)
from models import Chain
from tinytorch_testing import check, linear_with, ref_cross_entropy
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
    regression_gradients,
    regression_trainer,
    sgd_reference,
)

pytestmark = pytest.mark.extra("internals")


def split(size=4):
    return [(X[i : i + size], Y[i : i + size]) for i in range(0, len(X), size)]


class RecordingSGD(SGD):
    """SGD that keeps a copy of the gradients it is handed at each step, and checks that no
    two of them share memory with each other or with a parameter (API.md, Aliasing)."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen = []

    def step(self):
        grads = [p.grad for p in self.params]
        for i, grad in enumerate(grads):
            for other in grads[i + 1 :]:
                assert not np.shares_memory(grad, other)
            for p in self.params:
                assert not np.shares_memory(grad, p.data)
        self.seen.append([grad.copy() for grad in grads])
        super().step()


class TestTrainerLoop:
    def test_loss_is_the_mean_per_sample(self):
        # Batches of 5, 5 and 2: the short batch counts for 2 samples, not for a third.
        layer, trainer = regression_trainer(lr=0.0)
        loss = trainer.train_epoch(batches(size=5))
        r = X @ W0 + B0 - Y
        assert isinstance(loss, float)
        assert loss == pytest.approx(np.mean(r**2), rel=1e-5)
        check(layer.weight, W0)

    def test_array_inputs_are_wrapped(self):
        layer, trainer = regression_trainer(lr=0.05)
        trainer.train_epoch([(X[i : i + 4], Y[i : i + 4]) for i in range(0, 12, 4)])
        w, _, _ = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)

    def test_gradients_left_over_from_outside_do_not_leak_in(self):
        layer, trainer = regression_trainer(lr=0.05)
        layer.weight.grad = np.full((3, 1), 100.0, dtype=np.float32)
        trainer.train_epoch(batches())
        w, _, _ = sgd_reference([[xy] for xy in split()], lr=0.05)
        check(layer.weight, w, rtol=1e-5)


class TestGradientAccumulation:
    def test_two_batches_accumulated_equal_one_double_batch(self):
        layer, trainer = regression_trainer(lr=0.1)
        data = batches(size=6)  # two batches of 6
        loss = trainer.train_epoch(data, accumulation_steps=2)
        big, big_trainer = regression_trainer(lr=0.1)
        big_loss = big_trainer.train_epoch(batches(size=12))
        assert (trainer.step, big_trainer.step) == (1, 1)
        check(layer.weight, big.weight.data, rtol=1e-6, atol=1e-7)
        check(layer.bias, big.bias.data, rtol=1e-6, atol=1e-7)
        assert loss == pytest.approx(big_loss, rel=1e-6)
        w, b, _ = sgd_reference([split(size=12)], lr=0.1)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)

    def test_the_optimizer_is_handed_the_group_mean_in_arrays_of_its_own(self):
        layer = linear_with(W0, B0)
        optimizer = RecordingSGD(layer.parameters(), lr=0.1)
        trainer = Trainer(layer, optimizer, MSELoss())
        trainer.train_epoch(batches(size=3), accumulation_steps=3)  # groups of 3 and 1
        assert len(optimizer.seen) == 2
        parts = split(size=3)
        grads = [regression_gradients(x, y, W0, B0) for x, y in parts[:3]]
        mean_w = sum(g[0] for g in grads) / 3
        mean_b = sum(g[1] for g in grads) / 3
        np.testing.assert_allclose(optimizer.seen[0][0], mean_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(optimizer.seen[0][1], mean_b, rtol=1e-5, atol=1e-6)
        w1, b1, _ = sgd_reference([parts[:3]], lr=0.1)
        last_w, last_b = regression_gradients(*parts[3], w1, b1)
        np.testing.assert_allclose(optimizer.seen[1][0], last_w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(optimizer.seen[1][1], last_b, rtol=1e-4, atol=1e-5)

    def test_partial_last_group_steps_with_its_own_mean(self):
        layer, trainer = regression_trainer(lr=0.1)
        trainer.train_epoch(batches(size=2), accumulation_steps=4)  # groups of 4 and 2
        assert trainer.step == 2
        parts = split(size=2)
        w, b, _ = sgd_reference([parts[:4], parts[4:]], lr=0.1)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)
        # Not shrunk: dividing the last group's gradient sum by k = 4 lands elsewhere.
        shrunk_w, _, _ = sgd_reference([parts[:4], parts[4:]], lr=0.1, divisor=4)
        assert not np.allclose(layer.weight.data, shrunk_w, rtol=1e-4)

    def test_single_batch_partial_group(self):
        layer, trainer = regression_trainer(lr=0.1)
        trainer.train_epoch(batches(), accumulation_steps=2)  # groups: (b1, b2), (b3)
        assert trainer.step == 2
        parts = split()
        w, b, _ = sgd_reference([parts[:2], parts[2:]], lr=0.1)
        check(layer.weight, w, rtol=1e-5)
        check(layer.bias, b, rtol=1e-5)

    @pytest.mark.parametrize(("k", "steps"), [(1, 3), (2, 2), (3, 1), (7, 1)])
    def test_number_of_steps(self, k, steps):
        _, trainer = regression_trainer()
        trainer.train_epoch(batches(), accumulation_steps=k)
        trainer.train_epoch(batches(), accumulation_steps=k)
        assert trainer.step == 2 * steps
        assert trainer.epoch == 2


class TestScheduling:
    def test_scheduler_sets_the_lr_of_each_epoch(self):
        schedule = CosineSchedule(max_lr=0.1, min_lr=0.02, total_epochs=3)
        layer, trainer = regression_trainer(lr=123.0, scheduler=schedule)
        for _ in range(4):
            trainer.train_epoch(batches())
        h = 0.04  # (max - min) / 2
        expected = [0.1, 0.06 + h * 0.5, 0.06 - h * 0.5, 0.02]  # cos(pi/3) = 1/2
        np.testing.assert_allclose(trainer.history["learning_rates"], expected, rtol=1e-12)
        assert trainer.optimizer.lr == pytest.approx(0.02)
        groups = [[xy] for xy in split()]
        w, b = W0, B0
        for lr in expected:
            w, b, _ = sgd_reference(groups, lr=lr, w=w, b=b)
        check(layer.weight, w, rtol=1e-5)

    def test_without_scheduler_the_lr_is_kept(self):
        _, trainer = regression_trainer(lr=0.03)
        trainer.train_epoch(batches())
        trainer.train_epoch(batches())
        assert trainer.history["learning_rates"] == [0.03, 0.03]
        assert trainer.optimizer.lr == 0.03


class TestEvaluate:
    def test_uneven_batches_give_the_whole_dataset_loss(self):
        _, trainer = classifier()
        data = [(Tensor(EVAL_X[:3]), EVAL_T[:3]), (Tensor(EVAL_X[3:]), EVAL_T[3:])]
        loss, accuracy = trainer.evaluate(data)
        assert loss == pytest.approx(ref_cross_entropy(EVAL_X @ LOGITS_W, EVAL_T), rel=1e-6)
        assert accuracy == 0.75

    def test_binary_outputs_are_thresholded_at_one_half(self):
        # sigmoid(x @ [[1]]) for x = [2, -1, 0.5, -3] -> above 0.5 for 2 and 0.5.
        model = Chain(linear_with([[1.0]], [0.0]), Sigmoid())
        trainer = Trainer(model, SGD(model.parameters()), BinaryCrossEntropyLoss())
        x = np.array([[2.0], [-1.0], [0.5], [-3.0]])
        y = np.array([[1.0], [1.0], [1.0], [0.0]])
        loss, accuracy = trainer.evaluate([(Tensor(x), y)])
        assert accuracy == 0.75
        p = 1 / (1 + np.exp(-x))
        assert loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)
