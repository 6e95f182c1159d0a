"""Module 02 (Activations): the reference's extras (API.md, "Two tiers"), at every checkpoint.

What the course API leaves open and the reference promises: the float64 mode, reprs and
exact error messages (feature ``wording``), the autograd hook ``Tensor._from_op`` with its op
names, and behaviours of the reference that API.md does not fix (TypeError for a non-Tensor
input, Softmax's checks of ``dim``, an empty Softmax, IEEE results for non-finite input and
no numpy warning at the float32 extremes; feature ``internals``, the reference's own).
Each test still goes through an activation, so each one fails when module 02 is a stub.
"""

import math
import warnings

import numpy as np
import pytest
from activation_cases import CLASSES, REFERENCE, each
from course_api import GELU, ReLU, Sigmoid, Softmax, Tanh, Tensor
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference_extras import default_dtype, record_from_op
from tinytorch_testing import (
    EPS,
    F32,
    F64,
    SETTINGS,
    autograd_loaded,
    check,
    numpy_strict,
    ref_gelu,
    ref_sigmoid,
    ref_softmax,
)

# =========================================================================================
# float64 mode
# =========================================================================================


@pytest.mark.extra("float64")
@pytest.mark.parametrize(("name", "cls"), each())
def test_float64_mode_computes_in_float64(name, cls):
    # 0.1 is not a float32 value; only a float64 computation matches to 1e-14.
    data = np.array([[0.1, -0.7, 2.3]])
    with default_dtype(np.float64):
        y = cls()(Tensor(data))
    check(y, REFERENCE[name](data), dtype=F64, rtol=1e-14)


# =========================================================================================
# wording: reprs and error messages
# =========================================================================================


@pytest.mark.extra("wording")
class TestWording:
    @pytest.mark.parametrize(("name", "cls"), each())
    def test_repr_names_the_class(self, name, cls):
        assert repr(cls()) == f"{name}()"

    @pytest.mark.parametrize(("name", "cls"), each())
    @pytest.mark.parametrize(
        ("value", "type_name"),
        [([1.0, 2.0], "list"), (np.ones(2), "ndarray"), (3.0, "float"), (None, "NoneType")],
    )
    def test_non_tensor_input_raises_type_error(self, name, cls, value, type_name):
        with pytest.raises(TypeError, match=rf"{name}\.forward expects a Tensor; got {type_name}"):
            cls()(value)

    @pytest.mark.parametrize(("name", "cls"), each())
    def test_constructor_takes_no_arguments(self, name, cls):
        with pytest.raises(TypeError, match="takes no arguments"):
            cls(1)
        check(cls()(Tensor([[2.0]])), REFERENCE[name]([[2.0]]), rtol=8 * EPS)

    @pytest.mark.parametrize("dim", [2, -3, 5])
    def test_softmax_dim_out_of_range_names_dim_and_shape(self, dim):
        with pytest.raises(IndexError, match=rf"dim {dim} is out of range.*shape \(2, 3\)"):
            Softmax()(Tensor(np.ones((2, 3))), dim=dim)

    @pytest.mark.parametrize(
        ("dim", "type_name"), [(1.0, "float"), ("0", "str"), (None, "NoneType")]
    )
    def test_softmax_dim_must_be_an_int(self, dim, type_name):
        with pytest.raises(TypeError, match=f"dim must be an int; got {type_name}"):
            Softmax()(Tensor([1.0, 2.0]), dim=dim)

    def test_softmax_of_a_0d_tensor(self):
        with pytest.raises(ValueError, match=r"at least 1 dimension.*0-d"):
            Softmax()(Tensor(1.0))


# =========================================================================================
# internals: the autograd hook, Tensor._from_op, under the agreed op names
# =========================================================================================


@pytest.mark.extra("internals")
class TestAutogradHook:
    @pytest.fixture
    def calls(self, monkeypatch):
        return record_from_op(monkeypatch, fields=("out", "op", "inputs", "attrs"))

    @pytest.mark.parametrize(
        ("cls", "op", "expected"),
        [
            pytest.param(ReLU, "relu", [[0.0, 0.0, 2.0]], id="ReLU"),
            pytest.param(Sigmoid, "sigmoid", ref_sigmoid([[-1.0, 0.0, 2.0]]), id="Sigmoid"),
            pytest.param(Tanh, "tanh", np.tanh([[-1.0, 0.0, 2.0]]), id="Tanh"),
            pytest.param(GELU, "gelu", ref_gelu([[-1.0, 0.0, 2.0]]), id="GELU"),
        ],
    )
    def test_elementwise_op_names(self, calls, cls, op, expected):
        x = Tensor([[-1.0, 0.0, 2.0]])
        y = cls()(x)
        [(out, recorded_op, inputs, attrs)] = calls
        assert recorded_op == op
        assert attrs == {}
        assert len(inputs) == 1
        assert inputs[0] is x
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, expected, rtol=8 * EPS)
        check(y, expected, rtol=8 * EPS)

    @pytest.mark.parametrize("dim", [-1, 0, 1])
    def test_softmax_records_dim(self, calls, dim):
        x = Tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
        Softmax()(x, dim=dim)
        [(out, recorded_op, inputs, attrs)] = calls
        assert recorded_op == "softmax"
        # The recorded dim names the same axis (given as is, or made non-negative).
        assert set(attrs) == {"dim"}
        assert isinstance(attrs["dim"], int)
        assert attrs["dim"] % 2 == dim % 2
        assert inputs[0] is x
        assert len(inputs) == 1
        np.testing.assert_allclose(out, ref_softmax(x.data, axis=dim), rtol=4 * EPS)

    def test_softmax_default_dim_is_recorded(self, calls):
        Softmax()(Tensor([[1.0, 2.0], [3.0, 4.0]]))
        [(_, _, _, attrs)] = calls
        assert set(attrs) == {"dim"}
        assert attrs["dim"] in (-1, 1)

    def test_no_other_operation_is_recorded(self, calls):
        # The forward is one numpy computation, recorded once (not a chain of Tensor ops that
        # autograd would differentiate a second time).
        for cls in CLASSES.values():
            cls()(Tensor([[1.0, -1.0]]))
        assert [c[1] for c in calls] == ["relu", "sigmoid", "tanh", "gelu", "softmax"]


