"""Module 01, Tensor: an n-dimensional array of floats with numpy's broadcasting rules.

A Tensor wraps one numpy array, ``.data``, and gives it what later modules build on:
arithmetic, matmul, indexing, reshape and transpose, sum/mean/max and exp/log/sqrt. Nothing
here computes gradients; module 05 (autograd) adds that without editing this file, through
the two hooks at the end of this docstring.

Dtype
    Every Tensor holds the *default dtype* in force when it was made: float32, or float64
    inside ``with default_dtype(np.float64):`` (for gradient checks). Operation results are
    made the same way, so inside that block they are float64 too. ``get_default_dtype()``
    says which one is in force. Ints and bools become floats.

Copies
    The constructor copies its input, and every operation returns new memory, indexing and
    reshape included, so changing one Tensor in place never changes another.

Floating-point errors
    Operations follow IEEE arithmetic silently, as PyTorch does: 1/0 is inf, log(0) is -inf,
    sqrt(-1) is nan, exp(1000) is inf. numpy's RuntimeWarnings for these are suppressed.

Hooks for autograd
    ``Tensor._from_op(out, op, inputs, **attrs)`` makes the result of every differentiable
    operation: ``out`` is the numpy result, ``op`` one of add sub mul div neg pow matmul getitem
    reshape transpose sum mean max exp log sqrt, ``inputs`` the Tensor operands in mathematical
    order (``2 - t`` has inputs ``(Tensor(2), t)``), ``attrs`` the operation's arguments
    (axis, keepdims, key, shape, exponent, dim0, dim1). Here it only wraps ``out``.
    ``Tensor._version`` counts in-place changes: in-place operators, ``t[key] = value``,
    assigning ``t.data``, and writes through the array ``t.data`` hands out (``t.data[0] = 1``,
    ``t.data -= x``): that array is a view which reports writes to its tensor.
"""

import contextlib
import contextvars
import numbers
import reprlib
import weakref

import numpy as np

