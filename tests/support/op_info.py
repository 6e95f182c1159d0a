"""What an entry of the op registry is, and the sample values every entry draws.

Shared by module 05's entries (op_registry.py) and a later suite's own (``ENTRIES`` of its
``tests/NN_slug/op_entries.py``, which op_registry.py collects at the checkpoints that hold
module NN): ``entry(name, fn, covers, samples)`` with samples built by ``sample`` from the
value helpers below (``anyv``, ``pos``, ``away``, ``distinct``, ``prob``, ``binary_targets``).

Imports no tinytorch.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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


def binary_targets(*shape):
    """Targets of 0 and 1 (hard labels of BCE)."""
    return _RNG.integers(0, 2, shape).astype(np.float64)


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
    """One differentiable operation: how to call it, and on which samples."""

    name: str  # unique in the registry; the test ids start with it
    fn: Callable  # Tensors (and a sample's kwargs) -> the op's result
    covers: frozenset  # the ops of the reference's backward table one call records
    samples: Callable  # () -> list[Sample], called once when the registry is built
    # Features of reference_extras.EXTRAS that the call needs (not the course API's).
    extra: tuple = ()


def entry(name, fn, covers, samples, extra=()):
    """An OpEntry; ``covers`` and ``extra`` may be any iterables of names."""
    return OpEntry(name, fn, frozenset(covers), samples, tuple(extra))
