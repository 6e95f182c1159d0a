"""Module 04 (Losses), course API: API.md "04 Losses" on top of modules 01..03.

The suite runs at checkpoint 04 and again at every later one, where module 05 has turned
autograd on (importing tinytorch does that): results of operations on tensors that require
grad (Linear's weights do) then require grad too, and ``backward()`` works. The few behaviours
autograd changes on purpose are asserted for whichever state is in force (``autograd_loaded``).
Every expected value is worked out by hand or from the formula in plain float64 numpy, never
by calling tinytorch. Checks of modules 01..03 go through a loss, so that each test needs
module 04. API.md fixes the target forms only for cross-entropy (ints or a Tensor of them):
MSE and BCE get their targets as Tensors here. The reference's extras (float64 mode, Dense,
Sequential, error wording, its op hook, input forms and edge cases beyond API.md) are tested
in test_extras*.py.
"""

import math
import warnings

import numpy as np
import pytest
from course_api import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Dropout,
    Layer,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    Tensor,
    log_softmax,
)
from gradients import assert_gradients_match
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from loss_cases import (
    B1,
    B2,
    CLASSES,
    HIGH32,
    LN2,
    LOW32,
    REGRESSION_TARGETS,
    W1,
    W2,
    X,
    check_loss,
    numpy_network,
)
from tinytorch_testing import (
    F32,
    autograd_loaded,
    check,
    linear_with,
    ref_bce,
    ref_cross_entropy,
    ref_log_softmax,
    ref_mse,
)


def check_bce(loss, p, t, rtol=1e-5, atol=1e-6):
    """A BCE result equal to the formula with API.md's clip bounds [1e-7, 1 - 1e-7], read
    either as float32 holds them (1 - 2**-23 at the top) or as float64 does: API.md fixes the
    bounds, not the dtype the clip is done in (the reference's own reading is an extras test)."""
    assert isinstance(loss, Tensor), f"a loss must return a Tensor, got {type(loss).__name__}"
    assert loss.shape == ()
    assert loss.dtype == F32
    value = float(loss.data)
    readings = [ref_bce(p, t, LOW32, HIGH32), ref_bce(p, t)]
    assert any(np.isclose(value, r, rtol=rtol, atol=atol) for r in readings), (
        f"BCE {value!r}, expected {readings[0]!r} (float32 bounds) or {readings[1]!r}"
    )


def check_via_mse(t, expected, rtol=1e-6, atol=0.0):
    """t (a result of modules 01..03) holds `expected`, and MSELoss reads it: its MSE against
    zeros is the mean of the squares."""
    check(t, expected, rtol=rtol, atol=atol)
    expected = np.asarray(expected, dtype=np.float64)
    loss = MSELoss()(t, Tensor(np.zeros(expected.shape)))
    check_loss(loss, np.mean(expected**2), rtol=1e-5, atol=1e-12)


def shares(a, b):
    return np.shares_memory(np.asarray(a), np.asarray(b))


