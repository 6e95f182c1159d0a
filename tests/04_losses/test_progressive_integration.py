"""Module 04 (Losses): API.md "04 Losses" on top of modules 01..03, checked at every checkpoint.

The suite runs at checkpoint 04 and again at every later one, where module 05 has turned
autograd on (importing tinytorch does that): results of operations on tensors that require
grad (Linear's weights do) then require grad too, and ``backward()`` works. The few behaviours
autograd changes on purpose are asserted for whichever state is in force; see
``autograd_loaded``. Every expected value is worked out by hand or from the formula in plain
float64 numpy, never by calling tinytorch.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinytorch_testing import (
    F32,
    F64,
    autograd_loaded,
    check,
    linear_with,
    record_from_op,
    ref_bce,
    ref_cross_entropy,
    ref_log_softmax,
    ref_mse,
)

from tinytorch.core.activations import ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.layers import Dense, Dropout, Layer, Linear, Sequential
from tinytorch.core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss, log_softmax
from tinytorch.core.tensor import Tensor, default_dtype

LN2 = math.log(2.0)
# BCE's clip bounds as float32 holds them: 1 - 1e-7 rounds to 1 - 2**-23 there.
LOW32 = float(np.float32(1e-7))
HIGH32 = float(np.float32(1 - 1e-7))
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


def check_loss(loss, expected, dtype=F32, rtol=1e-5, atol=1e-6):
    """A loss result: a 0-d Tensor of `dtype` holding `expected`."""
    assert isinstance(loss, Tensor), f"a loss must return a Tensor, got {type(loss).__name__}"
    assert loss.shape == ()
    check(loss, expected, dtype=dtype, rtol=rtol, atol=atol)


# ===========================================================================================
# (a) Modules 01..03 still work, with independently worked values
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_arithmetic_matmul_and_reductions(self):
        a = Tensor([[1, 2], [3, 4]])
        b = Tensor([[5, 6], [7, 8]])
        check(a + b, [[6, 8], [10, 12]])
        check(1 - a, [[0, -1], [-2, -3]])
        check(a * b / 2, [[2.5, 6], [10.5, 16]])
        check(a @ b, [[19, 22], [43, 50]])
        check(a**2, [[1, 4], [9, 16]])
        check(a.sum(), 10.0)
        check(a.mean(axis=0), [2.0, 3.0])
        check(a.max(axis=1, keepdims=True), [[2.0], [4.0]])
        check(a[np.arange(2), np.array([1, 0])], [2.0, 3.0])
        check(Tensor([0.0, 1.0]).exp(), [1.0, math.e])
        check(Tensor([1.0, math.e]).log(), [0.0, 1.0])

    def test_tensor_dtype_and_float64_mode(self):
        assert Tensor([1, 2]).dtype == F32
        with default_dtype(np.float64):
            check(Tensor([1, 2]) / 3, [1 / 3, 2 / 3], dtype=F64, rtol=1e-15)

    def test_relu(self):
        check(ReLU()(Tensor([-2.0, 0.0, 3.5])), [0.0, 0.0, 3.5])
        assert ReLU().parameters() == []

    def test_sigmoid_including_extremes(self):
        out = Sigmoid()(Tensor([0.0, 2.0, -2.0, 1000.0, -1000.0]))
        e2 = math.exp(-2.0)
        check(out, [0.5, 1 / (1 + e2), e2 / (1 + e2), 1.0, 0.0], atol=1e-30)

    def test_tanh(self):
        check(Tanh()(Tensor([0.0, 1.0, -1000.0])), [0.0, math.tanh(1.0), -1.0])

    def test_softmax_by_hand_and_at_extremes(self):
        # softmax of [ln 1, ln 2, ln 3] is [1, 2, 3] / 6.
        check(Softmax()(Tensor([[0.0, LN2, math.log(3.0)]])), [[1 / 6, 2 / 6, 3 / 6]])
        check(Softmax()(Tensor([[1e4, -1e4]])), [[1.0, 0.0]])
        columns = Softmax()(Tensor([[0.0, 5.0], [0.0, 5.0]]), dim=0)
        check(columns, [[0.5, 0.5], [0.5, 0.5]])

    def test_linear_with_hand_set_weights_is_x_at_w_plus_b(self):
        w = [[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]
        b = [0.25, -0.5]
        layer = linear_with(w, b)
        assert layer.weight.shape == (3, 2)
        assert layer.bias.shape == (2,)
        assert layer.weight.requires_grad is True
        assert layer.parameters() == [layer.weight, layer.bias]
        x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
        # By hand: row 0 -> [1 + 1 - 3, -2 + 0 + 9] + b; row 1 -> [-1 - 0.5, 2 + 1.5] + b.
        expected = [[-1.0 + 0.25, 7.0 - 0.5], [-1.5 + 0.25, 3.5 - 0.5]]
        np.testing.assert_allclose(x @ np.array(w) + np.array(b), expected)
        check(layer(Tensor(x)), expected)
        assert Dense is Linear

    def test_linear_default_init(self):
        layer = Linear(4, 3)
        assert layer.weight.shape == (4, 3)
        check(layer.bias, np.zeros(3))
        assert repr(Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
        assert Linear(3, 2, bias=False).bias is None

    def test_dropout_in_eval_mode_is_the_identity(self):
        x = Tensor([[1.0, -2.0], [3.0, 4.0]])
        for dropout in (Dropout(0.5), Dropout(0.9)):
            check(dropout.forward(x, training=False), [[1.0, -2.0], [3.0, 4.0]])
        check(Dropout(0.0)(x), [[1.0, -2.0], [3.0, 4.0]])
        with pytest.raises(ValueError, match=r"1\.5|\[0, ?1\]"):
            Dropout(1.5)

    def test_layer_base_and_sequential(self):
        with pytest.raises(NotImplementedError):
            Layer().forward(Tensor([1.0]))
        assert Layer().parameters() == []
        first = linear_with([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
        second = linear_with([[1.0], [1.0]], [0.0])
        model = Sequential(first, ReLU(), second)
        # [3, 4] -> [7, -3] -> relu [7, 0] -> 7.
        check(model(Tensor([[3.0, 4.0]])), [[7.0]])
        assert model.parameters() == [first.weight, first.bias, second.weight, second.bias]


# ===========================================================================================
# (b) Module 04 core behaviour
# ===========================================================================================


class TestLogSoftmax:
    def test_two_equal_logits_give_minus_ln2(self):
        check(log_softmax(Tensor([0.0, 0.0])), [-LN2, -LN2])

    def test_by_hand(self):
        # softmax of [ln 1, ln 2, ln 3] is [1/6, 1/3, 1/2].
        out = log_softmax(Tensor([0.0, LN2, math.log(3.0)]))
        check(out, [-math.log(6.0), -math.log(3.0), -LN2], rtol=1e-6)

    def test_shift_invariance_by_hand(self):
        # Adding 100 to every logit changes nothing: still [1/6, 1/3, 1/2].
        out = log_softmax(Tensor([100.0, 100.0 + LN2, 100.0 + math.log(3.0)]))
        check(out, [-math.log(6.0), -math.log(3.0), -LN2], rtol=1e-5)

    def test_matrix_along_last_dim_matches_naive_float64(self):
        x = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.5], [0.3, -0.7, 1.1, 0.0]])
        naive = np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
        out = log_softmax(Tensor(x))
        check(out, naive, rtol=1e-5, atol=1e-6)
        check(log_softmax(Tensor(x), dim=1), naive, rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("dim", [0, 1, 2, -2, -3])
    def test_3d_along_any_dim(self, dim):
        x = (np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 11.5) / 4
        naive = np.log(np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True))
        check(log_softmax(Tensor(x), dim=dim), naive, rtol=1e-5, atol=1e-6)

    def test_plus_minus_1e4_is_finite_and_exact(self):
        out = log_softmax(Tensor([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]]))
        check(out, [[0.0, -2e4], [-2e4, 0.0], [-LN2, -LN2]])
        assert np.isfinite(out.data).all()

    def test_far_apart_logits(self):
        # exp(-2872) and exp(-2938) are 0 even in float64: the result is x - 1891 exactly.
        x = [-1047.0, -981.0, 1891.0]
        out = log_softmax(Tensor(x))
        check(out, [-2938.0, -2872.0, 0.0])
        check(out, ref_log_softmax(x))

    def test_huge_logits_1e8(self):
        out = log_softmax(Tensor([[1e8, 1e8], [1e8, -1e8]]))
        check(out, [[-LN2, -LN2], [0.0, -2e8]])

    def test_rows_exponentiate_to_probabilities(self):
        x = np.array([[3.0, -50.0, 7.5, 0.0], [1e4, -1e4, 0.0, 5e3]])
        out = log_softmax(Tensor(x))
        np.testing.assert_allclose(np.exp(out.data.astype(np.float64)).sum(axis=1), [1.0, 1.0])
        assert (out.data <= 0).all()

    def test_no_warnings_and_input_unchanged(self):
        x = Tensor([[1e4, -1e4, 0.0], [-1047.0, -981.0, 1891.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            log_softmax(x)
        check(x, [[1e4, -1e4, 0.0], [-1047.0, -981.0, 1891.0]])

    def test_float64_mode(self):
        with default_dtype(np.float64):
            out = log_softmax(Tensor([0.0, LN2, math.log(3.0)]))
        check(out, [-math.log(6.0), -math.log(3.0), -LN2], dtype=F64, rtol=1e-14)

    def test_float32_input_computed_in_float64_mode(self):
        x32 = Tensor([0.1, 0.2, 0.7])
        with default_dtype(np.float64):
            out = log_softmax(x32)
        check(out, ref_log_softmax(x32.data), dtype=F64, rtol=1e-14)

    @settings(max_examples=50, deadline=None, database=None)
    @given(
        x=hnp.arrays(
            np.float32,
            hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
            elements=st.floats(-1e8, 1e8, width=32),
        ),
        data=st.data(),
    )
    def test_property_matches_float64_and_sums_to_one(self, x, data):
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        out = log_softmax(Tensor(x), dim=dim)
        expected = ref_log_softmax(x, axis=dim)
        check(out, expected, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(
            np.exp(out.data.astype(np.float64)).sum(axis=dim), 1.0, rtol=1e-5
        )


class TestMSELoss:
    def test_by_hand(self):
        # (1 + 4 + 9 + 16) / 4
        check_loss(MSELoss()(Tensor([[1, 2], [3, 4]]), [[0, 0], [0, 0]]), 7.5)
        # (0 + 1 + 4) / 3
        check_loss(MSELoss()(Tensor([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0]), 5 / 3)

    def test_equal_inputs_give_zero(self):
        p = Tensor([[0.5, -2.0], [3.0, 1e4]])
        check_loss(MSELoss()(p, Tensor([[0.5, -2.0], [3.0, 1e4]])), 0.0, atol=0.0)

    def test_forward_and_call_agree(self):
        p, t = Tensor([1.0, -1.0]), [0.0, 1.0]
        check_loss(MSELoss().forward(p, t), 2.5)
        check_loss(MSELoss()(p, t), 2.5)

    def test_matches_float64_formula(self):
        rng = np.random.default_rng(4)
        p = rng.normal(size=(3, 4, 5))
        t = rng.normal(size=(3, 4, 5))
        check_loss(MSELoss()(Tensor(p), t), ref_mse(p, t))

    def test_mean_over_all_elements(self):
        # One error of 2 among 8 elements: 4 / 8, not 4 (sum) nor 4 / 2 (mean over rows).
        p = np.zeros((2, 4))
        p[1, 3] = 2.0
        check_loss(MSELoss()(Tensor(p), np.zeros((2, 4))), 0.5)

    def test_repeating_the_batch_keeps_the_mean(self):
        p = np.array([[1.0, 2.0], [0.0, -1.0]])
        t = np.array([[0.0, 0.5], [1.0, 1.0]])
        once = MSELoss()(Tensor(p), t)
        twice = MSELoss()(Tensor(np.vstack([p, p])), np.vstack([t, t]))
        expected = (1.0 + 2.25 + 1.0 + 4.0) / 4
        check_loss(once, expected)
        check_loss(twice, expected)

    def test_0d_predictions_and_scalar_target(self):
        check_loss(MSELoss()(Tensor(3.0), 1), 4.0)

    @pytest.mark.parametrize(
        "targets",
        [
            [[1, 0], [2, 2]],
            np.array([[1, 0], [2, 2]], dtype=np.int64),
            np.array([[1.0, 0.0], [2.0, 2.0]]),
            Tensor([[1, 0], [2, 2]]),
            Tensor([[1, 0], [2, 2]], requires_grad=True),
        ],
        ids=["list", "int-array", "float-array", "tensor", "tensor-requires-grad"],
    )
    def test_target_forms(self, targets):
        # Errors [-1, 1, 1, 2]: (1 + 1 + 1 + 4) / 4.
        check_loss(MSELoss()(Tensor([[0.0, 1.0], [3.0, 4.0]]), targets), 7 / 4)

    def test_targets_are_left_alone(self):
        targets = Tensor([[1.0, 2.0]], requires_grad=True)
        MSELoss()(Tensor([[0.0, 0.0]]), targets)
        check(targets, [[1.0, 2.0]])
        assert targets.requires_grad is True
        assert targets.grad is None
        assert targets._version == 0
        plain = np.array([[1.0, 2.0]])
        MSELoss()(Tensor([[5.0, 5.0]]), plain)
        np.testing.assert_array_equal(plain, [[1.0, 2.0]])

    def test_float64_mode(self):
        with default_dtype(np.float64):
            loss = MSELoss()(Tensor([0.1, 0.2]), [0.0, 0.0])
        check_loss(loss, (0.01 + 0.04) / 2, dtype=F64, rtol=1e-14, atol=0.0)

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_nonnegative_and_matches_numpy(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        elements = st.floats(-1e3, 1e3, width=32)
        p = data.draw(hnp.arrays(np.float32, shape, elements=elements))
        t = data.draw(hnp.arrays(np.float32, shape, elements=elements))
        loss = MSELoss()(Tensor(p), t)
        assert loss.shape == ()
        assert loss.data >= 0
        check_loss(loss, ref_mse(p, t), rtol=1e-5, atol=1e-12)


class TestCrossEntropyLoss:
    def test_two_equal_logits_give_ln2(self):
        check_loss(CrossEntropyLoss()(Tensor([[0.0, 0.0]]), [0]), LN2)

    def test_by_hand(self):
        logits = Tensor([[0.0, LN2, math.log(3.0)]])  # softmax [1/6, 1/3, 1/2]
        check_loss(CrossEntropyLoss()(logits, [2]), LN2)
        check_loss(CrossEntropyLoss()(logits, [0]), math.log(6.0))
        check_loss(CrossEntropyLoss()(logits, [1]), math.log(3.0))

    def test_mean_over_the_batch_by_hand(self):
        # Row 0: -log(1/2) = ln 2. Row 1: softmax [1/4, 3/4], -log(3/4) = ln(4/3).
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
        check_loss(CrossEntropyLoss()(logits, [0, 1]), (LN2 + math.log(4 / 3)) / 2)

    def test_forward_and_call_agree(self):
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
        expected = (LN2 + math.log(4.0)) / 2  # row 1, class 0: -log(1/4)
        check_loss(CrossEntropyLoss().forward(logits, [0, 0]), expected)
        check_loss(CrossEntropyLoss()(logits, [0, 0]), expected)

    def test_matches_float64_formula(self):
        rng = np.random.default_rng(40)
        logits = rng.normal(scale=3.0, size=(6, 5))
        targets = [0, 4, 2, 2, 1, 3]
        check_loss(CrossEntropyLoss()(Tensor(logits), targets), ref_cross_entropy(logits, targets))

    def test_empty_batch_is_nan_without_a_warning(self):
        # The mean over no rows is 0 / 0, as in PyTorch; numpy must not warn about it.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = CrossEntropyLoss()(Tensor(np.zeros((0, 3))), [])
        assert loss.shape == ()
        assert np.isnan(loss.data)

    def test_repeating_the_batch_keeps_the_mean(self):
        logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
        expected = ref_cross_entropy(logits, [0, 2])
        check_loss(CrossEntropyLoss()(Tensor(logits), [0, 2]), expected)
        check_loss(CrossEntropyLoss()(Tensor(np.vstack([logits, logits])), [0, 2, 0, 2]), expected)

    @pytest.mark.parametrize(
        "targets",
        [
            [2, 0],
            (2, 0),
            np.array([2, 0]),
            np.array([2, 0], dtype=np.uint8),
            np.array([2.0, 0.0]),
            Tensor([2, 0]),
            Tensor([2.0, 0.0], requires_grad=True),
        ],
        ids=["list", "tuple", "int-array", "uint8-array", "float-array", "tensor", "tensor-rg"],
    )
    def test_target_forms(self, targets):
        # Row 0, class 2 of softmax [1/6, 1/3, 1/2]: ln 2. Row 1, class 0 of [1/2, 1/4, 1/4]: ln 2.
        logits = Tensor([[0.0, LN2, math.log(3.0)], [LN2, 0.0, 0.0]])
        check_loss(CrossEntropyLoss()(logits, targets), LN2)

    def test_single_int_target_for_a_batch_of_one(self):
        logits = Tensor([[0.0, LN2, math.log(3.0)]])
        check_loss(CrossEntropyLoss()(logits, 1), math.log(3.0))
        check_loss(CrossEntropyLoss()(logits, np.int64(0)), math.log(6.0))

    def test_equal_logits_of_1e8_give_ln2(self):
        loss = CrossEntropyLoss()(Tensor([[1e8, 1e8]]), [1])
        assert np.isfinite(loss.data)
        check_loss(loss, LN2)

    def test_huge_correct_margin_gives_zero(self):
        check_loss(CrossEntropyLoss()(Tensor([[1e4, 0.0], [0.0, 1e4]]), [0, 1]), 0.0, atol=1e-6)

    def test_huge_wrong_margin_gives_the_margin(self):
        check_loss(CrossEntropyLoss()(Tensor([[1e4, 0.0]]), [1]), 1e4, rtol=1e-6)
        check_loss(CrossEntropyLoss()(Tensor([[1e4, -1e4, 0.0]]), [1]), 2e4, rtol=1e-6)

    def test_far_apart_logits(self):
        logits = [[-1047.0, -981.0, 1891.0]] * 3
        # -log_softmax = [2938, 2872, 0]; the mean of the picked three is 5810 / 3.
        loss = CrossEntropyLoss()(Tensor(logits), [0, 1, 2])
        check_loss(loss, (2938.0 + 2872.0) / 3, rtol=1e-6)
        check_loss(loss, ref_cross_entropy(logits, [0, 1, 2]), rtol=1e-6)

    def test_no_warnings_at_extremes(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = CrossEntropyLoss()(Tensor([[1e4, -1e4], [-1e4, 1e4], [1e8, 1e8]]), [1, 1, 0])
        check_loss(loss, (2e4 + 0.0 + LN2) / 3, rtol=1e-6)

    def test_targets_and_logits_are_left_alone(self):
        logits = Tensor([[1.0, 2.0], [3.0, 4.0]])
        targets = Tensor([1, 0], requires_grad=True)
        as_array = np.array([1, 0])
        CrossEntropyLoss()(logits, targets)
        CrossEntropyLoss()(logits, as_array)
        check(targets, [1.0, 0.0])
        assert targets.requires_grad is True
        assert targets.grad is None
        assert (targets._version, logits._version) == (0, 0)
        np.testing.assert_array_equal(as_array, [1, 0])
        check(logits, [[1.0, 2.0], [3.0, 4.0]])

    def test_float64_mode(self):
        with default_dtype(np.float64):
            loss = CrossEntropyLoss()(Tensor([[0.0, LN2, math.log(3.0)]]), [0])
        check_loss(loss, math.log(6.0), dtype=F64, rtol=1e-14, atol=0.0)

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_matches_float64_and_is_nonnegative(self, data):
        n = data.draw(st.integers(1, 5))
        c = data.draw(st.integers(1, 5))
        logits = data.draw(hnp.arrays(np.float32, (n, c), elements=st.floats(-1e4, 1e4, width=32)))
        targets = data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
        loss = CrossEntropyLoss()(Tensor(logits), targets)
        assert loss.data >= 0
        check_loss(loss, ref_cross_entropy(logits, targets), rtol=1e-6, atol=1e-5)


class TestBinaryCrossEntropyLoss:
    def test_half_gives_ln2(self):
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5]), [1.0]), LN2)
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), [1.0, 0.0]), LN2)

    def test_by_hand(self):
        # -(ln 0.8 + ln(1 - 0.3)) / 2
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), [1, 0]), expected)

    def test_soft_targets(self):
        # t = 0.25 at p = 0.5: -(0.25 ln 0.5 + 0.75 ln 0.5) = ln 2, whatever t is.
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5]), [0.25]), LN2)
        # t = 0.25 at p = 0.8: -(0.25 ln 0.8 + 0.75 ln 0.2).
        expected = -(0.25 * math.log(0.8) + 0.75 * math.log(0.2))
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8]), [0.25]), expected)

    def test_forward_and_call_agree(self):
        p, t = Tensor([0.8, 0.3]), [1, 0]
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check_loss(BinaryCrossEntropyLoss().forward(p, t), expected)
        check_loss(BinaryCrossEntropyLoss()(p, t), expected)

    def test_matches_float64_formula_on_a_matrix(self):
        rng = np.random.default_rng(41)
        p = rng.uniform(0.01, 0.99, size=(4, 3))
        t = (rng.uniform(size=(4, 3)) > 0.5).astype(np.float64)
        check_loss(BinaryCrossEntropyLoss()(Tensor(p), t), ref_bce(p, t))

    def test_mean_over_all_elements(self):
        # Targets all 1: losses ln 2, -ln 0.8, -ln 0.8, -ln 0.8, averaged over the 4 elements
        # (not summed, not averaged over the 2 rows).
        p = Tensor([[0.5, 0.8], [0.8, 0.8]])
        expected = (LN2 - 3 * math.log(0.8)) / 4
        check_loss(BinaryCrossEntropyLoss()(p, np.ones((2, 2))), expected)

    def test_probability_one_for_target_zero_is_finite_and_clipped(self):
        loss = BinaryCrossEntropyLoss()(Tensor([1.0]), [0.0])
        assert np.isfinite(loss.data)
        # float32 holds 1 - 1e-7 as 1 - 2**-23: the loss is -log(2**-23) = 23 ln 2 ~ 15.942.
        check_loss(loss, -math.log(1 - HIGH32), rtol=1e-6)
        check_loss(loss, 23 * LN2, rtol=1e-6)
        np.testing.assert_allclose(loss.data, -math.log(1e-7), rtol=2e-2)

    def test_probability_zero_for_target_one_is_minus_log_1e_minus_7(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0]), [1.0])
        assert np.isfinite(loss.data)
        check_loss(loss, -math.log(1e-7), rtol=1e-6)  # 16.118...
        check_loss(loss, ref_bce([0.0], [1.0], LOW32, HIGH32), rtol=1e-6)

    def test_right_at_zero_and_one_costs_almost_nothing(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0, 1.0]), [0.0, 1.0])
        # -log(1 - 1e-7) ~ 1e-7 (float32: ~1.2e-7), so ~0.
        check_loss(loss, ref_bce([0.0, 1.0], [0.0, 1.0]), rtol=0.0, atol=1e-6)
        assert 0 <= loss.data < 1e-6

    def test_all_four_corners(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0, 1.0, 0.0, 1.0]), [0.0, 0.0, 1.0, 1.0])
        check_loss(loss, ref_bce([0, 1, 0, 1], [0, 0, 1, 1], LOW32, HIGH32), rtol=1e-6)

    def test_float64_mode_clips_at_exactly_1e_minus_7(self):
        with default_dtype(np.float64):
            loss = BinaryCrossEntropyLoss()(Tensor([1.0, 0.0]), [0.0, 1.0])
        check_loss(loss, -math.log(1e-7), dtype=F64, rtol=1e-8, atol=0.0)

    def test_no_warnings_at_the_edges(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = BinaryCrossEntropyLoss()(Tensor([[0.0, 1.0], [1.0, 0.0]]), [[0, 1], [0, 1]])
        assert np.isfinite(loss.data)

    @pytest.mark.parametrize(
        "targets",
        [[1, 0], np.array([1, 0]), np.array([True, False]), Tensor([1, 0]), Tensor([1, 0], True)],
        ids=["list", "int-array", "bool-array", "tensor", "tensor-requires-grad"],
    )
    def test_target_forms(self, targets):
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), targets), expected)

    def test_inputs_are_left_alone(self):
        p = Tensor([0.0, 1.0, 0.5])
        targets = Tensor([1.0, 0.0, 1.0], requires_grad=True)
        BinaryCrossEntropyLoss()(p, targets)
        check(p, [0.0, 1.0, 0.5])  # clipping works on a copy
        check(targets, [1.0, 0.0, 1.0])
        assert targets.requires_grad is True
        assert targets.grad is None
        assert (p._version, targets._version) == (0, 0)

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_matches_float64_clip_formula(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
        p = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        t = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        loss = BinaryCrossEntropyLoss()(Tensor(p), t)
        assert np.isfinite(loss.data)
        check_loss(loss, ref_bce(p, t, LOW32, HIGH32), rtol=1e-5, atol=1e-6)


# ===========================================================================================
# (c) Integration: a network of modules 01..03 feeding each loss
# ===========================================================================================

X = np.array(
    [[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [2.0, 0.5, 1.5], [-1.0, -1.0, 2.0], [0.5, 2.0, -0.5]]
)
W1 = np.array([[0.5, -1.0, 0.25, 1.0], [-0.5, 0.75, 1.0, -0.25], [1.0, 0.5, -0.75, 0.5]])
B1 = np.array([0.1, -0.2, 0.3, 0.0])
W2 = np.array([[1.0, -0.5], [0.25, 0.75], [-1.0, 0.5], [0.5, 1.0]])
B2 = np.array([0.2, -0.1])
CLASSES = [0, 1, 1, 0, 1]
REGRESSION_TARGETS = np.array([[3.0, 0.5], [0.0, 0.0], [1.0, 1.0], [-1.0, 2.0], [0.5, -0.5]])
BINARY_TARGETS = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])


def numpy_network(x=X):
    """The network's output in float64: relu(x @ W1 + b1) @ W2 + b2."""
    return np.maximum(x @ W1 + B1, 0.0) @ W2 + B2


