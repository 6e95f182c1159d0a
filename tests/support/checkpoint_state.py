"""Everything a reference checkpoint restores, as tests/07_training's extras compare it: a
trainer's parameters, its optimizer's and scheduler's ``state_dict()``, ``.epoch``, ``.step``,
``.history``, and numpy's global random state.

Imports no tinytorch.
"""

import json

import numpy as np


def snapshot(trainer):
    """Everything a checkpoint must restore, through the reference's state_dict()s."""
    return {
        "params": [p.data.copy() for p in trainer.model.parameters()],
        "optimizer": trainer.optimizer.state_dict(),
        "epoch": trainer.epoch,
        "step": trainer.step,
        "history": json.loads(json.dumps(trainer.history)),
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
    }


def assert_same(a, b):
    assert len(a["params"]) == len(b["params"])
    for x, y in zip(a["params"], b["params"], strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)  # bit for bit
    oa, ob = a["optimizer"], b["optimizer"]
    assert (oa["type"], oa["step_count"], oa["hyperparameters"]) == (
        ob["type"],
        ob["step_count"],
        ob["hyperparameters"],
    )
    for sa, sb in zip(oa["state"], ob["state"], strict=True):
        assert sorted(sa) == sorted(sb)
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key])
    assert (a["epoch"], a["step"], a["history"], a["scheduler"]) == (
        b["epoch"],
        b["step"],
        b["history"],
        b["scheduler"],
    )


def rng_keys():
    return np.random.get_state()[1].copy()


def assert_unchanged(trainer, state, keys):
    """The trainer still holds `state` and numpy's random generator still `keys`."""
    assert_same(snapshot(trainer), state)
    np.testing.assert_array_equal(rng_keys(), keys)