# ===========================================================================================
# (a) Modules 01..03 still work, with independently worked values, read by a loss
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_arithmetic_matmul_and_reductions(self):
        a = Tensor([[1, 2], [3, 4]])
        b = Tensor([[5, 6], [7, 8]])
        check_via_mse(a + b, [[6, 8], [10, 12]])
        check_via_mse(a * -1.0 + 1, [[0, -1], [-2, -3]])
        check_via_mse(a * b / 2, [[2.5, 6], [10.5, 16]])
        check_via_mse(a.matmul(b), [[19, 22], [43, 50]])
        check_via_mse(a * a, [[1, 4], [9, 16]])
        check_via_mse(a.sum(), 10.0)
        check_via_mse(a.mean(axis=0), [2.0, 3.0])
        check_via_mse(a.max(axis=1, keepdims=True), [[2.0], [4.0]])
        check_via_mse(a[np.arange(2), np.array([1, 0])], [2.0, 3.0])
        # exp and log are suite 01's; here the loss reads values made in numpy.
        check_via_mse(Tensor(np.exp([0.0, 1.0])), [1.0, math.e])
        check_via_mse(Tensor(np.log([1.0, math.e])), [0.0, 1.0])

    def test_ints_become_float32_and_so_does_the_loss(self):
        t = Tensor([1, 2])
        assert t.dtype == F32
        # (1 + 4) / 2
        check_loss(MSELoss()(t, Tensor([0, 0])), 2.5)

    def test_relu(self):
        check_via_mse(ReLU()(Tensor([-2.0, 0.0, 3.5])), [0.0, 0.0, 3.5])
        assert ReLU().parameters() == []

    def test_sigmoid_including_extremes(self):
        out = Sigmoid()(Tensor([0.0, 2.0, -2.0, 1000.0, -1000.0]))
        e2 = math.exp(-2.0)
        check_via_mse(out, [0.5, 1 / (1 + e2), e2 / (1 + e2), 1.0, 0.0], atol=1e-30)

    def test_tanh(self):
        check_via_mse(Tanh()(Tensor([0.0, 1.0, -1000.0])), [0.0, math.tanh(1.0), -1.0])

    def test_softmax_by_hand_and_at_extremes(self):
        # softmax of [ln 1, ln 2, ln 3] is [1, 2, 3] / 6.
        check_via_mse(Softmax()(Tensor([[0.0, LN2, math.log(3.0)]])), [[1 / 6, 2 / 6, 3 / 6]])
        check_via_mse(Softmax()(Tensor([[1e4, -1e4]])), [[1.0, 0.0]])
        columns = Softmax()(Tensor([[0.0, 5.0], [0.0, 5.0]]), dim=0)
        check_via_mse(columns, [[0.5, 0.5], [0.5, 0.5]])

    def test_linear_with_hand_set_weights_is_x_at_w_plus_b(self):
        w = [[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]
        b = [0.25, -0.5]
        layer = linear_with(w, b)
        assert layer.weight.shape == (3, 2)
        assert layer.bias.shape == (2,)
        assert layer.weight.requires_grad is True
        params = layer.parameters()
        assert len(params) == 2
        assert params[0] is layer.weight
        assert params[1] is layer.bias
        x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
        # By hand: row 0 -> [1 + 1 - 3, -2 + 0 + 9] + b; row 1 -> [-1 - 0.5, 2 + 1.5] + b.
        expected = [[-1.0 + 0.25, 7.0 - 0.5], [-1.5 + 0.25, 3.5 - 0.5]]
        np.testing.assert_allclose(x @ np.array(w) + np.array(b), expected)
        check_via_mse(layer(Tensor(x)), expected)

    def test_linear_default_init(self):
        layer = Linear(4, 3)
        assert layer.weight.shape == (4, 3)
        check(layer.bias, np.zeros(3))
        assert Linear(3, 2, bias=False).bias is None
        x = np.array([[1.0, -1.0, 0.5, 2.0]])
        # Bias zeros: the output is x @ W, whatever random W was drawn.
        expected = x @ np.asarray(layer.weight.data, dtype=np.float64)
        check_via_mse(layer(Tensor(x)), expected, rtol=1e-5, atol=1e-6)

    def test_dropout_in_eval_mode_is_the_identity(self):
        x = Tensor([[1.0, -2.0], [3.0, 4.0]])
        for dropout in (Dropout(0.5), Dropout(0.9)):
            check_via_mse(dropout.forward(x, training=False), [[1.0, -2.0], [3.0, 4.0]])
        check_via_mse(Dropout(0.0)(x), [[1.0, -2.0], [3.0, 4.0]])
        with pytest.raises(ValueError):
            Dropout(1.5)

    def test_layer_base_and_a_subclass_into_log_softmax(self):
        with pytest.raises(NotImplementedError):
            Layer().forward(Tensor([1.0]))
        assert Layer().parameters() == []

        class LogProbabilities(Layer):  # no super().__init__(): API.md says that works
            def __init__(self):
                self.calls = 0

            def forward(self, x):
                self.calls += 1
                return log_softmax(x)

        layer = LogProbabilities()
        out = layer(Tensor([[0.0, 0.0]]))
        assert layer.calls == 1
        check(out, [[-LN2, -LN2]])
        assert layer.parameters() == []


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
        check(log_softmax(Tensor(x)), naive, rtol=1e-5, atol=1e-6)
        check(log_softmax(Tensor(x), dim=1), naive, rtol=1e-5, atol=1e-6)
        check(log_softmax(Tensor(x), -1), naive, rtol=1e-5, atol=1e-6)

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
            out = log_softmax(x)
        check(x, [[1e4, -1e4, 0.0], [-1047.0, -981.0, 1891.0]])
        check(out, [[0.0, -2e4, -1e4], [-2938.0, -2872.0, 0.0]])

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
        check_loss(MSELoss()(Tensor([[1, 2], [3, 4]]), Tensor([[0, 0], [0, 0]])), 7.5)
        # (0 + 1 + 4) / 3
        check_loss(MSELoss()(Tensor([1.0, 2.0, 3.0]), Tensor([1.0, 1.0, 1.0])), 5 / 3)

    def test_equal_inputs_give_zero(self):
        p = Tensor([[0.5, -2.0], [3.0, 1e4]])
        check_loss(MSELoss()(p, Tensor([[0.5, -2.0], [3.0, 1e4]])), 0.0, atol=0.0)
        check_loss(MSELoss()(p, p), 0.0, atol=0.0)

    def test_forward_and_call_agree(self):
        p, t = Tensor([1.0, -1.0]), Tensor([0.0, 1.0])
        check_loss(MSELoss().forward(p, t), 2.5)
        check_loss(MSELoss()(p, t), 2.5)

    def test_one_loss_object_serves_many_calls(self):
        loss_fn = MSELoss()
        check_loss(loss_fn(Tensor([1.0, -1.0]), Tensor([0.0, 1.0])), 2.5)
        check_loss(loss_fn(Tensor([[3.0]]), Tensor([[1.0]])), 4.0)

    def test_matches_float64_formula(self):
        rng = np.random.default_rng(4)
        p = rng.normal(size=(3, 4, 5))
        t = rng.normal(size=(3, 4, 5))
        check_loss(MSELoss()(Tensor(p), Tensor(t)), ref_mse(p, t))

    def test_mean_over_all_elements(self):
        # One error of 2 among 8 elements: 4 / 8, not 4 (sum) nor 4 / 2 (mean over rows).
        p = np.zeros((2, 4))
        p[1, 3] = 2.0
        check_loss(MSELoss()(Tensor(p), Tensor(np.zeros((2, 4)))), 0.5)

    def test_repeating_the_batch_keeps_the_mean(self):
        p = np.array([[1.0, 2.0], [0.0, -1.0]])
        t = np.array([[0.0, 0.5], [1.0, 1.0]])
        once = MSELoss()(Tensor(p), Tensor(t))
        twice = MSELoss()(Tensor(np.vstack([p, p])), Tensor(np.vstack([t, t])))
        expected = (1.0 + 2.25 + 1.0 + 4.0) / 4
        check_loss(once, expected)
        check_loss(twice, expected)

    def test_0d_predictions_and_target(self):
        check_loss(MSELoss()(Tensor(3.0), Tensor(1)), 4.0)

    @pytest.mark.parametrize("requires_grad", [False, True], ids=["tensor", "tensor-rg"])
    def test_target_tensors(self, requires_grad):
        targets = Tensor([[1, 0], [2, 2]], requires_grad=requires_grad)
        # Errors [-1, 1, 1, 2]: (1 + 1 + 1 + 4) / 4.
        check_loss(MSELoss()(Tensor([[0.0, 1.0], [3.0, 4.0]]), targets), 7 / 4)

    def test_inputs_are_left_alone(self):
        p = Tensor([[0.0, 0.0]])
        targets = Tensor([[1.0, 2.0]], requires_grad=True)
        check_loss(MSELoss()(p, targets), 2.5)
        check(p, [[0.0, 0.0]])
        check(targets, [[1.0, 2.0]])
        assert targets.requires_grad is True
        assert targets.grad is None

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_nonnegative_and_matches_numpy(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        elements = st.floats(-1e3, 1e3, width=32)
        p = data.draw(hnp.arrays(np.float32, shape, elements=elements))
        t = data.draw(hnp.arrays(np.float32, shape, elements=elements))
        loss = MSELoss()(Tensor(p), Tensor(t))
        assert loss.shape == ()
        assert loss.data >= 0
        check_loss(loss, ref_mse(p, t), rtol=1e-5, atol=1e-12)


class TestCrossEntropyLoss:
    def test_two_equal_logits_give_ln2(self):
        check_loss(CrossEntropyLoss()(Tensor([[0.0, 0.0]]), Tensor([0])), LN2)

    def test_by_hand(self):
        logits = Tensor([[0.0, LN2, math.log(3.0)]])  # softmax [1/6, 1/3, 1/2]
        check_loss(CrossEntropyLoss()(logits, Tensor([2])), LN2)
        check_loss(CrossEntropyLoss()(logits, Tensor([0])), math.log(6.0))
        check_loss(CrossEntropyLoss()(logits, Tensor([1])), math.log(3.0))

    def test_mean_over_the_batch_by_hand(self):
        # Row 0: -log(1/2) = ln 2. Row 1: softmax [1/4, 3/4], -log(3/4) = ln(4/3).
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
        check_loss(CrossEntropyLoss()(logits, Tensor([0, 1])), (LN2 + math.log(4 / 3)) / 2)

    def test_forward_and_call_agree(self):
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
        expected = (LN2 + math.log(4.0)) / 2  # row 1, class 0: -log(1/4)
        check_loss(CrossEntropyLoss().forward(logits, Tensor([0, 0])), expected)
        check_loss(CrossEntropyLoss()(logits, Tensor([0, 0])), expected)

    def test_matches_float64_formula(self):
        rng = np.random.default_rng(40)
        logits = rng.normal(scale=3.0, size=(6, 5))
        targets = [0, 4, 2, 2, 1, 3]
        loss = CrossEntropyLoss()(Tensor(logits), Tensor(targets))
        check_loss(loss, ref_cross_entropy(logits, targets))

    def test_repeating_the_batch_keeps_the_mean(self):
        logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
        expected = ref_cross_entropy(logits, [0, 2])
        check_loss(CrossEntropyLoss()(Tensor(logits), Tensor([0, 2])), expected)
        twice = CrossEntropyLoss()(Tensor(np.vstack([logits, logits])), Tensor([0, 2, 0, 2]))
        check_loss(twice, expected)

    @pytest.mark.parametrize(
        "make_targets",
        [
            lambda: [2, 0],
            lambda: np.array([2, 0]),
            lambda: Tensor([2, 0]),
            lambda: Tensor([2, 0], requires_grad=True),
        ],
        ids=["int-list", "int-array", "tensor", "tensor-rg"],
    )
    def test_target_forms(self, make_targets):
        """API.md: targets are class indices, ints or a Tensor of them. The one test of the
        forms (the others pass a Tensor, as a DataLoader yields): each gives the loss, is left
        alone and shares no memory with the result."""
        # Row 0, class 2 of softmax [1/6, 1/3, 1/2]: ln 2. Row 1, class 0 of [1/2, 1/4, 1/4]: ln 2.
        logits = Tensor([[0.0, LN2, math.log(3.0)], [LN2, 0.0, 0.0]])
        targets = make_targets()
        try:
            loss = CrossEntropyLoss()(logits, targets)
        except Exception as exc:  # say which rule failed, not the implementation's words
            pytest.fail(
                f"CrossEntropyLoss refused targets given as {type(targets).__name__} "
                f"(API.md: ints or a Tensor of them): {exc!r}"
            )
        check_loss(loss, LN2)
        if isinstance(targets, Tensor):
            check(targets, [2.0, 0.0])
            assert targets.grad is None
            target_array = targets.data
        else:
            np.testing.assert_array_equal(targets, [2, 0])
            assert isinstance(targets, list) or targets.dtype.kind == "i"
            target_array = targets
        if isinstance(target_array, np.ndarray):
            assert not shares(loss.data, target_array)
        assert not shares(loss.data, logits.data)
        check(logits, [[0.0, LN2, math.log(3.0)], [LN2, 0.0, 0.0]])

    def test_equal_logits_of_1e8_give_ln2(self):
        loss = CrossEntropyLoss()(Tensor([[1e8, 1e8]]), Tensor([1]))
        assert np.isfinite(loss.data)
        check_loss(loss, LN2)

    def test_huge_correct_margin_gives_zero(self):
        loss = CrossEntropyLoss()(Tensor([[1e4, 0.0], [0.0, 1e4]]), Tensor([0, 1]))
        check_loss(loss, 0.0, atol=1e-6)

    def test_huge_wrong_margin_gives_the_margin(self):
        check_loss(CrossEntropyLoss()(Tensor([[1e4, 0.0]]), Tensor([1])), 1e4, rtol=1e-6)
        check_loss(CrossEntropyLoss()(Tensor([[1e4, -1e4, 0.0]]), Tensor([1])), 2e4, rtol=1e-6)

    def test_far_apart_logits(self):
        logits = [[-1047.0, -981.0, 1891.0]] * 3
        # -log_softmax = [2938, 2872, 0]; the mean of the picked three is 5810 / 3.
        loss = CrossEntropyLoss()(Tensor(logits), Tensor([0, 1, 2]))
        check_loss(loss, (2938.0 + 2872.0) / 3, rtol=1e-6)
        check_loss(loss, ref_cross_entropy(logits, [0, 1, 2]), rtol=1e-6)

    def test_no_warnings_at_extremes(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            logits = Tensor([[1e4, -1e4], [-1e4, 1e4], [1e8, 1e8]])
            loss = CrossEntropyLoss()(logits, Tensor([1, 1, 0]))
        check_loss(loss, (2e4 + 0.0 + LN2) / 3, rtol=1e-6)

    def test_targets_and_logits_are_left_alone(self):
        # Lists and arrays as targets are left alone too: test_target_forms.
        logits = Tensor([[1.0, 2.0], [3.0, 4.0]])
        targets = Tensor([1, 0], requires_grad=True)
        expected = ref_cross_entropy([[1.0, 2.0], [3.0, 4.0]], [1, 0])
        check_loss(CrossEntropyLoss()(logits, targets), expected)
        check(targets, [1.0, 0.0])
        assert targets.requires_grad is True
        assert targets.grad is None
        check(logits, [[1.0, 2.0], [3.0, 4.0]])

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_matches_float64_and_is_nonnegative(self, data):
        n = data.draw(st.integers(1, 5))
        c = data.draw(st.integers(1, 5))
        logits = data.draw(hnp.arrays(np.float32, (n, c), elements=st.floats(-1e4, 1e4, width=32)))
        targets = data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
        loss = CrossEntropyLoss()(Tensor(logits), Tensor(targets))
        assert loss.data >= 0
        check_loss(loss, ref_cross_entropy(logits, targets), rtol=1e-6, atol=1e-5)


class TestBinaryCrossEntropyLoss:
    def test_half_gives_ln2(self):
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5]), Tensor([1.0])), LN2)
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), Tensor([1.0, 0.0])), LN2)

    def test_by_hand(self):
        # -(ln 0.8 + ln(1 - 0.3)) / 2
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), Tensor([1, 0])), expected)

    def test_soft_targets(self):
        # t = 0.25 at p = 0.5: -(0.25 ln 0.5 + 0.75 ln 0.5) = ln 2, whatever t is.
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.5]), Tensor([0.25])), LN2)
        # t = 0.25 at p = 0.8: -(0.25 ln 0.8 + 0.75 ln 0.2).
        expected = -(0.25 * math.log(0.8) + 0.75 * math.log(0.2))
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8]), Tensor([0.25])), expected)

    def test_forward_and_call_agree(self):
        p, t = Tensor([0.8, 0.3]), Tensor([1, 0])
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        check_loss(BinaryCrossEntropyLoss().forward(p, t), expected)
        check_loss(BinaryCrossEntropyLoss()(p, t), expected)

    def test_matches_float64_formula_on_a_matrix(self):
        rng = np.random.default_rng(41)
        p = rng.uniform(0.01, 0.99, size=(4, 3))
        t = (rng.uniform(size=(4, 3)) > 0.5).astype(np.float64)
        check_loss(BinaryCrossEntropyLoss()(Tensor(p), Tensor(t)), ref_bce(p, t))

    def test_mean_over_all_elements(self):
        # Targets all 1: losses ln 2, -ln 0.8, -ln 0.8, -ln 0.8, averaged over the 4 elements
        # (not summed, not averaged over the 2 rows).
        p = Tensor([[0.5, 0.8], [0.8, 0.8]])
        expected = (LN2 - 3 * math.log(0.8)) / 4
        check_loss(BinaryCrossEntropyLoss()(p, Tensor(np.ones((2, 2)))), expected)

    def test_probability_one_for_target_zero_is_finite_and_clipped(self):
        loss = BinaryCrossEntropyLoss()(Tensor([1.0]), Tensor([0.0]))
        assert np.isfinite(loss.data)
        # -log(1 - (1 - 1e-7)): 16.118 with the bound in float64; float32 holds 1 - 1e-7 as
        # 1 - 2**-23, which gives 23 ln 2 ~ 15.942. Unclipped, it would be inf.
        check_bce(loss, [1.0], [0.0])
        np.testing.assert_allclose(loss.data, -math.log(1e-7), rtol=2e-2)

    def test_probability_zero_for_target_one_is_minus_log_1e_minus_7(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0]), Tensor([1.0]))
        assert np.isfinite(loss.data)
        check_loss(loss, -math.log(1e-7), rtol=1e-6)  # 16.118...
        check_loss(loss, ref_bce([0.0], [1.0], LOW32, HIGH32), rtol=1e-6)

    def test_right_at_zero_and_one_costs_almost_nothing(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0, 1.0]), Tensor([0.0, 1.0]))
        # -log(1 - 1e-7) ~ 1e-7 (float32: ~1.2e-7), so ~0.
        check_loss(loss, ref_bce([0.0, 1.0], [0.0, 1.0]), rtol=0.0, atol=1e-6)
        assert 0 <= loss.data < 1e-6

    def test_all_four_corners(self):
        loss = BinaryCrossEntropyLoss()(Tensor([0.0, 1.0, 0.0, 1.0]), Tensor([0.0, 0.0, 1.0, 1.0]))
        check_bce(loss, [0, 1, 0, 1], [0, 0, 1, 1], rtol=1e-6)

    def test_no_warnings_at_the_edges(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = BinaryCrossEntropyLoss()(
                Tensor([[0.0, 1.0], [1.0, 0.0]]), Tensor([[0, 1], [0, 1]])
            )
        assert np.isfinite(loss.data)
        check_bce(loss, [[0.0, 1.0], [1.0, 0.0]], [[0, 1], [0, 1]])

    @pytest.mark.parametrize("requires_grad", [False, True], ids=["tensor", "tensor-rg"])
    def test_target_tensors(self, requires_grad):
        expected = -(math.log(0.8) + math.log(0.7)) / 2
        targets = Tensor([1, 0], requires_grad=requires_grad)
        check_loss(BinaryCrossEntropyLoss()(Tensor([0.8, 0.3]), targets), expected)

    def test_inputs_are_left_alone(self):
        p = Tensor([0.0, 1.0, 0.5])
        targets = Tensor([1.0, 0.0, 1.0], requires_grad=True)
        loss = BinaryCrossEntropyLoss()(p, targets)
        check_bce(loss, [0.0, 1.0, 0.5], [1.0, 0.0, 1.0])
        check(p, [0.0, 1.0, 0.5])  # clipping works on a copy
        check(targets, [1.0, 0.0, 1.0])
        assert targets.requires_grad is True
        assert targets.grad is None

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_matches_float64_clip_formula(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
        p = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        t = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        loss = BinaryCrossEntropyLoss()(Tensor(p), Tensor(t))
        assert np.isfinite(loss.data)
        check_bce(loss, p, t, rtol=1e-5, atol=1e-6)


# ===========================================================================================
# (c) Integration: a network of modules 01..03 feeding each loss
# ===========================================================================================

# The network (X, W1, B1, W2, B2, numpy_network) and its other targets: loss_cases.py.
BINARY_TARGETS = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])


