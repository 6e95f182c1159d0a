"""Module 06, Optimizers: SGD, Adam and AdamW update parameters from the gradients in ``.grad``.

After ``loss.backward()`` every parameter (a Tensor with ``requires_grad=True``) holds its
gradient in ``.grad``; ``optimizer.step()`` moves the parameters against it and
``optimizer.zero_grad()`` sets every ``.grad`` back to None for the next batch.

Optimizer(params)
    ``params`` is any iterable of Tensors (a list, ``model.parameters()``, a generator); it is
    read once into the list ``.params``. A Tensor listed twice is kept once, so it is never
    updated twice per step. A parameter that does not require grad, or that is not a Tensor,
    is refused with an error naming its index (and shape). ``.step_count`` counts ``step()``
    calls. A parameter whose ``.grad`` is None is skipped by ``step()``: its value and its
    optimizer state (momentum, Adam moments and step) stay exactly as they were.

The update rules are PyTorch's published algorithms (torch.optim docs), for one parameter
``p`` with gradient ``g`` and learning rate ``lr``:

    SGD    g = g + weight_decay * p                            (when weight_decay != 0)
           b = g on the parameter's first update, else b = momentum * b + g
           g = b                                               (when momentum != 0)
           p = p - lr * g
           (dampening 0, no Nesterov.)
    Adam   t = t + 1                                           (the parameter's own step)
           g = g + weight_decay * p                            (L2 penalty in the gradient)
           m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g**2
           p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)
    AdamW  Adam with decoupled weight decay: first p = p * (1 - lr * weight_decay), then the
           Adam update with g unchanged.

Precision
    Updates are computed in float64 and written back into the parameter's own array, in its
    own dtype, so a float32 parameter stays float32 (and the same array: ``p.data`` is written
    in place, which counts as an in-place change of ``p``; that is fine after ``backward()``,
    which has released the graph). The state (momentum buffer, Adam moments) is kept in
    float64, so storing the parameter is the only rounding a step adds.

Hyper-parameters
    Public attributes (``lr``, ``momentum``, ``betas``, ``eps``, ``weight_decay``), checked
    when the optimizer is made and again at every ``step()`` (a scheduler sets ``lr``):
    lr, eps, momentum and weight_decay must be finite numbers >= 0, each beta in [0, 1).

State for checkpoints
    ``state_dict()`` returns plain data: the class name, ``step_count``, the hyper-parameters
    and, per parameter (in ``.params`` order), a dict of float64 arrays and ints (empty before
    the parameter's first update). ``load_state_dict(state)`` checks all of it against this
    optimizer (class, number of parameters, shapes, keys, values) before changing anything.
"""

import math
import numbers

import numpy as np

from tinytorch.core.tensor import Tensor

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]


