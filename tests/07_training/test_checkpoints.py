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
from hypothesis import given, settings
from hypothesis import strategies as st


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


# What a snapshot holds besides the parameters. test_load_restores_everything and
# TestExactResume judge all of it; the other tests judge the model and the trainer's own
# records (MODEL_AND_RECORDS), so that an optimizer state not restored fails the tests of that
# rule and not those of str paths, aliasing or replacing a file.
EVERYTHING = ("lr", "step_count", "epoch", "step", "history", "schedule")
MODEL_AND_RECORDS = ("epoch", "step", "history", "schedule")


def assert_same(a, b, when="after load_checkpoint", keys=EVERYTHING, params=True):
    """Snapshot `a` (the trainer that loaded) equals `b` (what was saved) in `keys` and, if
    `params`, its parameters; each failure names what the checkpoint did not restore."""
    for key in keys:
        assert a[key] == b[key], (
            f"{when}: {key} is {a[key]!r}, saved {b[key]!r}: a checkpoint must restore the "
            "model, the optimizer's state, the scheduler and the history exactly"
        )
    if not params:
        return
    assert len(a["params"]) == len(b["params"]), f"{when}: another number of parameters"
    for i, (x, y) in enumerate(zip(a["params"], b["params"], strict=True)):
        assert x.dtype == y.dtype, f"{when}: parameter {i} is {x.dtype}, saved {y.dtype}"
        np.testing.assert_array_equal(  # bit for bit
            x, y, err_msg=f"{when}: parameter {i} differs"
        )


def assert_go_on_alike(a, b, keys=EVERYTHING, params=True):
    """One more epoch of both trainers, with the same random draws, ends in the same state:
    equal parameters alone do not show that the optimizer's state (momentum buffers, Adam's
    moments and step) came back, the next steps do."""
    for trainer in (a, b):
        np.random.seed(2024)
        train(trainer, 1)
    assert_same(
        snapshot(a),
        snapshot(b),
        keys=keys,
        params=params,
        when="one epoch after loading, compared with the trainer that saved (the optimizer's "
        "state, e.g. momentum buffers or Adam's moments and step, was not restored exactly)",
    )


def assert_raises_something(call, what):
    """call() raises an exception other than the stub's NotImplementedError (API.md names no
    type); returns it. `what` says what must be refused, for the failure message."""
    try:
        call()
    except Exception as error:  # API.md fixes no type
        raised = error
    else:
        pytest.fail(f"DID NOT RAISE: {what} must raise an error")
    assert not isinstance(raised, NotImplementedError), raised
    return raised


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
        # The next epoch's lr comes from the schedule (the optimizer's state is judged by
        # test_load_restores_everything).
        assert_go_on_alike(original, fresh, keys=("lr", "epoch", "step", "schedule"), params=False)
        assert fresh.history["learning_rates"] == original.history["learning_rates"]

    def test_save_replaces_an_older_checkpoint(self, saved):
        trainer, path, _ = saved
        train(trainer, 1)
        trainer.save_checkpoint(path)
        later = snapshot(trainer)
        fresh = make_trainer(4)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), later, keys=MODEL_AND_RECORDS)
        assert fresh.epoch == 3

    def test_training_on_after_saving_changes_neither_the_file_nor_what_it_loads(self, saved):
        trainer, path, state = saved
        before = file_bytes(path)
        train(trainer, 1)
        assert file_bytes(path) == before
        fresh = make_trainer(5)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), state, keys=MODEL_AND_RECORDS)

    def test_str_path(self, tmp_path):
        # SGD with momentum: its buffers are state the next epoch needs (the optimizer's
        # step_count and Adam's state are test_load_restores_everything's).
        trainer = make_trainer(5, "sgd", scheduler=False)
        trainer.train_epoch(data())
        trainer.save_checkpoint(str(tmp_path / "plain"))
        fresh = make_trainer(6, "sgd", scheduler=False)
        fresh.load_checkpoint(str(tmp_path / "plain"))
        assert fresh.model.parameters()[0].dtype == np.float32
        assert_same(snapshot(fresh), snapshot(trainer), keys=MODEL_AND_RECORDS)
        assert_go_on_alike(trainer, fresh, keys=MODEL_AND_RECORDS)

    def test_loaded_parameters_own_their_memory(self, saved):
        # API.md, Aliasing: the loaded parameters share memory with no other parameter, of
        # this model, of the trainer that saved, or of another trainer loading the same file.
        original, path, state = saved
        one, two = make_trainer(7), make_trainer(8)
        one.load_checkpoint(path)
        two.load_checkpoint(path)
        assert_same(snapshot(one), state, keys=MODEL_AND_RECORDS)
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
        assert_same(
            snapshot(resumed),
            snapshot(straight),
            when="3 epochs after resuming from the checkpoint, compared with the run that "
            "went on without interruption",
        )
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
    assert_raises_something(
        lambda: trainer.load_checkpoint(bad), f"loading a damaged file ({bad.name})"
    )
    assert_same(snapshot(trainer), state, when="after a refused load")
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
        assert not sentinel.exists(), (
            f"loading a {kind} file ran code from it (API.md: loading never executes code "
            "from the file, no pickle)"
        )


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


