"""Module 07 (Training): the reference's checkpoint loader against the crafted files of issue
14 (item 7), one test each, and the limits that bound what loading costs.

The tester's files ran no pickle and changed no model, but: a 1 MiB file holding a deflated
1 GiB .npy peaked at 2 GiB of memory before its error; a 1 GiB header.json was accepted;
nested JSON, an encrypted member and an .npy claiming shape (10**12,) escaped as
RecursionError, RuntimeError and MemoryError; errors about null fields ended in "'NoneType'
object is not subscriptable". Here each is a ValueError naming the member or field and saying
what to do, with the trainer unchanged, and the bombs are refused unread: a child process
loading each keeps its peak memory (resource.getrusage) far below what the bomb holds.

Also here: header.json's cap (HEADER_LIMIT) on both sides (a header that size loads, a byte
more is refused, and save_checkpoint refuses to write one), an array of the right size but
another shape or dtype, and the zip variants the loader accepts (a deflated archive, a
Fortran-ordered array) and refuses (other compression methods).
"""

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from checkpoint_archives import Repeated, members_of, npy_bytes, npy_header, rewrite
from checkpoint_cases import file_bytes, make_trainer, train, trained_and_saved
from checkpoint_state import assert_same, assert_unchanged, rng_keys, snapshot
from course_api import SGD, Adam, Linear, MSELoss, Tensor, Trainer

pytestmark = pytest.mark.extra("internals", "wording")

HEADER = "header.json"
GIB = 1 << 30
MIB = 1 << 20
# What a bomb's child process may reach: the interpreter, numpy and tinytorch take about
# 35 MiB; each bomb holds 1 GiB once inflated, and loading it before the fix peaked at 2 GiB.
PEAK_LIMIT = 200 * MIB


@pytest.fixture
def saved(tmp_path):
    """A trainer after 2 epochs, its checkpoint's members, a snapshot of it, its random keys."""
    trainer, path = trained_and_saved(tmp_path)
    return trainer, members_of(path), snapshot(trainer), rng_keys()


def refused(trainer, path, *words):
    """Loading ``path`` into ``trainer`` raises ValueError, exactly, naming each of ``words``,
    and changes nothing; returns the message."""
    state, keys = snapshot(trainer), rng_keys()
    with pytest.raises(ValueError) as raised:
        trainer.load_checkpoint(path)
    assert raised.type is ValueError
    message = str(raised.value)
    for word in words:
        assert word in message
    assert_unchanged(trainer, state, keys)
    return message


def with_header(members, header):
    return {**members, HEADER: json.dumps(header).encode()}


# ===========================================================================================
# The tester's files
# ===========================================================================================


