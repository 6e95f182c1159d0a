"""Module 07, Training: the training loop (Trainer), a cosine learning-rate schedule, gradient
clipping, and checkpoints that resume a run exactly.

CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=100)
    ``get_lr(epoch) = min_lr + (max_lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2``
    for ``0 <= epoch < total_epochs`` (``max_lr`` at epoch 0, halfway at ``total_epochs / 2``),
    and ``min_lr`` from ``total_epochs`` on.

clip_grad_norm(parameters, max_norm=1.0) -> float
    The global L2 norm of all gradients together (parameters whose ``.grad`` is None are
    ignored), measured before clipping and returned. When it exceeds ``max_norm`` every
    gradient is multiplied in place by ``max_norm / norm``, so the global norm becomes
    ``max_norm`` and the direction is kept. A non-finite norm leaves the gradients unchanged
    (the returned inf/nan tells the caller).

Trainer(model, optimizer, loss_fn, scheduler=None, grad_clip_norm=None)
    ``model`` is callable with ``parameters()``; ``optimizer`` a module-06 Optimizer;
    ``loss_fn(outputs, targets)`` returns a 0-d Tensor; ``scheduler`` anything with
    ``get_lr(epoch)``. A dataloader is any iterable of ``(inputs, targets)`` batches (a list
    works; ``len()`` is not needed); inputs that are not Tensors are wrapped in one.

    train_epoch(dataloader, accumulation_steps=1) -> float
        Sets ``optimizer.lr = scheduler.get_lr(epoch)`` (with a scheduler), records the
        epoch's lr in ``history["learning_rates"]``, then per batch: forward, loss,
        ``backward()``. Every ``accumulation_steps`` batches: optimizer step, then
        ``zero_grad()``; a last, partial group steps too.
        Accumulation: each batch's loss is back-propagated unscaled, so ``.grad`` sums the
        group's gradients; just before the step they are divided by the number of batches in
        the group. The step therefore uses the mean gradient of the group: for a full group
        that is what PyTorch's convention (loss / k) gives, and k equal batches step exactly
        like one batch k times as big (mean-reduced losses); a partial last group of r
        batches is averaged over r, not shrunk by r / k. Then gradients are clipped (with
        ``grad_clip_norm``) and the optimizer steps; ``.step`` counts these steps.
        Returns (and appends to ``history["train_loss"]``) the epoch's mean loss per sample:
        each batch's loss weighted by its batch size (the first dimension of its outputs).
    evaluate(dataloader) -> (loss, accuracy)
        Under ``no_grad()`` (no graph, no gradients). The loss is the mean per sample as
        above (for mean-reduced losses: the loss of the whole dataset at once) and is
        appended to ``history["eval_loss"]``. Accuracy: outputs (N, C) with C > 1 against N
        class indices compare ``argmax`` over classes with the targets; otherwise (binary
        outputs, targets of the outputs' size) ``output > 0.5`` is compared with
        ``target > 0.5``, element by element.
    Training mode: ``train_epoch`` runs the model in training mode and ``evaluate`` in
        evaluation mode, told to the model in the two ways a model can listen: if it has a
        ``training`` attribute, the Trainer sets it (True / False, as PyTorch's
        ``train()`` / ``eval()`` do), and if its ``forward`` takes a ``training`` argument
        (as Dropout's does), the Trainer passes ``training=``. A model that does neither (a
        Sequential, whose ``forward(x)`` takes no flag) runs as it always does: a Dropout
        inside a Sequential stays in training mode in ``evaluate``.

Checkpoints
    ``save_checkpoint(path)`` writes one file holding the model's parameters (in
    ``model.parameters()`` order), the optimizer's ``state_dict()``, the scheduler's
    ``state_dict()`` (if it has one), ``.epoch``, ``.step``, ``.history`` and the state of
    numpy's global random generator (Dropout draws from it, and so may a data loader), so a
    run resumed from it is bit-identical to one that never stopped. Gradients are not saved:
    save between epochs.
    Format: a zip archive of ``header.json`` (format name, version, all numbers) and one
    ``arrays/<name>.npy`` per array, written with ``allow_pickle=False``. Loading reads JSON
    and ``.npy`` data only (no pickle, no code from the file runs).
    Saving is atomic: the archive goes to a temporary file in the same directory, which is
    flushed and fsync'ed, then ``os.replace``d over ``path``; a crash at any moment leaves
    either the previous checkpoint or the new one, never a mix or a torn file. A header.json
    larger than ``HEADER_LIMIT`` (1 MiB: a history of over 10,000 epochs) is refused with
    ValueError before anything is written, since loading would refuse it.
    ``load_checkpoint(path)`` validates everything first (the archive's CRCs, the format,
    every field and array, parameter count, shapes and dtypes against this model and
    optimizer, the scheduler) and only then assigns: a truncated, corrupt or foreign file, or
    one from a model of another shape, raises ValueError naming the member or field at fault
    (for a shape: the parameter and both shapes) and saying what to do, and leaves the model,
    optimizer, scheduler, history and random generator unchanged. Loading also restores
    numpy's global random state. A crafted file costs no more memory to refuse than a genuine
    checkpoint of this trainer costs to load: sizes are checked against what the model and
    optimizer hold before anything large is read (see "the file" below).
"""

