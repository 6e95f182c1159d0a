"""Module 04 (Losses), reference extras: its op hook, version counters, and the input forms and
edge cases it accepts beyond API.md.

- The op hook (``Tensor._from_op``, replaced by ``record_from_op``): log_softmax is one recorded
  op, cross-entropy one op over the log-softmax with its own copy of the class indices, BCE's
  clip an op on the predictions themselves; only operations module 05 knows are recorded, and
  the targets are never an input of any of them.
- Version counters (``_version``): a loss writes into none of its inputs.
- Input forms and edge cases beyond API.md (which fixes target forms only for cross-entropy:
  ints or a Tensor of them): MSE/BCE targets as lists, arrays and numbers, cross-entropy
  targets as tuples, unsigned or float arrays and single ints, and an empty batch. The feature
  list has no closer name for these; "internals" is probed by the reference's hook, so another
  implementation reports them as missing, not failed.
"""

import math
import warnings

import numpy as np
import pytest
from course_api import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss, Tensor, log_softmax
from loss_cases import LN2, check_loss
from reference_extras import record_from_op
from tinytorch_testing import F32, autograd_loaded, check, ref_log_softmax

pytestmark = pytest.mark.extra("internals")

# The operation names module 05 differentiates: module 01's, plus the three module 04 adds.
KNOWN_OPS = {
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "matmul",
    "getitem",
    "reshape",
    "transpose",
    "sum",
    "mean",
    "max",
    "exp",
    "log",
    "sqrt",
    "log_softmax",
    "cross_entropy",
    "clip",
}


# --- the op hook ---------------------------------------------------------------------------


class TestAutogradHooks:
    """What module 05 needs: only known operations, targets never an input of one."""

    @pytest.fixture
    def calls(self, monkeypatch):
        return record_from_op(monkeypatch)

    @pytest.mark.parametrize("dim", [-1, 0, 1])
    def test_log_softmax_is_one_recorded_op(self, calls, dim):
        x = Tensor([[1.0, 2.0], [3.0, 5.0]])
        out = log_softmax(x, dim=dim)
        [(op, inputs, attrs)] = calls
        assert op == "log_softmax"
        assert len(inputs) == 1
        assert inputs[0] is x
        assert attrs == {"dim": dim}
        ref = ref_log_softmax(x.data, axis=dim)
        check(out, ref, rtol=1e-6)

    def test_bce_clips_through_the_hook(self, calls):
        p = Tensor([0.0, 0.5, 1.0])
        BinaryCrossEntropyLoss()(p, [1.0, 0.0, 1.0])
        clips = [(inputs, attrs) for op, inputs, attrs in calls if op == "clip"]
        assert len(clips) == 1
        [(inputs, attrs)] = clips
        assert len(inputs) == 1
        assert inputs[0] is p
        assert attrs == {"low": 1e-7, "high": 1 - 1e-7}

    def test_cross_entropy_is_one_recorded_op_over_the_log_softmax(self, calls):
        logits = Tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
        targets = np.array([2, 0])
        loss = CrossEntropyLoss()(logits, targets)
        [(op, inputs, attrs)] = calls
        assert op == "cross_entropy"
        assert len(inputs) == 1
        assert inputs[0] is logits
        assert set(attrs) == {"log_probs", "targets"}
        # what the backward reads: the log-softmax of the logits, and the targets as indices
        np.testing.assert_allclose(
            attrs["log_probs"], ref_log_softmax(logits.data, axis=1), rtol=1e-6, atol=1e-7
        )
        assert attrs["log_probs"].dtype == F32
        np.testing.assert_array_equal(attrs["targets"], [2, 0])
        assert attrs["targets"].dtype.kind == "i"
        targets[0] = 1  # the op kept its own copy: changing the caller's array changes nothing
        np.testing.assert_array_equal(attrs["targets"], [2, 0])
        check_loss(loss, -ref_log_softmax(logits.data, axis=1)[[0, 1], [2, 0]].mean())

    @pytest.mark.parametrize(
        ("make_loss", "make_targets"),
        [
            (lambda: MSELoss(), lambda: Tensor([[1.0, 0.0]], requires_grad=True)),
            (lambda: CrossEntropyLoss(), lambda: Tensor([1], requires_grad=True)),
            (lambda: BinaryCrossEntropyLoss(), lambda: Tensor([[1.0, 0.0]], True)),
        ],
        ids=["mse", "cross-entropy", "bce"],
    )
    def test_only_known_ops_and_targets_never_an_input(self, calls, make_loss, make_targets):
        predictions = Tensor([[0.5, 1.0]])
        targets = make_targets()
        make_loss()(predictions, targets)
        ops = [op for op, _, _ in calls]
        assert ops, "the loss recorded no operation"
        assert set(ops) <= KNOWN_OPS, f"unknown operations for autograd: {set(ops) - KNOWN_OPS}"
        for _, inputs, _ in calls:
            for tensor in inputs:
                assert tensor is not targets
                assert tensor.data is not targets.data
        assert predictions is calls[0][1][0]  # the graph starts at the predictions themselves

    def test_mse_subtracts_a_target_copy_without_grad(self, calls):
        p = Tensor([1.0, 2.0])
        targets = Tensor([0.5, 0.5], requires_grad=True)
        MSELoss()(p, targets)
        [(a, b)] = [inputs for op, inputs, _ in calls if op == "sub"]
        assert a is p
        assert b is not targets
        assert b.requires_grad is False
        check(b, [0.5, 0.5])


