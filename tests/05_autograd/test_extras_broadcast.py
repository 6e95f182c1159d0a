"""Module 05 (autograd), the reference's extras: float64 broadcast gradients and gradcheck.

The float64 form of test_broadcast_gradients.py (same combinations and shapes drawn by
Hypothesis): inside ``default_dtype(np.float64)`` every input's gradient equals float64 central
differences of ``sum(weight * f(inputs))`` computed in numpy (rtol 1e-6, atol 1e-7), and the
engine's own ``gradcheck`` agrees on the same operands (one test: one Hypothesis draw serves
both checks).
"""

import numpy as np
import pytest
from course_api import Tensor
from hypothesis import given, settings
from hypothesis import strategies as st
from op_registry import COMBINATIONS, operands, weight_for
from op_registry import numpy_central_differences as central_differences
from reference_extras import default_dtype, gradcheck

pytestmark = [
    pytest.mark.gradient,
    pytest.mark.broadcasting,
    # See test_broadcast_gradients.py: only libcst's import warning is let by.
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
]


@pytest.mark.extra("float64", "gradcheck")
@pytest.mark.parametrize("name", list(COMBINATIONS))
@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data())
def test_float64_broadcast_gradients_match_central_differences_and_gradcheck(name, data):
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
    with default_dtype(np.float64):
        w = Tensor(weight)
        fresh = [Tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(lambda *xs: fn(*xs) * w, fresh) is True