import contextlib
import inspect
import io
import json
import math
import numbers
import os
import reprlib
import secrets
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from tinytorch.core.autograd import no_grad

# Re-exported as the course's training module does (API.md, module 07): course code imports
# the losses from here.
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import Optimizer
from tinytorch.core.tensor import Tensor

__all__ = ["CosineSchedule", "CrossEntropyLoss", "MSELoss", "Trainer", "clip_grad_norm"]

FORMAT = "tinytorch-checkpoint"
VERSION = 1
HISTORY_KEYS = ("train_loss", "eval_loss", "learning_rates")


def _real(where, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}: {name} must be a number; got {type(value).__name__} {_short(value)}"
        )
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0; got {value!r}")
    return value


def _positive_int(where, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be a positive int; got {_short(value)}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be a positive int; got {value!r}")
    return int(value)


# --- learning-rate schedule ----------------------------------------------------------------


class CosineSchedule:
    """Cosine decay from ``max_lr`` (epoch 0) to ``min_lr`` (epoch ``total_epochs`` and on)."""

    def __init__(self, max_lr=0.1, min_lr=0.01, total_epochs=100):
        self.load_state_dict({"max_lr": max_lr, "min_lr": min_lr, "total_epochs": total_epochs})

    def get_lr(self, epoch):
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"CosineSchedule.get_lr: epoch must be an int; got {epoch!r}")
        if epoch < 0:
            raise ValueError(f"CosineSchedule.get_lr: epoch must be >= 0; got {epoch}")
        if epoch >= self.total_epochs:
            return self.min_lr
        cosine = (1.0 + math.cos(math.pi * epoch / self.total_epochs)) / 2.0
        return self.min_lr + (self.max_lr - self.min_lr) * cosine

    def state_dict(self):
        return {"max_lr": self.max_lr, "min_lr": self.min_lr, "total_epochs": self.total_epochs}

    def load_state_dict(self, state):
        """Set the schedule's three numbers, after checking all of them."""
        self.max_lr, self.min_lr, self.total_epochs = self._checked(state)

    @staticmethod
    def _checked(state):
        where = "CosineSchedule"
        if not isinstance(state, dict) or set(state) != {"max_lr", "min_lr", "total_epochs"}:
            raise ValueError(
                f"{where}: expected max_lr, min_lr and total_epochs; got {_short(state)}"
            )
        max_lr = _real(where, "max_lr", state["max_lr"])
        min_lr = _real(where, "min_lr", state["min_lr"])
        if min_lr > max_lr:
            raise ValueError(f"{where}: min_lr ({min_lr}) must not exceed max_lr ({max_lr})")
        return max_lr, min_lr, _positive_int(where, "total_epochs", state["total_epochs"])

    def __repr__(self):
        return (
            f"CosineSchedule(max_lr={self.max_lr}, min_lr={self.min_lr}, "
            f"total_epochs={self.total_epochs})"
        )


# --- gradient clipping ---------------------------------------------------------------------


