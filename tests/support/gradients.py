"""Gradient checks of our own, in the course API's float32 (API.md, "01 Tensor").

The numerical side never asks the implementation for a gradient: each input is moved by
+-eps in a float64 copy, a fresh set of Tensors (no requires_grad, so nothing is recorded)
is built from the copies, and the loss is read back as a float. With float32 arithmetic the
step must be coarse and the tolerance loose: eps 1e-3, rtol 1e-2, atol 1e-3 (the rounding
error of a float32 loss of size L is about L * 6e-8 / eps). Keep losses of order 1.
"""

import math

import numpy as np
from course_api import Tensor


def scale_to_one(values):
    """2**-k (exact) so that sum(|values|) * 2**-k <= 1; 1 if it already is: weights of a
    loss scaled by it keep the loss of order 1, as float32 central differences need."""
    size = float(np.sum(np.abs(values)))
    return 2.0 ** -math.ceil(math.log2(size)) if size > 1 else 1.0


def loss_value(loss):
    """A one-element Tensor's value as a Python float."""
    data = np.asarray(loss.data)
    assert data.size == 1, f"the loss must have one element, it has shape {data.shape}"
    return float(data.reshape(()))


def numerical_gradients(loss_fn, arrays, eps=1e-3):
    """d loss_fn(*tensors) / d arrays[i], for every i, by central differences (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    gradients = []
    for moved in arrays:
        numeric = np.zeros_like(moved)
        for index in np.ndindex(moved.shape):
            original = moved[index]
            values = []
            for step in (eps, -eps):
                moved[index] = original + step
                values.append(loss_value(loss_fn(*[Tensor(a) for a in arrays])))
            moved[index] = original
            numeric[index] = (values[0] - values[1]) / (2 * eps)
        gradients.append(numeric)
    return gradients


def analytic_gradients(loss_fn, arrays):
    """The .grad of each input after loss_fn(*leaves).backward(), as float64 arrays."""
    leaves = [Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    loss_fn(*leaves).backward()
    for position, leaf in enumerate(leaves):
        assert leaf.grad is not None, f"input {position} got no gradient from backward()"
        assert isinstance(leaf.grad, np.ndarray), (
            f"input {position}'s .grad is {type(leaf.grad).__name__}, not an ndarray"
        )
        assert leaf.grad.shape == leaf.shape, (
            f"input {position}'s .grad has shape {leaf.grad.shape}, the input {leaf.shape}"
        )
    return [np.asarray(leaf.grad, dtype=np.float64) for leaf in leaves]


def assert_gradients_match(loss_fn, arrays, eps=1e-3, rtol=1e-2, atol=1e-3):
    """backward()'s gradients of loss_fn equal central differences, input by input."""
    numeric = numerical_gradients(loss_fn, arrays, eps)
    analytic = analytic_gradients(loss_fn, arrays)
    for position, (got, want) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=atol, err_msg=f"gradient of input {position}"
        )