class TestNetworkIntoLosses:
    @pytest.fixture
    def layers(self):
        return linear_with(W1, B1), ReLU(), linear_with(W2, B2)

    @staticmethod
    def run(layers, x=X):
        first, relu, second = layers
        return second(relu(first(Tensor(x))))

    def test_the_numpy_reference_by_hand(self):
        # Row 0: x @ W1 + b1 = [2.1, -2.45, -1.825, 1.75]; relu -> [2.1, 0, 0, 1.75];
        # @ W2 + b2 = [2.1 + 0.875 + 0.2, -1.05 + 1.75 - 0.1].
        np.testing.assert_allclose(numpy_network()[0], [3.175, 0.6])

    def test_outputs_match_numpy(self, layers):
        check(self.run(layers), numpy_network(), rtol=1e-6, atol=1e-6)

    def test_mse_on_outputs(self, layers):
        loss = MSELoss()(self.run(layers), REGRESSION_TARGETS)
        check_loss(loss, ref_mse(numpy_network(), REGRESSION_TARGETS))

    def test_cross_entropy_on_logits(self, layers):
        loss = CrossEntropyLoss()(self.run(layers), CLASSES)
        check_loss(loss, ref_cross_entropy(numpy_network(), CLASSES))

    def test_bce_on_sigmoid_of_outputs(self, layers):
        probabilities = Sigmoid()(self.run(layers))
        loss = BinaryCrossEntropyLoss()(probabilities, BINARY_TARGETS)
        expected = ref_bce(1 / (1 + np.exp(-numpy_network())), BINARY_TARGETS)
        check_loss(loss, expected)

    def test_log_softmax_agrees_with_softmax_of_module_02(self, layers):
        logits = self.run(layers)
        np.testing.assert_allclose(
            np.exp(log_softmax(logits).data), Softmax()(logits).data, rtol=1e-5, atol=1e-7
        )
        check(log_softmax(logits), ref_log_softmax(numpy_network()), rtol=1e-5, atol=1e-6)

    def test_sequential_into_cross_entropy_and_mse(self):
        model = Sequential(linear_with(W1, B1), ReLU(), Dense(4, 2))
        model.layers[2].weight.data = W2
        model.layers[2].bias.data = B2
        logits = model(Tensor(X))
        check_loss(CrossEntropyLoss()(logits, CLASSES), ref_cross_entropy(numpy_network(), CLASSES))
        check_loss(
            MSELoss()(logits, REGRESSION_TARGETS), ref_mse(numpy_network(), REGRESSION_TARGETS)
        )

    def test_dropout_in_eval_mode_changes_nothing(self, layers):
        first, relu, second = layers
        hidden = Dropout(0.5).forward(relu(first(Tensor(X))), training=False)
        loss = CrossEntropyLoss()(second(hidden), CLASSES)
        check_loss(loss, ref_cross_entropy(numpy_network(), CLASSES))

    def test_a_batch_of_extreme_logits_from_a_layer(self):
        # A layer that scales its input by 1e4: logits of +-1e4, still a finite loss.
        layer = linear_with([[1e4, -1e4]], [0.0, 0.0])
        logits = layer(Tensor([[1.0], [-1.0], [1.0]]))
        loss = CrossEntropyLoss()(logits, [0, 0, 1])
        # Rows: correct by 2e4 (0), wrong by 2e4 (2e4), wrong by 2e4 (2e4).
        check_loss(loss, 4e4 / 3, rtol=1e-6)

    def test_losses_of_a_model_require_grad_once_autograd_exists(self, layers):
        outputs = self.run(layers)
        losses = [
            MSELoss()(outputs, REGRESSION_TARGETS),
            CrossEntropyLoss()(outputs, CLASSES),
            BinaryCrossEntropyLoss()(Sigmoid()(outputs), BINARY_TARGETS),
        ]
        for loss in losses:
            assert loss.shape == ()
            assert loss.requires_grad is autograd_loaded()


