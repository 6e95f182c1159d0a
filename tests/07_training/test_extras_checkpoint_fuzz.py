"""Module 07 (Training): the reference's checkpoint loader against crafted files, generated.

Each test corrupts a genuine checkpoint (the reference's format: a zip of header.json and
.npy members) in one way, many times over (hypothesis): truncation at any byte, flipped
bytes, members replaced by other bytes or by arrays of another dtype or shape, central
directory entries flagged encrypted or declaring other sizes, members missing or twice,
JSON nested deep, fields of another JSON type (the header itself no object among them).

Every load must end in one of two ways: ValueError, exactly (never RecursionError,
MemoryError, RuntimeError, zlib.error, a KeyError or a ValueError subclass from a library),
naming the member or field at fault, with the trainer (parameters, optimizer, scheduler,
epoch, step, history) and numpy's random state bit for bit as they were; or, for a flipped
byte that nothing reads (a zip timestamp), a load that restores exactly what was saved.

The reference's format, its exception type and its words are extras (API.md, Two tiers):
test_checkpoints.py holds what any implementation must do with damaged files.
"""

import io
import json
from dataclasses import dataclass

import numpy as np
import pytest
from checkpoint_archives import members_of, npy_bytes, npy_header, rewrite
from checkpoint_cases import make_trainer, trained_and_saved
from checkpoint_state import assert_same, assert_unchanged, rng_keys, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.extra("internals", "wording")

FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True)
HEADER = "header.json"


@dataclass(frozen=True)
class Genuine:
    """A checkpoint as save_checkpoint wrote it, and what it holds."""

    content: bytes
    members: dict
    header: dict
    state: dict
    keys: np.ndarray

    def _repr_pretty_(self, printer, cycle):
        # How hypothesis prints a failing example's arguments. The file's bytes in full (tens
        # of thousands of characters) make hypothesis 6.155 report a failure as
        # FlakyStrategyDefinition instead of the test's own error.
        printer.text("Genuine(...)")


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    # Module scope: hypothesis runs a test's examples within one call of its fixtures. The
    # random keys are read right after saving (a plugin may reseed numpy before the test).
    trainer, path = trained_and_saved(tmp_path_factory.mktemp("genuine"))
    keys = rng_keys()
    members = members_of(path)
    return Genuine(path.read_bytes(), members, json.loads(members[HEADER]), snapshot(trainer), keys)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """The path each example writes its crafted file to."""
    return tmp_path_factory.mktemp("crafted") / "crafted.ckpt"


def load(path, genuine):
    """Load ``path`` into a trainer of other weights: the ValueError it raised, with the
    trainer and the random state checked unchanged, or None when it loaded, with what it
    loaded checked to be exactly what was saved. Any other exception fails the test."""
    trainer = make_trainer(2)
    before, keys = snapshot(trainer), rng_keys()
    try:
        trainer.load_checkpoint(path)
    except ValueError as error:
        raised = error
    else:
        assert_unchanged(trainer, genuine.state, genuine.keys)
        return None
    assert type(raised) is ValueError, f"{type(raised).__name__}: {raised}"
    assert_unchanged(trainer, before, keys)
    return raised


def refused(path, genuine, *names):
    """Loading ``path`` raises ValueError naming each of ``names``; returns its message."""
    error = load(path, genuine)
    assert error is not None, "a corrupt checkpoint loaded"
    for name in names:
        assert name in str(error), f"{name!r} not named in: {error}"
    return str(error)


def arrays_of(genuine):
    return sorted(name for name in genuine.members if name != HEADER)


def with_header(genuine, header_bytes):
    return {**genuine.members, HEADER: header_bytes}


# ===========================================================================================
# The bytes of the file
# ===========================================================================================


@FUZZ
@given(data=st.data())
def test_truncated_at_any_byte(genuine, crafted, data):
    cut = data.draw(st.integers(0, len(genuine.content) - 1), label="cut")
    crafted.write_bytes(genuine.content[:cut])
    refused(crafted, genuine)


@FUZZ
@given(data=st.data())
def test_flipped_bytes(genuine, crafted, data):
    content = bytearray(genuine.content)
    positions = st.integers(0, len(content) - 1)
    for position, mask in data.draw(
        st.lists(st.tuples(positions, st.integers(1, 255)), min_size=1, max_size=4),
        label="flips",
    ):
        content[position] ^= mask
    crafted.write_bytes(bytes(content))
    load(crafted, genuine)  # refused, unchanged; or a flip nothing reads: the saved state


# ===========================================================================================
# Members
# ===========================================================================================


@FUZZ
@given(data=st.data(), content=st.binary(max_size=300))
def test_member_replaced_by_other_bytes(genuine, crafted, data, content):
    name = data.draw(st.sampled_from(sorted(genuine.members)), label="member")
    rewrite(crafted, {**genuine.members, name: content})
    refused(crafted, genuine, name)


OTHER_DTYPES = ["<f2", "<f4", "<f8", ">f4", ">f8", "<i4", "<i8", "<u4", "|u1", "|b1", "<c8"]


