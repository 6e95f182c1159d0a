"""Module 02 (Activations), course API: API.md section "02 Activations", at every checkpoint.

Checkpoint 02 holds modules 01..02; these tests run again at every later checkpoint, where
module 05 has turned autograd on. What autograd changes on purpose (the requires_grad of
results, backward) is asserted for whichever state is in force; see ``autograd_loaded``.
Every test goes through an activation, so each one fails when module 02 is a stub.

Only course-API names and behaviours are used here. The reference's extras (float64 mode,
reprs, exact error wording, the op hook, behaviours API.md leaves open such as the TypeError
for a non-Tensor input or silence of numpy at the float32 extremes) are in test_extras.py.

Expected values are worked out by hand or from the formula in plain float64 numpy, never by
calling the code under test. Tolerances are stated in units of float32's machine epsilon
``EPS = 2**-23`` (one float32 ulp at 1 is EPS, so a correctly rounded result is within EPS/2).
"""

import math

import numpy as np
import pytest
from activation_cases import CLASSES, REFERENCE, each
from course_api import GELU, ReLU, Sigmoid, Softmax, Tanh, Tensor
from gradients import assert_gradients_match
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinytorch_testing import (
    EPS,
    F32,
    SETTINGS,
    autograd_loaded,
    check,
    ref_gelu,
    ref_sigmoid,
    ref_softmax,
)

ELEMENTWISE_NAMES = ("ReLU", "Sigmoid", "Tanh", "GELU")

# Any finite float32 array of up to 3 axes of up to 5.
FINITE_FLOAT32_ARRAYS = hnp.arrays(
    np.float32,
    hnp.array_shapes(max_dims=3, max_side=5),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
)


def quietly():
    """numpy's floating-point warnings off, for inputs whose intermediates overflow float32
    whatever the formula (1.702 * 3e38, 3e38 - (-3e38)): API.md asks for finite outputs there,
    not for silence, and pyproject turns every warning into an error. Silence is an extra."""
    return np.errstate(all="ignore")


# =========================================================================================
# (a) module 01 still works, each result fed through an activation
# =========================================================================================


class TestPriorStackStillWorking:
    """Module 01 (Tensor), re-proved with hand-worked values and fed through module 02."""

    def test_creation_is_float32(self):
        t = Tensor([[1, 2], [3, 4]])
        check(t, [[1.0, 2.0], [3.0, 4.0]])
        assert t.shape == (2, 2)
        assert t.size == 4
        check(ReLU()(t), [[1.0, 2.0], [3.0, 4.0]], rtol=0)

    def test_arithmetic_and_broadcasting(self):
        a = Tensor([[1.0, 2.0], [3.0, 4.0]])
        shifted = a * 2 - Tensor([1.0, 10.0])
        check(shifted, [[1.0, -6.0], [5.0, -2.0]])
        check(ReLU()(shifted), [[1.0, 0.0], [5.0, 0.0]], rtol=0)
        flipped = a / 4 * -1.0 + 1
        check(flipped, [[0.75, 0.5], [0.25, 0.0]])
        # tanh(0) = 0 exactly; tanh is odd
        check(Tanh()(flipped - 0.25), np.tanh([[0.5, 0.25], [0.0, -0.25]]), rtol=4 * EPS)

    def test_matmul_by_hand(self):
        product = Tensor([[1, 2], [3, 4]]).matmul(Tensor([[5, 6], [7, 8]]))
        check(product, [[19.0, 22.0], [43.0, 50.0]])
        # softmax rows: [19, 22] -> [1, e^3] / (1 + e^3); [43, 50] -> [1, e^7] / (1 + e^7)
        e3, e7 = math.exp(3.0), math.exp(7.0)
        expected = [[1 / (1 + e3), e3 / (1 + e3)], [1 / (1 + e7), e7 / (1 + e7)]]
        check(Softmax()(product), expected, rtol=8 * EPS)

    def test_reductions_and_exp(self):
        t = Tensor([[1.0, 5.0, 3.0], [-2.0, 0.0, -1.0]])
        check(t.max(axis=1, keepdims=True), [[5.0], [0.0]])
        check(t.sum(axis=0), [-1.0, 5.0, 2.0])
        check(t.mean(), 1.0)
        rectified = ReLU()(t)  # [[1, 5, 3], [0, 0, 0]]
        check(rectified.sum(axis=0), [1.0, 5.0, 3.0])
        check(rectified.max(axis=1, keepdims=True), [[5.0], [0.0]])
        check(rectified.mean(), 1.5)
        check(ReLU()(Tensor(np.exp([0.0, 1.0]))), [1.0, math.e])

    def test_results_require_grad_with_autograd(self):
        # Before 05 requires_grad is "stored and ignored": a result's flag is not fixed then
        # (the reference's plain results are test_extras.py's).
        t = Tensor([1.0, 2.0], requires_grad=True)
        assert t.requires_grad is True
        y = ReLU()(t * 3)
        check(y, [3.0, 6.0])
        if autograd_loaded():
            assert y.requires_grad is True, "ReLU()(t * 3) was not recorded"