# ===========================================================================================
# Gradients: none reach the targets (and, from checkpoint 05 on, the right ones reach the
# predictions)
# ===========================================================================================


def backward_if_possible(loss):
    """Run backward from checkpoint 05 on; before, backward must say autograd is missing."""
    if autograd_loaded():
        loss.backward()
        return True
    with pytest.raises(RuntimeError, match="module 05"):
        loss.backward()
    return False


class TestGradients:
    def test_mse(self):
        p = Tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
        targets = Tensor([[1.0, 1.0], [0.0, 0.5]], requires_grad=True)
        if backward_if_possible(MSELoss()(p, targets)):
            # d/dp mean((p - t)^2) = 2 (p - t) / 4
            np.testing.assert_allclose(p.grad, [[-0.25, -1.0], [1.0, -0.25]], rtol=1e-6)
        else:
            assert p.grad is None
        assert targets.grad is None
        check(targets, [[1.0, 1.0], [0.0, 0.5]])

    def test_cross_entropy(self):
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]], requires_grad=True)
        targets = Tensor([0, 1], requires_grad=True)
        if backward_if_possible(CrossEntropyLoss()(logits, targets)):
            # (softmax - one_hot) / N with softmax rows [1/2, 1/2] and [1/4, 3/4].
            expected = [[-0.25, 0.25], [0.125, -0.125]]
            np.testing.assert_allclose(logits.grad, expected, rtol=1e-5, atol=1e-7)
        else:
            assert logits.grad is None
        assert targets.grad is None

    def test_bce(self):
        p = Tensor([0.8, 0.25], requires_grad=True)
        targets = Tensor([1.0, 0.0], requires_grad=True)
        if backward_if_possible(BinaryCrossEntropyLoss()(p, targets)):
            # (p - t) / (p (1 - p)) / 2 inside the clip range.
            expected = [-0.2 / 0.16 / 2, 0.25 / 0.1875 / 2]
            np.testing.assert_allclose(p.grad, expected, rtol=1e-5)
        else:
            assert p.grad is None
        assert targets.grad is None

    def test_log_softmax(self):
        x = Tensor([[0.0, LN2, math.log(3.0)]], requires_grad=True)
        out = log_softmax(x)
        # Pick element 2: d out_2 / d x = one_hot(2) - softmax = [-1/6, -1/3, 1/2].
        if backward_if_possible(out[0, 2]):
            np.testing.assert_allclose(x.grad, [[-1 / 6, -1 / 3, 0.5]], rtol=1e-5, atol=1e-7)
        else:
            assert x.grad is None


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
        ("loss", "predictions", "targets"),
        [
            (MSELoss(), Tensor([[0.5, 1.0]]), Tensor([[1.0, 0.0]], requires_grad=True)),
            (CrossEntropyLoss(), Tensor([[0.5, 1.0]]), Tensor([1], requires_grad=True)),
            (BinaryCrossEntropyLoss(), Tensor([[0.5, 1.0]]), Tensor([[1.0, 0.0]], True)),
        ],
        ids=["mse", "cross-entropy", "bce"],
    )
    def test_only_known_ops_and_targets_never_an_input(self, calls, loss, predictions, targets):
        loss(predictions, targets)
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


