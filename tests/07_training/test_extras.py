"""Module 07 (Training): the reference's extras around the training loop (API.md, Two tiers).

What the course API of test_progressive_integration.py leaves open and the reference adds:
Sequential models and no_grad under the Trainer, evaluate recording no graph, clipping in
place, a ``training=`` argument passed to a model's forward, and the reference's argument
checks with their exception types and words (API.md names none of these errors). Each test
is marked with the extra features it needs and goes through module 07.
"""

import math

import numpy as np
import pytest
from course_api import (
    SGD,
    BinaryCrossEntropyLoss,
    CosineSchedule,
    CrossEntropyLoss,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Tensor,
    Trainer,
    clip_grad_norm,
)
from models import Net
from reference_extras import Sequential, no_grad
from tinytorch_testing import check, linear_with, param, ref_cross_entropy
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

# ===========================================================================================
# Sequential and no_grad under the Trainer
# ===========================================================================================


@pytest.mark.extra("Sequential")
def test_sequential_by_hand_through_the_trainer():
    model = Sequential(linear_with([[1.0, -1.0], [2.0, 0.5]], [0.0, 1.0]), ReLU())
    x = Tensor([[1.0, 1.0], [-1.0, 0.0]])
    # [1, 1] -> [1 + 2, -1 + 0.5 + 1] = [3, 0.5]; [-1, 0] -> [-1, 2] -> relu [0, 2]
    check(model(x), [[3.0, 0.5], [0.0, 2.0]])
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss())
    loss, _ = trainer.evaluate([(x, np.zeros((2, 2)))])
    assert loss == pytest.approx((9 + 0.25 + 0 + 4) / 4, rel=1e-6)


@pytest.mark.extra("Sequential")
def test_sequential_binary_outputs_are_thresholded_at_one_half():
    model = Sequential(linear_with([[1.0]], [0.0]), Sigmoid())
    trainer = Trainer(model, SGD(model.parameters()), BinaryCrossEntropyLoss())
    x = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    y = np.array([[1.0], [1.0], [1.0], [0.0]])
    loss, accuracy = trainer.evaluate([(Tensor(x), y)])
    assert accuracy == 0.75
    p = 1 / (1 + np.exp(-x))
    assert loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)


@pytest.mark.extra("Sequential")
def test_sequential_classifier_learns_with_the_trainer():
    data = cluster_batches()
    np.random.seed(74)
    model = Sequential(Linear(2, 16), ReLU(), Linear(16, 3))
    trainer = cluster_trainer(model)
    start_loss, _ = trainer.evaluate(data)
    for _ in range(15):
        trainer.train_epoch(data, accumulation_steps=2)
    loss, accuracy = trainer.evaluate(data)
    assert accuracy == 1.0
    assert loss < start_loss / 5
    assert (trainer.epoch, trainer.step) == (15, 45)


@pytest.mark.extra("no_grad")
def test_no_grad_records_nothing_and_does_not_outlive_its_block():
    layer, trainer = regression_trainer(lr=0.05)
    data = [(Tensor(X), Y)]
    with no_grad():
        out = param([2.0]) * 3
        loss, _ = trainer.evaluate(data)
    assert out.requires_grad is False
    assert loss == pytest.approx(np.mean((X @ W0 + B0 - Y) ** 2), rel=1e-5)
    trainer.train_epoch(data)  # after the block, backward has a graph again
    w, b, _ = sgd_reference([[(X, Y)]], lr=0.05)  # one plain SGD step from W0, B0
    check(layer.weight, w, rtol=1e-5)
    check(layer.bias, b, rtol=1e-5)


@pytest.mark.extra("no_grad")
def test_evaluate_records_no_graph():
    layer, trainer = classifier()
    seen = []

    class Recording:
        def forward(self, outputs, targets):
            seen.append(outputs.requires_grad)
            return CrossEntropyLoss()(outputs, targets)

        __call__ = forward

    trainer.loss_fn = Recording()
    loss, _ = trainer.evaluate([(Tensor(EVAL_X), EVAL_T)])
    assert seen == [False]
    assert loss == pytest.approx(ref_cross_entropy(EVAL_X @ LOGITS_W, EVAL_T), rel=1e-6)
    assert layer.weight.grad is None


# ===========================================================================================
# The reference's ways: clipping in place, training= passed to forward
# ===========================================================================================


@pytest.mark.extra("internals")
def test_clip_grad_norm_scales_the_gradients_in_place():
    a, b = param([0.0]), param([[0.0]])
    a.grad = np.array([3.0], dtype=np.float32)
    b.grad = np.array([[-4.0]], dtype=np.float32)
    ga, gb = a.grad, b.grad
    assert clip_grad_norm([a, b], max_norm=1.0) == pytest.approx(5.0, rel=1e-12)
    assert a.grad is ga
    assert b.grad is gb
    np.testing.assert_allclose(ga, [0.6], rtol=1e-6)
    np.testing.assert_allclose(gb, [[-0.8]], rtol=1e-6)


