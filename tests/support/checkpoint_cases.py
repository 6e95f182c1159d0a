"""The trainers whose checkpoints tests/07_training saves and loads (test_checkpoints.py,
course API, and test_extras_checkpoints.py, the reference's format).

A three-class problem in five batches of four, ``models.Net`` (Linear -> ReLU -> Dropout ->
Linear: Dropout draws from numpy's global generator, so a run depends on the random state),
and a Trainer of it with each optimizer, a CosineSchedule and gradient clipping.

Imports no tinytorch: the course names are course_api stand-ins.
"""

import pathlib

import numpy as np
from course_api import SGD, Adam, AdamW, CosineSchedule, CrossEntropyLoss, Tensor, Trainer
from models import Net

_RNG = np.random.default_rng(77)
X = _RNG.normal(size=(20, 2))
LABELS = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)  # classes 0, 1, 2
OPTIMIZERS = {
    "sgd": lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda params: Adam(params, lr=0.02, weight_decay=1e-3),
    "adamw": lambda params: AdamW(params, lr=0.02),
}


def data():
    """Five batches of four points, points and labels as Tensors (as a DataLoader yields)."""
    return [(Tensor(X[i : i + 4]), Tensor(LABELS[i : i + 4])) for i in range(0, 20, 4)]


def make_trainer(seed, kind="adam", hidden=8, classes=3, scheduler=True):
    """A Trainer of a Net(hidden, classes) whose weights numpy's global generator draws after
    np.random.seed(seed)."""
    np.random.seed(seed)
    model = Net(hidden, classes)
    return Trainer(
        model,
        OPTIMIZERS[kind](model.parameters()),
        CrossEntropyLoss(),
        scheduler=CosineSchedule(max_lr=0.05, min_lr=0.001, total_epochs=6) if scheduler else None,
        grad_clip_norm=2.0,
    )


def train(trainer, epochs):
    for _ in range(epochs):
        trainer.train_epoch(data(), accumulation_steps=2)
        trainer.evaluate(data())


def trained_and_saved(tmp_path):
    """A trainer after 2 epochs, and the path of the checkpoint it saved then."""
    trainer = make_trainer(1)
    train(trainer, 2)
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    return trainer, path


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class Payload:
    """Unpickling this creates a file: the proof that code from a checkpoint ran. It touches
    the file rather than opening it, so that code which does run leaves no open file behind
    (its ResourceWarning would surface in a later test)."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.sentinel),))
