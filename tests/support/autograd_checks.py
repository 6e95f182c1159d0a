"""Assertions about results and gradients of module 05 (autograd), for its course-API tests
and their extras forms (tests/05_autograd/test_progressive_integration.py and
test_extras_integration.py, test_bugs_accumulation.py and test_extras_accumulation.py).

Imports no tinytorch: ``Tensor`` and ``Function`` are course_api stand-ins.
"""

import numpy as np
from course_api import Function, Tensor

RTOL = 1e-5
ATOL = 1e-6


def close(actual, expected, rtol=RTOL, atol=ATOL):
    """actual (an ndarray of tinytorch) equals the float64 reference, shape included."""
    expected = np.asarray(expected, dtype=np.float64)
    assert isinstance(actual, np.ndarray), f"expected an ndarray, got {type(actual).__name__}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def grad_of(leaf, expected, rtol=RTOL, atol=ATOL):
    """leaf.grad is an ndarray of leaf's shape and dtype equal to expected."""
    assert leaf.grad is not None, "the leaf got no gradient from backward() (.grad is None)"
    assert isinstance(leaf.grad, np.ndarray), f".grad is {type(leaf.grad).__name__}"
    assert not isinstance(leaf.grad, Tensor)
    assert leaf.grad.dtype == leaf.dtype
    close(leaf.grad, expected, rtol=rtol, atol=atol)


def untracked(t):
    """A result computed from inputs that do not require grad: nothing recorded."""
    assert isinstance(t, Tensor)
    assert t.requires_grad is False, "a result of inputs that need no grad requires grad"
    assert t.grad is None
    # A leaf or an unrecorded result may lack the attribute (the course sets it on results).
    assert getattr(t, "_grad_fn", None) is None, (
        "a result of inputs that need no grad has a _grad_fn"
    )


def tracked(t):
    """A result that autograd recorded: it requires grad and its _grad_fn is a Function."""
    assert isinstance(t, Tensor)
    assert t.requires_grad is True, "the result was not recorded (requires_grad is not True)"
    grad_fn = getattr(t, "_grad_fn", None)
    assert isinstance(grad_fn, Function), (
        f"the result was not recorded: its _grad_fn is {type(grad_fn).__name__}, not a Function"
    )


def repeated_rows_sum_their_gradients(key):
    """table[key], key picking rows 1, 1, 1, 3: row 1's gradient is the sum of three upstream
    rows, row 3's one of them, the other rows' zero (indexing with repeats accumulates)."""
    table = Tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    rows = table[key]
    np.testing.assert_array_equal(rows.data, [[2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [6.0, 7.0]])
    weights = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [5.0, 7.0]])
    (rows * Tensor(weights)).sum().backward()
    # row 1 is picked three times: the sum of the three upstream rows; row 3 once; others 0
    expected = np.zeros((5, 2))
    expected[1] = [111.0, 222.0]
    expected[3] = [5.0, 7.0]
    np.testing.assert_array_equal(table.grad, expected)