# ===========================================================================================
# (d) Bad input: clear errors naming the shapes or values
# ===========================================================================================


class TestBadInput:
    def test_mse_shape_mismatch_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\).*same shape"):
            MSELoss()(Tensor(np.ones((3, 1))), np.ones(3))

    def test_mse_shape_mismatch_the_other_way(self):
        with pytest.raises(ValueError, match=r"\(2,\).*\(2, 2\)"):
            MSELoss()(Tensor([1.0, 2.0]), [[1.0, 2.0], [3.0, 4.0]])

    def test_mse_predictions_must_be_a_tensor(self):
        with pytest.raises(TypeError, match=r"predictions must be a Tensor; got list"):
            MSELoss()([1.0, 2.0], [1.0, 2.0])

    @pytest.mark.parametrize("bad", [None, "abc", ["a", "b"]])
    def test_mse_non_numeric_targets(self, bad):
        with pytest.raises(TypeError, match="targets must be numbers"):
            MSELoss()(Tensor([1.0, 2.0]), bad)

    def test_mse_ragged_targets(self):
        with pytest.raises(ValueError, match="ragged"):
            MSELoss()(Tensor([[1.0], [2.0]]), [[1.0], [2.0, 3.0]])

    @pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
    def test_cross_entropy_logits_must_be_2d(self, shape):
        with pytest.raises(ValueError, match=rf"2-D.*got shape {re_shape(shape)}"):
            CrossEntropyLoss()(Tensor(np.zeros(shape)), [0])

    def test_cross_entropy_logits_must_be_a_tensor(self):
        with pytest.raises(TypeError, match=r"logits must be a Tensor; got ndarray"):
            CrossEntropyLoss()(np.zeros((2, 3)), [0, 1])

    def test_cross_entropy_target_count(self):
        with pytest.raises(ValueError, match=r"3 targets.*N = 2"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), [0, 1, 2])
        with pytest.raises(ValueError, match=r"1 targets.*N = 2"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), 1)

    def test_cross_entropy_one_hot_targets_are_refused(self):
        with pytest.raises(ValueError, match=r"1-D.*\(2, 3\).*class indices"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.eye(3)[:2])

    @pytest.mark.parametrize("bad", [[0, 1.5], [0.5, 1], [0, np.nan], Tensor([0.0, 2.25])])
    def test_cross_entropy_non_integer_targets(self, bad):
        with pytest.raises(ValueError, match=r"whole-number class indices; got (\d\.\d+|nan)"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), bad)

    @pytest.mark.parametrize(("targets", "bad"), [([0, 3], 3), ([-1, 0], -1), ([7, 0], 7)])
    def test_cross_entropy_class_out_of_range_names_index_and_c(self, targets, bad):
        with pytest.raises(ValueError, match=rf"class index {bad}\b.*C = 3"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), targets)

    def test_cross_entropy_out_of_range_in_a_float_tensor(self):
        with pytest.raises(ValueError, match=r"class index 5 .*C = 4"):
            CrossEntropyLoss()(Tensor(np.zeros((1, 4))), Tensor([5]))

    @pytest.mark.parametrize("bad", [["a", "b"], [True, False], None])
    def test_cross_entropy_non_numeric_targets(self, bad):
        with pytest.raises(TypeError, match="targets must be"):
            CrossEntropyLoss()(Tensor(np.zeros((2, 3))), bad)

    @pytest.mark.parametrize(
        ("p", "pattern"),
        [([0.5, 1.5], r"min 0\.5, max 1\.5"), ([-0.25, 0.5], r"min -0\.25, max 0\.5")],
    )
    def test_bce_predictions_outside_0_1_name_min_and_max(self, p, pattern):
        with pytest.raises(ValueError, match=rf"predictions must be probabilities.*{pattern}"):
            BinaryCrossEntropyLoss()(Tensor(p), [1.0, 0.0])

    def test_bce_logits_passed_by_mistake(self):
        with pytest.raises(ValueError, match=r"max 3.*Sigmoid"):
            BinaryCrossEntropyLoss()(Tensor([-2.0, 3.0]), [0.0, 1.0])

    def test_bce_nan_predictions(self):
        with pytest.raises(ValueError, match=r"predictions.*nan"):
            BinaryCrossEntropyLoss()(Tensor([0.5, np.nan]), [0.0, 1.0])

    @pytest.mark.parametrize(
        ("t", "pattern"), [([0.0, 2.0], r"min 0, max 2"), ([-1.0, 1.0], r"min -1, max 1")]
    )
    def test_bce_targets_outside_0_1(self, t, pattern):
        with pytest.raises(ValueError, match=rf"targets must be in \[0, 1\].*{pattern}"):
            BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), t)

    def test_bce_shape_mismatch_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
            BinaryCrossEntropyLoss()(Tensor(np.full((4, 1), 0.5)), [1.0, 0.0, 1.0, 0.0])

    def test_bce_predictions_must_be_a_tensor(self):
        with pytest.raises(TypeError, match=r"predictions must be a Tensor; got list"):
            BinaryCrossEntropyLoss()([0.5], [1.0])

    def test_log_softmax_of_0d(self):
        with pytest.raises(ValueError, match=r"at least 1 dimension.*\(\)"):
            log_softmax(Tensor(1.0))

    def test_log_softmax_dim_out_of_range(self):
        with pytest.raises(IndexError, match=r"dim 2 is out of range.*\(2, 3\)"):
            log_softmax(Tensor(np.zeros((2, 3))), dim=2)

    def test_log_softmax_dim_must_be_an_int(self):
        with pytest.raises(TypeError, match="dim must be an int; got float"):
            log_softmax(Tensor([1.0, 2.0]), dim=0.5)

    def test_log_softmax_needs_a_tensor(self):
        with pytest.raises(TypeError, match=r"x must be a Tensor; got list"):
            log_softmax([1.0, 2.0])


def re_shape(shape):
    """The regex for a shape tuple as Python prints it."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")
