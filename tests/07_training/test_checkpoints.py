"""Module 07 (Training), course API: Trainer checkpoints, API.md "07 Training" (fix).

A checkpoint restores the model's parameters, the optimizer's state, the scheduler, ``.epoch``,
``.step`` and ``.history`` exactly; loading never runs code from the file (no pickle); a
truncated or corrupt file raises an error (API.md names no type: any exception but the stub's
NotImplementedError) and leaves the trainer as it was; a crash while saving never destroys
the previous checkpoint. These tests hold for any file format: they save, load, and damage
the bytes of whatever file the implementation wrote.

The optimizer's state is not read directly (API.md gives it no public form): a trainer that
loaded a checkpoint must go on exactly as the one that saved it, given the same random draws
(Dropout draws from numpy's global generator, so both runs are reseeded alike). The
reference's file format, error types and words, and the random state it also restores are
tested in test_extras_checkpoints.py.
"""

import copy
import hashlib
import io
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from checkpoint_cases import (
    OPTIMIZERS,
    Payload,
    data,
    file_bytes,
    make_trainer,
    train,
    trained_and_saved,
)
from course_api import (
    Adam,
    CosineSchedule,
    Linear,
    MSELoss,
    Trainer,
)


def snapshot(trainer):
    """What a checkpoint must restore and the course API shows, as plain copies."""
    schedule = trainer.scheduler
    return {
        "params": [p.data.copy() for p in trainer.model.parameters()],
        "lr": trainer.optimizer.lr,
        "step_count": trainer.optimizer.step_count,
        "epoch": trainer.epoch,
        "step": trainer.step,
        "history": copy.deepcopy(trainer.history),
        "schedule": None if schedule is None else [schedule.get_lr(e) for e in range(8)],
    }


def assert_same(a, b):
    assert len(a["params"]) == len(b["params"])
    for x, y in zip(a["params"], b["params"], strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)  # bit for bit
    rest = ("lr", "step_count", "epoch", "step", "history", "schedule")
    assert {key: a[key] for key in rest} == {key: b[key] for key in rest}


def assert_go_on_alike(a, b):
    """One more epoch of both trainers, with the same random draws, ends in the same state:
    equal parameters alone do not show that the optimizer's state (momentum buffers, Adam's
    moments and step) came back, the next steps do."""
    for trainer in (a, b):
        np.random.seed(2024)
        train(trainer, 1)
    assert_same(snapshot(a), snapshot(b))


@pytest.fixture
def saved(tmp_path):
    """A trainer after 2 epochs, its checkpoint, and a snapshot of it at saving time."""
    trainer, path = trained_and_saved(tmp_path)
    return trainer, path, snapshot(trainer)


# ===========================================================================================
# Round trip and exact resume
# ===========================================================================================


class TestRoundTrip:
    def test_load_restores_everything(self, saved):
        original, path, state = saved
        fresh = make_trainer(2)  # other initial weights, untrained
        fresh.optimizer.lr = 0.5
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), state)
        assert (fresh.epoch, fresh.step) == (2, 6)  # 5 batches in groups of 2: 3 steps an epoch
        assert fresh.optimizer.step_count == 6
        assert len(fresh.history["train_loss"]) == 2
        assert len(fresh.history["eval_loss"]) == 2
        assert len(fresh.history["learning_rates"]) == 2
        assert_go_on_alike(original, fresh)

    def test_scheduler_is_restored(self, saved):
        original, path, _ = saved
        fresh = make_trainer(3)
        fresh.scheduler = CosineSchedule(max_lr=9.0, min_lr=1.0, total_epochs=99)
        fresh.load_checkpoint(path)
        expected = [0.05, *[0.001 + 0.049 * (1 + np.cos(np.pi * e / 6)) / 2 for e in (1, 2)]]
        lrs = [fresh.scheduler.get_lr(e) for e in range(10)]
        np.testing.assert_allclose(lrs[:3], expected, rtol=1e-12)
        assert lrs[6:] == [0.001] * 4
        assert lrs == [original.scheduler.get_lr(e) for e in range(10)]
        assert_go_on_alike(original, fresh)  # the next epoch's lr comes from the schedule

    def test_save_replaces_an_older_checkpoint(self, saved):
        trainer, path, _ = saved
        train(trainer, 1)
        trainer.save_checkpoint(path)
        later = snapshot(trainer)
        fresh = make_trainer(4)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), later)
        assert fresh.epoch == 3

    def test_training_on_after_saving_changes_neither_the_file_nor_what_it_loads(self, saved):
        trainer, path, state = saved
        before = file_bytes(path)
        train(trainer, 1)
        assert file_bytes(path) == before
        fresh = make_trainer(5)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), state)

    def test_str_path(self, tmp_path):
        trainer = make_trainer(5, scheduler=False)
        trainer.train_epoch(data())
        trainer.save_checkpoint(str(tmp_path / "plain"))
        fresh = make_trainer(6, scheduler=False)
        fresh.load_checkpoint(str(tmp_path / "plain"))
        assert fresh.model.parameters()[0].dtype == np.float32
        assert_same(snapshot(fresh), snapshot(trainer))
        assert_go_on_alike(trainer, fresh)

    def test_loaded_parameters_own_their_memory(self, saved):
        # API.md, Aliasing: the loaded parameters share memory with no other parameter, of
        # this model, of the trainer that saved, or of another trainer loading the same file.
        original, path, state = saved
        one, two = make_trainer(7), make_trainer(8)
        one.load_checkpoint(path)
        two.load_checkpoint(path)
        assert_same(snapshot(one), state)
        arrays = [p.data for t in (original, one, two) for p in t.model.parameters()]
        for i, array in enumerate(arrays):
            for other in arrays[i + 1 :]:
                assert not np.shares_memory(array, other)


