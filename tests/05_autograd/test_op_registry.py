"""Module 05 (autograd): one registry of every differentiable operation of modules 01-04.

The idea is PyTorch's OpInfo: each ``OpEntry`` names an operation, gives a callable that takes
Tensors (``lambda a, b: a * b``), the op names of ``autograd.BACKWARD`` it exercises
(``covers``), and sample inputs: 0-d and (1,) shapes, size-1 axes that broadcast, negative and
tuple axes, batched and 1-D matmul, integer-array indexing with repeated indices, reflected
operators, values inside each op's domain. Every test below runs over every (op, sample) pair:

- ``gradcheck`` of the engine returns True, and an independent central-difference check written
  here (float64, eps 1e-6) agrees with ``.grad``, so a bug in ``gradcheck`` cannot hide a wrong
  gradient. Both differentiate ``sum(weight * f(inputs))`` with a fixed, non-uniform weight:
  with a plain sum, softmax's gradient would be zero whatever the backward rule says.
- ``.grad`` is an ndarray of the input's shape and dtype, float32 and float64; inputs that do
  not require grad (loss targets) get none.
- Two ``backward(retain_graph=True)`` give exactly twice one gradient.
- Under ``no_grad()`` nothing is recorded.
- The registry covers the engine: the union of ``covers`` is exactly ``BACKWARD``'s keys (an op
  added to the engine without an entry fails), and each sample really records what its entry
  claims (walking ``_grad_fn.op`` / ``_grad_fn.inputs``).

Expected gradients come from central differences of the forward pass or from hand formulas,
never from the backward rules under test.
"""

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from tinytorch_testing import F32, F64

from tinytorch.core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.autograd import BACKWARD, gradcheck, no_grad
from tinytorch.core.layers import Linear
from tinytorch.core.losses import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    MSELoss,
    log_softmax,
)
from tinytorch.core.tensor import Tensor, default_dtype

pytestmark = [pytest.mark.gradient]

# --- sample values ---------------------------------------------------------------------------
# One generator, consumed in a fixed order while the registry is built at import, so every
# process (pytest-xdist workers included) sees the same values.
_RNG = np.random.default_rng(20240505)


def anyv(*shape):
    """Values in [-2, 2]: for ops that are smooth everywhere."""
    return _RNG.uniform(-2.0, 2.0, shape)


def pos(*shape):
    """Values in [0.5, 2]: log, sqrt, fractional powers, divisors."""
    return _RNG.uniform(0.5, 2.0, shape)


def away(*shape):
    """Values with 0.25 <= |x| <= 2, either sign: relu away from its kink, 1/x."""
    return _RNG.choice([-1.0, 1.0], shape) * _RNG.uniform(0.25, 2.0, shape)


def distinct(*shape):
    """Values at least 0.17 apart (a shuffled grid on [-2, 2]): max without ties."""
    n = int(np.prod(shape, dtype=int))
    grid = np.linspace(-2.0, 2.0, n) if n > 1 else np.array([0.7])
    return _RNG.permutation(grid).reshape(shape)


def prob(*shape):
    """Probabilities in [0.1, 0.9]: BCE's clip to [1e-7, 1 - 1e-7] stays inactive."""
    return _RNG.uniform(0.1, 0.9, shape)


def _shape_text(shape):
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ",".join(str(n) for n in shape) + ")"


@dataclass(frozen=True)
class Sample:
    """Inputs of one call: ``fn(*Tensors(arrays), **kwargs)``."""

    label: str
    arrays: tuple
    kwargs: dict = field(default_factory=dict)
    # Which inputs require grad; the others (loss targets) must never get a gradient.
    differentiable: tuple = ()
    # Some input is broadcast against another (its gradient must be summed back).
    broadcast: bool = False

    def grad_flags(self):
        return self.differentiable or (True,) * len(self.arrays)


def sample(tag, *arrays, differentiable=(), broadcast=None, **kwargs):
    """A Sample labelled ``tag`` + the input shapes, e.g. ``broadcast(3,1)x(1,4)``."""
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in arrays)
    shapes = [a.shape for a in arrays]
    if broadcast is None:
        broadcast = len(set(shapes)) > 1
    label = tag + "x".join(_shape_text(s) for s in shapes)
    return Sample(label, arrays, kwargs, tuple(differentiable), broadcast)


@dataclass(frozen=True)
class OpEntry:
    name: str
    fn: Callable
    covers: frozenset
    samples: Callable  # () -> list[Sample]


