"""Module 04, Losses: MSELoss, CrossEntropyLoss, BinaryCrossEntropyLoss and log_softmax.

A loss is an object with no constructor arguments; ``forward(predictions, targets)`` (and
calling the object) returns a 0-d Tensor (shape ``()``), the mean over every element (MSE,
BCE) or over the batch (cross-entropy). ``log_softmax(x, dim=-1)`` is a function.

    MSELoss                 mean((p - t) ** 2) over all elements; ``p`` and ``t`` must have
                            the same shape (no silent broadcasting of (N, 1) against (N,)).
    CrossEntropyLoss        logits (N, C), targets N class indices in [0, C):
                            mean_i( -log_softmax(logits)[i, t_i] ).
    BinaryCrossEntropyLoss  probabilities p in [0, 1], targets t in [0, 1], same shape:
                            pc = clip(p, 1e-7, 1 - 1e-7),
                            mean( -(t * log(pc) + (1 - t) * log(1 - pc)) ).
    log_softmax(x, dim)     x - max(x) - log(sum(exp(x - max(x)))) along ``dim``.

Inputs
    ``predictions`` (logits for cross-entropy, ``x`` for log_softmax) must be a Tensor, as for
    the activations of module 02: anything else raises TypeError saying to wrap it in
    ``Tensor(...)``. ``targets`` may be a Tensor, an ndarray, a (nested) list or a number.

Targets never receive gradients
    Whatever is passed, the loss reads only the targets' values: MSE and BCE use a new Tensor
    made from them (``requires_grad=False``, its own memory), cross-entropy a new integer index
    array. The caller's target object is never an input of any operation, so no gradient can
    reach it, and it is never changed.

Numerics
    Results are made through Tensor operations or the ``_from_op`` hook, so they have the
    default dtype in force (``get_default_dtype()``: float32, or float64 inside
    ``default_dtype(np.float64)``); what is computed here in numpy is computed in that dtype.
    log_softmax subtracts the maximum before ``exp``, so the largest term is ``exp(0) == 1``,
    the log-sum-exp is finite and at most ``log(C)`` above the maximum: logits of ±1e4 or
    [-1047, -981, 1891] give finite, exact results, and cross-entropy of two equal logits of
    1e8 is ``ln 2``. BCE's clipping keeps both logarithms finite at probabilities exactly 0
    and 1: the loss there is at most ``-log(1e-7) ≈ 16.118`` (in float32, ``1 - 1e-7`` rounds
    to ``1 - 2**-23``, so predicting 1 for a target 0 costs ``-log(2**-23) ≈ 15.942``).
    Like the Tensor operations of module 01, non-finite logits follow IEEE arithmetic silently
    (a row holding ``inf`` gives nan); no numpy warning is raised for any input.

Errors
    Bad input raises before anything is computed, naming the shapes or values at fault:
    MSE/BCE shape mismatch (ValueError, both shapes); cross-entropy logits that are not 2-D,
    targets that are not N class indices, that are not whole numbers or lie outside [0, C)
    (ValueError naming the index and C; TypeError for non-numeric targets); BCE predictions
    or targets outside [0, 1] (ValueError naming their min and max).

Hooks for autograd
    Module 05 adds gradients without editing this file. MSE and BCE (apart from the clip) are
    built from module-01 Tensor operations, whose backward formulas module 05 already has:

        MSELoss                 ((p - t) ** 2).mean()
        BinaryCrossEntropyLoss  -(t * pc.log() + (1 - t) * (1 - pc).log()).mean()

    The three results computed here in numpy are made through the module-01 hook
    ``Tensor._from_op(out, op, inputs, **attrs)``, under these names, and module 05 owns
    their backward formulas:

        log_softmax    -> "log_softmax", inputs ``(x,)``, attribute ``dim`` (the int given,
                          possibly negative). Backward: g - exp(out) * g.sum(dim, keepdims).
        cross-entropy  -> "cross_entropy", inputs ``(logits,)``, attributes ``log_probs`` (the
                          (N, C) log_softmax of the logits, a private array) and ``targets``
                          (the N class indices, a private intp array). One op rather than
                          log_softmax, indexing, mean and negation: its backward is the short
                          (softmax - one_hot(targets)) * g / N, and a training step records
                          three fewer nodes. Forward: -mean_i(log_probs[i, targets[i]]).
        clip           -> "clip", inputs ``(p,)`` (the predictions Tensor itself), attributes
                          ``low=1e-7`` and ``high=1 - 1e-7`` (Python floats). Backward: g where
                          low <= p <= high, else 0.
"""