# =========================================================================================
# (b) module 02: each activation
# =========================================================================================


class TestCommonInterface:
    @pytest.mark.parametrize(("name", "cls"), each())
    def test_no_constructor_arguments_and_no_parameters(self, name, cls):
        act = cls()
        first, second = act.parameters(), act.parameters()
        assert first == []
        assert isinstance(first, list)
        first.append("junk")  # each call gives its own list
        assert second == []
        assert act.parameters() == []

    @pytest.mark.parametrize(("name", "cls"), each())
    def test_calling_is_forward(self, name, cls):
        x = Tensor([[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]])
        via_call, via_forward = cls()(x), cls().forward(x)
        assert isinstance(via_call, Tensor)
        np.testing.assert_array_equal(via_call.data, via_forward.data)
        check(via_call, REFERENCE[name](x.data), rtol=8 * EPS)

    @pytest.mark.parametrize(("name", "cls"), each())
    @pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 1, 4), (1, 1)])
    def test_shape_dtype_and_a_new_tensor(self, name, cls, shape):
        # API.md, Aliasing: an output never shares memory with its input.
        data = np.linspace(-3.0, 3.0, int(np.prod(shape))).reshape(shape)
        x = Tensor(data)
        y = cls()(x)
        assert y is not x
        assert y.shape == shape
        assert y.dtype == F32
        assert not np.shares_memory(y.data, x.data)
        check(x, data)  # the input is unchanged
        check(y, REFERENCE[name](data), rtol=8 * EPS)

    @pytest.mark.parametrize(
        ("cls", "expected"),
        [
            pytest.param(ReLU, 1.5, id="ReLU"),
            pytest.param(Sigmoid, ref_sigmoid(1.5), id="Sigmoid"),
            pytest.param(Tanh, math.tanh(1.5), id="Tanh"),
            pytest.param(GELU, ref_gelu(1.5), id="GELU"),
        ],
    )
    def test_elementwise_on_a_0d_tensor(self, cls, expected):
        check(cls()(Tensor(1.5)), expected, rtol=8 * EPS)

    @pytest.mark.parametrize(("name", "cls"), each(ELEMENTWISE_NAMES))
    def test_elementwise_on_an_empty_tensor(self, name, cls):
        y = cls()(Tensor(np.zeros((2, 0))))
        assert y.shape == (2, 0)
        assert y.dtype == F32

    @pytest.mark.parametrize(("name", "cls"), each())
    def test_requires_grad_follows_the_input(self, name, cls):
        # Before 05 the flag of a result is not fixed (see test_extras.py for the reference's).
        x = Tensor([[0.5, -1.0]], requires_grad=True)
        y = cls()(x)
        check(y, REFERENCE[name]([[0.5, -1.0]]), rtol=8 * EPS)
        if autograd_loaded():
            assert y.requires_grad is True, f"the result of {name} was not recorded"
        assert cls()(Tensor([[0.5, -1.0]])).requires_grad is False


class TestReLU:
    def test_by_hand(self):
        check(ReLU()(Tensor([-3.0, -0.5, 0.0, 0.25, 7.0])), [0.0, 0.0, 0.0, 0.25, 7.0])

    def test_zero_maps_to_zero(self):
        y = ReLU()(Tensor([0.0, -0.0]))
        np.testing.assert_array_equal(y.data, [0.0, 0.0])

    def test_matrix_keeps_positive_entries(self):
        check(ReLU()(Tensor([[1.0, -1.0], [-2.0, 2.0]])), [[1.0, 0.0], [0.0, 2.0]])

    def test_extremes_are_exact(self):
        check(ReLU()(Tensor([-3e38, 3e38, -1e-30, 1e-30])), [0.0, 3e38, 0.0, 1e-30])

    @SETTINGS
    @given(FINITE_FLOAT32_ARRAYS)
    def test_matches_reference_exactly(self, data):
        expected = np.where(data.astype(np.float64) > 0, data.astype(np.float64), 0.0)
        check(ReLU()(Tensor(data)), expected, rtol=0)


