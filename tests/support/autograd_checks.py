"""Assertions about results and gradients of module 05 (autograd), for its course-API tests
and their extras forms (tests/05_autograd/test_progressive_integration.py and
test_extras_integration.py).

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
