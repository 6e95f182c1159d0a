"""Module 05, autograd: reverse-mode automatic differentiation for every Tensor operation.

Every operation of modules 01-04 makes its result through ``Tensor._from_op(out, op, inputs,
**attrs)``. Turning autograd on replaces that hook with ``_record``: when gradients are
enabled and an input requires one, the result gets ``requires_grad=True`` and a ``_grad_fn``,
a ``Function`` that remembers the op, its inputs and what its backward needs. ``backward()``
then walks the graph once, in topological order, iteratively (no recursion, so a 100,000-deep
chain is fine), calling each op's rule from ``BACKWARD``, the one table of derivatives. Every
module fills it through ``register_op(name, backward, saves)`` when it is imported: this one
with the ops of modules 01-04 (below, one line each), a later module (convolution, pooling,
attention) with its own.

The rules in brief:
- Gradients are ndarrays of the input's shape and dtype; a broadcast input gets its gradient
  summed back to its own shape. Leaves (tensors that require grad and have no ``_grad_fn``)
  accumulate into ``.grad``.
- After ``backward()`` the graph's saved values are released; a second ``backward()`` through
  it raises, unless the first passed ``retain_graph=True``.
- A tensor whose value a backward rule needs (its ``saves``) must not change in place between the
  forward and the backward: every Tensor counts its in-place changes (``_version``), and
  ``backward()`` raises, naming the tensor and the operation, if the count moved.
- The graph holds no reference cycles (a Function refers to its inputs, never its output), so
  dropping the loss frees it by reference counting alone.
"""

import contextlib
import contextvars
import math

import numpy as np

from tinytorch.core.activations import GELU_SCALE, _sigmoid
from tinytorch.core.tensor import Tensor, default_dtype

__all__ = ["Function", "enable_autograd", "gradcheck", "no_grad", "register_op"]

_grad_enabled = contextvars.ContextVar("tinytorch_grad_enabled", default=True)


@contextlib.contextmanager
def no_grad():
    """Inside this block operations record nothing (results do not require grad)."""
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


# --- the table of derivatives: op -> backward(g, f) -> one gradient per input --------------
# g is the gradient of the op's output; f its Function: f.a and f.b the inputs' values (when
# the op saves them), f.out the output's value, f.shapes the inputs' shapes, f.attrs the op's
# arguments, f.needs which inputs require a gradient. Elementwise rules may return broadcast
# shapes: Function.backward sums them back to each input's shape.

BACKWARD = {}  # op name -> its backward rule; filled by register_op only
# The values each rule reads: "a", "b" the inputs, "o" the output (ops that read none are not
# listed). Only these are kept alive by the graph, and only these must not change in place
# between forward and backward.
SAVES = {}
SAVABLE = "abo"


