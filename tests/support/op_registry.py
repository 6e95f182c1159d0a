"""Module 05 (autograd): the one registry of every differentiable operation.

Not a test file: tests/05_autograd/test_op_registry.py (course API, float32) and
test_extras_registry.py (the reference's extras: gradcheck, float64, no_grad, its backward
table) both run their tests over the (op, sample) pairs built here (``from op_registry import
COURSE_PAIRS`` and ``PAIRS``: this folder is on pytest's ``pythonpath``).

The idea is PyTorch's OpInfo: each ``OpEntry`` names an operation, gives a callable that takes
Tensors (``lambda a, b: a * b``), the op names of the reference's backward table it
exercises (``covers``, read by the extras tests only), the reference extras its call itself
needs beyond the course API (``extra``: indexing with a Tensor key, which API.md does not
promise; such an entry is in ``PAIRS``, marked with those features, but not in
``COURSE_PAIRS``, the pairs of the course-API tests), and sample inputs: 0-d and (1,) shapes,
size-1 axes that broadcast, negative and tuple axes, batched and 1-D matmul, integer-array
indexing with repeated indices, reflected operators, values inside each op's domain and more
than float32 central differences' step (1e-3) away from every kink (ReLU at 0, max ties, BCE's
clip bounds).

The other tables shared by a course-API file and its extras file live here too:
``OP_FAMILIES`` (test_gradient_flow.py), ``COMBINATIONS`` and the Hypothesis strategy
``operands`` (test_broadcast_gradients.py), ``MATMUL_CASES`` (test_batched_matmul_backward.py).

An entry is an ``op_info.entry(...)``. Module 05's entries, the ops of modules 01-04, are
below; a later module that adds differentiable ops (convolution, pooling, attention) lists
its own in ``ENTRIES`` of its suite's ``op_entries.py`` (tests/NN_slug/op_entries.py), never
here: ``REGISTRY`` holds module 05's entries and then those of every suite of the checkpoint
under test, so suite 05's tests run over a new op from its module's checkpoint on, and
test_extras_registry.py's coverage test compares the entries with the backward rules the
installed package registered.

Imports no tinytorch: the callables use course_api stand-ins, looked up when a test calls them.
"""

import importlib.util
import os
import zlib

import numpy as np
import pytest
from checkpoint_under_test import MODULES, REPO_ROOT, checkpoint_from
from course_api import (
    GELU,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    Tensor,
    log_softmax,
)
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_info import OpEntry, anyv, away, binary_targets, distinct, entry, pos, prob, sample


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
        sample("hard-", prob(4), binary_targets(4), differentiable=(True, False)),
        sample("hard-", prob(2, 3), binary_targets(2, 3), differentiable=(True, False)),
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


def _transpose(a, dims):
    return a.transpose(*dims)


