"""Module 07 (Training): the reference's checkpoints beyond the course API (API.md, Two tiers).

What test_checkpoints.py leaves to the implementation and the reference fixes: the file is a
zip of header.json and .npy arrays; a checkpoint also holds numpy's global random state
(Dropout draws from it), so a resumed run is bit-identical without reseeding; the optimizer's
and scheduler's ``state_dict()`` come back equal; a truncated, corrupt or foreign file, or one
from another model, optimizer or scheduler, raises ValueError with the reference's words and
leaves everything (random state included) unchanged; a missing file raises
FileNotFoundError; saving goes through a temporary file in the same directory, fsync'ed, then
``os.replace``d (tested through the reference's private ``_write_member``). Each test is
marked with the extra features it needs ("internals": the reference's own format and
machinery; "wording": its exception types and words; "float64").
"""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from checkpoint_archives import members_of, rewrite
from checkpoint_cases import (
    OPTIMIZERS,
    Payload,
    data,
    file_bytes,
    make_trainer,
    train,
    trained_and_saved,
)
from checkpoint_state import assert_same, assert_unchanged, rng_keys, snapshot
from course_api import (
    Adam,
    CosineSchedule,
    CrossEntropyLoss,
    Linear,
    MSELoss,
    ReLU,
    Trainer,
)
from models import Chain
from reference_extras import default_dtype


def deep():
    """Linear -> ReLU -> Linear -> ReLU -> Linear: 6 parameters where models.Net has 4."""
    return Chain(Linear(2, 8), ReLU(), Linear(8, 8), ReLU(), Linear(8, 3))


@pytest.fixture
def saved(tmp_path):
    """A trainer after 2 epochs, its checkpoint, a snapshot of it at saving time, and the
    global random generator's keys at saving time.

    The keys are read here, right after saving: a plugin such as pytest-randomly reseeds
    numpy between the fixture and the test body, so a test must not read them itself."""
    trainer, path = trained_and_saved(tmp_path)
    return trainer, path, snapshot(trainer), rng_keys()


# ===========================================================================================
# Round trip, the random state and the file format
# ===========================================================================================


@pytest.mark.extra("internals")
class TestRoundTrip:
    def test_load_restores_everything_and_the_random_state(self, saved):
        original, path, state, keys_at_save = saved
        np.random.random(100)  # move the global generator on
        fresh = make_trainer(2)  # other initial weights, untrained, another random state
        fresh.optimizer.lr = 0.5
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), state)
        np.testing.assert_array_equal(rng_keys(), keys_at_save)
        assert fresh.optimizer.lr == original.optimizer.lr
        assert (fresh.epoch, fresh.step) == (2, 6)
        assert len(fresh.history["train_loss"]) == 2
        assert len(fresh.history["eval_loss"]) == 2

    def test_scheduler_state_dict_is_restored(self, saved):
        _, path, _, _ = saved
        fresh = make_trainer(3)
        fresh.scheduler = CosineSchedule(max_lr=9.0, min_lr=1.0, total_epochs=99)
        fresh.load_checkpoint(path)
        assert fresh.scheduler.state_dict() == {
            "max_lr": 0.05,
            "min_lr": 0.001,
            "total_epochs": 6,
        }

    def test_file_is_a_zip_of_json_and_npy_only(self, saved):
        _, path, state, _ = saved
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert "header.json" in names
            assert all(n == "header.json" or n.endswith(".npy") for n in names)
            header = json.loads(archive.read("header.json"))
            for name in names:
                if name.endswith(".npy"):
                    array = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
                    assert array.dtype != object
        assert header["trainer"]["epoch"] == 2
        assert header["trainer"]["history"] == state["history"]

    def test_save_leaves_no_other_file(self, saved):
        trainer, path, _, _ = saved
        train(trainer, 1)
        trainer.save_checkpoint(path)
        later = snapshot(trainer)
        assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
        fresh = make_trainer(4)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), later)


@pytest.mark.extra("float64", "internals")
def test_float64_model_round_trip(tmp_path):
    with default_dtype(np.float64):
        trainer = make_trainer(5, scheduler=False)
    trainer.train_epoch(data())
    trainer.save_checkpoint(str(tmp_path / "f64"))
    with default_dtype(np.float64):
        fresh = make_trainer(6, scheduler=False)
    fresh.load_checkpoint(str(tmp_path / "f64"))
    assert fresh.model.parameters()[0].dtype == np.float64
    assert_same(snapshot(fresh), snapshot(trainer))