class TestSigmoid:
    def test_zero_is_one_half(self):
        check(Sigmoid()(Tensor(0.0)), 0.5, rtol=0)

    def test_by_hand(self):
        # 1 / (1 + e^-x) for x = 1, -1, 2, ln 3:  e/(e+1), 1/(1+e), 1/(1+e^-2), 3/4
        x = [1.0, -1.0, 2.0, math.log(3.0)]
        e = math.e
        expected = [e / (e + 1), 1 / (1 + e), 1 / (1 + e**-2), 0.75]
        check(Sigmoid()(Tensor(x)), expected, rtol=4 * EPS)

    def test_symmetry(self):
        x = Tensor([0.3, 1.7, 4.0, 12.0])
        total = Sigmoid()(x) + Sigmoid()(x * -1.0)
        check(total, [1.0, 1.0, 1.0, 1.0], rtol=4 * EPS)

    @SETTINGS
    @given(FINITE_FLOAT32_ARRAYS)
    def test_matches_float64_reference(self, data):
        # A few float32 roundings (exp, 1 + z, the division): within 4 ulps relatively; the
        # atol covers float32 subnormals (sigmoid(x) < 1.2e-38 for x < -87).
        y = Sigmoid()(Tensor(data))
        check(y, ref_sigmoid(data), rtol=4 * EPS, atol=1e-44)
        assert np.all((y.data >= 0) & (y.data <= 1))


class TestTanh:
    def test_by_hand(self):
        e2 = math.e**2
        # tanh(1) = (e^2 - 1)/(e^2 + 1); tanh(ln 2) = 3/5; odd function
        expected = [0.0, (e2 - 1) / (e2 + 1), -(e2 - 1) / (e2 + 1), 0.6]
        check(Tanh()(Tensor([0.0, 1.0, -1.0, math.log(2.0)])), expected, rtol=4 * EPS)

    def test_saturates_at_plus_minus_one(self):
        check(Tanh()(Tensor([1000.0, -1000.0, 20.0, -20.0])), [1.0, -1.0, 1.0, -1.0], rtol=0)

    @SETTINGS
    @given(
        hnp.arrays(
            np.float32,
            hnp.array_shapes(max_dims=2, max_side=6),
            elements=st.floats(-50, 50, width=32),
        )
    )
    def test_matches_float64_reference(self, data):
        check(Tanh()(Tensor(data)), np.tanh(data.astype(np.float64)), rtol=4 * EPS, atol=1e-44)