# =========================================================================================
# internals: the reference's behaviour where API.md is silent
# =========================================================================================


@pytest.mark.extra("internals")
class TestReferenceBehaviour:
    def test_softmax_of_an_empty_tensor(self):
        y = Softmax()(Tensor(np.zeros((2, 0))))
        assert y.shape == (2, 0)
        assert y.dtype == F32

    def test_non_finite_input_follows_ieee_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.isnan(ReLU()(Tensor([np.nan])).data[0])
            check(Sigmoid()(Tensor([np.inf, -np.inf])), [1.0, 0.0], rtol=0)
            check(Tanh()(Tensor([np.inf, -np.inf])), [1.0, -1.0], rtol=0)
            assert np.all(np.isnan(Softmax()(Tensor([np.inf, 0.0])).data[:1]))

    @pytest.mark.usefixtures("strict_numpy")
    def test_gelu_at_the_float32_extremes_is_silent(self):
        big = float(np.float32(3e38))
        y = GELU()(Tensor([1000.0, -1000.0, big, -big, 100.0]))
        check(y, [1000.0, 0.0, big, 0.0, 100.0], rtol=0)

    @pytest.mark.usefixtures("strict_numpy")
    def test_softmax_rows_of_extremes_are_silent(self):
        x = np.array([[1e4, -1e4, 0.0], [-3e38, 3e38, 0.0], [-1047.0, -981.0, 1891.0]])
        y = Softmax()(Tensor(x))
        check(y, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], rtol=0)

    @SETTINGS
    @given(data=st.data())
    def test_softmax_of_any_finite_logits_is_silent(self, data):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
        elements = st.floats(allow_nan=False, allow_infinity=False, width=32)
        x = data.draw(hnp.arrays(np.float32, shape, elements=elements))
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        with numpy_strict():
            y = Softmax()(Tensor(x), dim=dim)
        assert np.all(np.isfinite(y.data))
        sums = y.data.astype(np.float64).sum(axis=dim)
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=(2 * shape[dim] + 4) * EPS)


@pytest.mark.extra("internals")
@pytest.mark.parametrize(("name", "cls"), each())
def test_results_are_plain_before_autograd(name, cls):
    """The reference ignores requires_grad before checkpoint 05 (results are plain); from 05
    on every result of an input that requires grad is recorded."""
    x = Tensor([[0.5, -1.0]], requires_grad=True)
    assert (x * 3).requires_grad is autograd_loaded()
    y = cls()(x)
    check(y, REFERENCE[name]([[0.5, -1.0]]), rtol=8 * EPS)
    assert y.requires_grad is autograd_loaded()


@pytest.mark.extra("internals")
@SETTINGS
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(max_dims=2, max_side=6),
        elements=st.floats(-200, 200, width=32),
    )
)
def test_gelu_is_accurate_down_to_float32_subnormals(data):
    # The course tier lets sigmoid(1.702 x) round to 0 below x ~= -52; the reference keeps
    # the float32 subnormal tail: a few 1.4e-45 steps, times |x| through the product.
    x = data.astype(np.float64)
    y = GELU()(Tensor(data))
    bound = (8 + 1.702 * np.abs(x)) * EPS * np.abs(ref_gelu(x)) + (1 + np.abs(x)) * 1e-44
    assert np.all(np.abs(y.data - ref_gelu(x)) <= bound)


# The inputs of test_progressive_integration.py's TestNumericalStability, whose values the
# course tier checks; the reference also computes them without any numpy warning.
EXTREME_CALLS = {
    "Sigmoid": ("Sigmoid", [1000.0, -1000.0, 88.8, -88.8, 3e38, -3e38]),
    "Tanh": ("Tanh", [1000.0, -1000.0, 3e38, -3e38]),
    "GELU": ("GELU", [1000.0, -1000.0]),
    "ReLU": ("ReLU", [1000.0, -1000.0]),
    "Softmax-a": ("Softmax", [1e4, -1e4]),
    "Softmax-b": ("Softmax", [-1e4, 1e4, -1e4]),
    "Softmax-c": ("Softmax", [1e4, 1e4]),
    "Softmax-d": ("Softmax", [-1e4, -1e4, -1e4, -1e4]),
    "Softmax-e": ("Softmax", [-1047.0, -981.0, 1891.0]),
}


@pytest.mark.extra("internals")
@pytest.mark.parametrize("case", list(EXTREME_CALLS))
def test_extremes_are_silent(case):
    name, values = EXTREME_CALLS[case]
    with numpy_strict():  # the activation only: the float64 reference may underflow
        y = CLASSES[name]()(Tensor(values))
    assert np.all(np.isfinite(y.data))
    check(y, REFERENCE[name](np.array(values)), rtol=1e-3, atol=1e-38)


@pytest.mark.extra("internals")
def test_sigmoid_keeps_the_float32_subnormal_tail():
    # sigmoid(-88.8) = e^-88.8 / (1 + e^-88.8) ~= 2.8e-39, a float32 subnormal, not 0.
    y = Sigmoid()(Tensor([-88.8, 0.0]))
    np.testing.assert_allclose(y.data[0], ref_sigmoid(-88.8), rtol=1e-3)
    assert y.data[0] > 0
    assert y.data[1] == 0.5