import reprlib

import numpy as np

from tinytorch.core.activations import _input_array, _normalising_input
from tinytorch.core.tensor import Tensor, get_default_dtype

__all__ = ["BinaryCrossEntropyLoss", "CrossEntropyLoss", "MSELoss", "log_softmax"]

# BinaryCrossEntropyLoss clips probabilities to [BCE_EPS, 1 - BCE_EPS] before the logarithms.
BCE_EPS = 1e-7


def _input_tensor(where, name, x):
    """``x`` itself if it is a Tensor (so a graph can flow through it), else TypeError."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{where}: {name} must be a Tensor; got {type(x).__name__} "
            "(wrap it in Tensor(...) first)"
        )
    return x


def _target_array(where, targets):
    """The targets' values as a new numpy array (a Tensor's data, or numpy's reading of them)."""
    if isinstance(targets, Tensor):
        return targets._data.copy()  # a plain array (.data is the write-counting view)
    if targets is None or isinstance(targets, (str, bytes)):
        raise TypeError(
            f"{where}: targets must be numbers (a Tensor, an ndarray, a list or a number); "
            f"got {targets!r}"
        )
    try:
        values = np.array(targets)
    except (ValueError, getattr(np, "exceptions", np).VisibleDeprecationWarning):
        raise ValueError(
            f"{where}: targets must be rectangular; got a ragged {type(targets).__name__}: "
            f"{reprlib.repr(targets)}"
        ) from None
    if values.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: targets must be numbers; got {type(targets).__name__} "
            f"{reprlib.repr(targets)} (numpy reads it as dtype {values.dtype})"
        )
    return values


def _target_tensor(where, targets):
    """A new Tensor holding the targets' values: no requires_grad, no link to the caller's."""
    return Tensor(_target_array(where, targets))


def _range(values):
    """'min m, max M' of a non-empty array, or how many nan it holds, for error messages."""
    nans = int(np.count_nonzero(np.isnan(values)))
    if nans:
        return f"{nans} nan value(s)"
    return f"min {np.min(values):.6g}, max {np.max(values):.6g}"


def _outside_unit_interval(values):
    """Whether any element is outside [0, 1] or nan."""
    with np.errstate(invalid="ignore"):
        return bool(values.size) and not bool(np.all((values >= 0) & (values <= 1)))


def log_softmax(x, dim=-1):
    """``log(softmax(x))`` along ``dim``, computed stably; a Tensor of ``x``'s shape.

    ``x - m - log(sum(exp(x - m)))`` with ``m`` the maximum along ``dim``: ``exp`` only sees
    numbers <= 0 and the sum is >= 1, so nothing overflows or underflows into ``log(0)``.
    Made through ``Tensor._from_op(out, "log_softmax", (x,), dim=dim)``.
    """
    _input_tensor("log_softmax", "x", x)
    a, dim = _normalising_input("log_softmax", x, dim)
    return Tensor._from_op(_log_softmax_array(a, dim), "log_softmax", (x,), dim=dim)