class TestGELU:
    def test_by_hand(self):
        # gelu(x) = x * sigmoid(1.702 x): gelu(0) = 0; gelu(1) = 1/(1 + e^-1.702);
        # gelu(-1) = -1/(1 + e^1.702); gelu(ln 3 / 1.702) = (ln 3 / 1.702) * 3/4.
        a = math.log(3.0) / 1.702
        expected = [0.0, 1 / (1 + math.exp(-1.702)), -1 / (1 + math.exp(1.702)), a * 0.75]
        check(GELU()(Tensor([0.0, 1.0, -1.0, a])), expected, rtol=8 * EPS)

    def test_is_the_sigmoid_approximation_not_the_erf_gelu(self):
        # Exact GELU(1) = Phi(1) = 0.8413447; the sigmoid form gives 0.8457958.
        y = GELU()(Tensor([1.0]))
        check(y, [0.8457957], rtol=1e-6)
        assert abs(float(y.data[0]) - 0.5 * (1 + math.erf(1 / math.sqrt(2)))) > 4e-3

    def test_extremes(self):
        # 1.702 * 3e38 overflows float32 in any formula; the output must still be exact.
        big = float(np.float32(3e38))  # 3e38 itself is not a float32 value
        x = [1000.0, -1000.0, big, -big, 100.0]
        with quietly():
            y = GELU()(Tensor(x))
        check(y, [1000.0, 0.0, big, 0.0, 100.0], rtol=0)

    @SETTINGS
    @given(
        hnp.arrays(
            np.float32,
            hnp.array_shapes(max_dims=2, max_side=6),
            elements=st.floats(-200, 200, width=32),
        )
    )
    def test_matches_float64_reference(self, data):
        # float32 rounds 1.702 * x to relative EPS/2, an absolute error of up to
        # 1.702 |x| EPS/2 in the exponent, i.e. a relative error of that size in the result;
        # plus a few ulps for exp, the division and the product. Below 1.2e-38 sigmoid is a
        # float32 subnormal with an absolute error of a few 1.4e-45 steps, which the product
        # multiplies by |x|: hence the (1 + |x|) * 1e-44 term.
        # API.md fixes finite outputs, not subnormal accuracy: below x ~= -52, 1.702 x is past
        # float32's exp range and sigmoid(1.702 x) may round to 0, an error of at most
        # 52.2 e^-88.7 < 2e-37 (the reference's tighter result is test_extras.py's).
        x = data.astype(np.float64)
        y = GELU()(Tensor(data))
        assert y.dtype == F32
        assert y.shape == data.shape
        bound = (8 + 1.702 * np.abs(x)) * EPS * np.abs(ref_gelu(x)) + 2e-37
        error = np.abs(y.data - ref_gelu(x))
        assert np.all(error <= bound), f"GELU off the float64 reference at {data[error > bound]}"


class TestSoftmax:
    def test_by_hand(self):
        # [0, ln 2, ln 5]: exp gives [1, 2, 5], sum 8
        check(Softmax()(Tensor([0.0, math.log(2.0), math.log(5.0)])), [0.125, 0.25, 0.625])

    def test_equal_logits_are_uniform(self):
        check(Softmax()(Tensor([[3.0, 3.0, 3.0, 3.0]])), [[0.25] * 4], rtol=0)

    def test_shift_invariance(self):
        base = np.array([[0.5, -1.0, 2.0]])
        a, b = Softmax()(Tensor(base)), Softmax()(Tensor(base + 100.0))
        check(a, ref_softmax(base), rtol=4 * EPS)
        check(b, ref_softmax(base), rtol=4 * EPS)

    def test_default_dim_is_last(self):
        x = np.array([[1.0, 2.0], [3.0, 5.0]])
        check(Softmax()(Tensor(x)), ref_softmax(x, axis=-1), rtol=4 * EPS)
        # each row: [1, e] / (1 + e) and [1, e^2] / (1 + e^2)
        e = math.e
        check(
            Softmax()(Tensor(x)), [[1 / (1 + e), e / (1 + e)], [1 / (1 + e**2), e**2 / (1 + e**2)]]
        )

    @pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
    def test_along_each_dim(self, dim):
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 5 - 2
        y = Softmax()(Tensor(x), dim=dim)
        check(y, ref_softmax(x, axis=dim), rtol=4 * EPS)
        np.testing.assert_allclose(y.data.astype(np.float64).sum(axis=dim), 1.0, rtol=8 * EPS)

    def test_dim_as_positional_argument_and_call(self):
        x = np.array([[0.0, 1.0], [2.0, 4.0]])
        check(Softmax().forward(Tensor(x), 0), ref_softmax(x, axis=0), rtol=4 * EPS)
        check(Softmax()(Tensor(x), 0), ref_softmax(x, axis=0), rtol=4 * EPS)
        check(Softmax()(Tensor(x), dim=np.int64(0)), ref_softmax(x, axis=0), rtol=4 * EPS)

    def test_columns_along_dim_0_by_hand(self):
        # column 0: [0, ln 3] -> [1/4, 3/4]; column 1: equal -> [1/2, 1/2]
        y = Softmax()(Tensor([[0.0, 7.0], [math.log(3.0), 7.0]]), dim=0)
        check(y, [[0.25, 0.5], [0.75, 0.5]])

    def test_single_element_is_one(self):
        check(Softmax()(Tensor([[-1234.5]])), [[1.0]], rtol=0)

    @pytest.mark.parametrize("dim", [0, 1, -1])
    def test_output_along_a_dim_is_new(self, dim):
        x = Tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
        y = Softmax()(x, dim=dim)
        assert not np.shares_memory(y.data, x.data)
        check(y, ref_softmax(x.data, axis=dim), rtol=4 * EPS)


