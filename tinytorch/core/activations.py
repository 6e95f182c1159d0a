"""Module 02, Activations: ReLU, Sigmoid, Tanh, GELU and Softmax.

Each activation is a class with no constructor arguments. ``forward(x)`` takes a Tensor and
returns a new Tensor of the same shape; calling the object calls ``forward`` (``ReLU()(x)``);
``parameters()`` is ``[]`` because activations learn nothing. ``Softmax.forward(x, dim=-1)``
normalises along ``dim``.

Input
    ``x`` must be a Tensor. Anything else (a list, an ndarray, a number) raises TypeError that
    names the type and says to wrap it in ``Tensor(...)``; nothing is converted silently, so a
    forgotten ``Tensor`` in a learner's model shows up at the activation that received it.

Numerics
    The forward pass is computed in numpy, in the default dtype in force
    (``tinytorch.core.tensor.get_default_dtype()``: float32, or float64 inside
    ``default_dtype(np.float64)``). For every finite input every output is finite and no numpy
    warning is raised:

    * ReLU is ``max(x, 0)``, so ``ReLU(0) == 0``.
    * Sigmoid uses the two-branch formula with ``z = exp(-|x|)``: ``1 / (1 + z)`` for
      ``x >= 0`` and ``z / (1 + z)`` for ``x < 0``. ``exp`` never sees a positive argument, so
      nothing overflows: ``sigmoid(1000) == 1`` and ``sigmoid(-1000) == 0`` exactly.
    * Tanh is ``np.tanh`` (``tanh(±1000) == ±1``).
    * GELU is TinyTorch's sigmoid approximation, the one formula used for the forward pass and
      (in module 05) for the backward pass: ``gelu(x) = x * sigmoid(1.702 * x)``, with the
      stable sigmoid above. It is not the erf-based or the tanh-based GELU of PyTorch; the two
      differ by up to about 0.02.
    * Softmax subtracts the maximum along ``dim`` before ``exp``, so the largest term is
      ``exp(0) == 1`` and the sum is at least 1: logits of ±1e4 give an exact one-hot.
      A 0-d tensor has no dimension to normalise over and raises ValueError.

    Like the Tensor operations of module 01, non-finite inputs follow IEEE arithmetic silently
    (``relu(nan)`` is nan, a softmax row holding ``inf`` is nan).

Hooks for autograd
    None of these outputs is built from Tensor operations; each is made through the module-01
    hook ``Tensor._from_op(out, op, (x,), **attrs)`` under these names, and module 05 owns
    their backward formulas:

    ReLU     -> "relu"
    Sigmoid  -> "sigmoid"
    Tanh     -> "tanh"
    GELU     -> "gelu"
    Softmax  -> "softmax", attribute ``dim``: the int given to forward, as given
                (possibly negative; numpy reads it as an axis either way)

    Only ``x`` is an input (``inputs == (x,)``); ``out`` is the forward result computed here.
"""

import operator

import numpy as np

from tinytorch.core.tensor import Tensor, get_default_dtype

__all__ = ["GELU", "ReLU", "Sigmoid", "Softmax", "Tanh"]

# The constant of TinyTorch's GELU approximation x * sigmoid(1.702 x).
GELU_SCALE = 1.702


def _input_array(name, x):
    """The data of Tensor ``x`` in the default dtype, or TypeError naming what came instead."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name}.forward expects a Tensor; got {type(x).__name__} "
            f"(wrap it in Tensor(...) first)"
        )
    # The plain array, not the write-counting view .data hands out: numpy on that view goes
    # through Python for every call.
    return x._data.astype(get_default_dtype(), copy=False)


def _normalising_input(name, x, dim):
    """The data of ``x`` and ``dim`` checked for a softmax-like op along ``dim`` (also used by
    module 04's log_softmax): an int dim within the tensor's dimensions, at least one."""
    a = _input_array(name, x)
    if isinstance(dim, bool):
        raise TypeError(f"{name}: dim must be an int; got bool")
    try:
        dim = operator.index(dim)
    except TypeError:
        raise TypeError(f"{name}: dim must be an int; got {type(dim).__name__}") from None
    if a.ndim == 0:
        raise ValueError(
            f"{name} needs a tensor with at least 1 dimension to normalise over; got a 0-d "
            "tensor (shape ())"
        )
    if not -a.ndim <= dim < a.ndim:
        raise IndexError(
            f"{name}: dim {dim} is out of range for a tensor of shape {x.shape} "
            f"(valid dims: {-a.ndim} to {a.ndim - 1})"
        )
    return a, dim


def _sigmoid(a):
    """Logistic function of array ``a`` without overflow: exp only ever sees -|a|."""
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))


class _Activation:
    """Shared plumbing: calling the object calls forward; no parameters."""

    def __call__(self, x, *args, **kwargs):
        return self.forward(x, *args, **kwargs)

    def forward(self, x):  # pragma: no cover - every activation overrides it
        raise NotImplementedError

    def parameters(self):
        """Activations have no learnable parameters: always a new empty list."""
        return []

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    """``relu(x) = max(x, 0)``, elementwise. Recorded as op ``"relu"``."""

    def forward(self, x):
        a = _input_array("ReLU", x)
        with np.errstate(all="ignore"):
            out = np.maximum(a, 0)
        return Tensor._from_op(out, "relu", (x,))


class Sigmoid(_Activation):
    """``sigmoid(x) = 1 / (1 + exp(-x))``, elementwise, overflow-free. Recorded as ``"sigmoid"``."""

    def forward(self, x):
        a = _input_array("Sigmoid", x)
        with np.errstate(all="ignore"):
            out = _sigmoid(a)
        return Tensor._from_op(out, "sigmoid", (x,))


class Tanh(_Activation):
    """``tanh(x)``, elementwise, via ``np.tanh``. Recorded as op ``"tanh"``."""

    def forward(self, x):
        a = _input_array("Tanh", x)
        with np.errstate(all="ignore"):
            out = np.tanh(a)
        return Tensor._from_op(out, "tanh", (x,))


class GELU(_Activation):
    """``gelu(x) = x * sigmoid(1.702 * x)`` (TinyTorch's approximation, the only formula used
    for forward and backward). Recorded as op ``"gelu"``."""

    def forward(self, x):
        a = _input_array("GELU", x)
        with np.errstate(all="ignore"):  # 1.702 * 3e38 overflows to inf; sigmoid(inf) is 1
            out = a * _sigmoid(a * a.dtype.type(GELU_SCALE))
        return Tensor._from_op(out, "gelu", (x,))


class Softmax(_Activation):
    """``softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)`` along ``dim``.

    Recorded as op ``"softmax"`` with attribute ``dim``.
    """

    def forward(self, x, dim=-1):
        a, dim = _normalising_input("Softmax", x, dim)
        if a.shape[dim] == 0:  # nothing to normalise (and np.max refuses an empty axis)
            return Tensor._from_op(a.copy(), "softmax", (x,), dim=dim)
        with np.errstate(all="ignore"):
            shifted = a - np.max(a, axis=dim, keepdims=True)
            e = np.exp(shifted)
            out = e / np.sum(e, axis=dim, keepdims=True)
        return Tensor._from_op(out, "softmax", (x,), dim=dim)