def clip_grad_norm(parameters, max_norm=1.0):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (a float). Parameters without a gradient are ignored.
    """
    max_norm = _real("clip_grad_norm", "max_norm", max_norm)
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = [p for p in parameters if p.grad is not None]
    # float64 sum of squares: float32 gradients of 1e20 would overflow in float32
    norm = math.sqrt(sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in params))
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / norm
        for param in params:
            if isinstance(param.grad, np.ndarray) and param.grad.flags.writeable:
                param.grad *= scale  # in place: .grad arrays are never shared (module 05)
            else:  # a read-only array or a scalar that someone assigned
                param.grad = np.asarray(param.grad) * scale
    return norm


# --- the training loop ---------------------------------------------------------------------


def _takes_training_flag(model):
    forward = getattr(model, "forward", model)
    try:
        return "training" in inspect.signature(forward).parameters
    except (TypeError, ValueError):  # a builtin without a signature: pass no flag
        return False


def _batch_size(outputs):
    return outputs.shape[0] if len(outputs.shape) > 0 else 1


def _correct(outputs, targets):
    """(number correct, number of predictions) of one batch; see the module docstring."""
    out = outputs.data
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if out.ndim == 2 and out.shape[1] > 1 and t.shape == (out.shape[0],):
        return int(np.sum(out.argmax(axis=1) == t)), out.shape[0]
    if t.size != out.size:
        raise ValueError(
            f"evaluate: cannot score outputs of shape {out.shape} against targets of shape "
            f"{t.shape} (need N class indices for (N, C) outputs, or one target per output)"
        )
    return int(np.sum((out > 0.5) == (t.reshape(out.shape) > 0.5))), out.size


class Trainer:
    """Runs epochs of training and evaluation; saves and resumes checkpoints.

    See the module docstring for the loop, accumulation, modes and the checkpoint format.
    """

    def __init__(self, model, optimizer, loss_fn, scheduler=None, grad_clip_norm=None):
        if not callable(model) or not callable(getattr(model, "parameters", None)):
            raise TypeError("Trainer: model must be callable and have parameters()")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"Trainer: optimizer must be an Optimizer (SGD, Adam, AdamW); got "
                f"{type(optimizer).__name__}"
            )
        if not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable; got {type(loss_fn).__name__}")
        if scheduler is not None and not callable(getattr(scheduler, "get_lr", None)):
            raise TypeError("Trainer: scheduler must have get_lr(epoch) (or be None)")
        if grad_clip_norm is not None:
            grad_clip_norm = _real("Trainer", "grad_clip_norm", grad_clip_norm)
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.grad_clip_norm = scheduler, grad_clip_norm
        self.epoch = 0  # completed training epochs
        self.step = 0  # optimizer steps taken
        self.history = {key: [] for key in HISTORY_KEYS}
        self._training_flag = _takes_training_flag(model)

    def _forward(self, inputs, training):
        if hasattr(self.model, "training"):
            self.model.training = training
        inputs = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if self._training_flag:
            return self.model(inputs, training=training)
        return self.model(inputs)

    @staticmethod
    def _batches(dataloader, where):
        for index, batch in enumerate(dataloader):
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise TypeError(
                    f"{where}: batch {index} must be a pair (inputs, targets); got "
                    f"{type(batch).__name__}"
                )
            yield batch

    def train_epoch(self, dataloader, accumulation_steps=1):
        """One pass over ``dataloader`` with an optimizer step every ``accumulation_steps``
        batches; returns the epoch's mean loss per sample."""
        k = _positive_int("train_epoch", "accumulation_steps", accumulation_steps)
        if self.scheduler is not None:
            self.optimizer.lr = self.scheduler.get_lr(self.epoch)
        lr = float(self.optimizer.lr)
        self.optimizer.zero_grad()  # gradients from outside the loop must not leak in
        total, samples, pending = 0.0, 0, 0
        for inputs, targets in self._batches(dataloader, "train_epoch"):
            outputs = self._forward(inputs, training=True)
            loss = self.loss_fn(outputs, targets)
            loss.backward()
            size = _batch_size(outputs)
            total += float(loss.data) * size
            samples += size
            pending += 1
            if pending == k:
                self._optimizer_step(pending)
                pending = 0
        if samples == 0:
            raise ValueError("train_epoch: the dataloader gave no batches")
        if pending:  # the last, partial group
            self._optimizer_step(pending)
        mean = total / samples
        self.history["learning_rates"].append(lr)
        self.history["train_loss"].append(mean)
        self.epoch += 1
        return mean

    def _optimizer_step(self, batches):
        if batches > 1:  # the summed gradients of the group become their mean
            for param in self.optimizer.params:
                if param.grad is not None:
                    param.grad = param.grad / batches
        if self.grad_clip_norm is not None:
            clip_grad_norm(self.optimizer.params, self.grad_clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.step += 1

    def evaluate(self, dataloader):
        """(mean loss per sample, accuracy) over ``dataloader``, without recording a graph."""
        total, samples, correct, scored = 0.0, 0, 0, 0
        with no_grad():
            for inputs, targets in self._batches(dataloader, "evaluate"):
                outputs = self._forward(inputs, training=False)
                loss = self.loss_fn(outputs, targets)
                size = _batch_size(outputs)
                total += float(loss.data) * size
                samples += size
                right, count = _correct(outputs, targets)
                correct += right
                scored += count
        if samples == 0:
            raise ValueError("evaluate: the dataloader gave no batches")
        mean = total / samples
        self.history["eval_loss"].append(mean)
        return mean, correct / scored

    # --- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self, path):
        """Write the whole training state to ``path`` atomically (see the module docstring)."""
        arrays = {}
        for index, param in enumerate(self.model.parameters()):
            arrays[f"model.{index}"] = param.data.view(np.ndarray)
        optimizer = self.optimizer.state_dict()
        states = []
        for index, state in enumerate(optimizer["state"]):
            numbers_only = {}
            for key, value in state.items():
                if isinstance(value, np.ndarray):
                    arrays[f"optimizer.{index}.{key}"] = value
                else:
                    numbers_only[key] = value
            states.append(numbers_only)
        optimizer["state"] = states
        kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
        arrays["rng.keys"] = keys
        scheduler = getattr(self.scheduler, "state_dict", None)
        header = json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "arrays": sorted(arrays),
                "model": {"parameters": len(self.model.parameters())},
                "optimizer": optimizer,
                "scheduler": scheduler() if callable(scheduler) else None,
                "trainer": {"epoch": self.epoch, "step": self.step, "history": self.history},
                "rng": {
                    "kind": kind,
                    "pos": pos,
                    "has_gauss": has_gauss,
                    "cached": cached_gaussian,
                },
            }
        ).encode("utf-8")
        # A file that load_checkpoint would refuse must never replace one that it loads.
        if len(header) > HEADER_LIMIT:
            values = sum(len(v) for v in self.history.values())
            raise ValueError(
                f"save_checkpoint({os.fspath(path)!r}): its {HEADER} would take {len(header)} "
                f"bytes, more than load_checkpoint reads ({HEADER_LIMIT}); trainer.history "
                f"holds {values} values: shorten its lists (keep the latest entries) and save "
                "again (nothing was written)"
            )
        _write_checkpoint(path, header, arrays)

    def load_checkpoint(self, path):
        """Restore a ``save_checkpoint`` file; checks everything before changing anything."""
        try:
            restore = self._plan_restore(path)
        except _Refused as error:
            raise ValueError(f"load_checkpoint({os.fspath(path)!r}): {error}") from None
        restore()

    def _plan_restore(self, path):
        """Read and check the checkpoint at ``path`` against this trainer; return the function
        that applies it (it cannot fail: everything it assigns was checked here)."""
        params = self.model.parameters()
        layout = _array_layout(params, self.optimizer)
        with _opened_archive(path, layout) as archive:
            entries = _entries(archive)
            header = _read_header(archive, entries[HEADER])
            if header["model"]["parameters"] != len(params):
                raise _Refused(
                    f"the checkpoint holds {header['model']['parameters']} model parameters; "
                    f"this model has {len(params)}: {OTHER_MODEL}"
                )
            # Module 06 checks the optimizer's state_dict as a whole, after the arrays; its type
            # decides which arrays this trainer has a place for, so it is compared first.
            optimizer = type(self.optimizer).__name__
            if header["optimizer"]["type"] != optimizer:
                raise _Refused(
                    f"the checkpoint holds the state of a {_short(header['optimizer']['type'])} "
                    f"optimizer; this trainer's is a {optimizer}: {OTHER_OPTIMIZER}"
                )
            arrays = _read_arrays(archive, entries, header["arrays"], layout)
        values = [arrays[f"model.{index}"] for index in range(len(params))]
        step_count, hyper, opt_states = self._checked_optimizer(header["optimizer"], arrays)
        schedule = self._checked_scheduler(header["scheduler"])
        trainer = header["trainer"]
        epoch, step = trainer["epoch"], trainer["step"]
        history = {key: [float(v) for v in trainer["history"][key]] for key in HISTORY_KEYS}
        saved = header["rng"]
        rng = (saved["kind"], arrays["rng.keys"], saved["pos"], saved["has_gauss"], saved["cached"])

        def restore():
            for param, value in zip(params, values, strict=True):
                param.data[...] = value  # in place, so every holder of the Tensor sees it
            for name, value in hyper.items():
                setattr(self.optimizer, name, value)
            self.optimizer.step_count, self.optimizer.state = step_count, opt_states
            if schedule is not None:
                self.scheduler.load_state_dict(schedule)
            self.epoch, self.step, self.history = epoch, step, history
            np.random.set_state(rng)

        return restore

    def _checked_optimizer(self, saved, arrays):
        """(step_count, hyper-parameters, per-parameter states) of the header's optimizer
        field with its arrays put back, as this trainer's optimizer checked them."""
        count = len(self.optimizer.params)
        if len(saved["state"]) != count:
            raise _Refused(
                f"{HEADER}: field 'optimizer.state' holds the state of {len(saved['state'])} "
                f"parameters; this trainer's optimizer has {count}: {OTHER_MODEL}"
            )
        states = [dict(state) for state in saved["state"]]
        for index, state in enumerate(states):
            for key in self.optimizer._ARRAYS:
                name = f"optimizer.{index}.{key}"
                if name in arrays:
                    state[key] = arrays[name]
        try:
            return self.optimizer._checked_state_dict({**saved, "state": states})
        except (TypeError, ValueError) as error:
            raise _Refused(f"{HEADER}: field 'optimizer': {error}: {OTHER_OPTIMIZER}") from None

    def _checked_scheduler(self, saved):
        loads = callable(getattr(self.scheduler, "load_state_dict", None))
        if saved is None and not loads:
            return None
        if saved is None or not loads:
            has = "has" if saved is not None else "has no"
            raise _Refused(
                f"the checkpoint {has} scheduler state, but this trainer's scheduler is "
                f"{type(self.scheduler).__name__}: load it into a trainer with the scheduler "
                "that saved it"
            )
        if hasattr(self.scheduler, "_checked"):  # check it now, so that load cannot fail later
            try:
                self.scheduler._checked(saved)
            except (TypeError, ValueError) as error:
                raise _Refused(
                    f"{HEADER}: field 'scheduler': {error}: load it into a trainer with the "
                    "scheduler that saved it"
                ) from None
        return saved