# =========================================================================================
# numerical stability at the extremes (finite and exact; API.md: no overflow at +-1000)
# =========================================================================================


class TestNumericalStability:
    """Values at the extremes (numpy's warnings there are not the course API's business;
    silence is test_extras.py's)."""

    def test_sigmoid_at_plus_minus_1000_is_exactly_1_and_0(self):
        y = Sigmoid()(Tensor([1000.0, -1000.0, 88.8, -88.8, 3e38, -3e38]))
        assert np.all(np.isfinite(y.data))
        assert y.data[0] == 1.0
        assert y.data[1] == 0.0
        assert y.data[2] == 1.0
        assert y.data[4] == 1.0
        assert y.data[5] == 0.0
        # sigmoid(-88.8) = e^-88.8 / (1 + e^-88.8) ~= 2.8e-39, a float32 subnormal; API.md
        # fixes finiteness, not the subnormal tail, so 0 is allowed here (the reference keeps
        # the tail: test_extras.py).
        assert 0.0 <= y.data[3] <= 3e-39

    def test_tanh_at_plus_minus_1000(self):
        y = Tanh()(Tensor([1000.0, -1000.0, 3e38, -3e38]))
        np.testing.assert_array_equal(y.data, [1.0, -1.0, 1.0, -1.0])

    def test_gelu_at_plus_minus_1000(self):
        y = GELU()(Tensor([1000.0, -1000.0]))
        np.testing.assert_array_equal(y.data, [1000.0, 0.0])

    def test_relu_at_plus_minus_1000(self):
        np.testing.assert_array_equal(ReLU()(Tensor([1000.0, -1000.0])).data, [1000.0, 0.0])

    @pytest.mark.parametrize(
        ("logits", "expected"),
        [
            ([1e4, -1e4], [1.0, 0.0]),
            ([-1e4, 1e4, -1e4], [0.0, 1.0, 0.0]),
            ([1e4, 1e4], [0.5, 0.5]),
            ([-1e4, -1e4, -1e4, -1e4], [0.25, 0.25, 0.25, 0.25]),
            ([-1047.0, -981.0, 1891.0], [0.0, 0.0, 1.0]),
        ],
    )
    def test_softmax_at_extreme_logits(self, logits, expected):
        y = Softmax()(Tensor(logits))
        assert np.all(np.isfinite(y.data))
        # the expected distribution also follows from float64 max-subtraction
        np.testing.assert_allclose(ref_softmax(logits), expected, rtol=0, atol=1e-300)
        check(y, ref_softmax(logits), rtol=0, atol=0)
        assert float(y.data.astype(np.float64).sum()) == 1.0

    def test_softmax_large_logits_close_together(self):
        # 1e4 + [0, ln 2, ln 5] cannot be exponentiated directly (e^1e4 overflows float64 too);
        # float32 stores 1e4 + ln 2 with an ulp of 2**-10, so compare with the stored values.
        x32 = (1e4 + np.array([0.0, math.log(2.0), math.log(5.0)])).astype(np.float32)
        y = Softmax()(Tensor(x32))
        check(y, ref_softmax(x32), rtol=4 * EPS)
        np.testing.assert_allclose(y.data, [0.125, 0.25, 0.625], rtol=2e-3)


def test_softmax_rows_of_extremes_sum_to_one():
    # 3e38 - (-3e38) overflows float32 in the max subtraction: finite output, not silence,
    # is the course API here (silence: test_extras.py).
    x = np.array([[1e4, -1e4, 0.0], [-3e38, 3e38, 0.0], [-1047.0, -981.0, 1891.0]])
    with quietly():
        y = Softmax()(Tensor(x))
    assert np.all(np.isfinite(y.data))
    np.testing.assert_array_equal(y.data.astype(np.float64).sum(axis=1), [1.0, 1.0, 1.0])
    check(y, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], rtol=0)


LOGITS = st.one_of(
    st.floats(-30, 30, width=32),
    st.floats(-1e4, 1e4, width=32),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)