def _binary_samples(right=anyv):
    """Same shapes, 0-d, (1,), and every kind of broadcast: size-1 axes on either side,
    missing leading axes, 0-d against n-d."""
    return [
        sample("same", anyv(2, 3), right(2, 3)),
        sample("scalar", anyv(), right()),
        sample("one", anyv(1), right(1)),
        sample("broadcast", anyv(3, 1), right(1, 4)),
        sample("broadcast", anyv(2, 3), right(3)),
        sample("broadcast", anyv(3), right(2, 3)),
        sample("broadcast", anyv(), right(2, 3)),
        sample("broadcast", anyv(2, 3), right()),
        sample("broadcast", anyv(1), right(2, 3)),
        sample("broadcast", anyv(2, 1, 3), right(4, 1)),
    ]


def _unary_samples(values=anyv):
    return [
        sample("", values()),
        sample("", values(1)),
        sample("", values(2, 3)),
        sample("", values(2, 3, 4)),
    ]


def _reduction_samples(values=anyv):
    return [
        sample("all-", values(2, 3)),
        sample("all-", values()),
        sample("all-", values(1)),
        sample("axis0-", values(2, 3), axis=0),
        sample("axis-1-", values(2, 3, 4), axis=-1),
        sample("axis1-keepdims-", values(2, 3), axis=1, keepdims=True),
        sample("axis(0,-1)-keepdims-", values(2, 3, 4), axis=(0, -1), keepdims=True),
        sample("axis(0,2)-", values(2, 3, 4), axis=(0, 2)),
        sample("axis1-size1-", values(3, 1), axis=1),
        sample("all-keepdims-", values(2, 3), keepdims=True),
    ]


def _activation_samples(values):
    return [*_unary_samples(values), sample("", values(4, 1))]


def _softmax_samples():
    return [
        sample("dim-1-", anyv(2, 3), dim=-1),
        sample("dim0-", anyv(2, 3), dim=0),
        sample("dim1-", anyv(2, 3, 4), dim=1),
        sample("dim-3-", anyv(2, 3, 4), dim=-3),
        sample("dim0-", anyv(4), dim=0),
        sample("dim0-", anyv(1), dim=0),
        sample("dim1-size1-", anyv(3, 1), dim=1),
    ]


def _index_samples():
    return [
        sample("int-array-repeats-", anyv(3, 4), key=[0, 2, 0]),
        sample("np-int-array-repeats-", anyv(3, 4), key=np.array([1, 1, 1, 2])),
        sample("pair-arrays-repeats-", anyv(3, 4), key=([0, 0, 2, 1], [3, 3, 0, 1])),
        sample("column-array-repeats-", anyv(3, 4), key=(slice(None), [1, 3, 1])),
        sample("slice-", anyv(3, 4), key=(slice(1, None), slice(None, None, 2))),
        sample("negative-int-", anyv(3, 4), key=-1),
        sample("int-then-slice-", anyv(2, 3, 4), key=(1, slice(None, 2))),
        sample("ellipsis-", anyv(2, 3, 4), key=(Ellipsis, 0)),
        sample("newaxis-", anyv(3), key=(None, slice(None))),
        sample("scalar-element-", anyv(2, 3), key=(1, 2)),
        sample("one-", anyv(1), key=0),
    ]


def _matmul_samples():
    # Batch axes broadcast like elementwise ones (a (4, 5) right operand against a batch of 2
    # gets the sum over the batch); the plain matrix and vector products do not broadcast.
    return [
        sample("", anyv(2, 3), anyv(3, 4), broadcast=False),
        sample("batched", anyv(2, 3, 4), anyv(4, 5)),
        sample("batched", anyv(4, 3), anyv(2, 3, 2)),
        sample("batch-broadcast", anyv(1, 3, 4), anyv(2, 4, 3)),
        sample("batch-broadcast", anyv(2, 1, 2, 3), anyv(3, 3, 2)),
        sample("1d-left", anyv(3), anyv(3, 4), broadcast=False),
        sample("1d-right", anyv(2, 3), anyv(3), broadcast=False),
        sample("1d-both", anyv(4), anyv(4)),
        sample("1d-left-batched", anyv(4), anyv(2, 4, 3)),
        sample("1d-right-batched", anyv(2, 3, 4), anyv(4)),
        sample("one", anyv(1, 1), anyv(1, 1)),
        sample("one", anyv(1), anyv(1)),
    ]