@pytest.mark.extra("internals")
def test_training_flag_is_passed_to_forward():
    np.random.seed(72)
    # forward takes the training flag, as Dropout's does, and the model has no ``training``
    # attribute: only the argument can tell it
    model = Net(hidden=16, classes=3, p=0.5)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), CrossEntropyLoss())
    data = [(Tensor(EVAL_X), EVAL_T)]
    first, second = trainer.evaluate(data), trainer.evaluate(data)
    assert first == second
    clean = clean_logits(model, EVAL_X)
    assert first[0] == pytest.approx(ref_cross_entropy(clean, EVAL_T), rel=1e-5)
    train_losses = {trainer.train_epoch(data) for _ in range(3)}
    assert len(train_losses) > 1
    assert first[0] not in train_losses


# ===========================================================================================
# The reference's argument checks: exception types and words
# ===========================================================================================


@pytest.mark.extra("wording")
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_lr": 0.01, "min_lr": 0.1}, ValueError, "min_lr"),
        ({"max_lr": -0.1, "min_lr": -0.2}, ValueError, "max_lr"),
        ({"min_lr": -0.01}, ValueError, "min_lr"),
        ({"total_epochs": 0}, ValueError, "total_epochs"),
        ({"total_epochs": -5}, ValueError, "total_epochs"),
        ({"total_epochs": 2.5}, TypeError, "total_epochs"),
        ({"max_lr": float("nan")}, ValueError, "max_lr"),
    ],
)
def test_cosine_schedule_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CosineSchedule(**kwargs)


@pytest.mark.extra("wording")
def test_cosine_schedule_negative_epoch():
    with pytest.raises(ValueError, match="epoch"):
        CosineSchedule().get_lr(-1)


@pytest.mark.extra("wording")
@pytest.mark.parametrize(
    ("value", "error"), [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)]
)
def test_clip_grad_norm_bad_max_norm(value, error):
    a = param([1.0])
    a.grad = np.array([5.0], dtype=np.float32)
    with pytest.raises(error, match="max_norm"):
        clip_grad_norm([a], max_norm=value)
    np.testing.assert_array_equal(a.grad, [5.0])


@pytest.mark.extra("wording")
@pytest.mark.parametrize(
    ("k", "error"), [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_bad_accumulation_steps(k, error):
    layer, trainer = regression_trainer()
    with pytest.raises(error, match="accumulation_steps"):
        trainer.train_epoch(batches(), accumulation_steps=k)
    check(layer.weight, W0)
    assert trainer.epoch == 0


@pytest.mark.extra("wording")
def test_evaluate_refuses_mismatched_targets():
    _, trainer = classifier()

    class MeanSquare:
        def forward(self, outputs, targets):
            return (outputs * outputs).mean()

        __call__ = forward

    trainer.loss_fn = MeanSquare()
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        trainer.evaluate([(Tensor(EVAL_X), np.zeros((4, 2)))])


@pytest.mark.extra("wording")
def test_bad_constructor_arguments():
    layer = Linear(3, 1)
    optimizer = SGD(layer.parameters())
    with pytest.raises(TypeError, match="Optimizer"):
        Trainer(layer, object(), MSELoss())
    with pytest.raises(TypeError, match="loss_fn"):
        Trainer(layer, optimizer, "mse")
    with pytest.raises(TypeError, match="model"):
        Trainer(object(), optimizer, MSELoss())
    with pytest.raises(TypeError, match="get_lr"):
        Trainer(layer, optimizer, MSELoss(), scheduler=0.1)
    with pytest.raises(ValueError, match="grad_clip_norm"):
        Trainer(layer, optimizer, MSELoss(), grad_clip_norm=-1.0)


@pytest.mark.extra("wording")
def test_empty_dataloader():
    layer, trainer = regression_trainer()
    with pytest.raises(ValueError, match="no batches"):
        trainer.train_epoch([])
    with pytest.raises(ValueError, match="no batches"):
        trainer.evaluate(iter([]))
    assert trainer.history == {"train_loss": [], "eval_loss": [], "learning_rates": []}
    check(layer.weight, W0)


@pytest.mark.extra("wording")
def test_batch_that_is_not_a_pair():
    _, trainer = regression_trainer()
    with pytest.raises(TypeError, match=r"batch 1.*pair"):
        trainer.train_epoch([(Tensor(X[:4]), Y[:4]), (Tensor(X[4:8]),)])
    with pytest.raises(TypeError, match=r"batch 0.*pair"):
        trainer.evaluate([Tensor(X)])
    assert math.isfinite(trainer.train_epoch(batches()))  # the same trainer still trains