class TestExactResume:
    @pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
    def test_resumed_run_is_bit_identical(self, tmp_path, kind):
        # Uninterrupted: 5 epochs, saving after the 2nd.
        straight = make_trainer(10, kind)
        train(straight, 2)
        straight.save_checkpoint(tmp_path / "mid.ckpt")
        np.random.seed(99)  # the dropout masks of epochs 3 to 5, drawn alike in both runs
        train(straight, 3)
        # Interrupted: another process, with other weights and an optimizer state of its own.
        resumed = make_trainer(11, kind)
        train(resumed, 1)
        resumed.load_checkpoint(tmp_path / "mid.ckpt")
        np.random.seed(99)
        train(resumed, 3)
        assert_same(snapshot(resumed), snapshot(straight))
        assert resumed.epoch == 5
        assert len(resumed.history["learning_rates"]) == 5

    def test_the_dropout_draws_matter_for_this_run(self, tmp_path):
        # The control of the test above: with other dropout masks the runs part, so equal
        # random draws (and not luck) are what makes them equal there.
        straight = make_trainer(10)
        train(straight, 2)
        straight.save_checkpoint(tmp_path / "mid.ckpt")
        np.random.seed(99)
        train(straight, 1)
        resumed = make_trainer(11)
        resumed.load_checkpoint(tmp_path / "mid.ckpt")
        np.random.seed(12345)
        train(resumed, 1)
        differs = [
            not np.array_equal(a.data, b.data)
            for a, b in zip(resumed.model.parameters(), straight.model.parameters(), strict=True)
        ]
        assert any(differs)


# ===========================================================================================
# No code from the file, truncated and corrupt files
# ===========================================================================================


def payload_file(kind, sentinel):
    """The bytes of a file that runs Payload when loaded with pickle: a pickle, or numpy's
    .npy / .npz holding an object array (loaded with allow_pickle=True)."""
    if kind == "pickle":
        return pickle.dumps({"model": Payload(sentinel), "epoch": 2})
    buffer = io.BytesIO()
    objects = np.array([Payload(sentinel)], dtype=object)
    if kind == "npy":
        np.save(buffer, objects, allow_pickle=True)
    else:
        np.savez(buffer, model=objects)
    return buffer.getvalue()


def assert_refused(trainer, bad, state, good):
    """Loading `bad` raises and changes nothing; the good checkpoint still loads after it."""
    # API.md promises "a clear error" of no named type: any exception will do, except the
    # NotImplementedError of a load_checkpoint not written yet.
    with pytest.raises(Exception) as caught:
        trainer.load_checkpoint(bad)
    assert not isinstance(caught.value, NotImplementedError), caught.value
    assert_same(snapshot(trainer), state)
    trainer.load_checkpoint(good)
    assert_same(snapshot(trainer), state)


class TestNoCodeFromTheFile:
    @pytest.mark.parametrize("kind", ["pickle", "npy", "npz"])
    def test_pickled_objects_are_refused_and_not_run(self, saved, tmp_path, kind):
        trainer, path, state = saved
        sentinel = tmp_path / "code-ran"
        bad = tmp_path / f"evil.{kind}"
        bad.write_bytes(payload_file(kind, sentinel))
        assert_refused(trainer, bad, state, path)
        assert not sentinel.exists()