def _reshape_samples():
    return [
        sample("flatten-1-", anyv(2, 3), shape=(-1,)),
        sample("flatten-1-", anyv(2, 3, 4), shape=(-1,)),
        sample("(2,-1)-", anyv(2, 6), shape=(2, -1)),
        sample("(-1,3,2)-", anyv(2, 3, 2), shape=(-1, 3, 2)),
        sample("(3,4)-", anyv(2, 6), shape=(3, 4)),
        sample("(1,1)-", anyv(), shape=(1, 1)),
        sample("()-", anyv(1, 1), shape=()),
    ]


def _transpose_samples():
    return [
        sample("default-", anyv(2, 3), dims=()),
        sample("default-", anyv(2, 3, 4), dims=()),
        sample("default-", anyv(1, 4), dims=()),
        sample("(0,2)-", anyv(2, 3, 4), dims=(0, 2)),
        sample("(-1,0)-", anyv(2, 3, 4), dims=(-1, 0)),
        sample("(1,0)-", anyv(3, 2), dims=(1, 0)),
        sample("(0,0)-", anyv(3, 2), dims=(0, 0)),
    ]


def _targets_like(*shape):
    return _RNG.integers(0, 2, shape).astype(np.float64)


def _mse_samples():
    return [
        sample("", anyv(4), anyv(4), differentiable=(True, False)),
        sample("", anyv(2, 3), anyv(2, 3), differentiable=(True, False)),
        sample("", anyv(1), anyv(1), differentiable=(True, False)),
        sample("", anyv(), anyv(), differentiable=(True, False)),
    ]


def _cross_entropy_samples():
    return [
        sample("targets[2,0,2]-", anyv(3, 4), targets=np.array([2, 0, 2])),
        sample("targets[1]-", anyv(1, 3), targets=[1]),
        sample("targets[0,0,1,0]-", anyv(4, 2), targets=[0, 0, 1, 0]),
        sample("targets[3,3]-", anyv(2, 5), targets=np.array([3, 3])),
    ]


def _bce_samples():
    return [
        sample("hard-", prob(4), _targets_like(4), differentiable=(True, False)),
        sample("hard-", prob(2, 3), _targets_like(2, 3), differentiable=(True, False)),
        sample("soft-", prob(2, 2), prob(2, 2), differentiable=(True, False)),
        sample("hard-", prob(1), np.ones(1), differentiable=(True, False)),
    ]


def _linear_samples():
    return [
        sample("", anyv(4, 3), anyv(3, 2), anyv(2)),
        sample("batched", anyv(2, 4, 3), anyv(3, 2), anyv(2)),
        sample("1d", anyv(3), anyv(3, 2), anyv(2)),
        sample("one", anyv(1, 1), anyv(1, 1), anyv(1)),
    ]


def _linear(x, weight, bias=None):
    """Module 03's Linear, with the sample's Tensors as its weight and bias."""
    layer = Linear(weight.shape[0], weight.shape[1], bias=bias is not None)
    layer.weight = weight
    if bias is not None:
        layer.bias = bias
    return layer(x)


def entry(name, fn, covers, samples):
    return OpEntry(name, fn, frozenset(covers), samples)


def _transpose(a, dims):
    return a.transpose(*dims)


