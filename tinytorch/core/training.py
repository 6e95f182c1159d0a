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
    and ``.npy`` data only (``allow_pickle=False``; no pickle, no code from the file runs).
    Saving is atomic: the archive goes to a temporary file in the same directory, which is
    flushed and fsync'ed, then ``os.replace``d over ``path``; a crash at any moment leaves
    either the previous checkpoint or the new one, never a mix or a torn file.
    ``load_checkpoint(path)`` validates everything first (the archive's CRCs, the format,
    every field and array, parameter count, shapes and dtypes against this model and
    optimizer, the scheduler) and only then assigns: a truncated, corrupt or foreign file, or
    one from a model of another shape, raises ValueError naming the problem (for a shape:
    the parameter and both shapes) and leaves the model, optimizer, scheduler, history and
    random generator unchanged. Loading also restores numpy's global random state.
"""

import contextlib
import inspect
import io
import json
import math
import numbers
import os
import secrets
import zipfile

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
        raise TypeError(f"{where}: {name} must be a number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0; got {value!r}")
    return value


def _positive_int(where, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be a positive int; got {value!r}")
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
            raise ValueError(f"{where}: expected max_lr, min_lr and total_epochs; got {state!r}")
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
        header = {
            "format": FORMAT,
            "version": VERSION,
            "arrays": sorted(arrays),
            "model": {"parameters": len(self.model.parameters())},
            "optimizer": optimizer,
            "scheduler": scheduler() if callable(scheduler) else None,
            "trainer": {"epoch": self.epoch, "step": self.step, "history": self.history},
            "rng": {"kind": kind, "pos": pos, "has_gauss": has_gauss, "cached": cached_gaussian},
        }
        _write_checkpoint(path, header, arrays)

    def load_checkpoint(self, path):
        """Restore a ``save_checkpoint`` file; checks everything before changing anything."""
        where = f"load_checkpoint({os.fspath(path)!r})"
        header, arrays = _read_checkpoint(path, where)
        try:
            restore = self._plan_restore(header, arrays)
        except (KeyError, TypeError, ValueError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else error
            raise ValueError(f"{where}: {detail}") from None
        restore()

    def _plan_restore(self, header, arrays):
        """Check ``header`` and ``arrays`` against this trainer; return the function that
        applies them (it cannot fail: everything it assigns was checked here)."""
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if header.get("version") != VERSION:
            raise ValueError(f"format version {header.get('version')!r}, expected {VERSION}")
        params = self.model.parameters()
        if header["model"]["parameters"] != len(params):
            raise ValueError(
                f"the checkpoint holds {header['model']['parameters']} model parameters; this "
                f"model has {len(params)}: it was saved from a different model"
            )
        values = []
        for index, param in enumerate(params):
            value = arrays[f"model.{index}"]
            if value.shape != param.shape:
                raise ValueError(
                    f"model parameter {index}: the checkpoint has shape {value.shape}, the "
                    f"model has shape {param.shape}: it was saved from a different model"
                )
            if value.dtype != param.dtype:
                raise ValueError(
                    f"model parameter {index}: the checkpoint has dtype {value.dtype}, the "
                    f"model has dtype {param.dtype}"
                )
            values.append(value)
        known = {f"model.{i}" for i in range(len(params))} | {"rng.keys"}
        stray = [n for n in arrays if n not in known and not n.startswith("optimizer.")]
        if stray:
            raise ValueError(f"unexpected arrays {stray}")
        optimizer = dict(header["optimizer"])
        states = optimizer.get("state")
        if not isinstance(states, list) or not all(isinstance(s, dict) for s in states):
            raise ValueError("optimizer.state must be a list of dicts")
        optimizer["state"] = [dict(s) for s in states]
        prefix = "optimizer."
        for name, value in arrays.items():
            if name.startswith(prefix):
                index, key = name[len(prefix) :].split(".", 1)
                if not index.isdigit() or int(index) >= len(states):
                    raise ValueError(f"array {name} belongs to no optimizer parameter")
                optimizer["state"][int(index)][key] = value
        step_count, hyper, opt_states = self.optimizer._checked_state_dict(optimizer)
        schedule = self._checked_scheduler(header["scheduler"])
        trainer = header["trainer"]
        epoch = _count_field("trainer.epoch", trainer["epoch"])
        step = _count_field("trainer.step", trainer["step"])
        history = _checked_history(trainer["history"])
        rng = _checked_rng(header["rng"], arrays["rng.keys"])

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

    def _checked_scheduler(self, saved):
        loads = callable(getattr(self.scheduler, "load_state_dict", None))
        if saved is None and not loads:
            return None
        if saved is None or not loads:
            has = "has" if saved is not None else "has no"
            raise ValueError(
                f"the checkpoint {has} scheduler state, but this trainer's scheduler is "
                f"{type(self.scheduler).__name__}"
            )
        if hasattr(self.scheduler, "_checked"):  # check it now, so that load cannot fail later
            self.scheduler._checked(saved)
        return saved


def _count_field(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}")
    return value


def _checked_history(history):
    if not isinstance(history, dict) or set(history) != set(HISTORY_KEYS):
        raise ValueError(f"trainer.history must have exactly the keys {list(HISTORY_KEYS)}")
    checked = {}
    for key in HISTORY_KEYS:
        values = history[key]
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            raise ValueError(f"trainer.history[{key!r}] must be a list of numbers")
        checked[key] = [float(v) for v in values]
    return checked


def _checked_rng(saved, keys):
    if saved["kind"] != "MT19937" or keys.dtype != np.uint32 or keys.shape != (624,):
        raise ValueError("rng: not an MT19937 state (624 uint32 keys)")
    pos, has_gauss, cached = saved["pos"], saved["has_gauss"], saved["cached"]
    if not (isinstance(pos, int) and 0 <= pos <= 624 and has_gauss in (0, 1)):
        raise ValueError(f"rng: invalid position {pos!r} or has_gauss {has_gauss!r}")
    if isinstance(cached, bool) or not isinstance(cached, (int, float)):
        raise ValueError(f"rng: invalid cached gaussian {cached!r}")
    return ("MT19937", keys.copy(), pos, has_gauss, float(cached))


# --- the file: a zip of header.json and .npy arrays, never pickle --------------------------

HEADER = "header.json"


def _member(name):
    return f"arrays/{name}.npy"


def _write_member(archive, name, array):
    with archive.open(_member(name), "w") as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _write_checkpoint(path, header, arrays):
    """Write atomically: temporary file in the same directory, fsync, then os.replace."""
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(HEADER, json.dumps(header))
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


def _read_checkpoint(path, where):
    """(header, {name: array}) from a checkpoint file; ValueError if it is not a sound one."""
    # Opened outside the try: a missing or unreadable file keeps its own error. Inside it, an
    # OSError can only come from offsets in a corrupt archive (a seek before the start).
    with open(path, "rb") as file:
        try:
            return _read_archive(file)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError) as error:
            raise ValueError(
                f"{where}: not a valid tinytorch checkpoint (truncated or corrupt file?): {error}"
            ) from None


def _read_archive(file):
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        if HEADER not in names:
            raise ValueError(f"no {HEADER} in the archive")
        header = json.loads(archive.read(HEADER).decode("utf-8"))
        listed = header.get("arrays") if isinstance(header, dict) else None
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ValueError("the header lists no arrays")
        expected = [HEADER] + [_member(n) for n in listed]
        if sorted(names) != sorted(expected) or len(set(names)) != len(names):
            raise ValueError(f"the archive's members {names} disagree with its header")
        arrays = {}
        for name in listed:
            with archive.open(_member(name)) as member:
                data = io.BytesIO(member.read())  # reading to the end checks the CRC-32
            arrays[name] = np.lib.format.read_array(data, allow_pickle=False)
            if data.read(1):
                raise ValueError(f"array {name} has trailing bytes")
    return header, arrays