@pytest.mark.extra("internals")
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_resumed_run_is_bit_identical_without_reseeding(tmp_path, kind):
    # Uninterrupted: 5 epochs, saving after the 2nd.
    straight = make_trainer(10, kind)
    train(straight, 2)
    straight.save_checkpoint(tmp_path / "mid.ckpt")
    train(straight, 3)
    # Interrupted: a new process would start from other weights and another random state;
    # the checkpoint brings back the random state too, so dropout draws the same masks.
    resumed = make_trainer(11, kind)
    np.random.seed(12345)
    resumed.load_checkpoint(tmp_path / "mid.ckpt")
    train(resumed, 3)
    assert_same(snapshot(resumed), snapshot(straight))
    assert resumed.epoch == 5
    assert len(resumed.history["learning_rates"]) == 5


# ===========================================================================================
# No code from the file, truncated and corrupt files: ValueError, nothing changed
# ===========================================================================================


@pytest.mark.extra("internals", "wording")
class TestNoCodeFromTheFile:
    def test_pickled_object_array_is_refused_and_not_run(self, saved, tmp_path):
        trainer, path, state, _ = saved
        sentinel = tmp_path / "code-ran"
        members = members_of(path)
        name = next(n for n in members if n.endswith(".npy"))
        evil = io.BytesIO()
        np.save(evil, np.array([Payload(sentinel)], dtype=object), allow_pickle=True)
        members[name] = evil.getvalue()
        bad = tmp_path / "evil.ckpt"
        rewrite(bad, members)
        keys = rng_keys()
        with pytest.raises(ValueError, match="not a valid tinytorch checkpoint"):
            trainer.load_checkpoint(bad)
        assert not sentinel.exists()
        assert_unchanged(trainer, state, keys)

    def test_a_plain_pickle_file_is_refused_and_not_run(self, saved, tmp_path):
        trainer, _, state, _ = saved
        sentinel = tmp_path / "code-ran"
        bad = tmp_path / "pickle.ckpt"
        bad.write_bytes(pickle.dumps({"model": Payload(sentinel)}))
        with pytest.raises(ValueError, match="truncated or corrupt"):
            trainer.load_checkpoint(bad)
        assert not sentinel.exists()
        assert_same(snapshot(trainer), state)

    def test_pickle_in_place_of_the_header_is_refused(self, saved, tmp_path):
        trainer, path, state, _ = saved
        sentinel = tmp_path / "code-ran"
        members = members_of(path)
        members["header.json"] = pickle.dumps(Payload(sentinel))
        bad = tmp_path / "header.ckpt"
        rewrite(bad, members)
        with pytest.raises(ValueError, match="not a valid tinytorch checkpoint"):
            trainer.load_checkpoint(bad)
        assert not sentinel.exists()
        assert_same(snapshot(trainer), state)