REGISTRY = [
    # --- module 01: arithmetic ---------------------------------------------------------------
    entry("add", lambda a, b: a + b, {"add"}, _binary_samples),
    entry("radd", lambda a: 1.5 + a, {"add"}, _unary_samples),
    entry("sub", lambda a, b: a - b, {"sub"}, _binary_samples),
    entry("rsub", lambda a: 2 - a, {"sub"}, _unary_samples),
    entry("sub-scalar", lambda a: a - 0.5, {"sub"}, _unary_samples),
    entry("mul", lambda a, b: a * b, {"mul"}, _binary_samples),
    entry("rmul", lambda a: 2 * a, {"mul"}, _unary_samples),
    entry(
        "mul-array",
        lambda a: a * np.array([1.0, -2.0, 3.0]),
        {"mul"},
        lambda: [
            sample("", anyv(2, 3)),
            sample("broadcast", anyv(1), broadcast=True),
            sample("broadcast", anyv(), broadcast=True),
        ],
    ),
    entry("div", lambda a, b: a / b, {"div"}, lambda: _binary_samples(right=away)),
    entry("rdiv", lambda a: 3 / a, {"div"}, lambda: _unary_samples(pos)),
    entry("div-scalar", lambda a: a / 4, {"div"}, _unary_samples),
    entry("neg", lambda a: -a, {"neg"}, _unary_samples),
    entry(
        "pow",
        lambda a, k: a**k,
        {"pow"},
        lambda: [
            sample("k=3-", anyv(2, 3), k=3),
            sample("k=2-", anyv(), k=2),
            sample("k=3-", anyv(1), k=3),
            sample("k=0.5-", pos(2, 3), k=0.5),
            sample("k=-1-", away(3), k=-1),
            sample("k=-0.5-", pos(2, 2), k=-0.5),
            sample("k=1.5-", pos(4, 1), k=1.5),
            sample("k=1-", anyv(3), k=1),
        ],
    ),
    # --- module 01: matmul, indexing, shape -------------------------------------------------
    entry("matmul", lambda a, b: a @ b, {"matmul"}, _matmul_samples),
    entry(
        "matmul-method",
        lambda a, b: a.matmul(b),
        {"matmul"},
        lambda: [
            sample("", anyv(2, 3), anyv(3, 2)),
            sample("batched", anyv(2, 2, 3), anyv(3, 4)),
        ],
    ),
    entry("getitem", lambda a, key: a[key], {"getitem"}, _index_samples),
    entry(
        "getitem-tensor-key",
        lambda a: a[Tensor([2, 0, 2, 2])],
        {"getitem"},
        lambda: [
            sample("", anyv(3, 2)),
            sample("", anyv(3)),
        ],
    ),
    entry("reshape", lambda a, shape: a.reshape(*shape), {"reshape"}, _reshape_samples),
    entry(
        "reshape-tuple",
        lambda a: a.reshape((3, -1)),
        {"reshape"},
        lambda: [
            sample("", anyv(2, 3)),
            sample("", anyv(6, 1)),
        ],
    ),
    entry("transpose", _transpose, {"transpose"}, _transpose_samples),
    # transpose() of a 0-d or 1-d tensor is the identity, recorded as a reshape to its shape.
    entry(
        "transpose-vector",
        lambda a: a.transpose(),
        {"reshape"},
        lambda: [
            sample("", anyv(3)),
            sample("", anyv()),
        ],
    ),
    # --- module 01: reductions and elementwise functions ------------------------------------
    entry("sum", lambda a, **kw: a.sum(**kw), {"sum"}, _reduction_samples),
    entry("mean", lambda a, **kw: a.mean(**kw), {"mean"}, _reduction_samples),
    entry("max", lambda a, **kw: a.max(**kw), {"max"}, lambda: _reduction_samples(distinct)),
    entry("exp", lambda a: a.exp(), {"exp"}, _unary_samples),
    entry("log", lambda a: a.log(), {"log"}, lambda: _unary_samples(pos)),
    entry("sqrt", lambda a: a.sqrt(), {"sqrt"}, lambda: _unary_samples(pos)),
    # --- module 02: activations -------------------------------------------------------------
    entry("relu", lambda x: ReLU()(x), {"relu"}, lambda: _activation_samples(away)),
    entry(
        "sigmoid",
        lambda x: Sigmoid()(x),
        {"sigmoid"},
        lambda: [
            *_activation_samples(anyv),
            sample("wide", 3 * anyv(2, 3)),
        ],
    ),
    entry("tanh", lambda x: Tanh().forward(x), {"tanh"}, lambda: _activation_samples(anyv)),
    entry("gelu", lambda x: GELU()(x), {"gelu"}, lambda: _activation_samples(anyv)),
    entry("softmax", lambda x, dim: Softmax().forward(x, dim=dim), {"softmax"}, _softmax_samples),
    entry(
        "softmax-default-dim",
        lambda x: Softmax()(x),
        {"softmax"},
        lambda: [
            sample("", anyv(2, 3)),
            sample("", anyv(4)),
        ],
    ),
    # --- module 03: Linear's forward, with its parameters as inputs -------------------------
    entry("linear", _linear, {"linear"}, _linear_samples),
    entry(
        "linear-no-bias",
        _linear,
        {"linear"},
        lambda: [
            sample("", anyv(4, 3), anyv(3, 2)),
            sample("batched", anyv(2, 4, 3), anyv(3, 2)),
            sample("1d", anyv(3), anyv(3, 1)),
        ],
    ),
    entry("matmul-then-add", lambda x, w, b: x @ w + b, {"matmul", "add"}, _linear_samples),
    # --- module 04: losses ------------------------------------------------------------------
    entry("log_softmax", lambda x, dim: log_softmax(x, dim=dim), {"log_softmax"}, _softmax_samples),
    entry("mse", lambda p, t: MSELoss()(p, t), {"sub", "pow", "mean"}, _mse_samples),
    entry(
        "cross_entropy",
        lambda z, targets: CrossEntropyLoss()(z, targets),
        {"cross_entropy"},
        _cross_entropy_samples,
    ),
    entry(
        "bce",
        lambda p, t: BinaryCrossEntropyLoss()(p, t),
        {"clip", "log", "mul", "sub"},
        _bce_samples,
    ),
]