# --- the file: a zip of header.json and .npy arrays, never pickle --------------------------
#
# Loading a crafted file must cost no more memory than a genuine checkpoint of the trainer
# loading it: every size is checked against what this model and optimizer hold before
# anything large is read, in this order: the file's size, each member's entry in the zip's
# central directory (encryption, compression method, uncompressed size), each .npy header
# (shape and dtype exactly those of the array it restores); then arrays are read in numpy's
# bounded chunks, and header.json within HEADER_LIMIT.

HEADER = "header.json"
# header.json holds names and numbers only: about 1 KiB for a model and optimizer, plus some
# 80 bytes per epoch of history, so 1 MiB is the header of a run of over 10,000 epochs. The
# cap bounds what a crafted header costs to parse (parsed JSON takes up to about 25 times
# its size in memory); save_checkpoint refuses a header past it.
HEADER_LIMIT = 1 << 20
# save_checkpoint's header nests 4 deep (header > optimizer > state > a parameter's state);
# past this depth the header is refused before any check or message recurses into it.
HEADER_DEPTH_LIMIT = 8
# An .npy member starts with its own header (magic, version, then dtype, order and shape as
# text), which numpy pads to a multiple of 64 bytes: 128 for any shape a model has.
NPY_HEADER_LIMIT = 4096
# The bytes a member adds to the zip around its data (its local header and central
# directory entry, each with the name and whatever extra fields a zip tool adds), and those
# of the archive's end records (zip64 records and a comment of up to 64 KiB).
ZIP_ENTRY_LIMIT = 1024
ZIP_END_LIMIT = 66 * 1024
# save_checkpoint stores members and zip tools deflate them (a deflate stream decompresses
# within a 32 KiB window); any other method (LZMA sizes its dictionary from the file) is
# refused before it decompresses anything.
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# General purpose flags of a zip entry (PKWARE APPNOTE 4.4.4) that save_checkpoint never sets
# and zipfile cannot read.
UNREADABLE_FLAGS = {0x1: "encrypted", 0x20: "patch data", 0x40: "strongly encrypted"}
MT19937_KEYS = 624  # numpy's legacy global generator: 624 uint32 keys
JSON_INT_DIGITS = 19  # 2**63 has 19 digits
HEADER_FIELDS = ("format", "version", "arrays", "model", "optimizer", "scheduler", "trainer", "rng")
OPTIMIZER_FIELDS = ("type", "step_count", "hyperparameters", "state")  # its state_dict()
NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