def numpy_sigmoid(z):
    return 1 / (1 + np.exp(-z))


class TestNetworkIntoLosses:
    @pytest.fixture
    def layers(self):
        return linear_with(W1, B1), ReLU(), linear_with(W2, B2)

    @staticmethod
    def run(layers, x=X):
        first, relu, second = layers
        return second(relu(first(Tensor(x))))

    def test_outputs_and_the_numpy_reference_by_hand(self, layers):
        # Row 0: x @ W1 + b1 = [2.1, -2.45, -1.825, 1.75]; relu -> [2.1, 0, 0, 1.75];
        # @ W2 + b2 = [2.1 + 0.875 + 0.2, -1.05 + 1.75 - 0.1].
        np.testing.assert_allclose(numpy_network()[0], [3.175, 0.6])
        check_via_mse(self.run(layers), numpy_network(), rtol=1e-6, atol=1e-6)

    def test_mse_on_outputs(self, layers):
        loss = MSELoss()(self.run(layers), Tensor(REGRESSION_TARGETS))
        check_loss(loss, ref_mse(numpy_network(), REGRESSION_TARGETS))

    def test_cross_entropy_on_logits(self, layers):
        loss = CrossEntropyLoss()(self.run(layers), Tensor(CLASSES))
        check_loss(loss, ref_cross_entropy(numpy_network(), CLASSES))

    def test_bce_on_sigmoid_of_outputs(self, layers):
        probabilities = Sigmoid()(self.run(layers))
        loss = BinaryCrossEntropyLoss()(probabilities, Tensor(BINARY_TARGETS))
        expected = ref_bce(numpy_sigmoid(numpy_network()), BINARY_TARGETS)
        check_loss(loss, expected)

    def test_log_softmax_agrees_with_softmax_of_module_02(self, layers):
        logits = self.run(layers)
        np.testing.assert_allclose(
            np.exp(log_softmax(logits).data), Softmax()(logits).data, rtol=1e-5, atol=1e-7
        )
        check(log_softmax(logits), ref_log_softmax(numpy_network()), rtol=1e-5, atol=1e-6)

    def test_dropout_in_eval_mode_changes_nothing(self, layers):
        first, relu, second = layers
        hidden = Dropout(0.5).forward(relu(first(Tensor(X))), training=False)
        loss = CrossEntropyLoss()(second(hidden), Tensor(CLASSES))
        check_loss(loss, ref_cross_entropy(numpy_network(), CLASSES))

    def test_a_batch_of_extreme_logits_from_a_layer(self):
        # A layer that scales its input by 1e4: logits of +-1e4, still a finite loss.
        layer = linear_with([[1e4, -1e4]], [0.0, 0.0])
        logits = layer(Tensor([[1.0], [-1.0], [1.0]]))
        loss = CrossEntropyLoss()(logits, Tensor([0, 0, 1]))
        # Rows: correct by 2e4 (0), wrong by 2e4 (2e4), wrong by 2e4 (2e4).
        check_loss(loss, 4e4 / 3, rtol=1e-6)

    def test_losses_of_a_model_require_grad_once_autograd_exists(self, layers):
        outputs = self.run(layers)
        losses = [
            MSELoss()(outputs, Tensor(REGRESSION_TARGETS)),
            CrossEntropyLoss()(outputs, Tensor(CLASSES)),
            BinaryCrossEntropyLoss()(Sigmoid()(outputs), Tensor(BINARY_TARGETS)),
        ]
        expected = [
            ref_mse(numpy_network(), REGRESSION_TARGETS),
            ref_cross_entropy(numpy_network(), CLASSES),
            ref_bce(numpy_sigmoid(numpy_network()), BINARY_TARGETS),
        ]
        for loss, value in zip(losses, expected, strict=True):
            check_loss(loss, value)
            if autograd_loaded():  # before 05 the flag of a result is not fixed (see extras)
                assert loss.requires_grad is True, "a loss of the model was not recorded"