class TestSoftmaxProperty:
    @SETTINGS
    @given(data=st.data())
    def test_rows_sum_to_one_and_match_float64_reference(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
        x = data.draw(hnp.arrays(np.float32, shape, elements=LOGITS))
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        with quietly():  # logits of +-3e38 overflow x - max; silence is test_extras.py's
            y = Softmax()(Tensor(x), dim=dim)
        n = shape[dim]
        assert y.shape == shape
        assert y.dtype == F32
        assert np.all(np.isfinite(y.data))
        assert np.all((y.data >= 0) & (y.data <= 1))
        # Each probability is a float32 exp of a (rounded) shifted logit over a float32 sum of
        # n terms: a relative error of about (n + 4) ulps, plus |shift| * EPS/2 from rounding
        # x - max (|shift| <= 104 for any entry above the float32 subnormal range, 1e-37).
        # Entries below that range are covered by the atol.
        expected = ref_softmax(x, axis=dim)
        np.testing.assert_allclose(y.data, expected, rtol=(n + 4 + 52) * EPS, atol=1e-37)
        # The sum is exact up to rounding: the rounding of x - max changes each exp(shift)
        # but the normaliser is the sum of those same values, so it cancels; what remains is
        # the n-term float32 sum and one division per entry, (2 n + 4) ulps with margin.
        sums = y.data.astype(np.float64).sum(axis=dim)
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=(2 * n + 4) * EPS)


# =========================================================================================
# (c) integration of module 02 with module 01
# =========================================================================================


class TestIntegrationWithTensor:
    def test_softmax_of_an_affine_map(self):
        x = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 0.0]])
        w = np.array([[0.2, -0.3, 1.0], [0.7, 0.1, -0.5]])
        b = np.array([0.1, 0.0, -0.2])
        logits = Tensor(x).matmul(Tensor(w)) + Tensor(b)
        probs = Softmax()(logits)
        check(probs, ref_softmax(x @ w + b), rtol=8 * EPS)
        check(probs.sum(axis=-1), [1.0, 1.0, 1.0], rtol=4 * EPS)

    def test_hidden_layer_by_hand(self):
        # h = relu([1, 2] @ [[1, -1], [1, -1]] + [0, 1]) = relu([3, -2]) = [3, 0];
        # tanh(h @ [[0], [1]]) = tanh(0) = 0;  sigmoid(h @ [[1], [0]] - 3) = sigmoid(0) = 1/2
        hidden = Tensor([[1.0, 2.0]]).matmul(Tensor([[1.0, -1.0], [1.0, -1.0]]))
        h = ReLU()(hidden + Tensor([0.0, 1.0]))
        check(h, [[3.0, 0.0]])
        check(Tanh()(h.matmul(Tensor([[0.0], [1.0]]))), [[0.0]])
        check(Sigmoid()(h.matmul(Tensor([[1.0], [0.0]])) - 3), [[0.5]])

    def test_outputs_feed_tensor_operations(self):
        x = Tensor([-2.0, 0.0, 2.0])
        check(ReLU()(x) * 2 + 1, [1.0, 1.0, 5.0])
        # tanh(x) = 2 sigmoid(2x) - 1
        check(Sigmoid()(x * 2) * 2 - 1, np.tanh([-2.0, 0.0, 2.0]), rtol=1e-6, atol=1e-7)
        check(Softmax()(x).max(), ref_softmax([-2.0, 0.0, 2.0]).max(), rtol=4 * EPS)
        check(x * GELU()(x), [-2.0 * ref_gelu(-2.0), 0.0, 2.0 * ref_gelu(2.0)], rtol=8 * EPS)

    def test_composition_matches_float64(self):
        x = np.linspace(-4.0, 4.0, 12).reshape(3, 4)
        y = Softmax()(Tanh()(GELU()(ReLU()(Tensor(x)) - 1)), dim=0)
        r = ref_softmax(np.tanh(ref_gelu(np.maximum(x, 0) - 1)), axis=0)
        check(y, r, rtol=16 * EPS)

    def test_softmax_of_indexed_and_reshaped_tensor(self):
        t = Tensor(np.arange(6)).reshape(2, 3)
        check(Softmax()(t[1]), ref_softmax([3.0, 4.0, 5.0]), rtol=4 * EPS)
        check(Softmax()(t.transpose(), dim=0), ref_softmax([[0, 1, 2], [3, 4, 5]]).T, rtol=4 * EPS)