def _number(where, name, value, below=None):
    """``value`` as a float; it must be a finite real >= 0 (and < ``below`` if given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (below is not None and value >= below):
        allowed = ">= 0" if below is None else f"in [0, {below})"
        raise ValueError(f"{where}: invalid {name} {value!r}; it must be a finite number {allowed}")
    return value


def _count(where, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: {name} must be an int >= 0; got {value!r}")
    return int(value)


class Optimizer:
    """Base class: holds the parameters, counts steps, skips parameters without a gradient.

    A subclass names its hyper-parameters in ``_names`` and checks them in ``_validated``,
    names its per-parameter state in ``_ARRAYS`` and ``_COUNTERS``, and computes one
    parameter's new value in ``_update``.
    """

    _ARRAYS = ()  # per-parameter state arrays (shape of the parameter, float64)
    _COUNTERS = ()  # per-parameter state ints

    def __init__(self, params):
        where = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{where}: params must be an iterable of Tensors (e.g. model.parameters()); "
                "got a single Tensor (wrap it in a list)"
            )
        self.params, seen = [], set()
        for index, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{where}: parameter {index} is a {type(param).__name__}, not a Tensor"
                )
            if not param.requires_grad:
                raise ValueError(
                    f"{where}: parameter {index} (shape {param.shape}) does not require grad, "
                    "so it never gets a gradient; make it with requires_grad=True or leave it out"
                )
            if id(param) not in seen:  # a shared Tensor is updated once per step
                seen.add(id(param))
                self.params.append(param)
        if not self.params:
            raise ValueError(
                f"{where}: got an empty parameter list (an exhausted generator, or a model "
                "without parameters?)"
            )
        self.step_count = 0
        self.state = [{} for _ in self.params]

    # --- hyper-parameters ----------------------------------------------------------------

    def _validated(self, hyper):
        """The checked hyper-parameters ``hyper`` (a dict); subclasses list theirs."""
        return {}

    def _names(self):
        """The names of the hyper-parameters (attributes of the optimizer)."""
        return ()

    def _hyperparameters(self):
        return {name: getattr(self, name) for name in self._names()}

    # --- the update ----------------------------------------------------------------------

    def zero_grad(self):
        """Set every parameter's ``.grad`` to None (the next backward starts from nothing)."""
        for param in self.params:
            param.grad = None

    def step(self):
        """Update every parameter that has a gradient; count the step."""
        self._validated(self._hyperparameters())  # also catches a bad lr set after __init__
        grads = [self._gradient(i, p) for i, p in enumerate(self.params)]  # check all first
        for param, grad, state in zip(self.params, grads, self.state, strict=True):
            if grad is None:
                continue
            with np.errstate(all="ignore"):  # IEEE results (inf, nan) as everywhere else
                value = self._update(param.data.astype(np.float64), grad, state)
                param.data[...] = value  # in place, cast back to the parameter's dtype
        self.step_count += 1

    def _gradient(self, index, param):
        if param.grad is None:
            return None
        grad = np.asarray(param.grad, dtype=np.float64)
        if grad.shape != param.shape:
            raise ValueError(
                f"{type(self).__name__}: parameter {index} has shape {param.shape} but its "
                f".grad has shape {grad.shape}"
            )
        return grad

    def _update(self, p, g, state):
        """New value of one parameter (float64 arrays); may update ``state`` in place."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement an update rule: subclasses of "
            "Optimizer must override _update(p, g, state)"
        )

    # --- state for checkpoints -----------------------------------------------------------

    def state_dict(self):
        """Everything ``step()`` depends on, as plain data (copies)."""
        hyper = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self._hyperparameters().items()
        }
        return {
            "type": type(self).__name__,
            "step_count": self.step_count,
            "hyperparameters": hyper,
            "state": [
                {key: value.copy() if isinstance(value, np.ndarray) else value
                 for key, value in state.items()}
                for state in self.state
            ],
        }  # fmt: skip

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``; everything is checked before anything changes."""
        step_count, hyper, states = self._checked_state_dict(state_dict)
        for name, value in hyper.items():
            setattr(self, name, value)
        self.step_count = step_count
        self.state = states

    def _checked_state_dict(self, state_dict):
        """(step_count, hyper-parameters, per-parameter states), or ValueError saying what
        does not fit this optimizer."""
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {
            "type", "step_count", "hyperparameters", "state"
        }:  # fmt: skip
            raise ValueError(
                f"{where}: expected a dict with keys type, step_count, hyperparameters, state"
            )
        if state_dict["type"] != name:
            raise ValueError(f"{where}: the state is of a {state_dict['type']!r}, not a {name}")
        step_count = _count(where, "step_count", state_dict["step_count"])
        hyper = state_dict["hyperparameters"]
        if not isinstance(hyper, dict) or set(hyper) != set(self._names()):
            raise ValueError(
                f"{where}: hyperparameters must have exactly the keys {sorted(self._names())}; "
                f"got {sorted(hyper) if isinstance(hyper, dict) else hyper!r}"
            )
        hyper = self._validated(hyper)
        states = state_dict["state"]
        if not isinstance(states, (list, tuple)) or len(states) != len(self.params):
            count = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(
                f"{where}: the state is for {count} parameters; this optimizer has "
                f"{len(self.params)}"
            )
        return step_count, hyper, [self._checked_state(where, i, s) for i, s in enumerate(states)]

    def _checked_state(self, where, index, state):
        keys = set(self._ARRAYS) | set(self._COUNTERS)
        if not isinstance(state, dict) or (state and set(state) != keys):
            raise ValueError(
                f"{where}: the state of parameter {index} must be empty or have exactly the "
                f"keys {sorted(keys)}; got {sorted(state) if isinstance(state, dict) else state!r}"
            )
        checked = {}
        for key in self._COUNTERS:
            if key in state:
                checked[key] = _count(where, f"parameter {index} {key}", state[key])
        for key in self._ARRAYS:
            if key not in state:
                continue
            value, shape = state[key], self.params[index].shape
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ValueError(
                    f"{where}: parameter {index} {key} must be a float ndarray; got "
                    f"{type(value).__name__}"
                )
            if value.shape != shape:
                raise ValueError(
                    f"{where}: parameter {index} {key} has shape {value.shape}, but the "
                    f"parameter has shape {shape}"
                )
            checked[key] = value.astype(np.float64)  # always a copy
        return checked

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay (PyTorch's rule)."""

    _ARRAYS = ("momentum_buffer",)

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        checked = self._validated({"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.lr, self.momentum, self.weight_decay = checked.values()

    def _names(self):
        return ("lr", "momentum", "weight_decay")

    def _validated(self, hyper):
        return {name: _number("SGD", name, hyper[name]) for name in self._names()}

    def _update(self, p, g, state):
        if self.weight_decay != 0:
            g = g + self.weight_decay * p
        if self.momentum != 0:
            buffer = state.get("momentum_buffer")
            buffer = g.copy() if buffer is None else self.momentum * buffer + g
            state["momentum_buffer"] = g = buffer
        return p - self.lr * g


class Adam(Optimizer):
    """Adam with bias correction; ``weight_decay`` adds ``weight_decay * p`` to the gradient."""

    _ARRAYS = ("exp_avg", "exp_avg_sq")
    _COUNTERS = ("step",)
    _DECOUPLED = False  # AdamW: decay the parameter itself, outside the moments

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        checked = self._validated(
            {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        )
        self.lr, self.betas, self.eps, self.weight_decay = checked.values()

    def _names(self):
        return ("lr", "betas", "eps", "weight_decay")

    def _validated(self, hyper):
        where = type(self).__name__
        betas = hyper["betas"]
        if isinstance(betas, np.ndarray):
            betas = betas.tolist()
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{where}: betas must be a pair (beta1, beta2); got {betas!r}")
        return {
            "lr": _number(where, "lr", hyper["lr"]),
            "betas": tuple(
                _number(where, f"beta{i + 1} (betas[{i}])", beta, below=1.0)
                for i, beta in enumerate(betas)
            ),
            "eps": _number(where, "eps", hyper["eps"]),
            "weight_decay": _number(where, "weight_decay", hyper["weight_decay"]),
        }

    def _update(self, p, g, state):
        beta1, beta2 = self.betas
        t = state.get("step", 0) + 1
        if self._DECOUPLED:
            p = p * (1.0 - self.lr * self.weight_decay)
        elif self.weight_decay != 0:
            g = g + self.weight_decay * p
        m = beta1 * state.get("exp_avg", 0.0) + (1.0 - beta1) * g
        v = beta2 * state.get("exp_avg_sq", 0.0) + (1.0 - beta2) * (g * g)
        state.update(step=t, exp_avg=m, exp_avg_sq=v)
        m_hat = m / (1.0 - beta1**t)
        v_hat = v / (1.0 - beta2**t)
        return p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before each update."""

    _DECOUPLED = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