__all__ = ["Tensor", "default_dtype", "get_default_dtype"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# A context variable, not a global, so that a gradient check running in one thread or asyncio
# task does not change the dtype of tensors made by another.
_default_dtype = contextvars.ContextVar("tinytorch_default_dtype", default=_FLOATS[0])
# numpy < 1.25 keeps its exception classes at top level.
_np_exceptions = getattr(np, "exceptions", np)
# Both an IndexError (what PyTorch raises for a bad dim) and a ValueError (what numpy raises
# for a bad axis in sum/mean/max), so either expectation holds.
_AxisError = _np_exceptions.AxisError
_ACCEPTED = "a number, a (nested) list of numbers, a numpy array of numbers, or a Tensor"


def get_default_dtype():
    """The dtype new Tensors get: float32, or float64 inside ``default_dtype(np.float64)``."""
    return _default_dtype.get()


def default_dtype(dtype):
    """Context manager: Tensors made inside the block, operation results included, get ``dtype``.

    Only float32 and float64 are allowed. Blocks nest, and the previous dtype comes back on
    exit, also when the block raises::

        with default_dtype(np.float64):
            x = Tensor([1, 2]) * 3   # float64
    """
    try:
        # np.dtype(None) is float64, so None must be refused before asking numpy.
        checked = None if dtype is None else np.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or checked not in _FLOATS:
        raise ValueError(f"default_dtype: only float32 and float64 are allowed; got {dtype!r}")
    return _dtype_scope(checked)


@contextlib.contextmanager
def _dtype_scope(dtype):
    token = _default_dtype.set(dtype)
    try:
        yield dtype
    finally:
        _default_dtype.reset(token)


def _to_array(data):
    """A new array of the default dtype holding ``data``, which must be numbers."""
    if isinstance(data, Tensor):
        data = data._data
    elif data is None or isinstance(data, (str, bytes)):
        raise TypeError(f"Tensor data must be {_ACCEPTED}; got {data!r}")
    # numpy >= 1.24 raises ValueError for ragged nested lists; older ones warn (an error under
    # -W error) or make an object array, which the dtype check below refuses.
    try:
        array = np.asarray(data)
    except (ValueError, _np_exceptions.VisibleDeprecationWarning):
        raise ValueError(
            "Tensor data must be rectangular (nested lists of equal length at each depth); "
            f"got a ragged {type(data).__name__}: {reprlib.repr(data)}"
        ) from None
    if array.dtype.kind not in "biuf":  # bool, int, unsigned, float
        raise TypeError(
            f"Tensor data must be {_ACCEPTED}; got {type(data).__name__} {reprlib.repr(data)} "
            f"(numpy reads it as dtype {array.dtype})"
        )
    with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, as in PyTorch
        return np.array(array, dtype=get_default_dtype())


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _broadcast(op, shape_a, shape_b):
    try:
        return np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {shape_a} and {shape_b} cannot be broadcast together (numpy rules: "
            "aligned from the right, each pair of dimensions must be equal or one of them 1)"
        ) from None


def _index(key):
    """``key`` with Tensors replaced by integer arrays, so numpy can index with it."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if not isinstance(key, Tensor):
        return key
    # Tensors hold floats, so a Tensor index is read as positions; a mask must be a bool array.
    values = key._data
    if not (np.isfinite(values).all() and (values == np.trunc(values)).all()):
        raise IndexError(f"a Tensor used as an index must hold whole numbers; got {key!r}")
    return values.astype(np.intp)


class _TrackedArray(np.ndarray):
    """What ``t.data`` hands out: ``t``'s own memory, seen through a view that counts writes
    into it (item assignment, in-place operators, ufuncs with ``out=``) as in-place changes of
    ``t``, so that autograd can refuse a graph whose saved values were overwritten.

    Results computed from it are plain ndarrays. Writes through other numpy functions
    (``fill``, ``np.copyto``, ``sort``) are not counted.
    """

    def __array_finalize__(self, obj):
        # A view of the view (a slice, a reshape) writes into the same tensor; a copy does not.
        self._owner = getattr(obj, "_owner", None) if self.base is not None else None

    def _changed(self):
        tensor = self._owner() if self._owner is not None else None
        if tensor is not None:
            tensor._version += 1

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._changed()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = tuple(x.view(np.ndarray) if isinstance(x, _TrackedArray) else x for x in inputs)
        if out is None:
            return getattr(ufunc, method)(*plain, **kwargs)
        kwargs["out"] = tuple(
            x.view(np.ndarray) if isinstance(x, _TrackedArray) else x for x in out
        )
        result = getattr(ufunc, method)(*plain, **kwargs)
        for array in out:
            if isinstance(array, _TrackedArray):
                array._changed()
        # `a -= b` must give back `a` itself, as it does for a plain ndarray.
        return out[0] if len(out) == 1 else result

    def __repr__(self):
        return repr(self.view(np.ndarray))


class Tensor:
    """An n-dimensional array of floats; see the module docstring."""

    # ndarray (and numpy scalar) operators then defer to ours, so ndarray * Tensor is a Tensor.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        self._data = _to_array(data)
        self._version = 0
        self._view = None
        self.requires_grad = bool(requires_grad)
        self.grad = None

    @classmethod
    def _wrap(cls, out):
        """A Tensor holding ``out``, an operation's result, copied only when it must be: when
        it is a view of another array or not of the default dtype."""
        tensor = cls.__new__(cls)
        dtype = get_default_dtype()
        if not isinstance(out, np.ndarray) or out.base is not None or out.dtype != dtype:
            with np.errstate(over="ignore"):
                out = np.array(out, dtype=dtype)
        tensor._data = out
        tensor._version = 0
        tensor._view = None
        tensor.requires_grad = False
        tensor.grad = None
        return tensor

    @staticmethod
    def _from_op(out, op, inputs, **attrs):
        """Make the result of operation ``op``; module 05 replaces this to record the graph."""
        return Tensor._wrap(out)

    # --- storage -------------------------------------------------------------------------

    @property
    def data(self):
        view = self._view
        if view is None or view[0] is not self._data:
            tracked = self._data.view(_TrackedArray)
            tracked._owner = weakref.ref(self)
            view = self._view = (self._data, tracked)
        return view[1]

    @data.setter
    def data(self, value):
        if self._view is not None and value is self._view[1]:
            return  # `t.data -= x` wrote into the view, which has counted the change already
        self._data = _to_array(value)
        self._version += 1

    @property
    def shape(self):
        return self._data.shape

    @property
    def size(self):
        return self._data.size

    @property
    def dtype(self):
        return self._data.dtype

    def numpy(self):
        """The underlying array itself (not a copy): the same object as ``.data``."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        # Lets numpy read a Tensor: np.asarray(t), np.stack([t1, t2]), Tensor([t1, t2]).
        array = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        data = np.array2string(self._data, prefix="Tensor(data=")
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(data={data}, shape={self.shape}{flag})"

    # --- gradients, before autograd exists -----------------------------------------------

    def backward(self, gradient=None):
        raise RuntimeError(
            "backward() needs autograd, which arrives in module 05 (autograd); this tinytorch "
            "is an earlier checkpoint. Install checkpoint 05 or later (nox -s module05)."
        )

    def zero_grad(self):
        self.grad = None

    # --- arithmetic ----------------------------------------------------------------------

    def _binary(self, other, op, fn, reflected=False):
        other = _as_tensor(other)
        a, b = (other, self) if reflected else (self, other)
        with np.errstate(all="ignore"):
            try:
                out = fn(a._data, b._data)
            except ValueError:
                _broadcast(op, a.shape, b.shape)  # raises, naming both shapes
                raise
        return Tensor._from_op(out, op, (a, b))

    def __add__(self, other):
        return self._binary(other, "add", np.add)

    def __radd__(self, other):
        return self._binary(other, "add", np.add, reflected=True)

    def __sub__(self, other):
        return self._binary(other, "sub", np.subtract)

    def __rsub__(self, other):
        return self._binary(other, "sub", np.subtract, reflected=True)

    def __mul__(self, other):
        return self._binary(other, "mul", np.multiply)

    def __rmul__(self, other):
        return self._binary(other, "mul", np.multiply, reflected=True)

    def __truediv__(self, other):
        return self._binary(other, "div", np.divide)

    def __rtruediv__(self, other):
        return self._binary(other, "div", np.divide, reflected=True)

    def __neg__(self):
        return Tensor._from_op(-self._data, "neg", (self,))

    def __pow__(self, exponent):
        if not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"t ** k: the exponent must be a Python number; got {type(exponent).__name__}"
                " (for a tensor exponent b, write (b * a.log()).exp())"
            )
        with np.errstate(all="ignore"):
            out = np.power(self._data, exponent)
        return Tensor._from_op(out, "pow", (self,), exponent=exponent)

    def _inplace(self, other, op, fn):
        other = _as_tensor(other)
        shape = _broadcast(op, self.shape, other.shape)
        if shape != self.shape:
            raise ValueError(
                f"{op} in place: the result of {self.shape} and {other.shape} has shape {shape}, "
                f"which does not fit in {self.shape}"
            )
        with np.errstate(all="ignore"):
            fn(self._data, other._data, out=self._data)
        self._version += 1
        return self

    def __iadd__(self, other):
        return self._inplace(other, "add", np.add)

    def __isub__(self, other):
        return self._inplace(other, "sub", np.subtract)

    def __imul__(self, other):
        return self._inplace(other, "mul", np.multiply)

    def __itruediv__(self, other):
        return self._inplace(other, "div", np.divide)

    # --- matmul --------------------------------------------------------------------------

    def matmul(self, other):
        """Matrix product with numpy's rules: 1-D operands act as vectors, leading axes are
        batch axes and broadcast."""
        if not isinstance(other, Tensor):
            raise TypeError(
                f"matmul: other must be a Tensor; got {type(other).__name__} (wrap it in Tensor())"
            )
        return _matmul(self, other)

    def __matmul__(self, other):
        return _matmul(self, _as_tensor(other))

    def __rmatmul__(self, other):
        return _matmul(_as_tensor(other), self)

    # --- indexing and shape --------------------------------------------------------------

    def __getitem__(self, key):
        key = _index(key)
        return Tensor._from_op(self._data[key], "getitem", (self,), key=key)

    def __setitem__(self, key, value):
        with np.errstate(all="ignore"):
            self._data[_index(key)] = _as_tensor(value)._data
        self._version += 1

    def reshape(self, *shape):
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one size may be -1 (inferred)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out = self._data.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {self.shape} (size {self.size}) "
                f"into shape {shape} (sizes must multiply to {self.size}; at most one -1)"
            ) from None
        return Tensor._from_op(out, "reshape", (self,), shape=shape)

    def transpose(self, dim0=None, dim1=None):
        """Swap axes ``dim0`` and ``dim1``; with neither given, the last two (a 0-d or 1-d
        tensor is then returned as an unchanged copy)."""
        if (dim0 is None) != (dim1 is None):
            raise TypeError("transpose: give both dim0 and dim1, or neither")
        ndim = self._data.ndim
        if dim0 is None:
            if ndim < 2:  # nothing to swap; a reshape to the same shape is the identity op
                return self.reshape(self.shape)
            dim0, dim1 = -2, -1
        for dim in (dim0, dim1):
            if not -ndim <= dim < ndim:
                raise _AxisError(
                    f"transpose: dim {dim} is out of range for a tensor of shape {self.shape} "
                    f"(valid dims: {-ndim} to {ndim - 1})"
                )
        out = np.swapaxes(self._data, dim0, dim1)
        return Tensor._from_op(out, "transpose", (self,), dim0=dim0, dim1=dim1)

    # --- reductions and elementwise functions --------------------------------------------

    def _reduce(self, op, fn, axis, keepdims):
        axis = tuple(axis) if isinstance(axis, list) else axis
        with np.errstate(all="ignore"):
            out = fn(self._data, axis=axis, keepdims=keepdims)
        return Tensor._from_op(out, op, (self,), axis=axis, keepdims=keepdims)

    def sum(self, axis=None, keepdims=False):
        return self._reduce("sum", np.sum, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return self._reduce("mean", _mean, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return self._reduce("max", np.max, axis, keepdims)

    def _unary(self, op, fn):
        with np.errstate(all="ignore"):
            out = fn(self._data)
        return Tensor._from_op(out, op, (self,))

    def exp(self):
        return self._unary("exp", np.exp)

    def log(self):
        return self._unary("log", np.log)

    def sqrt(self):
        return self._unary("sqrt", np.sqrt)


def _mean(x, axis, keepdims):
    # Sum, then divide by the count, rather than np.mean, which warns on empty input
    # instead of giving nan.
    total = np.sum(x, axis=axis, keepdims=keepdims)
    return total / (x.size // max(np.size(total), 1))


def _matmul(a, b):
    x, y = a._data, b._data
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul: operands need at least 1 dimension; got {a.shape} @ {b.shape}")
    inner = y.shape[-2] if y.ndim >= 2 else y.shape[0]
    if x.shape[-1] != inner:
        raise ValueError(
            f"matmul: inner dimensions differ: {a.shape} @ {b.shape}; the last axis of the left "
            "operand must equal the second-to-last of the right (its only axis if 1-D)"
        )
    if x.ndim > 2 or y.ndim > 2:  # only stacks of matrices have batch dimensions to agree on
        try:
            np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
        except ValueError:
            raise ValueError(
                f"matmul: batch dimensions {x.shape[:-2]} and {y.shape[:-2]} cannot be broadcast "
                f"together: {a.shape} @ {b.shape}"
            ) from None
    with np.errstate(all="ignore"):
        out = np.matmul(x, y)
    return Tensor._from_op(out, "matmul", (a, b))