MODULE_05_ENTRIES = [
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
    # The method, so that an implementation without the `@` operator fails only the test of
    # `@` (test_batched_matmul_backward.py) and the operator's own two samples here.
    entry("matmul", lambda a, b: a.matmul(b), {"matmul"}, _matmul_samples),
    entry(
        "matmul-operator",
        lambda a, b: a @ b,
        {"matmul"},
        lambda: [
            sample("", anyv(2, 3), anyv(3, 2)),
            sample("batched", anyv(2, 2, 3), anyv(3, 4)),
        ],
    ),
    entry("getitem", lambda a, key: a[key], {"getitem"}, _index_samples),
    # API.md 01 promises "basic and integer-array indexing", not a Tensor as the key (a
    # reference behaviour, like tests/01_tensor/test_extras_internals.py's test_tensor_as_index):
    # only the extras tests (test_extras_registry.py) run this entry.
    entry(
        "getitem-tensor-key",
        lambda a: a[Tensor([2, 0, 2, 2])],
        {"getitem"},
        lambda: [
            sample("", anyv(3, 2)),
            sample("", anyv(3)),
        ],
        extra=("internals",),
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
    entry("matmul-then-add", lambda x, w, b: x.matmul(w) + b, {"matmul", "add"}, _linear_samples),
    # --- module 04: losses ------------------------------------------------------------------
    entry("log_softmax", lambda x, dim: log_softmax(x, dim=dim), {"log_softmax"}, _softmax_samples),
    entry("mse", lambda p, t: MSELoss()(p, t), {"sub", "pow", "mean"}, _mse_samples),
    entry(
        "cross_entropy",
        # Tensor targets (what a DataLoader yields); plain int targets: one test of their own
        # (test_progressive_integration.py, test_crossentropy_targets_as_plain_ints).
        lambda z, targets: CrossEntropyLoss()(z, Tensor(targets)),
        {"cross_entropy"},
        _cross_entropy_samples,
    ),
    entry(
        "cross_entropy-tensor-targets",
        lambda z: CrossEntropyLoss()(z, Tensor([1, 0, 2])),
        {"cross_entropy"},
        lambda: [sample("", anyv(3, 4)), sample("wide", 3 * anyv(3, 3))],
    ),
    entry(
        "bce",
        lambda p, t: BinaryCrossEntropyLoss()(p, t),
        {"clip", "log", "mul", "sub"},
        _bce_samples,
    ),
]


# --- the entries of later suites ---------------------------------------------------------------

# Unset (pytest run by hand on a source tree), every module of the manifest counts as present.
SUITE_ENTRIES_FILE = "op_entries.py"


def suite_folders(checkpoint):
    """The test folders of the manifest's modules up to ``checkpoint`` (all when None), in
    course order."""
    return [
        REPO_ROOT / module["tests"]
        for module in MODULES
        if checkpoint is None or module["number"] <= checkpoint
    ]


def suite_entries(folder):
    """``ENTRIES`` of ``folder``'s op_entries.py, or [] for a suite without one."""
    path = folder / SUITE_ENTRIES_FILE
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"op_entries_{folder.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = getattr(module, "ENTRIES", None)
    if not isinstance(entries, list) or not all(isinstance(e, OpEntry) for e in entries):
        raise TypeError(
            f"{path}: ENTRIES must be a list of op_info.entry(name, fn, covers, samples), one "
            f"per differentiable op of the suite's module; got {entries!r}"
        )
    return entries


def registry_at(checkpoint):
    """Module 05's entries, then those of every later suite the checkpoint holds."""
    folders = suite_folders(checkpoint)
    return [*MODULE_05_ENTRIES, *(e for folder in folders for e in suite_entries(folder))]


# Built at import: pytest parametrizes the tests with it while it collects them.
REGISTRY = registry_at(checkpoint_from(os.environ))
CASES = [(op, s) for op in REGISTRY for s in op.samples()]


def _param(op, s):
    marks = [pytest.mark.broadcasting] if s.broadcast else []
    if op.extra:
        marks.append(pytest.mark.extra(*op.extra))
    return pytest.param(op, s, id=f"{op.name}-{s.label}", marks=marks)


PAIRS = [_param(op, s) for op, s in CASES]  # every pair: the extras tests
COURSE_PAIRS = [_param(op, s) for op, s in CASES if not op.extra]  # the course-API tests


# --- helpers shared by both tiers -----------------------------------------------------------


def make_inputs(s):
    """Fresh Tensors (of the dtype in force) for sample ``s``; targets do not require grad."""
    flags = s.grad_flags()
    return [Tensor(a, requires_grad=flag) for a, flag in zip(s.arrays, flags, strict=True)]


def plain_inputs(s):
    """Tensors of the sample that require no grad (nothing is recorded through them)."""
    return [Tensor(a) for a in s.arrays]


def call(op, s, inputs):
    return op.fn(*inputs, **s.kwargs)


def upstream(op, s, shape):
    """A fixed, non-uniform output gradient, so that the elements of the output weigh
    differently (with a plain sum, softmax's gradient would be 0 whatever its backward rule).
    Dyadic numbers, exact in float32; all positive, so that no sum of them (the gradient of a
    broadcast input) is 0 by cancellation."""
    rng = np.random.default_rng(zlib.crc32(f"{op.name}-{s.label}".encode()))
    return rng.choice([0.5, 0.75, 1.25, 1.5, 2.0], size=shape)


# --- op families: several ops in one expression (test_gradient_flow.py and its extras) -------

POS = "positive"  # inputs drawn from [0.5, 2] (division, log, sqrt)
ANY = "any"  # inputs drawn from a standard normal
DISTINCT = "distinct"  # a shuffled grid on [-2, 2] without 0: no ties, no ReLU kink

# name: (function of the inputs, [(shape, kind) of each input])
OP_FAMILIES = {
    "add_sub_mul_div": (lambda a, b: a * b - a / b + (a - b) * 0.5, [((3, 4), ANY), ((3, 4), POS)]),
    "reflected": (lambda a: 1 / a + 2 * a - (3 - a) + (2 + a) * a, [((5,), POS)]),
    "neg_pow": (lambda a: (-a) ** 3 + a**2 - a**-1 + a**0.5, [((2, 3), POS)]),
    "broadcast_binary": (
        lambda a, b, c: a * b + b / c - c,
        [((3, 1), ANY), ((4,), ANY), ((), POS)],
    ),
    "matmul_2d": (lambda a, b: a.matmul(b), [((2, 3), ANY), ((3, 4), ANY)]),
    "matmul_batched": (lambda a, b: a.matmul(b), [((2, 3, 4), ANY), ((4, 5), ANY)]),
    "matmul_vector": (lambda a, b: a.matmul(b), [((3, 4), ANY), ((4,), ANY)]),
    "sum_mean": (
        lambda a: a.sum(axis=0) * a.mean(axis=1, keepdims=True) + a.sum() * a.mean(),
        [((3, 4), ANY)],
    ),
    "max": (
        lambda a: a.max(axis=1, keepdims=True) * 2 + a.max() + a.max(axis=0, keepdims=True),
        [((3, 4), DISTINCT)],
    ),
    "exp_log_sqrt": (lambda a: a.exp() + a.log() * a.sqrt(), [((2, 3), POS)]),
    "reshape_transpose": (
        lambda a, b: a.reshape(4, 3).transpose() * b + a.transpose(0, 1).reshape(-1)[:4].sum(),
        [((3, 4), ANY), ((3, 4), ANY)],
    ),
    "indexing": (
        lambda a: a[[0, 2, 2]] * a[1]
        + a[1:, ::2].sum()
        + a[np.array([[0], [1], [2]]), np.array([1, 3, 3, 0])],
        [((3, 4), ANY)],
    ),
    "relu_sigmoid_tanh": (
        lambda a: ReLU()(a) * Sigmoid()(a) + Tanh()(a * 2),
        [((3, 4), DISTINCT)],
    ),
    "gelu": (lambda a: GELU()(a * 3), [((3, 4), ANY)]),
    "softmax": (lambda a: Softmax()(a, dim=0) + Softmax()(a), [((3, 4), ANY)]),
    "log_softmax": (lambda a: log_softmax(a) * log_softmax(a, dim=0), [((3, 4), ANY)]),
    "mse": (lambda a, b: MSELoss()(a * b, Tensor(np.arange(12.0).reshape(3, 4) / 10)),
            [((3, 4), ANY), ((3, 4), ANY)]),
    "cross_entropy": (lambda a: CrossEntropyLoss()(a * 2, Tensor([0, 3, 3])), [((3, 4), ANY)]),
    "bce": (
        lambda a: BinaryCrossEntropyLoss()(Sigmoid()(a), Tensor([[1.0, 0.0, 1.0, 0.5]] * 3)),
        [((3, 4), ANY)],
    ),
}  # fmt: skip


def family_arrays(family):
    """The float64 input arrays of an op family, the same in every process."""
    _, specs = OP_FAMILIES[family]
    rng = np.random.default_rng(sorted(OP_FAMILIES).index(family))
    arrays = []
    for shape, kind in specs:
        if kind == POS:
            arrays.append(rng.uniform(0.5, 2.0, shape))
        elif kind == DISTINCT:
            n = int(np.prod(shape, dtype=int))
            grid = np.linspace(-2.0, 2.0, n + n % 2)  # an even count: 0 is not on the grid
            arrays.append(rng.permutation(grid)[:n].reshape(shape))
        else:
            arrays.append(rng.standard_normal(shape))
    return arrays


def family_weights(family, shape):
    """Fixed, non-uniform weights of a family's output (standard normal, seeded by name)."""
    return np.random.default_rng(zlib.crc32(family.encode())).standard_normal(shape)


# --- broadcast combinations (test_broadcast_gradients.py and its extras) ----------------------
# Shapes and values drawn by Hypothesis; the expressions are plain Python operators, so the
# same lambda on ndarrays gives the reference values in numpy.

# name -> (expression over 2 or 3 operands, indices of the operands that are divisors)
COMBINATIONS = {
    "a+b": (lambda a, b: a + b, ()),
    "a-b": (lambda a, b: a - b, ()),
    "a*b": (lambda a, b: a * b, ()),
    "a/b": (lambda a, b: a / b, (1,)),
    "a*b+c": (lambda a, b, c: a * b + c, ()),
    "a-b/c": (lambda a, b, c: a - b / c, (2,)),
    "(a+b)*c": (lambda a, b, c: (a + b) * c, ()),
    "a/c-b*c": (lambda a, b, c: a / c - b * c, (2,)),
    "c-a*(b-c)": (lambda a, b, c: c - a * (b - c), ()),
}

VALUES = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
# Divisors bounded away from 0 (|x| >= 0.5), so 1/x and its derivative stay moderate.
DIVISORS = st.one_of(st.floats(0.5, 2.0), st.floats(-2.0, -0.5))


def n_operands(fn):
    return fn.__code__.co_argcount


@st.composite
def operands(draw, name):
    fn, divisors = COMBINATIONS[name]
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n_operands(fn), max_dims=3, max_side=3)
    )
    arrays = [
        draw(hnp.arrays(np.float64, shape, elements=DIVISORS if i in divisors else VALUES))
        for i, shape in enumerate(shapes.input_shapes)
    ]
    return arrays, shapes.result_shape