# What to do, ending each refusal's message.
CORRUPT = (
    "the file is damaged or was not written by save_checkpoint: load an intact copy or an "
    "earlier checkpoint"
)
OTHER_MODEL = (
    "it was saved from a different model (or is damaged): load it into a trainer of the "
    "model that saved it"
)
OTHER_OPTIMIZER = (
    "it was saved with another optimizer (or is damaged): load it into a trainer with the "
    "optimizer that saved it"
)
NOT_A_CHECKPOINT = "not a valid tinytorch checkpoint (truncated or corrupt file?)"
# What the zip and numpy readers raise on a malformed archive or member.
# (NotImplementedError: a zip feature zipfile lacks, such as a newer zip version.)
UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    EOFError,
    OSError,
    zlib.error,
    ValueError,
)


class _Refused(ValueError):
    """A checkpoint refused, with a message naming the member or field at fault and saying
    what to do; load_checkpoint raises it as a plain ValueError after the file's path."""


class _Expected(NamedTuple):
    """An array a checkpoint of this trainer may hold, and what it restores."""

    shape: tuple
    dtype: np.dtype
    what: str
    required: bool

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


def _member(name):
    return f"arrays/{name}.npy"


def _array_layout(params, optimizer):
    """Array name -> _Expected, for every array a checkpoint of this model and optimizer may
    hold: the model's parameters, the optimizer's state arrays (float64 copies, module 06;
    absent before a parameter's first update) and the random generator's keys."""
    layout = {}
    for index, param in enumerate(params):
        layout[f"model.{index}"] = _Expected(
            param.shape, param.dtype, f"model parameter {index}", required=True
        )
    for index, param in enumerate(optimizer.params):
        for key in optimizer._ARRAYS:
            layout[f"optimizer.{index}.{key}"] = _Expected(
                param.shape, np.dtype(np.float64), f"optimizer {key} of parameter {index}", False
            )
    layout["rng.keys"] = _Expected(
        (MT19937_KEYS,), np.dtype(np.uint32), "the random generator's keys", required=True
    )
    return layout


