"""Module 04 (Losses), reference extras: bad input raises the reference's errors, with its words.

API.md's section 04 fixes no errors for bad input to a loss, so both the exception types and
the messages below (naming the shapes or values at fault) are the reference's own. Every
expected type is a ValueError, TypeError or IndexError, never a RuntimeError ancestor, so a
stubbed module 04 (NotImplementedError) fails each of these tests.
"""

import numpy as np
import pytest
from course_api import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Dropout,
    MSELoss,
    Tensor,
    log_softmax,
)
from tinytorch_testing import F32, autograd_loaded, check

pytestmark = pytest.mark.extra("wording")


def re_shape(shape):
    """The regex for a shape tuple as Python prints it."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_backward_before_autograd_names_module_05():
    p = Tensor([[0.5, -1.0]], requires_grad=True)
    loss = MSELoss()(p, Tensor([[1.0, 1.0]]))
    check(loss, (0.25 + 4.0) / 2, dtype=F32)
    if autograd_loaded():
        loss.backward()
        np.testing.assert_allclose(p.grad, [[-0.5, -2.0]], rtol=1e-6)
    else:
        with pytest.raises(RuntimeError, match="module 05"):
            loss.backward()
        assert p.grad is None


def test_dropout_probability_outside_0_1_and_eval_dropout_into_a_loss():
    with pytest.raises(ValueError, match=r"1\.5|\[0, ?1\]"):
        Dropout(1.5)
    out = Dropout(0.5).forward(Tensor([[1.0, -2.0]]), training=False)
    check(MSELoss()(out, Tensor([[0.0, 0.0]])), 2.5, dtype=F32)


def test_mse_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\).*same shape"):
        MSELoss()(Tensor(np.ones((3, 1))), np.ones(3))


def test_mse_shape_mismatch_the_other_way():
    with pytest.raises(ValueError, match=r"\(2,\).*\(2, 2\)"):
        MSELoss()(Tensor([1.0, 2.0]), [[1.0, 2.0], [3.0, 4.0]])


def test_mse_predictions_must_be_a_tensor():
    with pytest.raises(TypeError, match=r"predictions must be a Tensor; got list"):
        MSELoss()([1.0, 2.0], [1.0, 2.0])


@pytest.mark.parametrize("bad", [None, "abc", ["a", "b"]])
def test_mse_non_numeric_targets(bad):
    with pytest.raises(TypeError, match="targets must be numbers"):
        MSELoss()(Tensor([1.0, 2.0]), bad)


def test_mse_ragged_targets():
    with pytest.raises(ValueError, match="ragged"):
        MSELoss()(Tensor([[1.0], [2.0]]), [[1.0], [2.0, 3.0]])


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_cross_entropy_logits_must_be_2d(shape):
    with pytest.raises(ValueError, match=rf"2-D.*got shape {re_shape(shape)}"):
        CrossEntropyLoss()(Tensor(np.zeros(shape)), [0])


def test_cross_entropy_logits_must_be_a_tensor():
    with pytest.raises(TypeError, match=r"logits must be a Tensor; got ndarray"):
        CrossEntropyLoss()(np.zeros((2, 3)), [0, 1])


def test_cross_entropy_target_count():
    with pytest.raises(ValueError, match=r"3 targets.*N = 2"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), [0, 1, 2])
    with pytest.raises(ValueError, match=r"1 targets.*N = 2"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), 1)


def test_cross_entropy_one_hot_targets_are_refused():
    with pytest.raises(ValueError, match=r"1-D.*\(2, 3\).*class indices"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.eye(3)[:2])


@pytest.mark.parametrize(
    "make_bad",
    [lambda: [0, 1.5], lambda: [0.5, 1], lambda: [0, np.nan], lambda: Tensor([0.0, 2.25])],
    ids=["float-list", "half-first", "nan", "float-tensor"],
)
def test_cross_entropy_non_integer_targets(make_bad):
    with pytest.raises(ValueError, match=r"whole-number class indices; got (\d\.\d+|nan)"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), make_bad())


@pytest.mark.parametrize(("targets", "bad"), [([0, 3], 3), ([-1, 0], -1), ([7, 0], 7)])
def test_cross_entropy_class_out_of_range_names_index_and_c(targets, bad):
    with pytest.raises(ValueError, match=rf"class index {bad}\b.*C = 3"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), targets)


def test_cross_entropy_out_of_range_in_a_float_tensor():
    with pytest.raises(ValueError, match=r"class index 5 .*C = 4"):
        CrossEntropyLoss()(Tensor(np.zeros((1, 4))), Tensor([5]))


@pytest.mark.parametrize("bad", [["a", "b"], [True, False], None])
def test_cross_entropy_non_numeric_targets(bad):
    with pytest.raises(TypeError, match="targets must be"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), bad)


@pytest.mark.parametrize(
    ("p", "pattern"),
    [([0.5, 1.5], r"min 0\.5, max 1\.5"), ([-0.25, 0.5], r"min -0\.25, max 0\.5")],
)
def test_bce_predictions_outside_0_1_name_min_and_max(p, pattern):
    with pytest.raises(ValueError, match=rf"predictions must be probabilities.*{pattern}"):
        BinaryCrossEntropyLoss()(Tensor(p), [1.0, 0.0])


def test_bce_logits_passed_by_mistake():
    with pytest.raises(ValueError, match=r"max 3.*Sigmoid"):
        BinaryCrossEntropyLoss()(Tensor([-2.0, 3.0]), [0.0, 1.0])


def test_bce_nan_predictions():
    with pytest.raises(ValueError, match=r"predictions.*nan"):
        BinaryCrossEntropyLoss()(Tensor([0.5, np.nan]), [0.0, 1.0])


@pytest.mark.parametrize(
    ("t", "pattern"), [([0.0, 2.0], r"min 0, max 2"), ([-1.0, 1.0], r"min -1, max 1")]
)
def test_bce_targets_outside_0_1(t, pattern):
    with pytest.raises(ValueError, match=rf"targets must be in \[0, 1\].*{pattern}"):
        BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), t)


def test_bce_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        BinaryCrossEntropyLoss()(Tensor(np.full((4, 1), 0.5)), [1.0, 0.0, 1.0, 0.0])


def test_bce_predictions_must_be_a_tensor():
    with pytest.raises(TypeError, match=r"predictions must be a Tensor; got list"):
        BinaryCrossEntropyLoss()([0.5], [1.0])


def test_log_softmax_of_0d():
    with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\)"):
        log_softmax(Tensor(1.0))


def test_log_softmax_dim_out_of_range():
    with pytest.raises(IndexError, match=r"dim 2 is out of range.*\(2, 3\)"):
        log_softmax(Tensor(np.zeros((2, 3))), dim=2)


def test_log_softmax_dim_must_be_an_int():
    with pytest.raises(TypeError, match="dim must be an int; got float"):
        log_softmax(Tensor([1.0, 2.0]), dim=0.5)


def test_log_softmax_needs_a_tensor():
    with pytest.raises(TypeError, match=r"x must be a Tensor; got list"):
        log_softmax([1.0, 2.0])