def weight_for(shape):
    """A fixed non-uniform output weight (positive dyadic numbers: no sum of them is 0)."""
    size = int(np.prod(shape, dtype=int))
    return (0.5 + 0.25 * (np.arange(size) % 7)).reshape(shape)


def numpy_central_differences(fn, arrays, weight, index, eps=1e-6):
    """d sum(weight * fn(arrays)) / d arrays[index], in float64 numpy only."""
    arrays = [a.copy() for a in arrays]
    grad = np.zeros_like(arrays[index])
    for i in range(grad.size):
        original = arrays[index].flat[i]
        arrays[index].flat[i] = original + eps
        above = np.sum(weight * fn(*arrays))
        arrays[index].flat[i] = original - eps
        below = np.sum(weight * fn(*arrays))
        arrays[index].flat[i] = original
        grad.flat[i] = (above - below) / (2 * eps)
    return grad


# --- matrix products (test_batched_matmul_backward.py and its extras) ---------------------------

MATMUL_CASES = {  # name: (shape of A, shape of B)
    "2d": ((3, 4), (4, 5)),
    "attention_scores": ((2, 3, 4, 5), (2, 3, 5, 4)),  # (B, H, T, D) @ (B, H, D, T)
    "attention_values": ((2, 2, 4, 4), (2, 2, 4, 3)),  # (B, H, T, T) @ (B, H, T, D)
    "broadcast_batch_left": ((1, 3, 4), (2, 4, 5)),
    "broadcast_batch_right": ((2, 3, 4), (1, 4, 5)),
    "matrix_times_batch": ((3, 4), (2, 4, 5)),
    "batch_times_matrix": ((2, 3, 4), (4, 5)),
    "broadcast_both": ((2, 1, 3, 4), (5, 4, 2)),
    "vector_times_batch": ((4,), (2, 4, 5)),
    "batch_times_vector": ((2, 3, 4), (4,)),
    "vector_times_matrix": ((4,), (4, 3)),
    "matrix_times_vector": ((3, 4), (4,)),
    "vector_dot_vector": ((5,), (5,)),
}