CASES = [(op, s) for op in REGISTRY for s in op.samples()]


def _param(op, s):
    marks = [pytest.mark.broadcasting] if s.broadcast else []
    return pytest.param(op, s, id=f"{op.name}-{s.label}", marks=marks)


PAIRS = [_param(op, s) for op, s in CASES]


# --- helpers ---------------------------------------------------------------------------------


def make_inputs(s):
    """Fresh Tensors (of the default dtype in force) for sample ``s``."""
    flags = s.grad_flags()
    return [Tensor(a, requires_grad=flag) for a, flag in zip(s.arrays, flags, strict=True)]


def call(op, s, inputs):
    return op.fn(*inputs, **s.kwargs)


def upstream(op, s, shape):
    """A fixed, non-uniform output gradient, so that the elements of the output weigh
    differently (with a plain sum, softmax's gradient would be 0 whatever its backward rule).
    Dyadic numbers, exact in float32; all positive, so that no sum of them (the gradient of a
    broadcast input) is 0 by cancellation."""
    rng = np.random.default_rng(zlib.crc32(f"{op.name}-{s.label}".encode()))
    return rng.choice([0.5, 0.75, 1.25, 1.5, 2.0], size=shape)


def forward64(op, s, arrays):
    """The op's float64 forward value, through plain Tensors that record nothing."""
    with default_dtype(np.float64):
        return call(op, s, [Tensor(a) for a in arrays]).data.astype(np.float64)


def central_differences(op, s, weight, index, eps=1e-6):
    """d sum(weight * f) / d input ``index``, by central differences in float64."""
    arrays = [a.copy() for a in s.arrays]
    grad = np.zeros_like(arrays[index])
    for i in range(grad.size):
        original = arrays[index].flat[i]
        arrays[index].flat[i] = original + eps
        above = np.sum(weight * forward64(op, s, arrays))
        arrays[index].flat[i] = original - eps
        below = np.sum(weight * forward64(op, s, arrays))
        arrays[index].flat[i] = original
        grad.flat[i] = (above - below) / (2 * eps)
    return grad


def recorded_ops(t):
    """The op names of every Function in the graph that made ``t``."""
    ops, seen, stack = set(), set(), [t]
    while stack:
        node = stack.pop()
        fn = node._grad_fn
        if fn is None or id(node) in seen:
            continue
        seen.add(id(node))
        ops.add(fn.op)
        stack.extend(fn.inputs)
    return ops


def backward_grads(op, s, dtype):
    """Run ``op`` on fresh ``dtype`` inputs inside ``default_dtype(dtype)`` and backward a fixed
    upstream gradient; return (inputs, output)."""
    with default_dtype(dtype):
        inputs = make_inputs(s)
        out = call(op, s, inputs)
        out.backward(upstream(op, s, out.shape))
    return inputs, out


# --- the tests the registry drives -----------------------------------------------------------


@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_gradcheck_float64(op, s):
    weight = upstream(op, s, forward64(op, s, s.arrays).shape)
    with default_dtype(np.float64):
        inputs = make_inputs(s)
        w = Tensor(weight)
    assert gradcheck(lambda *xs: op.fn(*xs, **s.kwargs) * w, inputs) is True