def _short(value):
    """A value read from a file, for a message: at most a few dozen characters of it."""
    return reprlib.repr(value)


@contextlib.contextmanager
def _opened_archive(path, layout):
    """The zip archive at ``path``, once the file's size fits a checkpoint of ``layout``; an
    error of the zip or numpy readers in the block becomes a refusal."""
    limit = (
        HEADER_LIMIT
        + ZIP_END_LIMIT
        + ZIP_ENTRY_LIMIT * (len(layout) + 1)
        + sum(expected.nbytes + NPY_HEADER_LIMIT for expected in layout.values())
    )
    # Opened outside the try: a missing or unreadable file keeps its own error.
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size > limit:
            raise _Refused(
                f"the file holds {size} bytes; a checkpoint of this model and optimizer takes "
                f"at most {limit}: {OTHER_MODEL}"
            )
        try:
            with zipfile.ZipFile(file) as archive:
                yield archive
        except _Refused:
            raise
        except UNREADABLE as error:  # an OSError here comes from offsets in a corrupt archive
            raise _Refused(f"{NOT_A_CHECKPOINT}: {error}: {CORRUPT}") from None


def _entries(archive):
    """Member name -> its central directory entry; no name twice, header.json among them."""
    entries = {}
    for info in archive.infolist():
        if info.filename in entries:
            raise _Refused(
                f"{NOT_A_CHECKPOINT}: the archive holds member {info.filename!r} twice: {CORRUPT}"
            )
        entries[info.filename] = info
    if HEADER not in entries:
        raise _Refused(f"{NOT_A_CHECKPOINT}: no {HEADER} in the archive: {CORRUPT}")
    return entries


def _check_entry(info, limit, what):
    """Refuse a member that is encrypted, compressed by another method than save_checkpoint's
    or a zip tool's, or that declares more than ``limit`` bytes: before reading any of it."""
    name = info.filename
    for flag, meaning in UNREADABLE_FLAGS.items():
        if info.flag_bits & flag:
            raise _Refused(
                f"{NOT_A_CHECKPOINT}: member {name!r} is flagged {meaning}, which "
                f"save_checkpoint never writes: {CORRUPT}"
            )
    if info.compress_type not in COMPRESSIONS:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} uses zip compression method "
            f"{info.compress_type}; a checkpoint's members are "
            f"{' or '.join(f'{how} ({method})' for method, how in COMPRESSIONS.items())}: "
            f"{CORRUPT}"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} is stored (not compressed) yet declares "
            f"{info.compress_size} bytes in the archive and {info.file_size} uncompressed: "
            f"{CORRUPT}"
        )
    if info.file_size > limit:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} declares {info.file_size} bytes "
            f"uncompressed; {what} takes at most {limit}: {CORRUPT}"
        )


