"""Shared assertions and plain-numpy reference formulas for the suites tests/01_* .. tests/08_*.

Every expected value is computed here in plain numpy float64, never by tinytorch: the
references are written from the formulas, and the assertions only read what tinytorch returns.

tinytorch names come from course_api, looked up only when a helper runs: suite N runs at
checkpoint N, where the modules after N are not installed, and another implementation may
lack a name. So importing this file imports no tinytorch, and a helper fails, naming what is
missing, only in the tests that use it. pyproject.toml puts this folder on pytest's
``pythonpath``; it holds no tinytorch code. Gradient checks: gradients.py (course API);
the reference's extras and their helpers: reference_extras.py.
"""

import contextlib
import gc
import importlib
import os
import subprocess
import sys
import warnings

import numpy as np
from course_api import Linear, Tensor
from hypothesis import settings

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
EPS = float(np.finfo(np.float32).eps)  # 2**-23: one float32 ulp at 1
# derandomize: the same examples every run, so a verdict never changes between two runs of
# the same code (a property that fails only on some seeds is a flaky verdict, not a finding).
SETTINGS = settings(max_examples=50, deadline=None, database=None, derandomize=True)


# --- assertions --------------------------------------------------------------------------


def check(t, expected, dtype=F32, rtol=1e-6, atol=0.0):
    """t is a Tensor of `dtype` whose data equals `expected` (values and shape)."""
    expected = np.asarray(expected, dtype=np.float64)
    assert isinstance(t, Tensor), f"expected a Tensor, got {type(t).__name__}"
    assert isinstance(t.data, np.ndarray)
    assert t.dtype == dtype
    assert t.shape == expected.shape
    np.testing.assert_allclose(t.data, expected, rtol=rtol, atol=atol)


def autograd_loaded():
    """Whether module 05 is imported, which turns autograd on (checkpoints 05 and later).

    Imports tinytorch first: API.md has ``import tinytorch`` import every module of the
    checkpoint, so the answer never depends on which test happened to run before."""
    importlib.import_module("tinytorch")
    return "tinytorch.core.autograd" in sys.modules


def param(values):
    """A Tensor that requires grad."""
    return Tensor(values, requires_grad=True)


def grid():
    """[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]] as a Tensor."""
    return Tensor(np.arange(12).reshape(3, 4))


def linear_with(weight, bias):
    """A Linear layer whose weight and bias are set by hand (written into its parameters).

    Written as float32, the course's dtype: an implementation whose ``.data`` is a plain
    attribute keeps whatever array it is given."""
    weight = np.asarray(weight, dtype=np.float32)
    layer = Linear(weight.shape[0], weight.shape[1])
    layer.weight.data = weight
    layer.bias.data = np.asarray(bias, dtype=np.float32)
    return layer


@contextlib.contextmanager
def gc_disabled():
    """The cyclic collector off for the block (and back on after, if it was): only reference
    counting frees anything, and a graph of many live nodes is not rescanned as it grows."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def numpy_strict():
    """Any numpy RuntimeWarning or floating-point error in the block fails the test."""
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")
        yield


def run_fresh_python(script, cwd):
    """Run ``python -c script`` in a fresh interpreter that imports the tinytorch this process
    does (its parent folder first on PYTHONPATH), from `cwd` (pass one outside the source
    tree: ``-c`` puts the working directory on sys.path). Returns the CompletedProcess, with
    stdout and stderr as text."""
    tinytorch = importlib.import_module("tinytorch")
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(tinytorch.__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


# --- numerical gradients -----------------------------------------------------------------


def numeric_gradient(f, x, h=1e-6):
    """d f(x) / d x for a float64 array x and a numpy function f, by central differences."""
    x = np.asarray(x, dtype=np.float64)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        numeric[index] = (f(x + step) - f(x - step)) / (2 * h)
    return numeric


# --- float64 references, written from the formulas ----------------------------------------


def f32(x):
    """x rounded to float32, as float64: the numbers a float32 Tensor holds."""
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def ref_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):  # exp(1000) is inf in float64 too; 1 / (1 + inf) is 0
        return 1.0 / (1.0 + np.exp(-x))


def ref_gelu(x):
    """The sigmoid approximation API.md specifies: x * sigmoid(1.702 x)."""
    x = np.asarray(x, dtype=np.float64)
    return x * ref_sigmoid(1.702 * x)


def ref_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):  # exp(-2938) is 0 in float64 too
        e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def ref_cross_entropy(logits, targets):
    """Mean over rows of -log softmax(logits)[row, target]."""
    logits = np.asarray(logits, dtype=np.float64)
    rows = ref_log_softmax(logits, axis=1)
    return -np.mean(rows[np.arange(len(logits)), np.asarray(targets, dtype=int)])


def ref_bce(p, t, low=1e-7, high=1 - 1e-7):
    """Binary cross-entropy with p clipped to [low, high] (module 04's bounds by default)."""
    p = np.clip(np.asarray(p, dtype=np.float64), low, high)
    t = np.asarray(t, dtype=np.float64)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


def ref_mse(p, t):
    return np.mean((np.asarray(p, dtype=np.float64) - np.asarray(t, dtype=np.float64)) ** 2)