@pytest.mark.extra("internals", "wording")
class TestDamagedFiles:
    @pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
    def test_truncated_file(self, saved, tmp_path, keep):
        trainer, path, state, _ = saved
        content = file_bytes(path)
        cut = int(len(content) * keep) if isinstance(keep, float) else keep % len(content)
        bad = tmp_path / "cut.ckpt"
        bad.write_bytes(content[:cut])
        keys = rng_keys()
        with pytest.raises(ValueError, match="truncated or corrupt"):
            trainer.load_checkpoint(bad)
        assert_unchanged(trainer, state, keys)

    def test_flipped_byte_in_an_array(self, saved, tmp_path):
        trainer, path, state, _ = saved
        content = bytearray(file_bytes(path))
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("arrays/model.0.npy")
        # The member's data starts after its 30-byte local header, name and extra field.
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        content[start + info.compress_size - 3] ^= 0x40  # inside the float values
        bad = tmp_path / "flip.ckpt"
        bad.write_bytes(bytes(content))
        with pytest.raises(ValueError, match=r"(?i)crc|corrupt"):
            trainer.load_checkpoint(bad)
        assert_same(snapshot(trainer), state)

    def test_garbage_and_empty_files(self, saved, tmp_path):
        trainer, _, state, _ = saved
        for content in (b"", b"not a checkpoint at all\n", os.urandom(4096)):
            bad = tmp_path / "garbage.ckpt"
            bad.write_bytes(content)
            with pytest.raises(ValueError, match="truncated or corrupt"):
                trainer.load_checkpoint(bad)
        assert_same(snapshot(trainer), state)

    def test_missing_file(self, saved, tmp_path):
        trainer, _, state, _ = saved
        with pytest.raises(FileNotFoundError):
            trainer.load_checkpoint(tmp_path / "nope.ckpt")
        assert_same(snapshot(trainer), state)

    @pytest.mark.parametrize(
        ("edit", "match"),
        [
            (lambda h: h.update(format="something-else"), "not a tinytorch-checkpoint"),
            (lambda h: h.update(version=99), "version 99"),
            (lambda h: h["trainer"].update(epoch=-1), "epoch"),
            (lambda h: h["trainer"]["history"].update(train_loss="x"), "train_loss"),
            (lambda h: h["optimizer"].update(step_count=-2), "step_count"),
            (lambda h: h["optimizer"]["hyperparameters"].update(lr=-1.0), "lr"),
            (lambda h: h["scheduler"].update(min_lr=5.0), "min_lr"),
            (lambda h: h.pop("rng"), "rng"),
            (lambda h: h["arrays"].append("model.99"), "disagree"),
        ],
        ids=[
            "format",
            "version",
            "epoch",
            "history",
            "step-count",
            "lr",
            "scheduler",
            "no-rng",
            "missing-array",
        ],
    )
    def test_bad_header_fields(self, saved, tmp_path, edit, match):
        trainer, path, state, _ = saved
        members = members_of(path)
        header = json.loads(members["header.json"])
        edit(header)
        members["header.json"] = json.dumps(header).encode()
        bad = tmp_path / "edited.ckpt"
        rewrite(bad, members)
        keys = rng_keys()
        with pytest.raises(ValueError, match=match):
            trainer.load_checkpoint(bad)
        assert_unchanged(trainer, state, keys)

    def test_extra_member_is_refused(self, saved, tmp_path):
        trainer, path, state, _ = saved
        members = members_of(path)
        members["run_me.py"] = b"print('hello')"
        bad = tmp_path / "extra.ckpt"
        rewrite(bad, members)
        with pytest.raises(ValueError, match="disagree"):
            trainer.load_checkpoint(bad)
        assert_same(snapshot(trainer), state)


# ===========================================================================================
# Another model, optimizer or scheduler: ValueError naming it, nothing changed
# ===========================================================================================


@pytest.mark.extra("internals", "wording")
class TestMismatch:
    def test_other_shape_names_the_parameter_and_both_shapes(self, saved):
        _, path, _, _ = saved
        other = make_trainer(20, classes=5)  # last layer (8, 5) instead of (8, 3)
        train(other, 1)
        before, keys = snapshot(other), rng_keys()
        with pytest.raises(ValueError, match=r"model parameter 2.*\(8, 3\).*\(8, 5\)"):
            other.load_checkpoint(path)
        # Parameters 0 and 1 have matching shapes: a loader that assigned as it went would
        # have overwritten them before reaching parameter 2.
        assert_unchanged(other, before, keys)

    def test_other_hidden_size(self, saved):
        _, path, _, _ = saved
        other = make_trainer(21, hidden=4)
        before = snapshot(other)
        with pytest.raises(ValueError, match=r"model parameter 0.*\(2, 8\).*\(2, 4\)"):
            other.load_checkpoint(path)
        assert_same(snapshot(other), before)

    def test_other_number_of_parameters(self, saved):
        _, path, _, _ = saved
        np.random.seed(22)
        model = deep()
        other = Trainer(model, Adam(model.parameters()), CrossEntropyLoss())
        before = [p.data.copy() for p in model.parameters()]
        with pytest.raises(ValueError, match=r"4 model parameters.*6"):
            other.load_checkpoint(path)
        for p, b in zip(model.parameters(), before, strict=True):
            np.testing.assert_array_equal(p.data, b)

    @pytest.mark.extra("float64")
    def test_other_dtype(self, saved):
        _, path, _, _ = saved
        with default_dtype(np.float64):
            other = make_trainer(23)
        before = snapshot(other)
        with pytest.raises(ValueError, match=r"model parameter 0.*float32.*float64"):
            other.load_checkpoint(path)
        assert_same(snapshot(other), before)

    def test_other_optimizer_leaves_the_model_unchanged(self, saved):
        _, path, _, _ = saved
        other = make_trainer(24, kind="sgd")  # same model shapes, SGD instead of Adam
        before, keys = snapshot(other), rng_keys()
        with pytest.raises(ValueError, match="Adam"):
            other.load_checkpoint(path)
        assert_unchanged(other, before, keys)

    def test_scheduler_missing_on_one_side(self, saved, tmp_path):
        _, path, _, _ = saved
        other = make_trainer(25, scheduler=False)
        before = snapshot(other)
        with pytest.raises(ValueError, match="scheduler"):
            other.load_checkpoint(path)
        assert_same(snapshot(other), before)
        plain = make_trainer(26, scheduler=False)
        plain.save_checkpoint(tmp_path / "plain.ckpt")
        scheduled = make_trainer(27)
        before = snapshot(scheduled)
        with pytest.raises(ValueError, match="scheduler"):
            scheduled.load_checkpoint(tmp_path / "plain.ckpt")
        assert_same(snapshot(scheduled), before)


