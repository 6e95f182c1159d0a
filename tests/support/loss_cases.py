"""Module 04's shared test facts (tests/04_losses: the course-API tests and the extras).

``check_loss``; BCE's clip bounds as float32 holds them; and a small network of modules
01-03 (``X``, ``W1``, ``B1``, ``W2``, ``B2``, with ``numpy_network`` its float64 output) whose
outputs feed each loss, with its targets.

Imports no tinytorch: ``Tensor`` is a course_api stand-in.
"""

import math

import numpy as np
from course_api import Tensor
from tinytorch_testing import F32, check

LN2 = math.log(2.0)
# BCE's clip bounds as float32 holds them: 1 - 1e-7 rounds to 1 - 2**-23 there.
LOW32 = float(np.float32(1e-7))
HIGH32 = float(np.float32(1 - 1e-7))


def check_loss(loss, expected, dtype=F32, rtol=1e-5, atol=1e-6):
    """A loss result: a 0-d Tensor of `dtype` (float32 unless told) holding `expected`."""
    assert isinstance(loss, Tensor), f"a loss must return a Tensor, got {type(loss).__name__}"
    assert loss.shape == ()
    check(loss, expected, dtype=dtype, rtol=rtol, atol=atol)


# --- the network: relu(X @ W1 + B1) @ W2 + B2 -----------------------------------------------

X = np.array(
    [[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [2.0, 0.5, 1.5], [-1.0, -1.0, 2.0], [0.5, 2.0, -0.5]]
)
W1 = np.array([[0.5, -1.0, 0.25, 1.0], [-0.5, 0.75, 1.0, -0.25], [1.0, 0.5, -0.75, 0.5]])
B1 = np.array([0.1, -0.2, 0.3, 0.0])
W2 = np.array([[1.0, -0.5], [0.25, 0.75], [-1.0, 0.5], [0.5, 1.0]])
B2 = np.array([0.2, -0.1])
CLASSES = [0, 1, 1, 0, 1]
REGRESSION_TARGETS = np.array([[3.0, 0.5], [0.0, 0.0], [1.0, 1.0], [-1.0, 2.0], [0.5, -0.5]])


def numpy_network(x=X):
    """The network's output in float64: relu(x @ W1 + b1) @ W2 + b2."""
    return np.maximum(x @ W1 + B1, 0.0) @ W2 + B2