# --- version counters: a loss writes into none of its inputs --------------------------------


def test_mse_leaves_its_inputs_unversioned():
    p = Tensor([[0.0, 0.0]])
    targets = Tensor([[1.0, 2.0]], requires_grad=True)
    check_loss(MSELoss()(p, targets), 2.5)
    assert (p._version, targets._version) == (0, 0)


def test_cross_entropy_leaves_its_inputs_unversioned():
    logits = Tensor([[1.0, 2.0], [3.0, 4.0]])
    targets = Tensor([1, 0], requires_grad=True)
    CrossEntropyLoss()(logits, targets)
    CrossEntropyLoss()(logits, np.array([1, 0]))
    assert (targets._version, logits._version) == (0, 0)
    check(targets, [1.0, 0.0])


def test_bce_leaves_its_inputs_unversioned():
    p = Tensor([0.0, 1.0, 0.5])
    targets = Tensor([1.0, 0.0, 1.0], requires_grad=True)
    BinaryCrossEntropyLoss()(p, targets)
    assert (p._version, targets._version) == (0, 0)
    check(p, [0.0, 1.0, 0.5])


# --- input forms and edge cases beyond API.md ----------------------------------------------


@pytest.mark.parametrize(
    "targets",
    [
        [[1, 0], [2, 2]],
        np.array([[1, 0], [2, 2]], dtype=np.int64),
        np.array([[1.0, 0.0], [2.0, 2.0]]),
    ],
    ids=["list", "int-array", "float-array"],
)
def test_mse_target_forms(targets):
    # Errors [-1, 1, 1, 2]: (1 + 1 + 1 + 4) / 4.
    check_loss(MSELoss()(Tensor([[0.0, 1.0], [3.0, 4.0]]), targets), 7 / 4)


def test_mse_number_target_and_array_target_left_alone():
    check_loss(MSELoss()(Tensor(3.0), 1), 4.0)
    plain = np.array([[1.0, 2.0]])
    check_loss(MSELoss()(Tensor([[5.0, 5.0]]), plain), (16.0 + 9.0) / 2)
    np.testing.assert_array_equal(plain, [[1.0, 2.0]])


@pytest.mark.parametrize(
    "targets",
    [(2, 0), np.array([2, 0], dtype=np.uint8), np.array([2.0, 0.0])],
    ids=["tuple", "uint8-array", "float-array"],
)
def test_cross_entropy_target_forms(targets):
    # Row 0, class 2 of softmax [1/6, 1/3, 1/2]: ln 2. Row 1, class 0 of [1/2, 1/4, 1/4]: ln 2.
    logits = Tensor([[0.0, LN2, math.log(3.0)], [LN2, 0.0, 0.0]])
    check_loss(CrossEntropyLoss()(logits, targets), LN2)


def test_cross_entropy_single_int_target_for_a_batch_of_one():
    logits = Tensor([[0.0, LN2, math.log(3.0)]])
    check_loss(CrossEntropyLoss()(logits, 1), math.log(3.0))
    check_loss(CrossEntropyLoss()(logits, np.int64(0)), math.log(6.0))


def test_cross_entropy_empty_batch_is_nan_without_a_warning():
    # The mean over no rows is 0 / 0, as in PyTorch; numpy must not warn about it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = CrossEntropyLoss()(Tensor(np.zeros((0, 3))), [])
    assert loss.shape == ()
    assert np.isnan(loss.data)


@pytest.mark.parametrize(
    "targets",
    [[1, 0], np.array([1, 0]), np.array([True, False])],
    ids=["list", "int-array", "bool-array"],
)
def test_bce_target_forms(targets):
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    check_loss(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), targets), expected)


def test_losses_require_grad_only_once_autograd_exists():
    """The reference ignores requires_grad before checkpoint 05: a loss of predictions that
    require grad is plain then (API.md leaves that flag open before 05); recorded from 05 on."""
    p = Tensor([[0.5, -1.0]], requires_grad=True)
    losses = [
        (MSELoss()(p, Tensor([[1.0, 1.0]])), (0.25 + 4.0) / 2),
        (CrossEntropyLoss()(Tensor([[0.0, 0.0]], requires_grad=True), Tensor([0])), LN2),
        (BinaryCrossEntropyLoss()(Tensor([0.5], requires_grad=True), Tensor([1.0])), LN2),
    ]
    for loss, value in losses:
        check_loss(loss, value)
        assert loss.requires_grad is autograd_loaded()
    assert log_softmax(p).requires_grad is autograd_loaded()