def _read_header(archive, info):
    """header.json, parsed and checked field by field (the checks that need this trainer
    come later)."""
    _check_entry(info, HEADER_LIMIT, HEADER)
    with archive.open(info) as member:
        raw = member.read(HEADER_LIMIT)  # to the end (its size was checked), so its CRC too
    if len(raw) != info.file_size:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {HEADER!r} declares {info.file_size} bytes but holds "
            f"{len(raw)}: {CORRUPT}"
        )
    try:
        header = json.loads(raw.decode("utf-8"), parse_int=_json_int)
    except RecursionError:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: {HEADER} nests too deeply to parse: {CORRUPT}"
        ) from None
    except ValueError as error:  # json's and UTF-8's errors are ValueErrors
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: {HEADER} is not a checkpoint's JSON: {error}: {CORRUPT}"
        ) from None
    _check_depth(header)
    if not isinstance(header, dict):
        raise _Refused(f"{HEADER} must be a JSON object; got {_short(header)}: {CORRUPT}")
    if header.get("format") != FORMAT:
        raise _Refused(
            f"{HEADER}: field 'format' is {_short(header.get('format'))}: not a {FORMAT} file: "
            f"{CORRUPT}"
        )
    if header.get("version") != VERSION:
        raise _Refused(
            f"{HEADER}: format version {_short(header.get('version'))}, expected {VERSION}: "
            "load it with the tinytorch that saved it"
        )
    _check_fields(header)
    return header


def _json_int(text):
    # Every count a checkpoint holds fits in 64 bits; a longer literal would only make
    # float() overflow, or cost time, in a later check.
    if len(text.lstrip("-")) > JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits (at most {JSON_INT_DIGITS})")
    return int(text)


def _check_fields(header):
    """Every field of ``header`` there, with the JSON type save_checkpoint writes."""
    _object(header, "", HEADER_FIELDS)
    _list_of(header["arrays"], "arrays", str, "names")
    _count(_object(header["model"], "model", ("parameters",))["parameters"], "model.parameters")
    optimizer = _object(header["optimizer"], "optimizer", OPTIMIZER_FIELDS)
    _typed(optimizer["type"], "optimizer.type", str, "a string")
    _typed(optimizer["step_count"], "optimizer.step_count", int, "an int")
    for key, value in _object(optimizer["hyperparameters"], "optimizer.hyperparameters").items():
        field = f"optimizer.hyperparameters.{key}"
        if isinstance(value, list):
            _list_of(value, field, (int, float), "numbers")
        else:
            _typed(value, field, (int, float), "a number or a list of numbers")
    for index, state in enumerate(_list_of(optimizer["state"], "optimizer.state", dict, "objects")):
        for key, value in state.items():  # its arrays are members of their own
            _typed(value, f"optimizer.state[{index}].{key}", int, "an int")
    if header["scheduler"] is not None:
        _object(header["scheduler"], "scheduler")
    trainer = _object(header["trainer"], "trainer", ("epoch", "step", "history"))
    _count(trainer["epoch"], "trainer.epoch")
    _count(trainer["step"], "trainer.step")
    history = _object(trainer["history"], "trainer.history", HISTORY_KEYS)
    for key in HISTORY_KEYS:
        _list_of(history[key], f"trainer.history.{key}", (int, float), "numbers")
    rng = _object(header["rng"], "rng", ("kind", "pos", "has_gauss", "cached"))
    if rng["kind"] != "MT19937":
        _refuse_field("rng.kind", "'MT19937'", rng["kind"])
    if _count(rng["pos"], "rng.pos") > MT19937_KEYS:
        _refuse_field("rng.pos", f"an int from 0 to {MT19937_KEYS}", rng["pos"])
    if _count(rng["has_gauss"], "rng.has_gauss") > 1:
        _refuse_field("rng.has_gauss", "0 or 1", rng["has_gauss"])
    _typed(rng["cached"], "rng.cached", (int, float), "a number")


