"""Module 05 (autograd), course API: gradients through broadcasting, for shapes chosen by
Hypothesis.

For 2-3 mutually broadcastable shapes (0-d, size-1 axes, missing leading axes, up to 3 axes
of up to 3) and each combination of elementwise binary operators below, every input's
gradient (float32, as the course API computes) must have that input's shape and dtype, share
no memory with any other array of the computation, and equal float64 central differences of
``sum(weight * f(inputs))`` taken on the same float32 numbers. The expressions are plain
Python operators, so the same lambda evaluated on ndarrays gives the reference values: the
expected gradient never goes through tinytorch.

Tolerances: a float32 gradient of a broadcast input is a float32 sum of up to 27 products of
at most ~16 in size, so its rounding error is below ~1e-6 of sum(|weight|) times that size;
atol 1e-4 * sum(|weight|) and rtol 1e-4 leave a wide margin and still catch any wrong rule or
reduction (off by a whole term, of order 1). The float64 form (rtol 1e-6) and the engine's
gradcheck are in test_extras_broadcast.py.
"""

import numpy as np
import pytest
from course_api import Tensor
from hypothesis import given, settings
from hypothesis import strategies as st
from op_registry import COMBINATIONS, operands, weight_for
from op_registry import numpy_central_differences as central_differences
from tinytorch_testing import F32, f32

pytestmark = [
    pytest.mark.gradient,
    pytest.mark.broadcasting,
    # When a test fails, Hypothesis's pytest plugin imports libcst (if installed) to suggest a
    # patch; libcst's import warns through mypy_extensions, which the suite's "error" filter
    # would turn into an INTERNALERROR that hides the real failure. Only that warning is let by.
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
]


@pytest.mark.parametrize("name", list(COMBINATIONS))
@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_broadcast_gradients_match_central_differences(name, data):
    fn, _ = COMBINATIONS[name]
    arrays, result_shape = data.draw(operands(name))
    arrays = [f32(a) for a in arrays]  # the numbers the float32 Tensors hold
    weight = weight_for(result_shape)
    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    assert out.shape == result_shape
    assert out.dtype == F32
    out.backward(weight)
    grads = [t.grad for t in inputs]
    for index, (grad, a) in enumerate(zip(grads, arrays, strict=True)):
        assert type(grad) is np.ndarray, f"operand {index}: .grad is {grad!r}"
        assert grad.shape == a.shape, f"operand {index}: grad {grad.shape} vs {a.shape}"
        assert grad.dtype == F32
        expected = central_differences(fn, arrays, weight, index)
        np.testing.assert_allclose(
            grad,
            expected,
            rtol=1e-4,
            atol=1e-4 * float(np.sum(weight)),
            err_msg=f"operand {index} of {name}",
        )
    # API.md, Aliasing: no .grad shares memory with an input, the output, the gradient given
    # to backward() or another operand's .grad (a + b hands the same g to both operands).
    others = [("the output", out.data), ("the weight given to backward()", weight)]
    others += [(f"operand {i}", t.data) for i, t in enumerate(inputs)]
    for index, grad in enumerate(grads):
        for what, other in others:
            assert not np.shares_memory(grad, other), f"operand {index}'s .grad shares {what}"
        for other_index in range(index + 1, len(grads)):
            assert not np.shares_memory(grad, grads[other_index]), (
                f"operands {index} and {other_index} share one .grad array"
            )