def register_op(name, backward, saves=""):
    """Give autograd the derivative of the differentiable operation ``name``.

    The op's forward makes its result with ``Tensor._from_op(out, name, inputs, **attrs)``;
    ``backward(g, f)`` returns one gradient per input (see the table's comment above), and
    ``saves`` says which values it reads: "a" (input 0), "b" (input 1), "o" (the output).
    Every module registers its own ops once, when it is imported: module 05 the ops of
    modules 01-04 below, a later module (convolution, pooling, attention) its own.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"register_op: the op name must be a non-empty str, the name its forward passes to "
            f"Tensor._from_op; got {name!r}"
        )
    if name in BACKWARD:
        raise ValueError(
            f"register_op: '{name}' already has a backward rule, registered by "
            f"{getattr(BACKWARD[name], '__module__', None)}; an op is registered once, by the "
            "module that defines it: give a new op a name of its own"
        )
    if not callable(backward):
        raise TypeError(
            f"register_op('{name}'): backward must be a function backward(g, f) returning one "
            f"gradient per input; got {backward!r}"
        )
    if not isinstance(saves, str) or set(saves) - set(SAVABLE) or len(set(saves)) < len(saves):
        raise ValueError(
            f"register_op('{name}'): saves={saves!r} is not a string of distinct letters of "
            f"'{SAVABLE}' (a: input 0, b: input 1, o: the output); pass the values the rule "
            "reads, e.g. saves='ab', or '' for none"
        )
    BACKWARD[name] = backward
    if saves:
        SAVES[name] = saves


def _unreduce(g, f):
    """Give g (the gradient of a sum/mean/max) back the axes the reduction removed."""
    axis, keepdims = f.attrs["axis"], f.attrs["keepdims"]
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, f.shapes[0])


def _matmul_backward(g, f):
    # 1-D operands act as a row (left) or a column (right), as in np.matmul; undo that after.
    # A product is computed only for an input that needs it: it is the costly part.
    a, b = f.a, f.b
    if a.ndim == 2 and b.ndim == 2:  # every Linear layer: no reshaping to do, so none paid for
        return (g @ b.T if f.needs[0] else None), (a.T @ g if f.needs[1] else None)
    if a.ndim == 1 and b.ndim == 1:  # a dot product: g is 0-d
        return (g * b if f.needs[0] else None), (g * a if f.needs[1] else None)
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    g2 = np.expand_dims(g, -2) if a.ndim == 1 else g
    g2 = np.expand_dims(g2, -1) if b.ndim == 1 else g2
    ga = gb = None
    if f.needs[0]:
        ga = g2 @ np.swapaxes(b2, -1, -2)
        ga = ga[..., 0, :] if a.ndim == 1 else ga
    if f.needs[1]:
        gb = np.swapaxes(a2, -1, -2) @ g2
        gb = gb[..., :, 0] if b.ndim == 1 else gb
    return ga, gb


def _max_backward(g, f):
    # The gradient goes to the elements equal to the maximum, split evenly between ties.
    winners = (f.a == _unreduce(f.out, f)).astype(g.dtype)
    ties = winners.sum(axis=f.attrs["axis"], keepdims=f.attrs["keepdims"])
    return _unreduce(g / ties, f) * winners


def _getitem_backward(g, f):
    grad = np.zeros(f.shapes[0], dtype=g.dtype)
    np.add.at(grad, f.attrs["key"], g)  # an index repeated in the key accumulates
    return grad


def _cross_entropy_backward(g, f):
    # d/dz of -mean_i log_softmax(z)[i, t_i] is (softmax(z) - one_hot(t)) / N.
    targets = f.attrs["targets"]
    grad = np.exp(f.attrs["log_probs"])
    grad[np.arange(len(targets)), targets] -= 1
    return grad * (g / max(len(targets), 1))


def _gelu_backward(g, x):
    # The derivative of module 02's one GELU formula, x * sigmoid(k x), with its stable sigmoid.
    s = _sigmoid(GELU_SCALE * x)
    return g * (s + GELU_SCALE * x * s * (1.0 - s))


def _clip_backward(g, f):
    return (g * ((f.a >= f.attrs["low"]) & (f.a <= f.attrs["high"])),)


def _pow_backward(g, f):
    exponent = f.attrs["exponent"]
    return (g * exponent * f.a ** (exponent - 1),)


def _softmax_backward(g, f):
    return (f.out * (g - (g * f.out).sum(axis=f.attrs["dim"], keepdims=True)),)


def _log_softmax_backward(g, f):
    return (g - np.exp(f.out) * g.sum(axis=f.attrs["dim"], keepdims=True),)


register_op("add", lambda g, f: (g, g))
register_op("sub", lambda g, f: (g, -g))
register_op("mul", lambda g, f: (g * f.b, g * f.a), saves="ab")
register_op("div", lambda g, f: (g / f.b, -g * f.a / (f.b * f.b)), saves="ab")
register_op("neg", lambda g, f: (-g,))
register_op("pow", _pow_backward, saves="a")
register_op("matmul", _matmul_backward, saves="ab")
# x @ weight (+ bias): matmul's rule for x and weight; the bias gets g (summed back).
register_op("linear", lambda g, f: (*_matmul_backward(g, f), g)[: len(f.needs)], saves="ab")
register_op("getitem", lambda g, f: (_getitem_backward(g, f),))
register_op("reshape", lambda g, f: (g.reshape(f.shapes[0]),))
register_op("transpose", lambda g, f: (np.swapaxes(g, f.attrs["dim0"], f.attrs["dim1"]),))
register_op("sum", lambda g, f: (_unreduce(g, f),))
# A Python float (math.prod, not np.prod), so float32 stays float32 under numpy's rules.
register_op("mean", lambda g, f: (_unreduce(g, f) * (g.size / math.prod(f.shapes[0])),))
register_op("max", lambda g, f: (_max_backward(g, f),), saves="ao")
register_op("exp", lambda g, f: (g * f.out,), saves="o")
register_op("log", lambda g, f: (g / f.a,), saves="a")
register_op("sqrt", lambda g, f: (g / (2.0 * f.out),), saves="o")
register_op("relu", lambda g, f: (g * (f.a > 0),), saves="a")
register_op("sigmoid", lambda g, f: (g * f.out * (1.0 - f.out),), saves="o")
register_op("tanh", lambda g, f: (g * (1.0 - f.out * f.out),), saves="o")
register_op("gelu", lambda g, f: (_gelu_backward(g, f.a),), saves="a")
register_op("softmax", _softmax_backward, saves="o")
register_op("log_softmax", _log_softmax_backward, saves="o")
register_op("cross_entropy", lambda g, f: (_cross_entropy_backward(g, f),))
register_op("clip", _clip_backward, saves="a")


class Function:
    """One recorded operation: the node of the graph that made a tensor."""

    __slots__ = ("a", "attrs", "b", "inputs", "needs", "op", "out", "saves", "shapes", "versions")

    def __init__(self, op, inputs, attrs, out):
        if op not in BACKWARD:
            raise NotImplementedError(
                f"autograd has no backward rule for operation '{op}'; the module that defines "
                "it registers one with tinytorch.core.autograd.register_op(name, backward, saves)"
            )
        self.op, self.inputs, self.attrs = op, inputs, attrs
        self.saves = SAVES.get(op, "")
        self.shapes = [t._data.shape for t in inputs]
        self.needs = [t.requires_grad for t in inputs]
        self.versions = [t._version for t in inputs]
        self.a = inputs[0]._data if "a" in self.saves else None
        self.b = inputs[1]._data if "b" in self.saves else None
        self.out = out if "o" in self.saves else None

    def __repr__(self):
        return f"<Function {self.op}>"

    def check_unchanged(self, output):
        """Raise if a value this op saved, or its output, changed in place since the forward.

        A changed output no longer equals what this op computed, so no gradient through it
        would be right, whatever the op saved.
        """
        if "a" in self.saves and self.inputs[0]._version != self.versions[0]:
            _raise_modified(self.inputs[0], f"input 0 of {self.op}", self.versions[0])
        if "b" in self.saves and self.inputs[1]._version != self.versions[1]:
            _raise_modified(self.inputs[1], f"input 1 of {self.op}", self.versions[1])
        if output._version != 0:
            _raise_modified(output, f"the output of {self.op}", 0)

    def backward(self, g):
        grads = BACKWARD[self.op](g, self)
        return [
            _unbroadcast(grad, shape) if need else None
            for grad, shape, need in zip(grads, self.shapes, self.needs, strict=True)
        ]

    def release(self):
        self.inputs = self.a = self.b = self.out = self.attrs = None


def _raise_modified(tensor, role, expected):
    raise RuntimeError(
        f"a tensor that backward() needs was modified in place: {tensor!r}, used as {role}, "
        f"is at version {tensor._version}, expected {expected}. "
        "Its value changed after the operation read it (in-place operator, t[...] = ..., or a "
        "write to t.data), so the gradient would be wrong; make a new tensor instead."
    )


def _unbroadcast(grad, shape):
    """Sum a gradient back to the shape of the input it belongs to (undo broadcasting).

    Always an ndarray: numpy gives 0-d results as scalars, and a gradient never is one.
    """
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    grad = np.asarray(grad)
    # reshape only when needed: even to the same shape it makes a view, which a leaf must copy
    return grad if grad.shape == shape else grad.reshape(shape)


# --- recording and the backward pass ---------------------------------------------------


def _record(out, op, inputs, **attrs):
    result = Tensor._wrap(out)
    if _grad_enabled.get():
        for tensor in inputs:  # a plain loop: any(generator) costs more than most ops here
            if tensor.requires_grad:
                result.requires_grad = True
                result._grad_fn = Function(op, inputs, attrs, result._data)
                break
    return result


def _topological_order(root):
    """Non-leaf tensors reachable from root, each before every tensor it was made from.

    An iterative depth-first search: a tensor is entered once, and listed after all of its
    inputs are; reversed, that puts every tensor ahead of the inputs it sends gradient to.
    """
    order, entered = [], set()
    stack = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in entered:
            continue
        entered.add(id(tensor))
        if tensor._grad_fn.inputs is None:
            raise RuntimeError(
                "backward() through a graph that was already freed: an earlier backward() "
                "released its saved values. Pass retain_graph=True to that earlier call to "
                "go through the graph again"
            )
        stack.append((tensor, True))
        for parent in tensor._grad_fn.inputs:
            if parent._grad_fn is not None and id(parent) not in entered:
                stack.append((parent, False))
    order.reverse()
    return order


def _backward(self, gradient=None, retain_graph=False):
    """Accumulate d(self)/d(leaf) into every leaf's .grad, through the recorded graph."""
    if not self.requires_grad:
        raise RuntimeError(
            "backward(): this tensor does not require grad, so no graph leads to it; make an "
            "input with Tensor(..., requires_grad=True) before the operations"
        )
    if gradient is None:
        if self.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element tensor; this one has shape "
                f"{self.shape}. Pass gradient= of that shape (d(something)/d(this tensor))"
            )
        gradient = np.ones(self.shape, dtype=self.dtype)
    else:
        gradient = _given_gradient(self, gradient)
    handed_out = set()
    if self._grad_fn is None:
        _accumulate(self, gradient, handed_out)
        return
    order = _topological_order(self)
    for tensor in order:
        tensor._grad_fn.check_unchanged(tensor)
    grads = {id(self): gradient}
    for tensor in order:
        fn = tensor._grad_fn
        g = grads.pop(id(tensor))
        for parent, grad in zip(fn.inputs, fn.backward(g), strict=True):
            if grad is None:
                continue
            if parent._grad_fn is None:
                _accumulate(parent, grad, handed_out)
            elif id(parent) in grads:
                grads[id(parent)] = grads[id(parent)] + grad
            else:
                grads[id(parent)] = grad
        if not retain_graph:
            fn.release()