# ===========================================================================================
# (d) Gradients: right ones reach the predictions from checkpoint 05 on, none reach the
# targets; before, backward() says autograd is missing
# ===========================================================================================


def backward_if_possible(loss):
    """Run backward from checkpoint 05 on and say whether it ran. Before, the tests check the
    loss values only: backward() before autograd is suite 01's rule (TestBeforeAutograd)."""
    if autograd_loaded():
        loss.backward()
        return True
    return False


def gradients_match(loss_fn, arrays):
    """From checkpoint 05 on, backward's gradients of loss_fn equal float32 central
    differences; before, the loss is a finite one-element Tensor (values only, as above)."""
    if autograd_loaded():
        assert_gradients_match(loss_fn, arrays)
        return
    leaves = [Tensor(np.asarray(a), requires_grad=True) for a in arrays]
    loss = loss_fn(*leaves)
    assert isinstance(loss, Tensor)
    assert loss.size == 1
    assert np.isfinite(np.asarray(loss.data)).all()
    assert all(leaf.grad is None for leaf in leaves)


def grad_of(leaf, name):
    """leaf.grad, after saying which leaf got none (instead of a TypeError on None)."""
    assert leaf.grad is not None, f"{name} got no gradient from backward()"
    return leaf.grad


def assert_new_gradient(leaf, *others):
    """leaf.grad shares no memory with the leaf's data nor with any other array given."""
    assert leaf.grad is not None, "the leaf got no gradient from backward()"
    assert isinstance(leaf.grad, np.ndarray)
    assert not shares(leaf.grad, leaf.data)
    for other in others:
        assert not shares(leaf.grad, other)