# ===========================================================================================
# Crash while saving, through the reference's own writer
# ===========================================================================================


@pytest.mark.extra("internals")
class TestCrashWhileSaving:
    def test_exception_midway_keeps_the_old_file_byte_identical(self, saved, monkeypatch):
        from tinytorch.core import training

        trainer, path, state, _ = saved
        old = file_bytes(path)
        train(trainer, 1)  # the state now differs from the file
        calls = []
        real = training._write_member

        def failing(archive, name, array):
            calls.append(name)
            if len(calls) == 3:
                raise OSError("disk full (simulated)")
            real(archive, name, array)

        monkeypatch.setattr(training, "_write_member", failing)
        with pytest.raises(OSError, match="simulated"):
            trainer.save_checkpoint(path)
        assert len(calls) == 3
        assert file_bytes(path) == old
        assert os.listdir(path.parent) == [path.name]  # the temporary file was removed
        monkeypatch.undo()
        fresh = make_trainer(30)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), state)

    def test_write_goes_to_a_synced_temporary_file_in_the_same_directory(self, saved, monkeypatch):
        trainer, path, _, _ = saved
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            events.append(("fsync", fd))
            real_fsync(fd)

        def replace(source, target):
            events.append(("replace", os.fspath(source), os.fspath(target)))
            real_replace(source, target)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        trainer.save_checkpoint(path)
        kinds = [event[0] for event in events]
        assert "replace" in kinds
        assert "fsync" in kinds[: kinds.index("replace")]  # data synced before the rename
        _, source, target = events[kinds.index("replace")]
        assert os.path.dirname(os.path.abspath(source)) == str(path.parent)
        assert os.path.abspath(target) == str(path)
        assert source != target

    def test_process_killed_midway_keeps_the_old_checkpoint(self, tmp_path):
        # A real crash: the child process dies (os._exit) in the middle of the second save,
        # with no chance to clean up. The first checkpoint must survive, loadable.
        path = tmp_path / "run.ckpt"
        child = textwrap.dedent(
            f"""
            import hashlib, os, sys
            import numpy as np
            from tinytorch.core import training
            from tinytorch.core.layers import Linear
            from tinytorch.core.losses import MSELoss
            from tinytorch.core.optimizers import Adam
            from tinytorch.core.tensor import Tensor

            np.random.seed(0)
            layer = Linear(3, 2)
            trainer = training.Trainer(layer, Adam(layer.parameters()), MSELoss())
            data = [(Tensor(np.ones((4, 3))), np.zeros((4, 2)))]
            trainer.train_epoch(data)
            trainer.save_checkpoint({str(path)!r})
            with open({str(path)!r}, "rb") as f:
                print(hashlib.sha256(f.read()).hexdigest(), flush=True)
            trainer.train_epoch(data)
            real = training._write_member
            def dying(archive, name, array):
                if name.startswith("optimizer"):
                    os._exit(17)
                real(archive, name, array)
            training._write_member = dying
            trainer.save_checkpoint({str(path)!r})
            print("not reached", flush=True)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", child],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 17, result.stderr
        digest = result.stdout.split()
        assert len(digest) == 1
        assert hashlib.sha256(file_bytes(path)).hexdigest() == digest[0]
        np.random.seed(1)
        layer = Linear(3, 2)
        trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
        trainer.load_checkpoint(path)
        assert (trainer.epoch, trainer.step) == (1, 1)