def _log_softmax_array(a, dim):
    """log_softmax of ndarray ``a`` along ``dim``, as a new array."""
    if a.shape[dim] == 0:  # nothing to normalise (and np.max refuses an empty axis)
        return a.copy()
    with np.errstate(all="ignore"):
        shifted = a - a.max(axis=dim, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


class _Loss:
    """Shared plumbing: calling the object calls forward."""

    def __call__(self, predictions, targets):
        return self.forward(predictions, targets)

    def forward(self, predictions, targets):  # pragma: no cover - every loss overrides it
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def _same_shape(where, predictions, targets):
    if predictions.shape != targets.shape:
        raise ValueError(
            f"{where}: predictions of shape {predictions.shape} and targets of shape "
            f"{targets.shape} differ; they must have the same shape (nothing is broadcast: "
            "reshape one of them, e.g. predictions.reshape(-1) for (N, 1) against (N,))"
        )


class MSELoss(_Loss):
    """Mean squared error, ``mean((predictions - targets) ** 2)`` over all elements."""

    def forward(self, predictions, targets):
        predictions = _input_tensor("MSELoss", "predictions", predictions)
        targets = _target_tensor("MSELoss", targets)
        _same_shape("MSELoss", predictions, targets)
        return ((predictions - targets) ** 2).mean()


class CrossEntropyLoss(_Loss):
    """Mean over the batch of ``-log_softmax(logits)[i, targets[i]]``.

    ``logits`` is an (N, C) Tensor of unnormalised scores; ``targets`` holds N class indices
    in [0, C) (a list, ndarray, Tensor of whole numbers, or one int when N == 1).
    """

    def forward(self, logits, targets):
        logits = _input_tensor("CrossEntropyLoss", "logits", logits)
        if len(logits.shape) != 2:
            hint = " (for one sample, use logits.reshape(1, -1))" if len(logits.shape) == 1 else ""
            raise ValueError(
                "CrossEntropyLoss: logits must be 2-D (batch N, classes C); got shape "
                f"{logits.shape}{hint}"
            )
        n, c = logits.shape
        index = self._class_indices(targets, n, c)
        log_probs = _log_softmax_array(_input_array("CrossEntropyLoss", logits), -1)
        with np.errstate(all="ignore"):  # an empty batch gives 0 / 0 = nan, a mean of nothing
            loss = np.asarray(-log_probs[np.arange(n), index].sum() / n)  # not a numpy scalar
        return Tensor._from_op(loss, "cross_entropy", (logits,), log_probs=log_probs, targets=index)

    @staticmethod
    def _class_indices(targets, n, c):
        where = "CrossEntropyLoss"
        values = _target_array(where, targets)
        if values.dtype.kind == "b":
            raise TypeError(f"{where}: targets must be class indices (integers); got booleans")
        if values.ndim == 0:
            values = values.reshape(1)
        if values.ndim != 1:
            hint = ""
            if values.shape == (n, c):
                hint = (
                    " (one-hot or probability targets are not supported: pass class indices, "
                    "e.g. targets.argmax(axis=1))"
                )
            raise ValueError(
                f"{where}: targets must be a 1-D sequence of N = {n} class indices; got shape "
                f"{values.shape}{hint}"
            )
        if values.shape[0] != n:
            raise ValueError(
                f"{where}: got {values.shape[0]} targets for a batch of N = {n} logits rows "
                f"(logits shape {(n, c)}); there must be one class index per row"
            )
        if values.dtype.kind == "f":
            whole = np.isfinite(values) & (values == np.trunc(values))
            if not whole.all():
                bad = values[~whole][0]
                raise ValueError(
                    f"{where}: targets must be whole-number class indices; got {float(bad)!r} "
                    f"(at position {int(np.argmin(whole))})"
                )
        if values.size and (values.min() < 0 or values.max() >= c):  # cheaper than a mask
            position = int(np.argmax((values < 0) | (values >= c)))
            bad = int(values[position])  # a whole number by now
            raise ValueError(
                f"{where}: class index {bad} (at position {position}) is out of range for "
                f"C = {c} classes; class indices must be in [0, {c})"
            )
        return values.astype(np.intp, copy=False)  # values is already a copy of its own


class BinaryCrossEntropyLoss(_Loss):
    """Mean binary cross-entropy of probabilities against targets in [0, 1].

    ``-(t * log(pc) + (1 - t) * log(1 - pc))`` averaged over all elements, with
    ``pc = clip(predictions, 1e-7, 1 - 1e-7)`` (op ``"clip"``), so p = 0 or 1 stays finite.
    """

    def forward(self, predictions, targets):
        where = "BinaryCrossEntropyLoss"
        predictions = _input_tensor(where, "predictions", predictions)
        targets = _target_tensor(where, targets)
        _same_shape(where, predictions, targets)
        if _outside_unit_interval(predictions.data):
            raise ValueError(
                f"{where}: predictions must be probabilities in [0, 1]; got "
                f"{_range(predictions.data)} (apply Sigmoid to logits first)"
            )
        if _outside_unit_interval(targets.data):
            raise ValueError(f"{where}: targets must be in [0, 1]; got {_range(targets.data)}")
        dtype = get_default_dtype()
        low, high = BCE_EPS, 1.0 - BCE_EPS
        clipped = np.clip(
            predictions.data.astype(dtype, copy=False), dtype.type(low), dtype.type(high)
        )
        pc = Tensor._from_op(clipped, "clip", (predictions,), low=low, high=high)
        return -((targets * pc.log() + (1 - targets) * (1 - pc).log()).mean())