class TestGradients:
    def test_mse(self):
        p = Tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
        targets = Tensor([[1.0, 1.0], [0.0, 0.5]], requires_grad=True)
        loss = MSELoss()(p, targets)
        # ((0.25 + 4 + 4 + 0.25) / 4)
        check_loss(loss, 8.5 / 4)
        if backward_if_possible(loss):
            # d/dp mean((p - t)^2) = 2 (p - t) / 4
            np.testing.assert_allclose(grad_of(p, "p"), [[-0.25, -1.0], [1.0, -0.25]], rtol=1e-6)
            assert p.grad.dtype == F32
            assert_new_gradient(p, targets.data, loss.data)
        else:
            assert p.grad is None
        assert targets.grad is None
        check(targets, [[1.0, 1.0], [0.0, 0.5]])

    def test_cross_entropy(self):
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]], requires_grad=True)
        targets = Tensor([0, 1], requires_grad=True)
        loss = CrossEntropyLoss()(logits, targets)
        check_loss(loss, (LN2 + math.log(4 / 3)) / 2)
        if backward_if_possible(loss):
            # (softmax - one_hot) / N with softmax rows [1/2, 1/2] and [1/4, 3/4].
            expected = [[-0.25, 0.25], [0.125, -0.125]]
            np.testing.assert_allclose(grad_of(logits, "logits"), expected, rtol=1e-5, atol=1e-7)
            assert logits.grad.dtype == F32
            assert_new_gradient(logits, targets.data, loss.data)
        else:
            assert logits.grad is None
        assert targets.grad is None

    def test_bce(self):
        p = Tensor([0.8, 0.25], requires_grad=True)
        targets = Tensor([1.0, 0.0], requires_grad=True)
        loss = BinaryCrossEntropyLoss()(p, targets)
        check_loss(loss, -(math.log(0.8) + math.log(0.75)) / 2)
        if backward_if_possible(loss):
            # (p - t) / (p (1 - p)) / 2 inside the clip range.
            expected = [-0.2 / 0.16 / 2, 0.25 / 0.1875 / 2]
            np.testing.assert_allclose(grad_of(p, "p"), expected, rtol=1e-5)
            assert p.grad.dtype == F32
            assert_new_gradient(p, targets.data, loss.data)
        else:
            assert p.grad is None
        assert targets.grad is None

    def test_log_softmax(self):
        x = Tensor([[0.0, LN2, math.log(3.0)]], requires_grad=True)
        out = log_softmax(x)
        check(out, [[-math.log(6.0), -math.log(3.0), -LN2]], rtol=1e-6)
        # Pick element 2: d out_2 / d x = one_hot(2) - softmax = [-1/6, -1/3, 1/2].
        if backward_if_possible(out[0, 2]):
            expected = [[-1 / 6, -1 / 3, 0.5]]
            np.testing.assert_allclose(grad_of(x, "x"), expected, rtol=1e-5, atol=1e-7)
            assert_new_gradient(x, out.data)
        else:
            assert x.grad is None

    # --- float32 central differences of our own (tests/support/gradients.py) --------------

    def test_mse_matches_central_differences(self):
        rng = np.random.default_rng(50)
        targets = rng.normal(size=(3, 4))
        p = rng.normal(size=(3, 4))
        gradients_match(lambda p: MSELoss()(p, Tensor(targets)), [p])

    def test_cross_entropy_matches_central_differences(self):
        rng = np.random.default_rng(51)
        logits = rng.normal(size=(4, 5))
        targets = [4, 0, 2, 2]
        gradients_match(lambda z: CrossEntropyLoss()(z, Tensor(targets)), [logits])

    def test_bce_matches_central_differences(self):
        rng = np.random.default_rng(52)
        p = rng.uniform(0.2, 0.8, size=(2, 3))
        targets = np.array([[1.0, 0.0, 0.25], [0.0, 1.0, 0.75]])
        gradients_match(lambda p: BinaryCrossEntropyLoss()(p, Tensor(targets)), [p])

    @pytest.mark.parametrize("dim", [0, 1, -1])
    def test_log_softmax_matches_central_differences(self, dim):
        rng = np.random.default_rng(53)
        x = rng.normal(size=(3, 4))
        weights = rng.normal(size=(3, 4))
        gradients_match(lambda x: (log_softmax(x, dim=dim) * Tensor(weights)).sum(), [x])

    def test_log_softmax_3d_matches_central_differences(self):
        rng = np.random.default_rng(54)
        x = rng.normal(size=(2, 3, 2))
        weights = rng.normal(size=(2, 3, 2))
        gradients_match(lambda x: (log_softmax(x, dim=1) * Tensor(weights)).sum(), [x])

    @pytest.mark.parametrize("loss_name", ["mse", "cross-entropy", "bce"])
    def test_network_matches_central_differences(self, loss_name):
        # Every pre-activation is at least 0.05 from ReLU's kink; a step of 1e-3 never
        # crosses it.
        def loss_fn(x, w1, b1, w2, b2):
            outputs = ReLU()(x.matmul(w1) + b1).matmul(w2) + b2
            if loss_name == "mse":
                return MSELoss()(outputs, Tensor(REGRESSION_TARGETS))
            if loss_name == "cross-entropy":
                return CrossEntropyLoss()(outputs, Tensor(CLASSES))
            return BinaryCrossEntropyLoss()(Sigmoid()(outputs), Tensor(BINARY_TARGETS))

        gradients_match(loss_fn, [X, W1, B1, W2, B2])

    # --- targets: no gradient, also not upstream of them ----------------------------------

    def test_no_gradient_flows_through_computed_targets(self):
        p = Tensor([[0.5, 0.25]], requires_grad=True)
        source = Tensor([[0.5, 0.25]], requires_grad=True)
        targets = source * 2  # [1.0, 0.5]; requires grad once autograd exists
        loss = MSELoss()(p, targets)
        check_loss(loss, (0.25 + 0.0625) / 2)
        if backward_if_possible(loss):
            np.testing.assert_allclose(grad_of(p, "p"), [[-0.5, -0.25]], rtol=1e-6)
        assert source.grad is None
        assert targets.grad is None

    def test_no_gradient_flows_into_bce_targets_computed_from_a_leaf(self):
        p = Tensor([0.8, 0.25], requires_grad=True)
        source = Tensor([2.0, 0.0], requires_grad=True)
        loss = BinaryCrossEntropyLoss()(p, source * 0.5)  # targets [1, 0]
        check_loss(loss, -(math.log(0.8) + math.log(0.75)) / 2)
        if backward_if_possible(loss):
            expected = [-0.2 / 0.16 / 2, 0.25 / 0.1875 / 2]
            np.testing.assert_allclose(grad_of(p, "p"), expected, rtol=1e-5)
        assert source.grad is None

    def test_no_gradient_flows_into_cross_entropy_targets_computed_from_a_leaf(self):
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]], requires_grad=True)
        source = Tensor([0.0, 2.0], requires_grad=True)
        loss = CrossEntropyLoss()(logits, source * 0.5)  # targets [0, 1]
        check_loss(loss, (LN2 + math.log(4 / 3)) / 2)
        if backward_if_possible(loss):
            expected = [[-0.25, 0.25], [0.125, -0.125]]
            np.testing.assert_allclose(grad_of(logits, "logits"), expected, rtol=1e-5, atol=1e-7)
        assert source.grad is None

    def test_predictions_as_their_own_targets_get_a_zero_gradient(self):
        # d/dp mean((p - t)^2) with t read as a constant equal to p: 2 (p - t) / n = 0.
        p = Tensor([1.0, -2.0, 3.0], requires_grad=True)
        loss = MSELoss()(p, p)
        check_loss(loss, 0.0, atol=0.0)
        if backward_if_possible(loss):
            np.testing.assert_array_equal(grad_of(p, "p"), [0.0, 0.0, 0.0])
            assert_new_gradient(p, loss.data)
        else:
            assert p.grad is None

    # --- aliasing of gradients (API.md, Aliasing) -----------------------------------------

    def test_two_leaves_fed_by_one_op_get_their_own_gradients(self):
        a = Tensor([[0.5, -1.0]], requires_grad=True)
        b = Tensor([[0.25, 0.5]], requires_grad=True)
        loss = MSELoss()(a + b, Tensor([[1.0, 1.0]]))
        # errors [-0.25, -1.5]: (0.0625 + 2.25) / 2
        check_loss(loss, 2.3125 / 2)
        if backward_if_possible(loss):
            for name, leaf in (("a", a), ("b", b)):
                np.testing.assert_allclose(grad_of(leaf, name), [[-0.25, -1.5]], rtol=1e-6)
            assert not shares(a.grad, b.grad)
            assert_new_gradient(a, b.data, loss.data)
            assert_new_gradient(b, a.data, loss.data)
        else:
            assert (a.grad, b.grad) == (None, None)

    def test_log_softmax_and_cross_entropy_of_one_leaf_accumulate(self):
        logits = Tensor([[0.0, 0.0]], requires_grad=True)
        loss = CrossEntropyLoss()(logits, Tensor([0])) + log_softmax(logits)[0, 1]
        check_loss(loss, LN2 - LN2, atol=1e-6)
        if backward_if_possible(loss):
            # CE: softmax - one_hot(0) = [-1/2, 1/2]; log_softmax[0, 1]: [-1/2, 1/2].
            np.testing.assert_allclose(
                grad_of(logits, "logits"),
                [[-1.0, 1.0]],
                rtol=1e-6,
                err_msg="the gradients of CE and of log_softmax(logits)[0, 1] must add up",
            )
            assert_new_gradient(logits, loss.data)
        else:
            assert logits.grad is None