def gigabyte_npy():
    """An .npy of 2**28 float32 zeros (1 GiB), deflated to about 1 MiB."""
    return Repeated(npy_header((GIB // 4,), "<f4"), 0, GIB // MIB)


def gigabyte_header(members):
    """The genuine header.json followed by 1 GiB of spaces (valid JSON), deflated."""
    return Repeated(members[HEADER], ord(" "), GIB // MIB)


class TestTheTestersFiles:
    def test_deflated_gigabyte_array_is_refused_unread(self, saved, tmp_path):
        trainer, members, _, _ = saved
        bomb = gigabyte_npy()
        path = tmp_path / "bomb.ckpt"
        rewrite(path, {**members, "arrays/model.0.npy": bomb})
        assert path.stat().st_size < 2 * MIB
        declared = str(len(bomb.head) + GIB)
        message = refused(trainer, path, "'arrays/model.0.npy'", declared, "model parameter 0")
        assert "load an intact copy" in message

    def test_gigabyte_header_is_refused_unread(self, saved, tmp_path):
        from tinytorch.core.training import HEADER_LIMIT

        trainer, members, _, _ = saved
        path = tmp_path / "bomb.ckpt"
        rewrite(path, {**members, HEADER: gigabyte_header(members)})
        assert path.stat().st_size < 2 * MIB
        refused(trainer, path, HEADER, str(GIB + len(members[HEADER])), str(HEADER_LIMIT))

    @pytest.mark.parametrize("depth", [100_000, None])
    def test_nested_json_header(self, saved, tmp_path, depth):
        # trainer.history.train_loss nested ``depth`` lists deep: 100,000 overflow json's
        # parser (RecursionError before the fix); None: as deep as makes the header one level
        # deeper than HEADER_DEPTH_LIMIT (the list sits 3 deep), which parses and is refused
        # before any check walks it.
        from tinytorch.core.training import HEADER_DEPTH_LIMIT

        depth = depth or HEADER_DEPTH_LIMIT + 1 - 3
        trainer, members, _, _ = saved
        header = json.loads(members[HEADER])
        text = json.dumps(header).replace('"train_loss": [', '"train_loss": ' + "[" * depth, 1)
        text = text.replace('], "eval_loss"', "]" * depth + ', "eval_loss"', 1)
        path = tmp_path / "nested.ckpt"
        rewrite(path, {**members, HEADER: text.encode()})
        refused(trainer, path, HEADER, "nests")

    @pytest.mark.parametrize("name", [HEADER, "arrays/model.1.npy"])
    def test_encrypted_member(self, saved, tmp_path, name):
        # zipfile raised RuntimeError ("password required") for it before the fix.
        trainer, members, _, _ = saved

        def encrypted(info):
            if info.filename == name:
                info.flag_bits |= 0x1

        path = tmp_path / "encrypted.ckpt"
        rewrite(path, members, edit=encrypted)
        refused(trainer, path, repr(name), "encrypted")

    def test_npy_claiming_a_trillion_elements(self, saved, tmp_path):
        # numpy allocated the claimed 3.6 TiB before reading (MemoryError) before the fix.
        trainer, members, _, _ = saved
        path = tmp_path / "claim.ckpt"
        rewrite(path, {**members, "arrays/model.2.npy": npy_header((10**12,), "<f4") + b"\0" * 96})
        refused(trainer, path, "'arrays/model.2.npy'", "(1000000000000,)", "(8, 3)", "model")

    @pytest.mark.parametrize(
        "field",
        [
            ("model",),
            ("model", "parameters"),
            ("trainer",),
            ("trainer", "history"),
            ("trainer", "history", "eval_loss"),
            ("optimizer",),
            ("optimizer", "state"),
            ("optimizer", "hyperparameters"),
            ("rng",),
            ("rng", "kind"),
            ("arrays",),
        ],
        ids=".".join,
    )
    def test_null_field_is_named(self, saved, tmp_path, field):
        trainer, members, _, _ = saved
        header = json.loads(members[HEADER])
        parent = header
        for key in field[:-1]:
            parent = parent[key]
        parent[field[-1]] = None
        path = tmp_path / "null.ckpt"
        rewrite(path, with_header(members, header))
        message = refused(trainer, path, f"field '{'.'.join(field)}'")
        assert "NoneType" not in message

    @pytest.mark.parametrize("header", [[1, 2], "tinytorch", 7, None], ids=repr)
    def test_header_that_is_no_object(self, saved, tmp_path, header):
        trainer, members, _, _ = saved
        path = tmp_path / "not-an-object.ckpt"
        rewrite(path, with_header(members, header))
        refused(trainer, path, HEADER, "JSON object")


# The child: a trainer of Linear(3, 2) with Adam loads the file it is given and prints, after
# MARK, the exception's type and its own peak resident memory in bytes. On Linux that is
# VmHWM: getrusage's ru_maxrss is not the child's own there, since exec folds the spawning
# process's high-water mark into it (measured: 525 MiB for a child that touched 9 MiB, spawned
# by a process that had touched 525 MiB), and a pytest process may have touched anything.
MARK = "@@bomb-child@@"
BOMB_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from tinytorch.core.layers import Linear
    from tinytorch.core.losses import MSELoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.training import Trainer

    def peak_bytes():
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:  # no /proc (macOS): ru_maxrss, in bytes there
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    path, mark = sys.argv[1], sys.argv[2]
    np.random.seed(0)
    layer = Linear(3, 2)
    trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
    try:
        trainer.load_checkpoint(path)
        outcome = "loaded"
    except Exception as error:
        outcome = type(error).__name__
    print(mark, outcome, peak_bytes(), flush=True)
    """
)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """The members of a checkpoint of the child's trainer, after one epoch."""
    np.random.seed(0)
    layer = Linear(3, 2)
    trainer = Trainer(layer, Adam(layer.parameters()), MSELoss())
    trainer.train_epoch([(Tensor(np.ones((4, 3))), Tensor(np.zeros((4, 2))))])
    path = tmp_path_factory.mktemp("small") / "small.ckpt"
    trainer.save_checkpoint(path)
    return members_of(path)


@pytest.mark.parametrize("bomb", ["array", "header"])
def test_loading_a_bomb_stays_far_below_its_size_in_memory(small_checkpoint, tmp_path, bomb):
    # Memory, not time: the child's own peak resident size, from the kernel. Before the fix
    # both reached 2 GiB (the array's bytes, then numpy's copy; the header's bytes, then text).
    members = dict(small_checkpoint)
    if bomb == "array":
        members["arrays/model.0.npy"] = gigabyte_npy()
    else:
        members[HEADER] = gigabyte_header(members)
    path = tmp_path / "bomb.ckpt"
    rewrite(path, members)
    result = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, str(path), MARK],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    lines = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith(MARK)]
    assert result.returncode == 0, result.stderr
    assert len(lines) == 1, result.stdout
    outcome, peak = lines[0]
    assert outcome == "ValueError"
    assert int(peak) < PEAK_LIMIT, f"peak {int(peak) / MIB:.0f} MiB"


# ===========================================================================================
# header.json's cap, on both sides
# ===========================================================================================


def padded_header(members, size):
    """The genuine header.json padded with spaces (still the same JSON) to ``size`` bytes."""
    header = members[HEADER]
    return header + b" " * (size - len(header))


class TestHeaderLimit:
    def test_a_header_of_the_limit_loads(self, saved, tmp_path):
        from tinytorch.core.training import HEADER_LIMIT

        _, members, state, keys = saved
        path = tmp_path / "limit.ckpt"
        rewrite(path, {**members, HEADER: padded_header(members, HEADER_LIMIT)})
        fresh = make_trainer(3)
        fresh.load_checkpoint(path)
        assert_unchanged(fresh, state, keys)

    def test_a_byte_more_is_refused(self, saved, tmp_path):
        from tinytorch.core.training import HEADER_LIMIT

        trainer, members, _, _ = saved
        path = tmp_path / "over.ckpt"
        rewrite(path, {**members, HEADER: padded_header(members, HEADER_LIMIT + 1)})
        refused(trainer, path, HEADER, str(HEADER_LIMIT + 1), str(HEADER_LIMIT))

    def test_save_refuses_a_header_past_the_limit_and_keeps_the_old_file(self, tmp_path):
        from tinytorch.core.training import HEADER_LIMIT

        trainer, path = trained_and_saved(tmp_path)
        before = file_bytes(path)
        # A long run's history: 20 bytes and more per value in JSON.
        trainer.history["train_loss"].extend([0.123456789] * (HEADER_LIMIT // 10))
        with pytest.raises(ValueError, match=r"history.*shorten") as raised:
            trainer.save_checkpoint(path)
        assert raised.type is ValueError
        assert file_bytes(path) == before
        assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
        del trainer.history["train_loss"][2:]
        trainer.save_checkpoint(path)  # saving works again once the history is shortened
        fresh = make_trainer(4)
        fresh.load_checkpoint(path)
        assert_same(snapshot(fresh), snapshot(trainer))


# ===========================================================================================
# The right size, another shape or dtype
# ===========================================================================================


def bias_free_trainer(shape, seed):
    """A Trainer of one bias-free Linear layer (one parameter), with plain SGD (no state)."""
    np.random.seed(seed)
    layer = Linear(*shape, bias=False)
    return Trainer(layer, SGD(layer.parameters(), lr=0.1), MSELoss())


class TestSameSizeOtherLayout:
    def test_transposed_parameter(self, tmp_path):
        # (3, 2) and (2, 3) hold the same bytes: only the shape in the .npy header differs.
        path = tmp_path / "wide.ckpt"
        bias_free_trainer((3, 2), seed=1).save_checkpoint(path)
        tall = bias_free_trainer((2, 3), seed=2)
        refused(tall, path, "model parameter 0", "(3, 2)", "(2, 3)")

    @pytest.mark.parametrize("dtype", ["<i4", "<u4", ">f4"])
    def test_same_itemsize_other_dtype(self, saved, tmp_path, dtype):
        trainer, members, _, _ = saved
        weights = np.load(io.BytesIO(members["arrays/model.0.npy"]))
        path = tmp_path / "dtype.ckpt"
        rewrite(path, {**members, "arrays/model.0.npy": npy_bytes(weights.astype(dtype))})
        refused(trainer, path, "model parameter 0", str(np.dtype(dtype)), "float32")


# ===========================================================================================
# Zip variants
# ===========================================================================================


class TestZipVariants:
    def test_a_deflated_archive_loads(self, saved, tmp_path):
        # As a zip tool would write it back.
        _, members, state, keys = saved
        path = tmp_path / "deflated.ckpt"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        fresh = make_trainer(5)
        fresh.load_checkpoint(path)
        assert_unchanged(fresh, state, keys)

    def test_a_fortran_ordered_array_loads(self, saved, tmp_path):
        _, members, state, keys = saved
        weights = np.load(io.BytesIO(members["arrays/model.0.npy"]))
        path = tmp_path / "fortran.ckpt"
        rewrite(path, {**members, "arrays/model.0.npy": npy_bytes(np.asfortranarray(weights))})
        fresh = make_trainer(6)
        fresh.load_checkpoint(path)
        assert fresh.model.parameters()[0].data.flags.c_contiguous
        assert_unchanged(fresh, state, keys)

    @pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
    def test_other_compression_is_refused(self, saved, tmp_path, method):
        trainer, members, _, _ = saved
        path = tmp_path / "compressed.ckpt"
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        refused(trainer, path, HEADER, f"method {method}")


def test_members_rewritten_unchanged_load(saved, tmp_path):
    # The control of the tests above: the members as read back and written by rewrite(),
    # unchanged, load exactly what was saved, and the trainer trains on.
    _, members, state, keys = saved
    path = tmp_path / "same.ckpt"
    rewrite(path, members)
    fresh = make_trainer(7)
    fresh.load_checkpoint(path)
    assert_unchanged(fresh, state, keys)
    train(fresh, 1)
    assert fresh.epoch == 3