@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_matches_independent_central_differences(op, s):
    inputs, out = backward_grads(op, s, np.float64)
    weight = upstream(op, s, out.shape)
    for index, (t, flag) in enumerate(zip(inputs, s.grad_flags(), strict=True)):
        if not flag:
            continue
        numeric = central_differences(op, s, weight, index)
        assert isinstance(t.grad, np.ndarray), f"input {index}: .grad is {t.grad!r}"
        np.testing.assert_allclose(
            t.grad, numeric, rtol=1e-5, atol=1e-7, err_msg=f"input {index} of {op.name}"
        )


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_grad_is_ndarray_of_input_shape_and_dtype(op, s, dtype):
    inputs, out = backward_grads(op, s, dtype)
    assert out.dtype == dtype
    for index, (t, flag) in enumerate(zip(inputs, s.grad_flags(), strict=True)):
        assert t.dtype == dtype
        if not flag:
            assert t.grad is None, f"input {index} does not require grad but got {t.grad!r}"
            continue
        assert type(t.grad) is np.ndarray, f"input {index}: .grad is a {type(t.grad).__name__}"
        assert t.grad.shape == t.shape, f"input {index}: grad {t.grad.shape} vs {t.shape}"
        assert t.grad.dtype == dtype, f"input {index}: grad dtype {t.grad.dtype}"
        assert np.all(np.isfinite(t.grad))


@pytest.mark.accumulation
@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_retained_second_backward_doubles_the_gradient(op, s):
    with default_dtype(np.float64):
        inputs = make_inputs(s)
        out = call(op, s, inputs)
        g = upstream(op, s, out.shape)
        out.backward(g, retain_graph=True)
        once = [None if t.grad is None else t.grad.copy() for t in inputs]
        out.backward(g)
    for index, (t, first, flag) in enumerate(zip(inputs, once, s.grad_flags(), strict=True)):
        if not flag:
            assert t.grad is None
            continue
        assert type(first) is np.ndarray, f"input {index}: .grad is {first!r}, not an ndarray"
        if not np.any(first != 0):  # then it must be 0 (relu < 0, softmax over a size-1 axis)
            np.testing.assert_array_equal(central_differences(op, s, g, index), 0.0)
        np.testing.assert_array_equal(t.grad, 2 * first, err_msg=f"input {index}")


@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_no_grad_records_nothing(op, s):
    inputs = make_inputs(s)
    expected = call(op, s, [Tensor(a) for a in s.arrays]).data.copy()
    with no_grad():
        out = call(op, s, inputs)
    assert out.requires_grad is False
    assert out._grad_fn is None
    np.testing.assert_array_equal(out.data, expected)
    # Outside the block the same call records again.
    recorded = call(op, s, inputs)
    assert recorded.requires_grad is True
    assert recorded._grad_fn is not None


@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_sample_records_the_ops_its_entry_covers(op, s):
    out = call(op, s, make_inputs(s))
    ops = recorded_ops(out)
    assert op.covers <= ops, f"{op.name} claims {sorted(op.covers)}, recorded {sorted(ops)}"
    assert ops <= set(BACKWARD)


def test_registry_covers_every_backward_rule():
    covered = set().union(*(op.covers for op in REGISTRY))
    missing = set(BACKWARD) - covered
    unknown = covered - set(BACKWARD)
    assert not missing, f"ops with a backward rule but no registry entry: {sorted(missing)}"
    assert not unknown, f"registry entries claim ops the engine does not have: {sorted(unknown)}"
    # And the registry itself is usable: unique names and ids, small samples, each with
    # something to differentiate.
    names = [op.name for op in REGISTRY]
    assert len(names) == len(set(names)), "duplicate entry names"
    ids = [f"{op.name}-{s.label}" for op, s in CASES]
    assert len(ids) == len(set(ids)), "duplicate test ids"
    for op, s in CASES:
        assert all(a.size <= 24 for a in s.arrays), f"{op.name}-{s.label}: sample too large"
        assert any(s.grad_flags()), f"{op.name}-{s.label}: nothing to differentiate"


# --- cases the registry cannot express --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"axis": 1}, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]),
        ({"axis": -1, "keepdims": True}, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]),
        ({"axis": 0}, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
        ({}, [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]),
    ],
    ids=["axis1", "axis-1-keepdims", "axis0", "all"],
)
def test_max_splits_the_gradient_evenly_between_ties(kwargs, expected):
    # Hand-worked on [[1, 3, 3], [2, 0, 2]]: the gradient of a maximum goes to every element
    # equal to it, in equal parts (the subgradient torch.amax uses), so the parts of one
    # maximum add up to its own gradient.
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    out = x.max(**kwargs)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(x.grad, np.asarray(expected, dtype=np.float32))