# ===========================================================================================
# (e) Aliasing (API.md, last section): every result is new memory
# ===========================================================================================


class TestAliasing:
    def test_mse_result_shares_no_memory(self):
        p = Tensor([[1.0, 2.0], [3.0, 4.0]])
        t = Tensor([[0.0, 0.0], [0.0, 0.0]])
        loss = MSELoss()(p, t)
        check_loss(loss, 7.5)
        assert not shares(loss.data, p.data)
        assert not shares(loss.data, t.data)

    def test_mse_of_a_0d_prediction_is_new(self):
        p = Tensor(3.0)
        t = Tensor(3.0)
        loss = MSELoss()(p, t)
        check_loss(loss, 0.0, atol=0.0)
        assert not shares(loss.data, p.data)
        assert not shares(loss.data, t.data)

    def test_cross_entropy_result_shares_no_memory(self):
        # With a list or an array of targets: test_target_forms.
        logits = Tensor([[0.0, 0.0], [LN2, 0.0]])
        targets = Tensor([1, 0])
        loss = CrossEntropyLoss()(logits, targets)
        # Row 0: ln 2; row 1, class 0 of [2/3, 1/3]: ln 1.5.
        check_loss(loss, (LN2 + math.log(1.5)) / 2)
        assert not shares(loss.data, logits.data)
        assert not shares(loss.data, targets.data)

    def test_bce_result_shares_no_memory(self):
        # Probabilities inside the clip range: clipping them changes nothing, and still the
        # result is new.
        p = Tensor([0.5, 0.5])
        t = Tensor([1.0, 0.0])
        loss = BinaryCrossEntropyLoss()(p, t)
        check_loss(loss, LN2)
        assert not shares(loss.data, p.data)
        assert not shares(loss.data, t.data)
        check(p, [0.5, 0.5])

    @pytest.mark.parametrize("dim", [0, 1, -1])
    def test_log_softmax_result_shares_no_memory(self, dim):
        x = Tensor([[1.0, 2.0], [3.0, 5.0]])
        out = log_softmax(x, dim=dim)
        check(out, ref_log_softmax([[1.0, 2.0], [3.0, 5.0]], axis=dim), rtol=1e-6, atol=1e-7)
        assert not shares(out.data, x.data)

    def test_log_softmax_over_an_axis_of_one_is_new_zeros(self):
        x = Tensor([[3.0], [-7.0]])
        out = log_softmax(x)
        check(out, [[0.0], [0.0]])
        assert not shares(out.data, x.data)
        check(x, [[3.0], [-7.0]])

    def test_two_calls_give_separate_results(self):
        p = Tensor([1.0, -1.0])
        t = Tensor([0.0, 1.0])
        cases = [
            (lambda: MSELoss()(p, t), 2.5),
            (lambda: CrossEntropyLoss()(Tensor([[0.0, 0.0]]), Tensor([0])), LN2),
            (lambda: BinaryCrossEntropyLoss()(Tensor([0.5]), Tensor([1.0])), LN2),
        ]
        for make, value in cases:
            first, second = make(), make()
            check_loss(first, value)
            check_loss(second, value)
            assert not shares(first.data, second.data)
        x = Tensor([0.0, 0.0])
        first, second = log_softmax(x), log_softmax(x)
        check(first, [-LN2, -LN2])
        assert not shares(first.data, second.data)
