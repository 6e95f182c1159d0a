"""Milestone: a tinytorch MLP learns to read handwritten digits (modules 01-08 together).

The 1,797 8x8 digit images of ``sklearn.datasets.load_digits()`` (they ship inside
scikit-learn: nothing is downloaded) are split 75/25, stratified by class, with a fixed seed;
the inputs are standardised with the training split's mean and standard deviation. A
64-128-10 ReLU MLP (module 03) is trained with cross-entropy (04), autograd (05), Adam (06),
a cosine learning-rate schedule and Trainer (07), fed by TensorDataset and a shuffling,
seeded DataLoader (08). Everything random is seeded, so a run is reproducible.

It prints one line::

    milestone: digits held-out accuracy 0.978 after 30 epochs in 3.2 s

and writes the same, with the loss history, to reports/milestone.json (under the repo root,
or ``--out PATH``). It exits non-zero, saying why, when the held-out accuracy is below 0.95.

Run it against an installed checkpoint (08 or later) with scikit-learn, or from a source
checkout with ``PYTHONPATH=. python milestone/train_digits.py``.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tinytorch.core.activations import ReLU
from tinytorch.core.autograd import enable_autograd, no_grad
from tinytorch.core.dataloader import DataLoader, TensorDataset
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import CosineSchedule, Trainer

SEED = 0
EPOCHS = 30
BATCH_SIZE = 32
HIDDEN = 128
MAX_LR = 0.005
MIN_LR = 0.0002
TEST_FRACTION = 0.25
THRESHOLD = 0.95
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "reports" / "milestone.json"


def load_split(seed):
    """Standardised (x_train, y_train, x_test, y_test): 75/25, stratified by digit."""
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=TEST_FRACTION, stratify=digits.target,
        random_state=seed,
    )  # fmt: skip
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # pixels that are blank in every training image stay 0
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def accuracy(model, x, y):
    """Fraction of rows of x whose largest logit is at the true class (plain numpy argmax)."""
    with no_grad():
        logits = model(Tensor(x)).data
    return float(np.mean(np.argmax(logits, axis=1) == y))


def write_json(path, record):
    """Write record to path atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON report")
    args = parser.parse_args(argv)

    enable_autograd()  # importing tinytorch does this in a checkpoint; a source tree needs it
    started = time.perf_counter()
    x_train, y_train, x_test, y_test = load_split(args.seed)

    np.random.seed(args.seed)  # Linear's initial weights come from numpy's global generator
    model = Sequential(Linear(64, HIDDEN), ReLU(), Linear(HIDDEN, 10))
    trainer = Trainer(
        model,
        Adam(model.parameters(), lr=MAX_LR),
        CrossEntropyLoss(),
        scheduler=CosineSchedule(max_lr=MAX_LR, min_lr=MIN_LR, total_epochs=args.epochs),
    )
    train = DataLoader(
        TensorDataset(Tensor(x_train), Tensor(y_train)), BATCH_SIZE, shuffle=True,
        seed=args.seed,
    )  # fmt: skip
    test = DataLoader(TensorDataset(Tensor(x_test), Tensor(y_test)), 256)
    for _ in range(args.epochs):
        trainer.train_epoch(train)
    test_loss, trainer_accuracy = trainer.evaluate(test)
    held_out = accuracy(model, x_test, y_test)
    seconds = time.perf_counter() - started

    line = (
        f"milestone: digits held-out accuracy {held_out:.3f} after {args.epochs} epochs "
        f"in {seconds:.1f} s"
    )
    record = {
        "milestone": "digits",
        "line": line,
        "accuracy": held_out,
        "trainer_accuracy": float(trainer_accuracy),
        "test_loss": float(test_loss),
        "epochs": args.epochs,
        "seconds": round(seconds, 3),
        "threshold": THRESHOLD,
        "passed": held_out >= THRESHOLD,
        "seed": args.seed,
        "train_samples": len(y_train),
        "test_samples": len(y_test),
        "model": f"Linear(64, {HIDDEN}) ReLU Linear({HIDDEN}, 10)",
        "optimizer": f"Adam, cosine lr {MAX_LR} -> {MIN_LR}, batch {BATCH_SIZE}",
        "train_loss": [float(loss) for loss in trainer.history["train_loss"]],
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    write_json(args.out, record)
    print(line, flush=True)
    if held_out < THRESHOLD:
        sys.exit(
            f"milestone: FAILED: held-out accuracy {held_out:.3f} is below {THRESHOLD} "
            f"(report: {args.out})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
