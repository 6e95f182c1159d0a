"""Module 03, Layers: Layer, Linear (alias Dense), Dropout and Sequential.

Layer
    The base class. ``Layer()`` works; ``layer(x, *args, **kwargs)`` calls
    ``layer.forward(x, *args, **kwargs)``; the base ``forward`` raises NotImplementedError
    saying that subclasses must override it; the base ``parameters()`` is ``[]`` (a subclass
    that owns Tensors lists them by overriding it). The base keeps no state, so a subclass
    need not call ``super().__init__()``.

Linear(in_features, out_features, bias=True)
    ``y = x @ weight + bias`` with ``weight`` of shape (in_features, out_features) and
    ``bias`` of shape (out_features,), or ``bias=None`` without one. Both are Tensors with
    ``requires_grad=True``. The weight starts as ``np.random.randn(in, out) * sqrt(1 / in)``
    (LeCun-normal: each output starts with variance ~= the input variance) and the bias as
    zeros. ``x`` may have any number of leading (batch) dimensions; its last dimension must be
    ``in_features``. ``Dense`` is the same class.
    The result is made through the module-01 hook as one operation,
    ``Tensor._from_op(x @ weight + bias, "linear", (x, weight, bias))`` (``(x, weight)``
    without a bias), whose backward module 05 owns: that of ``@`` for x and weight, and the
    output gradient summed over the batch axes for the bias. One op rather than ``@`` then
    ``+`` because a training step spends much of its time recording and walking nodes: this
    halves a network's Linear nodes (see ``nox -s bench``).

Dropout(p=0.5)
    Inverted dropout: in training, each element is zeroed with probability ``p`` and the
    survivors are multiplied by ``1 / (1 - p)``, so the expected output equals the input.
    It is ``x * mask`` with ``mask = (rand >= p) / (1 - p)`` held in a Tensor, again made of
    Tensor operations only. ``forward(x, training=True)``; with ``training=False`` or
    ``p == 0`` the input Tensor itself is returned; with ``p == 1`` the output is ``x * 0``
    (zeros for finite x, no division by zero). The mask comes from numpy's global generator
    (``np.random.random``), so ``np.random.seed(s)`` makes it reproducible, as it does the
    initial weights of Linear.

Sequential(*layers)
    Calls its layers in order (``Sequential(a, b)(x) == b(a(x))``). A single list or tuple of
    layers is accepted too: ``Sequential([a, b])``. Any callable is a valid layer (the
    activations of module 02 included); ``parameters()`` concatenates the ``parameters()`` of
    the layers that have one, in order, listing a Tensor shared by two layers once (so an
    optimizer never updates it twice). ``forward(x)`` takes no ``training`` flag: a Dropout
    inside a Sequential runs with its default, ``training=True``.
"""

import math
import numbers

import numpy as np

from tinytorch.core.tensor import Tensor

__all__ = ["Dense", "Dropout", "Layer", "Linear", "Sequential"]


def _require_tensor(where, x):
    """TypeError unless x is a Tensor; ``where`` is a name or the layer itself (its repr)."""
    if not isinstance(x, Tensor):
        where = where if isinstance(where, str) else repr(where)
        raise TypeError(
            f"{where} expects a Tensor; got {type(x).__name__} (wrap it in Tensor(...) first)"
        )


class Layer:
    """Base class of every layer: override ``forward`` (and ``parameters`` if it owns Tensors)."""

    def __call__(self, x, *args, **kwargs):
        return self.forward(x, *args, **kwargs)

    def forward(self, x, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} does not implement forward(): subclasses of Layer must "
            "override forward(self, x)"
        )

    def parameters(self):
        """The learnable Tensors of this layer; the base class has none."""
        return []

    def __repr__(self):
        return f"{type(self).__name__}()"


def _positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Linear: {name} must be a positive int; got {type(value).__name__} {value!r}"
        )
    if value <= 0:
        raise ValueError(f"Linear: {name} must be a positive int; got {value}")
    return int(value)


class Linear(Layer):
    """Fully connected layer ``y = x @ weight + bias``; see the module docstring."""

    def __init__(self, in_features, out_features, bias=True):
        self.in_features = _positive_int("in_features", in_features)
        self.out_features = _positive_int("out_features", out_features)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Linear: bias must be True or False; got {type(bias).__name__}")
        scale = math.sqrt(1.0 / self.in_features)
        self.weight = Tensor(
            np.random.randn(self.in_features, self.out_features) * scale, requires_grad=True
        )
        self.bias = Tensor(np.zeros(self.out_features), requires_grad=True) if bias else None

    def forward(self, x):
        _require_tensor(self, x)
        if x._data.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input with last dimension {self.in_features}, "
                f"got shape {x.shape}"
            )
        inputs = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
        with np.errstate(all="ignore"):
            out = np.matmul(x._data, self.weight._data)
            if self.bias is not None:
                out += self.bias._data
        return Tensor._from_op(out, "linear", inputs)

    def parameters(self):
        """``[weight, bias]``, or ``[weight]`` without a bias (the Tensors themselves)."""
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def __repr__(self):
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None})"
        )


Dense = Linear


class Dropout(Layer):
    """Inverted dropout with drop probability ``p``; see the module docstring."""

    def __init__(self, p=0.5):
        if (
            isinstance(p, (bool, np.bool_))
            or not isinstance(p, numbers.Real)
            or not 0.0 <= float(p) <= 1.0  # also refuses nan
        ):
            raise ValueError(f"Dropout: p must be a number in [0, 1]; got p={p!r}")
        self.p = float(p)

    def forward(self, x, training=True):
        _require_tensor("Dropout", x)
        if not training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * Tensor(np.zeros(x.shape))
        keep = np.random.random(x.shape) >= self.p
        return x * Tensor(keep / (1.0 - self.p))

    def __repr__(self):
        return f"Dropout(p={self.p})"


class Sequential(Layer):
    """Layers applied in order; see the module docstring."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for index, layer in enumerate(layers):
            if isinstance(layer, type):
                raise TypeError(
                    f"Sequential: layer {index} is the class {layer.__name__}, not a layer; "
                    f"pass an instance such as {layer.__name__}()"
                )
            if not callable(layer):
                raise TypeError(
                    f"Sequential: layer {index} must be callable (a Layer or an activation); "
                    f"got {type(layer).__name__}"
                )
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        params, seen = [], set()
        for layer in self.layers:
            for param in getattr(layer, "parameters", list)():
                if id(param) not in seen:
                    seen.add(id(param))
                    params.append(param)
        return params

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        if not self.layers:
            return "Sequential()"
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