@FUZZ
@given(data=st.data(), dtype=st.sampled_from(OTHER_DTYPES))
def test_array_of_another_dtype_or_shape(genuine, crafted, data, dtype):
    name = data.draw(st.sampled_from(arrays_of(genuine)), label="member")
    array = np.load(io.BytesIO(genuine.members[name]), allow_pickle=False)
    shapes = [array.shape, array.shape[::-1], (*array.shape, 1), (), (array.size + 1,)]
    shape = data.draw(st.sampled_from(shapes), label="shape")
    if (shape, np.dtype(dtype)) == (array.shape, array.dtype):
        shape = (*shape, 2)  # some other shape: the test is about arrays that do not fit
    replacement = npy_bytes(np.zeros(shape, dtype))
    rewrite(crafted, {**genuine.members, name: replacement})
    refused(crafted, genuine, name)


@FUZZ
@given(data=st.data(), elements=st.integers(10**6, 10**15))
def test_npy_header_claiming_a_huge_shape(genuine, crafted, data, elements):
    name = data.draw(st.sampled_from(arrays_of(genuine)), label="member")
    array = np.load(io.BytesIO(genuine.members[name]), allow_pickle=False)
    claim = npy_header((elements,), array.dtype) + array.tobytes()
    rewrite(crafted, {**genuine.members, name: claim})
    refused(crafted, genuine, name, str(elements))


@FUZZ
@given(data=st.data(), flag=st.sampled_from([0x1, 0x20, 0x40]))
def test_member_flagged_encrypted_or_patched(genuine, crafted, data, flag):
    name = data.draw(st.sampled_from(sorted(genuine.members)), label="member")

    def flagged(info):
        if info.filename == name:
            info.flag_bits |= flag

    rewrite(crafted, genuine.members, edit=flagged)
    refused(crafted, genuine, name)


@FUZZ
@given(
    data=st.data(),
    field=st.sampled_from(["file_size", "compress_size"]),
    more=st.integers(1, 2**32 - 1),
)
def test_member_declaring_more_bytes_than_it_holds(genuine, crafted, data, field, more):
    name = data.draw(st.sampled_from(sorted(genuine.members)), label="member")

    def inflated(info):
        if info.filename == name:
            setattr(info, field, min(getattr(info, field) + more, 2**32 - 1))

    rewrite(crafted, genuine.members, edit=inflated)
    refused(crafted, genuine, name)


@FUZZ
@given(data=st.data(), other=st.booleans())
def test_member_twice(genuine, crafted, data, other):
    names = sorted(genuine.members)
    name = data.draw(st.sampled_from(names), label="member")
    content = genuine.members[name] + b" " if other else genuine.members[name]
    pairs = list(genuine.members.items())
    pairs.insert(data.draw(st.integers(0, len(pairs)), label="at"), (name, content))
    rewrite(crafted, pairs)
    refused(crafted, genuine, name)


@FUZZ
@given(data=st.data())
def test_member_missing(genuine, crafted, data):
    name = data.draw(st.sampled_from(sorted(genuine.members)), label="member")
    rewrite(crafted, {n: c for n, c in genuine.members.items() if n != name})
    refused(crafted, genuine, name)


# ===========================================================================================
# header.json
# ===========================================================================================


def paths(value, path=()):
    """The path (keys and indices) of every value within a JSON value, itself included."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


def replaced(header, path, value):
    """A deep copy of ``header`` with ``value`` at ``path`` (the root, for ())."""
    if not path:
        return value
    copy = json.loads(json.dumps(header))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return copy


def at(header, path):
    for step in path:
        header = header[step]
    return header


def json_kind(value):
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, (int, float)) else type(value).__name__


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
)


@FUZZ
@given(data=st.data())
def test_field_of_another_json_type(genuine, crafted, data):
    path = data.draw(st.sampled_from(list(paths(genuine.header))), label="path")
    kind = json_kind(at(genuine.header, path))
    value = data.draw(JSON_VALUES.filter(lambda v: json_kind(v) != kind), label="value")
    header = replaced(genuine.header, path, value)
    rewrite(crafted, with_header(genuine, json.dumps(header).encode()))
    keys = [step for step in path if isinstance(step, str)]  # a list's index is not named
    refused(crafted, genuine, *(keys or [HEADER]))


PLACEHOLDER = "@@nested@@"


@FUZZ
@given(data=st.data(), depth=st.integers(1, 300_000), brackets=st.sampled_from(["[]", "{}"]))
def test_nested_json(genuine, crafted, data, depth, brackets):
    path = data.draw(st.sampled_from(list(paths(genuine.header))), label="path")
    opening = brackets[0] if brackets == "[]" else '{"a":'
    nested = opening * depth + ("[]" if brackets == "[]" else "{}") + brackets[1] * depth
    # Spliced into the text: json.dumps itself would recurse as deep as the nesting.
    text = json.dumps(replaced(genuine.header, path, PLACEHOLDER)).replace(
        json.dumps(PLACEHOLDER), nested
    )
    rewrite(crafted, with_header(genuine, text.encode()))
    refused(crafted, genuine, HEADER)


def test_the_generators_keep_the_genuine_file_loadable(genuine, crafted):
    # The control of every test above: the members and header as read back and rewritten,
    # unchanged, load exactly what was saved, so what they refuse is the corruption.
    rewrite(crafted, with_header(genuine, json.dumps(genuine.header).encode()))
    assert load(crafted, genuine) is None
    trainer = make_trainer(3)
    trainer.load_checkpoint(crafted)
    assert_same(snapshot(trainer), genuine.state)
