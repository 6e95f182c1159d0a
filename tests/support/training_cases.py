"""Module 07's shared test facts (tests/07_training: the course-API tests and the extras).

A regression problem in three equal batches of 4 and the linear model's starting point, with
a plain float64 SGD reference of the Trainer's loop on it; a three-class problem for
``evaluate``; three clusters a small classifier learns. Every expected value is plain numpy
written from the module's documented rules, never the code under test.

Imports no tinytorch: the course names are course_api stand-ins.
"""

import math

import numpy as np
from course_api import SGD, AdamW, CosineSchedule, CrossEntropyLoss, MSELoss, Tensor, Trainer
from tinytorch_testing import f32, linear_with

# --- the regression problem -----------------------------------------------------------------

_RNG = np.random.default_rng(70)
X = _RNG.normal(size=(12, 3))
Y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * _RNG.normal(size=(12, 1))
W0 = f32(_RNG.normal(size=(3, 1)))
B0 = f32([0.2])


def batches(size=4, x=X, y=Y):
    """(inputs, targets) batches of `size` as Tensors, as a DataLoader yields them."""
    return [(Tensor(x[i : i + size]), Tensor(y[i : i + size])) for i in range(0, len(x), size)]


def regression_trainer(lr=0.05, loss_fn=None, **kwargs):
    """A Linear layer starting at W0, B0, and a Trainer of it with SGD (MSE unless told)."""
    layer = linear_with(W0, B0)
    loss_fn = MSELoss() if loss_fn is None else loss_fn
    return layer, Trainer(layer, SGD(layer.parameters(), lr=lr), loss_fn, **kwargs)


def regression_gradients(x, y, w, b):
    """dL/dW and dL/db of the mean squared error of x @ w + b against y."""
    r = x @ w + b - y
    return 2 / len(x) * x.T @ r, 2 / len(x) * r.sum(axis=0)


def sgd_reference(groups, lr, w=W0, b=B0, clip=None, divisor=None):
    """Plain SGD on the linear MSE model, one step per group of (x, y) batches: the mean of
    the batches' gradients (their sum divided by `divisor` instead, if given), optionally
    clipped to a global norm of `clip`; weights stored in float32 after each step. Also
    returns every batch's loss and size, each measured before its group's step."""
    losses = []
    for group in groups:
        gw, gb = np.zeros_like(w), np.zeros_like(b)
        for x, y in group:
            losses.append((np.mean((x @ w + b - y) ** 2), len(x)))
            dw, db = regression_gradients(x, y, w, b)
            gw, gb = gw + dw, gb + db
        count = divisor or len(group)
        gw, gb = gw / count, gb / count
        if clip is not None:
            norm = math.sqrt(np.sum(gw**2) + np.sum(gb**2))
            if norm > clip:
                gw, gb = gw * clip / norm, gb * clip / norm
        w, b = f32(w - lr * gw), f32(b - lr * gb)
    return w, b, losses


# --- evaluate: three classes ------------------------------------------------------------------

LOGITS_W = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
EVAL_X = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, -2.0]])
EVAL_T = np.array([0, 1, 2, 2])  # logits rows: [2,-2,0] [0,2,-2] [1,0,-1] [-1,-1,2]


def classifier():
    """A Linear layer of weights LOGITS_W, and a Trainer of it (SGD, cross-entropy)."""
    layer = linear_with(LOGITS_W, [0.0, 0.0, 0.0])
    return layer, Trainer(layer, SGD(layer.parameters(), lr=0.1), CrossEntropyLoss())


def clean_logits(model, x):
    """The output of a Linear -> ReLU -> Dropout -> Linear model (layers ``first`` and
    ``last``) without dropout, in float64 numpy from its weights."""
    first, last = model.first, model.last
    hidden = np.maximum(x @ first.weight.data.astype(np.float64) + first.bias.data, 0.0)
    return hidden @ last.weight.data.astype(np.float64) + last.bias.data


# --- learning: three clusters -----------------------------------------------------------------


def cluster_batches():
    """Three clusters of 12 points in 2-d, labelled 0, 1, 2, shuffled, in 6 batches of 6
    (Tensors of points and of labels)."""
    rng = np.random.default_rng(73)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    labels = np.repeat(np.arange(3), 12)
    order = rng.permutation(36)
    x, y = centers[labels] + 0.4 * rng.normal(size=(36, 2)), labels
    x, y = x[order], y[order]
    return [(Tensor(x[i : i + 6]), Tensor(y[i : i + 6])) for i in range(0, 36, 6)]


def cluster_trainer(model):
    """A Trainer for cluster_batches(): AdamW, cross-entropy, a cosine schedule over 15
    epochs and gradient clipping."""
    return Trainer(
        model,
        AdamW(model.parameters(), lr=0.05),
        CrossEntropyLoss(),
        scheduler=CosineSchedule(max_lr=0.05, min_lr=0.005, total_epochs=15),
        grad_clip_norm=5.0,
    )