# =========================================================================================
# with autograd on (checkpoints 05..08): gradients through each activation
# =========================================================================================

# Away from ReLU's kink at 0 by far more than the finite-difference step (1e-3).
GRAD_INPUT = np.array([[-1.5, -0.4, 0.3], [0.8, 2.0, -0.05]])
GRAD_WEIGHTS = np.random.default_rng(20).uniform(-1.0, 1.0, GRAD_INPUT.shape)


def activation_calls():
    """(activation name, Softmax's dim or None) for every activation, with ids."""
    calls = [pytest.param(name, None, id=name) for name in ELEMENTWISE_NAMES]
    return calls + [pytest.param("Softmax", dim, id=f"Softmax-{dim}") for dim in (-1, 0)]


def activation(name, dim):
    """(function of a Tensor, float64 reference of it) for an activation_calls() entry."""
    if dim is None:
        return CLASSES[name](), REFERENCE[name]
    return (lambda x: Softmax()(x, dim=dim)), (lambda x: ref_softmax(x, axis=dim))


class TestWithAutograd:
    """Before checkpoint 05 the forward values are what these tests can check; from 05 on the
    gradients of each activation match float32 central differences of our own, and a
    gradient never shares memory with the forward's arrays (API.md, Aliasing)."""

    @pytest.mark.parametrize(("name", "dim"), activation_calls())
    def test_gradient_matches_central_differences(self, name, dim):
        act, reference = activation(name, dim)
        check(act(Tensor(GRAD_INPUT)), reference(GRAD_INPUT), rtol=8 * EPS, atol=1e-7)
        if autograd_loaded():
            assert_gradients_match(lambda x: (act(x) * Tensor(GRAD_WEIGHTS)).sum(), [GRAD_INPUT])

    @pytest.mark.parametrize(("name", "dim"), activation_calls())
    def test_gradient_is_a_new_array(self, name, dim):
        act, reference = activation(name, dim)
        x = Tensor(GRAD_INPUT, requires_grad=True)
        y = act(x)
        check(y, reference(GRAD_INPUT), rtol=8 * EPS, atol=1e-7)
        assert not np.shares_memory(y.data, x.data)
        if autograd_loaded():
            seed = GRAD_WEIGHTS.astype(np.float32)
            y.backward(seed)
            assert x.grad is not None, f"x got no gradient through {name} (not recorded?)"
            assert isinstance(x.grad, np.ndarray)
            assert x.grad.shape == GRAD_INPUT.shape
            for other in (seed, y.data, x.data):
                assert not np.shares_memory(x.grad, other)

    def test_relu_gradient_by_hand(self):
        # d sum(w * relu(x)) / dx = w where x > 0, else 0
        x = Tensor([[-1.0, 2.0, 0.5, -3.0]], requires_grad=True)
        w = np.array([[0.5, -1.0, 2.0, 4.0]])
        y = ReLU()(x)
        check(y, [[0.0, 2.0, 0.5, 0.0]])
        if autograd_loaded():
            (y * Tensor(w)).sum().backward()
            np.testing.assert_array_equal(x.grad, [[0.0, -1.0, 2.0, 0.0]])

    @pytest.mark.parametrize(
        ("cls", "value", "slope"),
        [pytest.param(Sigmoid, 0.5, 0.25, id="Sigmoid"), pytest.param(Tanh, 0.0, 1.0, id="Tanh")],
    )
    def test_sigmoid_and_tanh_gradients_at_zero_by_hand(self, cls, value, slope):
        # sigmoid(0) = 1/2, sigmoid'(0) = 1/4; tanh(0) = 0, tanh'(0) = 1
        x = Tensor([0.0], requires_grad=True)
        y = cls()(x)
        check(y, [value])
        if autograd_loaded():
            y.sum().backward()
            assert x.grad is not None, "x got no gradient (the activation was not recorded)"
            np.testing.assert_allclose(x.grad, [slope], rtol=4 * EPS)


# =========================================================================================
# (d) bad input
# =========================================================================================


class TestBadInput:
    @pytest.mark.parametrize(("name", "cls"), each())
    def test_constructor_takes_no_arguments(self, name, cls):
        with pytest.raises(TypeError):
            cls(1)
        # the same class without an argument works
        check(cls()(Tensor([[2.0]])), REFERENCE[name]([[2.0]]), rtol=8 * EPS)
