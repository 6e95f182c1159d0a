"""Module 06's references and drivers (tests/06_optimizers: the course-API tests and extras).

The references are float64 numpy written from PyTorch's published update rules (torch.optim
docs for SGD, Adam, AdamW), never from the code under test. API.md says parameters stay
float32, so each reference stores the parameter in float32 after each step (``f32``: the
parameter as the optimizer keeps it, then back to float64 for the maths).

Imports no tinytorch: the optimizers are course_api stand-ins.
"""

import numpy as np
from course_api import SGD, Adam, AdamW
from tinytorch_testing import f32, param

OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}
KINDS = tuple(OPTIMIZERS)


class RefSGD:
    """torch.optim.SGD (dampening 0, nesterov False) for one parameter."""

    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buf = None

    def step(self, p, g):
        p, g = np.asarray(p, dtype=np.float64), np.asarray(g, dtype=np.float64)
        if self.weight_decay != 0:
            g = g + self.weight_decay * p
        if self.momentum != 0:
            self.buf = g.copy() if self.buf is None else self.momentum * self.buf + g
            g = self.buf
        return f32(p - self.lr * g)


class RefAdam:
    """torch.optim.Adam (amsgrad False), or torch.optim.AdamW when decoupled, for one
    parameter; t counts this parameter's own updates."""

    def __init__(self, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.m = self.v = 0.0
        self.t = 0

    def step(self, p, g):
        beta1, beta2 = self.betas
        p, g = np.asarray(p, dtype=np.float64), np.asarray(g, dtype=np.float64)
        self.t += 1
        if self.decoupled:
            p = p - self.lr * self.weight_decay * p
        elif self.weight_decay != 0:
            g = g + self.weight_decay * p
        self.m = beta1 * self.m + (1 - beta1) * g
        self.v = beta2 * self.v + (1 - beta2) * g**2
        m_hat = self.m / (1 - beta1**self.t)
        v_hat = self.v / (1 - beta2**self.t)
        return f32(p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))


def make_ref(kind, **hyper):
    """The reference of optimizer `kind` with PyTorch's defaults (AdamW: weight_decay 0.01)."""
    if kind == "SGD":
        return RefSGD(**hyper)
    if kind == "AdamW":
        return RefAdam(decoupled=True, **{"weight_decay": 0.01, **hyper})
    return RefAdam(**hyper)


def reference(kind, p0, grads, **hyper):
    """The parameter after the reference took `grads` (None: no gradient that step; it
    skips the step without advancing Adam's t)."""
    ref, p = make_ref(kind, **hyper), f32(p0)
    for g in grads:
        if g is not None:
            p = ref.step(p, g)
    return p


def run(kind, p0, grads, **hyper):
    """Feed `grads` (None = no gradient that step) to an optimizer over one parameter."""
    p = param(p0)
    optimizer = OPTIMIZERS[kind]([p], **hyper)
    for g in grads:
        p.grad = None if g is None else np.array(g, dtype=np.float32)
        optimizer.step()
    return p, optimizer


def gradient_stream(seed, shape, steps=100, skip_every=None):
    """`steps` float32 gradients of `shape` (mean 0.2, sd 0.5); every `skip_every`-th None."""
    rng = np.random.default_rng(seed)
    grads = [rng.normal(0.2, 0.5, size=shape).astype(np.float32) for _ in range(steps)]
    if skip_every:
        grads = [None if i % skip_every == skip_every - 1 else g for i, g in enumerate(grads)]
    return grads


P0 = np.random.default_rng(6).normal(size=(3, 4)).astype(np.float32)