def test_max_of_all_equal_elements_shares_the_gradient():
    x = Tensor(np.full((2, 2), 1.5), requires_grad=True)
    x.max().backward(2.0)
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 0.5, dtype=np.float32))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_bce_gradient_is_zero_where_the_clip_is_active(dtype):
    # p = 0 and p = 1 are clipped to 1e-7 and 1 - 1e-7: the loss there does not depend on p,
    # so its gradient is 0. Elsewhere (hand-worked, mean over N = 4):
    # d/dp -t log p / N = -t / (p N), d/dp -(1 - t) log(1 - p) / N = (1 - t) / ((1 - p) N).
    with default_dtype(dtype):
        p = Tensor([0.0, 0.3, 1.0, 0.6], requires_grad=True)
        loss = BinaryCrossEntropyLoss()(p, Tensor([1.0, 1.0, 0.0, 0.0]))
        loss.backward()
    expected = [0.0, -1.0 / (0.3 * 4), 0.0, 1.0 / (0.4 * 4)]
    assert p.grad.dtype == dtype
    assert p.grad[0] == 0.0
    assert p.grad[2] == 0.0
    np.testing.assert_allclose(p.grad, expected, rtol=1e-6 if dtype == F32 else 1e-12)
    if dtype == F64:
        value = (-np.log(1e-7) - np.log(0.3) - np.log(1e-7) - np.log(0.4)) / 4
        np.testing.assert_allclose(loss.data, value, rtol=1e-8)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch", [(4,), (2, 3), ()], ids=["(4,3)", "(2,3,3)", "(3,)"])
def test_linear_parameters_get_the_grads_of_its_formula(batch, dtype):
    # Linear's own parameters get the gradients of the registry's x @ w + b with the same
    # values, and both equal the hand formulas: dW = x^T g, db = sum of g over the batch axes,
    # dx = g W^T.
    rng = np.random.default_rng(5)
    with default_dtype(dtype):
        layer = Linear(3, 2)
        x_values = rng.uniform(-2, 2, (*batch, 3))
        g = rng.choice([-1.5, -0.5, 0.5, 1.0, 2.0], size=(*batch, 2))
        x = Tensor(x_values, requires_grad=True)
        layer(x).backward(g)
        w_copy = Tensor(layer.weight.data.copy(), requires_grad=True)
        b_copy = Tensor(layer.bias.data.copy(), requires_grad=True)
        x_copy = Tensor(x_values, requires_grad=True)
        (x_copy @ w_copy + b_copy).backward(g)
    for param in layer.parameters():
        assert type(param.grad) is np.ndarray
        assert param.grad.shape == param.shape
        assert param.grad.dtype == dtype
    np.testing.assert_array_equal(layer.weight.grad, w_copy.grad)
    np.testing.assert_array_equal(layer.bias.grad, b_copy.grad)
    np.testing.assert_array_equal(x.grad, x_copy.grad)
    xs = x.data.astype(np.float64).reshape(-1, 3)
    gs = g.reshape(-1, 2)
    weight = layer.weight.data.astype(np.float64)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == F32 else {"rtol": 1e-12, "atol": 0}
    np.testing.assert_allclose(layer.weight.grad, xs.T @ gs, **tol)
    np.testing.assert_allclose(layer.bias.grad, gs.sum(axis=0), **tol)
    np.testing.assert_allclose(x.grad, g @ weight.T, **tol)


@pytest.mark.parametrize(
    ("op_name", "wrong_rule", "fn", "values"),
    [
        ("exp", lambda g, f: (g * f.out * 1.01,), lambda a: a.exp(), [0.5, -1.0, 2.0]),
        ("mul", lambda g, f: (g * f.a, g * f.b), lambda a: a * Tensor([2.0, 3.0]), [1.0, 4.0]),
        ("sum", lambda g, f: (np.zeros(f.shapes[0]),), lambda a: a.sum(axis=0), [[1.0, 2.0]]),
    ],
    ids=["exp-1%-off", "mul-wrong-operand", "sum-zero"],
)
def test_gradcheck_rejects_a_wrong_backward_rule(monkeypatch, op_name, wrong_rule, fn, values):
    # gradcheck is itself under test: with a wrong rule in the table it must raise (naming the
    # input), not return True.
    x = Tensor(values, requires_grad=True)
    assert gradcheck(fn, [x]) is True
    monkeypatch.setitem(BACKWARD, op_name, wrong_rule)
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(fn, [Tensor(values, requires_grad=True)])
