"""Module 05 (autograd): gradients through broadcasting, for shapes chosen by Hypothesis.

For 2-3 mutually broadcastable shapes (0-d, size-1 axes, missing leading axes, up to 3 axes
of up to 3) and each combination of elementwise binary operators below, every input's
gradient must have that input's shape and dtype and equal float64 central differences of
``sum(weight * f(inputs))``. The expressions are plain Python operators, so the same lambda
evaluated on ndarrays gives the reference values: the expected gradient never goes through
tinytorch.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.core.autograd import gradcheck
from tinytorch.core.tensor import Tensor, default_dtype

pytestmark = [
    pytest.mark.gradient,
    pytest.mark.broadcasting,
    # When a test fails, Hypothesis's pytest plugin imports libcst (if installed) to suggest a
    # patch; libcst's import warns through mypy_extensions, which the suite's "error" filter
    # would turn into an INTERNALERROR that hides the real failure. Only that warning is let by.
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
]

# name -> (expression over 2 or 3 operands, indices of the operands that are divisors)
COMBINATIONS = {
    "a+b": (lambda a, b: a + b, ()),
    "a-b": (lambda a, b: a - b, ()),
    "a*b": (lambda a, b: a * b, ()),
    "a/b": (lambda a, b: a / b, (1,)),
    "a*b+c": (lambda a, b, c: a * b + c, ()),
    "a-b/c": (lambda a, b, c: a - b / c, (2,)),
    "(a+b)*c": (lambda a, b, c: (a + b) * c, ()),
    "a/c-b*c": (lambda a, b, c: a / c - b * c, (2,)),
    "c-a*(b-c)": (lambda a, b, c: c - a * (b - c), ()),
}

VALUES = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
# Divisors bounded away from 0 (|x| >= 0.5), so 1/x and its derivative stay moderate.
DIVISORS = st.one_of(st.floats(0.5, 2.0), st.floats(-2.0, -0.5))


def n_operands(fn):
    return fn.__code__.co_argcount


@st.composite
def operands(draw, name):
    fn, divisors = COMBINATIONS[name]
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n_operands(fn), max_dims=3, max_side=3)
    )
    arrays = [
        draw(hnp.arrays(np.float64, shape, elements=DIVISORS if i in divisors else VALUES))
        for i, shape in enumerate(shapes.input_shapes)
    ]
    return arrays, shapes.result_shape


def weight_for(shape):
    """A fixed non-uniform output weight (positive dyadic numbers: no sum of them is 0)."""
    size = int(np.prod(shape, dtype=int))
    return (0.5 + 0.25 * (np.arange(size) % 7)).reshape(shape)


def central_differences(fn, arrays, weight, index, eps=1e-6):
    """d sum(weight * fn(arrays)) / d arrays[index], in float64 numpy only."""
    arrays = [a.copy() for a in arrays]
    grad = np.zeros_like(arrays[index])
    for i in range(grad.size):
        original = arrays[index].flat[i]
        arrays[index].flat[i] = original + eps
        above = np.sum(weight * fn(*arrays))
        arrays[index].flat[i] = original - eps
        below = np.sum(weight * fn(*arrays))
        arrays[index].flat[i] = original
        grad.flat[i] = (above - below) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", list(COMBINATIONS))
@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_broadcast_gradients_match_central_differences(name, data):
    fn, _ = COMBINATIONS[name]
    arrays, result_shape = data.draw(operands(name))
    weight = weight_for(result_shape)
    with default_dtype(np.float64):
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        out = fn(*inputs)
        assert out.shape == result_shape
        out.backward(weight)
    for index, (t, a) in enumerate(zip(inputs, arrays, strict=True)):
        assert type(t.grad) is np.ndarray, f"operand {index}: .grad is {t.grad!r}"
        assert t.grad.shape == a.shape, f"operand {index}: grad {t.grad.shape} vs {a.shape}"
        assert t.grad.dtype == np.float64
        expected = central_differences(fn, arrays, weight, index)
        np.testing.assert_allclose(
            t.grad, expected, rtol=1e-6, atol=1e-7, err_msg=f"operand {index} of {name}"
        )


@pytest.mark.parametrize("name", list(COMBINATIONS))
@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_broadcast_gradients_keep_float32_and_shape(name, data):
    fn, _ = COMBINATIONS[name]
    arrays, result_shape = data.draw(operands(name))
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    assert out.dtype == np.float32
    out.backward(weight_for(result_shape))
    for index, (t, a) in enumerate(zip(inputs, arrays, strict=True)):
        assert type(t.grad) is np.ndarray, f"operand {index}: .grad is {t.grad!r}"
        assert t.grad.shape == a.shape, f"operand {index}: grad {t.grad.shape} vs {a.shape}"
        assert t.grad.dtype == np.float32


@pytest.mark.parametrize("name", list(COMBINATIONS))
@settings(max_examples=15, deadline=None, database=None)
@given(data=st.data())
def test_engine_gradcheck_agrees_on_broadcast_shapes(name, data):
    fn, _ = COMBINATIONS[name]
    arrays, result_shape = data.draw(operands(name))
    with default_dtype(np.float64):
        w = Tensor(weight_for(result_shape))
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(lambda *xs: fn(*xs) * w, inputs) is True
