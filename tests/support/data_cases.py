"""Module 08's shared test data (tests/08_dataloader: the course-API tests and the extras).

Samples labelled with their own index, so that a batch says which samples it holds; images
of distinct positive values, so that a zero in a transform's output can only come from the
padding and a window's position in the padded image is unique; three blobs to classify.

Imports no tinytorch: ``Tensor`` and ``TensorDataset`` are course_api stand-ins.
"""

import numpy as np
from course_api import Tensor, TensorDataset


def labelled(n, features=2):
    """n samples: x[i] = [i, 10 i, 20 i, ...][:features] (float), y[i] = i."""
    idx = np.arange(n, dtype=np.float64)
    x = idx[:, None] * (10.0 * np.arange(features))[None, :] + idx[:, None] * (
        np.arange(features) == 0
    )
    return x, idx


def labelled_dataset(n, features=2):
    """A TensorDataset of ``labelled(n, features)``."""
    x, y = labelled(n, features)
    return TensorDataset(Tensor(x), Tensor(y))


def epoch_labels(loader):
    """The labels of one epoch, batch by batch, as lists of ints."""
    return [[int(v) for v in batch[-1].data] for batch in loader]


def flat(batches):
    return [v for batch in batches for v in batch]


def image(*shape):
    """Distinct values 1, 2, 3, ... in the given shape (float64)."""
    return np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)


def window_positions(out, padded):
    """Every (top, left) at which ``out`` equals a window of ``padded`` (last two axes)."""
    h, w = out.shape[-2:]
    return [
        (top, left)
        for top in range(padded.shape[-2] - h + 1)
        for left in range(padded.shape[-1] - w + 1)
        if np.array_equal(padded[..., top : top + h, left : left + w], out)
    ]


def blobs(seed=1):
    """Three well separated blobs of 40 points each, labelled 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 2.0], [-2.0, 2.0], [0.0, -2.5]])
    labels = np.repeat(np.arange(3), 40)
    return centers[labels] + rng.normal(scale=0.5, size=(120, 2)), labels