def _given_gradient(tensor, gradient):
    """backward()'s gradient= as an array of the tensor's shape and dtype, or ValueError."""
    gradient = np.asarray(gradient._data if isinstance(gradient, Tensor) else gradient)
    if gradient.shape != tensor.shape and gradient.size != 1:
        raise ValueError(
            f"backward(gradient): gradient has shape {gradient.shape}, but the tensor has "
            f"shape {tensor.shape}; pass one of the tensor's shape (or a single number)"
        )
    return np.broadcast_to(gradient.astype(tensor.dtype, copy=False), tensor.shape)


def _accumulate(leaf, grad, handed_out):
    """Add grad into leaf.grad. A leaf never shares its .grad array with anything else."""
    if leaf.grad is not None:
        leaf.grad = np.asarray(leaf.grad + grad.astype(leaf.dtype, copy=False))
    elif grad.base is None and grad.dtype == leaf.dtype and id(grad) not in handed_out:
        leaf.grad = grad  # fresh memory that nothing else holds: no copy needed
    else:
        leaf.grad = np.array(grad, dtype=leaf.dtype)
    handed_out.add(id(leaf.grad))


def enable_autograd():
    """Turn autograd on: every later operation records its graph. Safe to call again."""
    Tensor._from_op = staticmethod(_record)
    Tensor.backward = _backward
    Tensor._grad_fn = None