# Generated damage (hypothesis) of whatever file the implementation wrote. The checkpoint is
# saved once per module (hypothesis runs a test's examples within one call of its fixtures);
# each example loads into a new trainer, which must refuse the file and stay as it was.
DAMAGE = settings(max_examples=40, deadline=None, database=None, derandomize=True)


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    """The path of a checkpoint of a trainer after 2 epochs (the path, not the bytes: a long
    argument makes hypothesis misreport its failures)."""
    _, path = trained_and_saved(tmp_path_factory.mktemp("damaged"))
    return path


def assert_refused_by_a_new_trainer(bad):
    trainer = make_trainer(2)
    state = snapshot(trainer)
    assert_raises_something(
        lambda: trainer.load_checkpoint(bad), f"loading a damaged file ({bad.name})"
    )
    assert_same(snapshot(trainer), state, when="after a refused load")


class TestDamagedAnywhere:
    @DAMAGE
    @given(data=st.data())
    def test_truncated_at_any_byte(self, checkpoint_file, data):
        content = file_bytes(checkpoint_file)
        cut = data.draw(st.integers(0, len(content) - 1), label="cut")
        bad = checkpoint_file.with_name("cut.ckpt")
        bad.write_bytes(content[:cut])
        assert_refused_by_a_new_trainer(bad)

    @DAMAGE
    @given(content=st.binary(max_size=10_000))
    def test_random_bytes(self, checkpoint_file, content):
        bad = checkpoint_file.with_name("random.ckpt")
        bad.write_bytes(content)
        assert_refused_by_a_new_trainer(bad)

    @DAMAGE
    @given(data=st.data())
    def test_bytes_overwritten_by_zeros_from_any_point(self, checkpoint_file, data):
        content = file_bytes(checkpoint_file)
        last = len(content.rstrip(b"\0")) - 1  # zeroing from past it would change nothing
        start = data.draw(st.integers(0, last), label="start")
        bad = checkpoint_file.with_name("zeroed.ckpt")
        bad.write_bytes(content[:start] + bytes(len(content) - start))
        assert_refused_by_a_new_trainer(bad)

    def test_a_large_file_of_zeros(self, checkpoint_file):
        # 256 MiB that take no disk (a sparse file); what loading it costs is the
        # implementation's affair (API.md promises no memory bound), refusing it is not.
        bad = checkpoint_file.with_name("zeros.ckpt")
        with open(bad, "wb") as file:
            file.truncate(256 << 20)
        assert_refused_by_a_new_trainer(bad)


# ===========================================================================================
# Crash while saving
# ===========================================================================================

# Each line the child prints for the test starts with MARK: an implementation may print other
# things on import (the course prints a banner), which the test ignores.
MARK = "@@crashing-child@@"

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

    path, mode, mark = sys.argv[1], sys.argv[2], sys.argv[3]
    np.random.seed(0)
    layer = Linear(3, 2)
    trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
    data = [(Tensor(np.ones((4, 3))), Tensor(np.zeros((4, 2))))]
    trainer.train_epoch(data)
    trainer.save_checkpoint(path)
    with open(path, "rb") as f:
        first = f.read()
    print(mark, hashlib.sha256(first).hexdigest(), layer.weight.data.tobytes().hex(), flush=True)
    trainer.train_epoch(data)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL if mode == "killed" else signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(first) // 2, resource.RLIM_INFINITY))
    try:
        trainer.save_checkpoint(path)
    except Exception as error:
        print(mark, type(error).__name__, flush=True)
        sys.exit(3)
    print(mark, "saved", flush=True)
    """
)


def run_crashing_save(tmp_path, mode):
    """Run CRASHING_CHILD; (its return code, its marked output lines without the mark, the
    checkpoint's path, its stderr)."""
    path = tmp_path / "run.ckpt"
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(path), mode, MARK],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    lines = [
        line.removeprefix(MARK).strip()
        for line in result.stdout.splitlines()
        if line.startswith(MARK)
    ]
    assert lines, result.stderr  # the first save and its print must have happened
    return result.returncode, lines, path, result.stderr


def assert_first_checkpoint_intact(path, line):
    digest, weight = line.split()
    assert hashlib.sha256(file_bytes(path)).hexdigest() == digest, (
        "the crash while saving changed the previous checkpoint (API.md: a crash while saving "
        "never destroys the previous checkpoint)"
    )
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
        assert len(lines) == 2, lines
        assert lines[1] != "NotImplementedError"
        assert_first_checkpoint_intact(path, lines[0])

    def test_process_killed_midway_keeps_the_previous_checkpoint(self, tmp_path):
        returncode, lines, path, stderr = run_crashing_save(tmp_path, "killed")
        assert returncode == -signal.SIGXFSZ, stderr  # died writing, with no chance to clean up
        assert len(lines) == 1, lines
        assert_first_checkpoint_intact(path, lines[0])
