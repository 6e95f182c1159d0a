"""Module 04 (Losses), reference extras: the float64 mode, Dense, Sequential, Linear's repr.

Each test goes through a loss or log_softmax, so it needs module 04. The course-API tests are
in test_progressive_integration.py.
"""

import math

import numpy as np
import pytest
from course_api import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Layer,
    Linear,
    MSELoss,
    ReLU,
    Tensor,
    log_softmax,
)
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
from reference_extras import Dense, Sequential, default_dtype, get_default_dtype
from tinytorch_testing import F32, F64, check, linear_with, ref_bce, ref_cross_entropy, ref_mse

# --- float64 mode -------------------------------------------------------------------------


@pytest.mark.extra("float64")
class TestFloat64Mode:
    def test_tensor_dtype_and_a_loss_in_float64_mode(self):
        assert Tensor([1, 2]).dtype == F32
        with default_dtype(np.float64):
            assert get_default_dtype() == F64
            third = Tensor([1, 2]) / 3
            check(third, [1 / 3, 2 / 3], dtype=F64, rtol=1e-15)
            loss = MSELoss()(third, Tensor([0, 0]))
        check_loss(loss, (1 / 9 + 4 / 9) / 2, dtype=F64, rtol=1e-15, atol=0.0)
        assert get_default_dtype() == F32

    def test_log_softmax(self):
        with default_dtype(np.float64):
            out = log_softmax(Tensor([0.0, LN2, math.log(3.0)]))
        check(out, [-math.log(6.0), -math.log(3.0), -LN2], dtype=F64, rtol=1e-14)

    def test_log_softmax_of_a_float32_input_computed_in_float64_mode(self):
        x32 = Tensor([0.1, 0.2, 0.7])
        with default_dtype(np.float64):
            out = log_softmax(x32)
        x = np.asarray(x32.data, dtype=np.float64)
        shifted = x - x.max()
        check(out, shifted - np.log(np.exp(shifted).sum()), dtype=F64, rtol=1e-14)

    def test_mse(self):
        with default_dtype(np.float64):
            loss = MSELoss()(Tensor([0.1, 0.2]), Tensor([0.0, 0.0]))
        check_loss(loss, (0.01 + 0.04) / 2, dtype=F64, rtol=1e-14, atol=0.0)

    def test_cross_entropy(self):
        with default_dtype(np.float64):
            loss = CrossEntropyLoss()(Tensor([[0.0, LN2, math.log(3.0)]]), [0])
        check_loss(loss, math.log(6.0), dtype=F64, rtol=1e-14, atol=0.0)

    def test_bce_clips_at_exactly_1e_minus_7_and_float32_at_its_own_rounding(self):
        p, t = [1.0, 0.0], [0.0, 1.0]
        with default_dtype(np.float64):
            loss64 = BinaryCrossEntropyLoss()(Tensor(p), Tensor(t))
        check_loss(loss64, -math.log(1e-7), dtype=F64, rtol=1e-8, atol=0.0)
        # float32 holds 1 - 1e-7 as 1 - 2**-23: predicting 1 for a target 0 costs
        # -log(2**-23) = 23 ln 2 ~ 15.942, predicting 0 for a target 1 -log(1e-7) ~ 16.118.
        one = BinaryCrossEntropyLoss()(Tensor([1.0]), Tensor([0.0]))
        check_loss(one, -math.log(1 - HIGH32), rtol=1e-6)
        check_loss(one, 23 * LN2, rtol=1e-6)
        corners = BinaryCrossEntropyLoss()(
            Tensor([0.0, 1.0, 0.0, 1.0]), Tensor([0.0, 0.0, 1.0, 1.0])
        )
        check_loss(corners, ref_bce([0, 1, 0, 1], [0, 0, 1, 1], LOW32, HIGH32), rtol=1e-6)

    @settings(max_examples=50, deadline=None, database=None)
    @given(data=st.data())
    def test_property_bce_clip_bounds_in_each_dtype(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
        p = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        t = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
        loss = BinaryCrossEntropyLoss()(Tensor(p), Tensor(t))
        check_loss(loss, ref_bce(p, t, LOW32, HIGH32), rtol=1e-5, atol=1e-6)
        with default_dtype(np.float64):
            loss64 = BinaryCrossEntropyLoss()(Tensor(p), Tensor(t))
        check_loss(loss64, ref_bce(p, t), dtype=F64, rtol=1e-12, atol=1e-14)


# --- Dense, Sequential, Linear's repr -----------------------------------------------------


@pytest.mark.extra("Dense")
def test_dense_is_linear_and_feeds_a_loss():
    assert Dense.resolve() is Linear.resolve()
    layer = Dense(1, 2)
    layer.weight.data = np.array([[1e4, -1e4]], dtype=np.float32)
    logits = layer(Tensor([[1.0], [-1.0], [1.0]]))
    # Rows: correct by 2e4 (0), wrong by 2e4 (2e4), wrong by 2e4 (2e4).
    check_loss(CrossEntropyLoss()(logits, [0, 0, 1]), 4e4 / 3, rtol=1e-6)


@pytest.mark.extra("Sequential", "Dense")
def test_sequential_into_cross_entropy_and_mse():
    model = Sequential(linear_with(W1, B1), ReLU(), Dense(4, 2))
    model.layers[2].weight.data = W2
    model.layers[2].bias.data = B2
    logits = model(Tensor(X))
    check_loss(CrossEntropyLoss()(logits, CLASSES), ref_cross_entropy(numpy_network(), CLASSES))
    check_loss(
        MSELoss()(logits, Tensor(REGRESSION_TARGETS)), ref_mse(numpy_network(), REGRESSION_TARGETS)
    )


@pytest.mark.extra("Sequential")
def test_layer_base_and_sequential_into_a_loss():
    with pytest.raises(NotImplementedError):
        Layer().forward(Tensor([1.0]))
    assert Layer().parameters() == []
    first = linear_with([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
    second = linear_with([[1.0], [1.0]], [0.0])
    model = Sequential(first, ReLU(), second)
    # [3, 4] -> [7, -3] -> relu [7, 0] -> 7.
    out = model(Tensor([[3.0, 4.0]]))
    check(out, [[7.0]])
    check_loss(MSELoss()(out, Tensor([[5.0]])), 4.0)
    assert model.parameters() == [first.weight, first.bias, second.weight, second.bias]


@pytest.mark.extra("wording")
def test_linear_repr_and_its_output_into_a_loss():
    assert repr(Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
    layer = linear_with([[1.0], [2.0], [3.0]], [0.5])
    assert repr(layer) == "Linear(in_features=3, out_features=1, bias=True)"
    # [1, 1, 1] @ [1, 2, 3] + 0.5 = 6.5
    check_loss(MSELoss()(layer(Tensor([[1.0, 1.0, 1.0]])), Tensor([[4.5]])), 4.0)