# --- numerical gradient check ----------------------------------------------------------


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Compare autograd's gradients of sum(fn(*inputs)) with central differences, in float64.

    ``inputs`` are Tensors (those with requires_grad are checked). Returns True, or raises
    AssertionError naming the input and element that disagree most.
    """
    with default_dtype(np.float64):
        points = [Tensor(t.data.astype(np.float64), requires_grad=t.requires_grad) for t in inputs]

        def value():
            with no_grad():
                return float(np.sum(fn(*points).data))

        out = fn(*points)
        out.sum().backward()
        for index, point in enumerate(points):
            if not point.requires_grad:
                continue
            analytic = np.zeros(point.shape) if point.grad is None else point.grad
            numeric = np.zeros(point.shape)
            flat = point._data.reshape(-1)
            for i in range(flat.size):
                original = flat[i]
                flat[i] = original + eps
                above = value()
                flat[i] = original - eps
                below = value()
                flat[i] = original
                numeric.reshape(-1)[i] = (above - below) / (2 * eps)
            error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            if error.size and error.max() > 0:
                worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), point.shape))
                raise AssertionError(
                    f"gradcheck: input {index} (shape {point.shape}) element {worst}: autograd "
                    f"gives {analytic[worst]!r}, central differences give {numeric[worst]!r}"
                )
    return True


enable_autograd()