def _check_depth(value):
    """Refuse JSON nested deeper than HEADER_DEPTH_LIMIT (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > HEADER_DEPTH_LIMIT:
            raise _Refused(
                f"{NOT_A_CHECKPOINT}: {HEADER} nests more than {HEADER_DEPTH_LIMIT} levels "
                f"deep; save_checkpoint writes 4: {CORRUPT}"
            )
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)


def _refuse_field(field, description, value):
    raise _Refused(
        f"{HEADER}: field {field!r} must be {description}; got {_short(value)}: {CORRUPT}"
    )


def _typed(value, field, types, description):
    """``value`` if it is one of ``types`` (never a JSON true/false for a number)."""
    if isinstance(value, bool) or not isinstance(value, types):
        _refuse_field(field, description, value)
    return value


def _count(value, field):
    if _typed(value, field, int, "an int >= 0") < 0:
        _refuse_field(field, "an int >= 0", value)
    return value


def _list_of(value, field, types, description):
    if not isinstance(value, list) or not all(
        isinstance(item, types) and not isinstance(item, bool) for item in value
    ):
        _refuse_field(field, f"a list of {description}", value)
    return value


def _object(value, field, keys=None):
    """``value`` if it is a JSON object (with exactly ``keys``, when given); ``field`` is ""
    for the header itself."""
    if not isinstance(value, dict):
        _refuse_field(field, "a JSON object", value)
    if keys is not None:
        prefix = f"{field}." if field else ""
        for key in keys:
            if key not in value:
                raise _Refused(f"{HEADER}: missing field {prefix + key!r}: {CORRUPT}")
        unexpected = sorted(set(value) - set(keys))
        if unexpected:
            raise _Refused(
                f"{HEADER}: unexpected field {prefix + unexpected[0]!r} (a checkpoint of "
                f"another tinytorch?): {CORRUPT}"
            )
    return value


def _read_arrays(archive, entries, listed, layout):
    """Array name -> array, for the arrays header.json lists: each exactly the member of that
    name, and an array of ``layout``."""
    members = [_member(name) for name in listed]
    disagree = f"{NOT_A_CHECKPOINT}: the archive's members disagree with the arrays its {HEADER}"
    if len(set(members)) != len(members):
        raise _Refused(f"{disagree} lists: it lists an array twice: {CORRUPT}")
    for name in members:
        if name not in entries:
            raise _Refused(f"{disagree} lists: member {name!r} is missing: {CORRUPT}")
    for name in entries:
        if name != HEADER and name not in members:
            raise _Refused(f"{disagree} lists: member {name!r} is not listed: {CORRUPT}")
    unexpected = sorted(set(listed) - set(layout))
    if unexpected:
        raise _Refused(
            f"the checkpoint holds arrays this trainer has no place for, e.g. "
            f"{unexpected[0]!r}: {OTHER_MODEL}"
        )
    missing = [
        name for name, expected in layout.items() if expected.required and name not in listed
    ]
    if missing:
        raise _Refused(f"{NOT_A_CHECKPOINT}: the array {missing[0]!r} is missing: {CORRUPT}")
    return {name: _read_array(archive, entries[_member(name)], layout[name]) for name in listed}


def _read_array(archive, info, expected):
    """The array of member ``info``, once its .npy header says exactly ``expected``'s shape
    and dtype and its declared size is that header and that data."""
    name, what = info.filename, expected.what
    _check_entry(info, NPY_HEADER_LIMIT + expected.nbytes, what)
    try:
        with archive.open(info) as member:
            prefix = io.BytesIO(member.read(NPY_HEADER_LIMIT))
        version = np.lib.format.read_magic(prefix)
        if version not in NPY_HEADER_READERS:
            raise ValueError(f".npy format version {version}; numpy writes 1.0 or 2.0 here")
        shape, _, dtype = NPY_HEADER_READERS[version](prefix)  # (_: Fortran order or not)
    except UNREADABLE as error:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} has no valid .npy header: {error}: {CORRUPT}"
        ) from None
    if dtype.hasobject:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} holds Python objects, which only pickle "
            f"reads (it was not read): {CORRUPT}"
        )
    if shape != expected.shape:
        raise _Refused(
            f"member {name!r}: {what} has shape {shape} in the checkpoint, "
            f"{expected.shape} in this trainer: {OTHER_MODEL}"
        )
    if dtype != expected.dtype:
        raise _Refused(
            f"member {name!r}: {what} has dtype {dtype} in the checkpoint, {expected.dtype} "
            f"in this trainer: {OTHER_MODEL}"
        )
    if info.file_size != prefix.tell() + expected.nbytes:
        raise _Refused(
            f"{NOT_A_CHECKPOINT}: member {name!r} declares {info.file_size} bytes; its .npy "
            f"header ({prefix.tell()} bytes) and {what} ({expected.nbytes} bytes) make "
            f"{prefix.tell() + expected.nbytes}: {CORRUPT}"
        )
    try:
        with archive.open(info) as member:
            # In chunks, into an array of the shape checked above; reading the member to its
            # declared end checks its CRC-32.
            return np.lib.format.read_array(member, allow_pickle=False)
    except UNREADABLE as error:
        raise _Refused(f"{NOT_A_CHECKPOINT}: member {name!r}: {error}: {CORRUPT}") from None


def _write_member(archive, name, array):
    with archive.open(_member(name), "w") as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _write_checkpoint(path, header, arrays):
    """Write ``header`` (header.json's bytes) and ``arrays`` atomically: temporary file in
    the same directory, fsync, then os.replace."""
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(HEADER, header)
                for name, array in arrays.items():
                    _write_member(archive, name, array)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic: readers see the old file or the new one
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible on every OS (Windows), hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