class TestDamagedFiles:
    @pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
    def test_truncated_file(self, saved, tmp_path, keep):
        trainer, path, state = saved
        content = file_bytes(path)
        cut = int(len(content) * keep) if isinstance(keep, float) else keep % len(content)
        bad = tmp_path / "cut.ckpt"
        bad.write_bytes(content[:cut])
        assert_refused(trainer, bad, state, path)

    @pytest.mark.parametrize("kind", ["empty", "text", "random"])
    def test_garbage_file(self, saved, tmp_path, kind):
        trainer, path, state = saved
        contents = {
            "empty": b"",
            "text": b"not a checkpoint at all\n",
            "random": np.random.default_rng(78).bytes(4096),
        }
        bad = tmp_path / "garbage.ckpt"
        bad.write_bytes(contents[kind])
        assert_refused(trainer, bad, state, path)

    def test_missing_file(self, saved, tmp_path):
        trainer, path, state = saved
        assert_refused(trainer, tmp_path / "nope.ckpt", state, path)

    @pytest.mark.parametrize(("hidden", "classes"), [(8, 5), (4, 3)])
    def test_checkpoint_of_another_shape_of_model(self, saved, hidden, classes):
        # It cannot be restored exactly, so it must be refused; no parameter takes a shape
        # or dtype other than its own.
        _, path, _ = saved
        other = make_trainer(20, hidden=hidden, classes=classes)
        shapes = [(p.shape, p.dtype) for p in other.model.parameters()]
        with pytest.raises(Exception) as caught:  # no type named, as above
            other.load_checkpoint(path)
        assert not isinstance(caught.value, NotImplementedError), caught.value
        assert [(p.shape, p.dtype) for p in other.model.parameters()] == shapes
        assert [p.data.shape for p in other.model.parameters()] == [s for s, _ in shapes]


# ===========================================================================================
# Crash while saving
# ===========================================================================================

# Saves a checkpoint, prints its sha256 and the weight's bytes, trains on, then saves again
# with no file allowed past half the size of the first: the second save runs out of room
# midway, whatever way it writes. SIGXFSZ then kills the process ("killed"), or, ignored,
# makes the write raise OSError ("error"), which the save must let through.
CRASHING_CHILD = textwrap.dedent(
    """
    import hashlib, resource, signal, sys
    import numpy as np
    from tinytorch.core.layers import Linear
    from tinytorch.core.losses import MSELoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.tensor import Tensor
    from tinytorch.core.training import Trainer

    path, mode = sys.argv[1], sys.argv[2]
    np.random.seed(0)
    layer = Linear(3, 2)
    trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
    data = [(Tensor(np.ones((4, 3))), np.zeros((4, 2)))]
    trainer.train_epoch(data)
    trainer.save_checkpoint(path)
    with open(path, "rb") as f:
        first = f.read()
    print(hashlib.sha256(first).hexdigest(), layer.weight.data.tobytes().hex(), flush=True)
    trainer.train_epoch(data)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL if mode == "killed" else signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(first) // 2, resource.RLIM_INFINITY))
    try:
        trainer.save_checkpoint(path)
    except Exception as error:
        print(type(error).__name__, flush=True)
        sys.exit(3)
    print("saved", flush=True)
    """
)


def run_crashing_save(tmp_path, mode):
    """Run CRASHING_CHILD; (its return code, its output lines, the checkpoint's path)."""
    path = tmp_path / "run.ckpt"
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(path), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert lines, result.stderr  # the first save and its print must have happened
    return result.returncode, lines, path, result.stderr


def assert_first_checkpoint_intact(path, line):
    digest, weight = line.split()
    assert hashlib.sha256(file_bytes(path)).hexdigest() == digest
    np.random.seed(1)
    layer = Linear(3, 2)  # other weights
    trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
    trainer.load_checkpoint(path)
    assert (trainer.epoch, trainer.step) == (1, 1)
    assert layer.weight.data.tobytes().hex() == weight


class TestCrashWhileSaving:
    def test_write_error_midway_keeps_the_previous_checkpoint(self, tmp_path):
        returncode, lines, path, stderr = run_crashing_save(tmp_path, "error")
        assert returncode == 3, stderr  # the failed save raised
        assert len(lines) == 2
        assert lines[1] != "NotImplementedError"
        assert_first_checkpoint_intact(path, lines[0])

    def test_process_killed_midway_keeps_the_previous_checkpoint(self, tmp_path):
        returncode, lines, path, stderr = run_crashing_save(tmp_path, "killed")
        assert returncode == -signal.SIGXFSZ, stderr  # died writing, with no chance to clean up
        assert len(lines) == 1
        assert_first_checkpoint_intact(path, lines[0])
