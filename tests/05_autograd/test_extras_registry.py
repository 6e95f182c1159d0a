"""Module 05 (autograd), the reference's extras over the op registry (support/op_registry.py).

The same (op, sample) pairs as test_op_registry.py (course API, float32), checked with what
only the reference has:

- ``gradcheck`` of the engine returns True (float64), and an independent central-difference
  check written here (float64, eps 1e-6, rtol 1e-5) agrees with ``.grad``, so a bug in
  ``gradcheck`` cannot hide a wrong gradient. Both differentiate ``sum(weight * f(inputs))``;
- in float64 mode ``.grad`` is a float64 ndarray of the input's shape, and a second
  ``backward`` of a retained graph gives exactly twice the first. These float64 checks and
  ``gradcheck`` are one test per pair: one float64 graph serves them all;
- under ``no_grad()`` nothing is recorded;
- the registry covers the engine at this checkpoint: the union of ``covers`` of the entries
  of module 05 and of the checkpoint's later suites (their op_entries.py) is exactly
  ``BACKWARD``'s keys, the rules the installed modules registered (an op registered without
  an entry fails, at its module's checkpoint), and each sample really records what its entry
  claims (walking the reference's ``_grad_fn.op`` / ``_grad_fn.inputs``);
- ``gradcheck`` itself rejects a deliberately wrong rule put in ``BACKWARD``;
- the reference's choices where API.md is silent: max splits the gradient evenly between
  ties, and BCE's gradient is 0 where its clip is active.
"""

import numpy as np
import pytest
from course_api import BinaryCrossEntropyLoss, Linear, Tensor
from op_registry import (
    CASES,
    PAIRS,
    REGISTRY,
    call,
    make_inputs,
    plain_inputs,
    upstream,
)
from reference_extras import BACKWARD, default_dtype, gradcheck, no_grad
from tinytorch_testing import F32, F64

pytestmark = [pytest.mark.gradient]


# --- helpers ---------------------------------------------------------------------------------


def forward64(op, s, arrays):
    """The op's float64 forward value, through plain Tensors that record nothing."""
    with default_dtype(np.float64):
        return call(op, s, [Tensor(a) for a in arrays]).data.astype(np.float64)


def central_differences(op, s, weight, index, eps=1e-6):
    """d sum(weight * f) / d input ``index``, by central differences in float64."""
    arrays = [a.copy() for a in s.arrays]
    grad = np.zeros_like(arrays[index])
    for i in range(grad.size):
        original = arrays[index].flat[i]
        arrays[index].flat[i] = original + eps
        above = np.sum(weight * forward64(op, s, arrays))
        arrays[index].flat[i] = original - eps
        below = np.sum(weight * forward64(op, s, arrays))
        arrays[index].flat[i] = original
        grad.flat[i] = (above - below) / (2 * eps)
    return grad


def recorded_ops(t):
    """The op names of every Function in the graph that made ``t`` (reference internals)."""
    ops, seen, stack = set(), set(), [t]
    while stack:
        node = stack.pop()
        fn = node._grad_fn
        if fn is None or id(node) in seen:
            continue
        seen.add(id(node))
        ops.add(fn.op)
        stack.extend(fn.inputs)
    return ops


# --- the tests the registry drives -----------------------------------------------------------


@pytest.mark.extra("float64", "gradcheck")
@pytest.mark.accumulation
@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_float64_gradients_match_central_differences_gradcheck_and_double_when_retained(op, s):
    with default_dtype(np.float64):
        inputs = make_inputs(s)
        out = call(op, s, inputs)
        g = upstream(op, s, out.shape)
        out.backward(g, retain_graph=True)
        once = [None if t.grad is None else t.grad.copy() for t in inputs]
        out.backward(g)
    assert out.dtype == F64
    for index, (t, first, flag) in enumerate(zip(inputs, once, s.grad_flags(), strict=True)):
        assert t.dtype == F64
        if not flag:
            assert t.grad is None, f"input {index} does not require grad but got {t.grad!r}"
            continue
        assert type(first) is np.ndarray, f"input {index}: .grad is {first!r}, not an ndarray"
        assert first.shape == t.shape, f"input {index}: grad {first.shape} vs {t.shape}"
        assert first.dtype == F64, f"input {index}: grad dtype {first.dtype}"
        assert np.all(np.isfinite(first)), f"input {index}: {first}"
        np.testing.assert_allclose(
            first,
            central_differences(op, s, g, index),
            rtol=1e-5,
            atol=1e-7,
            err_msg=f"input {index} of {op.name}",
        )
        np.testing.assert_array_equal(t.grad, 2 * first, err_msg=f"input {index}, retained")
    with default_dtype(np.float64):
        fresh = make_inputs(s)
        w = Tensor(g)
    assert gradcheck(lambda *xs: op.fn(*xs, **s.kwargs) * w, fresh) is True


@pytest.mark.extra("no_grad")
@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_no_grad_records_nothing(op, s):
    inputs = make_inputs(s)
    expected = call(op, s, plain_inputs(s)).data.copy()
    with no_grad():
        out = call(op, s, inputs)
    assert out.requires_grad is False
    assert out._grad_fn is None
    np.testing.assert_array_equal(out.data, expected)
    # Outside the block the same call records again.
    recorded = call(op, s, inputs)
    assert recorded.requires_grad is True
    assert recorded._grad_fn is not None


@pytest.mark.extra("autograd-internals", "internals")
@pytest.mark.parametrize(("op", "s"), PAIRS)
def test_sample_records_the_ops_its_entry_covers(op, s):
    out = call(op, s, make_inputs(s))
    ops = recorded_ops(out)
    assert op.covers <= ops, f"{op.name} claims {sorted(op.covers)}, recorded {sorted(ops)}"
    assert ops <= set(BACKWARD.resolve())


@pytest.mark.extra("autograd-internals", "internals")
def test_registry_covers_every_backward_rule():
    covered = set().union(*(op.covers for op in REGISTRY))
    missing = set(BACKWARD.resolve()) - covered
    unknown = covered - set(BACKWARD.resolve())
    assert not missing, (
        f"ops with a backward rule but no registry entry: {sorted(missing)}; list each in "
        "ENTRIES of its module's tests/NN_slug/op_entries.py (module 05's own ops: "
        "tests/support/op_registry.py)"
    )
    assert not unknown, f"registry entries claim ops the engine does not have: {sorted(unknown)}"
    # And the registry itself is usable: unique names and ids, small samples, each with
    # something to differentiate.
    names = [op.name for op in REGISTRY]
    assert len(names) == len(set(names)), "duplicate entry names"
    ids = [f"{op.name}-{s.label}" for op, s in CASES]
    assert len(ids) == len(set(ids)), "duplicate test ids"
    for op, s in CASES:
        assert all(a.size <= 24 for a in s.arrays), f"{op.name}-{s.label}: sample too large"
        assert any(s.grad_flags()), f"{op.name}-{s.label}: nothing to differentiate"
    # Every rule of the table is reached: the first sample of each entry records its ops
    # (so the keys compared above are the engine's live ones, not a table nobody reads).
    reached = set()
    for op in REGISTRY:
        s = next(sample for entry, sample in CASES if entry is op)
        reached |= recorded_ops(call(op, s, make_inputs(s)))
    rules = set(BACKWARD.resolve())
    assert reached == rules, f"never recorded: {sorted(rules - reached)}"


# --- float64 forms of the course file's hand-worked cases ------------------------------------


@pytest.mark.extra("float64")
def test_float64_bce_gradient_is_zero_where_the_clip_is_active():
    # As test_op_registry's float32 test, in float64, and the loss value: -log(1e-7) where the
    # clip is active.
    with default_dtype(np.float64):
        p = Tensor([0.0, 0.3, 1.0, 0.6], requires_grad=True)
        loss = BinaryCrossEntropyLoss()(p, Tensor([1.0, 1.0, 0.0, 0.0]))
        loss.backward()
    expected = [0.0, -1.0 / (0.3 * 4), 0.0, 1.0 / (0.4 * 4)]
    assert p.grad.dtype == F64
    assert p.grad[0] == 0.0
    assert p.grad[2] == 0.0
    np.testing.assert_allclose(p.grad, expected, rtol=1e-12)
    value = (-np.log(1e-7) - np.log(0.3) - np.log(1e-7) - np.log(0.4)) / 4
    np.testing.assert_allclose(loss.data, value, rtol=1e-8)


@pytest.mark.extra("float64")
@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch", [(4,), (2, 3), ()], ids=["(4,3)", "(2,3,3)", "(3,)"])
def test_linear_parameters_get_exactly_the_grads_of_its_formula(batch, dtype):
    # The reference's fused "linear" op gives bit for bit the gradients of x @ w + b, in
    # either dtype of default_dtype, and both equal the hand formulas.
    rng = np.random.default_rng(5)
    with default_dtype(dtype):
        layer = Linear(3, 2)
        x_values = rng.uniform(-2, 2, (*batch, 3))
        g = rng.choice([-1.5, -0.5, 0.5, 1.0, 2.0], size=(*batch, 2))
        x = Tensor(x_values, requires_grad=True)
        layer(x).backward(g)
        w_copy = Tensor(layer.weight.data.copy(), requires_grad=True)
        b_copy = Tensor(layer.bias.data.copy(), requires_grad=True)
        x_copy = Tensor(x_values, requires_grad=True)
        (x_copy @ w_copy + b_copy).backward(g)
    for param in layer.parameters():
        assert type(param.grad) is np.ndarray
        assert param.grad.shape == param.shape
        assert param.grad.dtype == dtype
    np.testing.assert_array_equal(layer.weight.grad, w_copy.grad)
    np.testing.assert_array_equal(layer.bias.grad, b_copy.grad)
    np.testing.assert_array_equal(x.grad, x_copy.grad)
    xs = x.data.astype(np.float64).reshape(-1, 3)
    gs = g.reshape(-1, 2)
    weight = layer.weight.data.astype(np.float64)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == F32 else {"rtol": 1e-12, "atol": 0}
    np.testing.assert_allclose(layer.weight.grad, xs.T @ gs, **tol)
    np.testing.assert_allclose(layer.bias.grad, gs.sum(axis=0), **tol)
    np.testing.assert_allclose(x.grad, g @ weight.T, **tol)


# --- gradcheck itself --------------------------------------------------------------------------


@pytest.mark.extra("gradcheck", "autograd-internals", "wording")
@pytest.mark.parametrize(
    ("op_name", "wrong_rule", "fn", "values"),
    [
        ("exp", lambda g, f: (g * f.out * 1.01,), lambda a: a.exp(), [0.5, -1.0, 2.0]),
        ("mul", lambda g, f: (g * f.a, g * f.b), lambda a: a * Tensor([2.0, 3.0]), [1.0, 4.0]),
        ("sum", lambda g, f: (np.zeros(f.shapes[0]),), lambda a: a.sum(axis=0), [[1.0, 2.0]]),
    ],
    ids=["exp-1%-off", "mul-wrong-operand", "sum-zero"],
)
def test_gradcheck_rejects_a_wrong_backward_rule(monkeypatch, op_name, wrong_rule, fn, values):
    # gradcheck is itself under test: with a wrong rule in the table it must raise (naming the
    # input), not return True.
    x = Tensor(values, requires_grad=True)
    assert gradcheck(fn, [x]) is True
    monkeypatch.setitem(BACKWARD.resolve(), op_name, wrong_rule)
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(fn, [Tensor(values, requires_grad=True)])


# --- reference choices that API.md does not fix (feature "internals") ------------------------
# Ties of max (the reference splits the gradient evenly, like torch.amax) and the gradient at
# clipped BCE probabilities (0 in the reference) are its own behaviour, not course API.


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"axis": 1}, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]),
        ({"axis": -1, "keepdims": True}, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]),
        ({"axis": 0}, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
        ({}, [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]),
    ],
    ids=["axis1", "axis-1-keepdims", "axis0", "all"],
)
@pytest.mark.extra("internals")
def test_max_splits_the_gradient_evenly_between_ties(kwargs, expected):
    # Hand-worked on [[1, 3, 3], [2, 0, 2]]: the gradient of a maximum goes to every element
    # equal to it, in equal parts (the subgradient torch.amax uses), so the parts of one
    # maximum add up to its own gradient.
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    out = x.max(**kwargs)
    out.backward(np.ones(out.shape))
    assert x.grad is not None, f"x.max({kwargs}) gave x no gradient"
    np.testing.assert_array_equal(x.grad, np.asarray(expected, dtype=np.float32))


@pytest.mark.extra("internals")
def test_max_of_all_equal_elements_shares_the_gradient():
    x = Tensor(np.full((2, 2), 1.5), requires_grad=True)
    x.max().backward(2.0)
    assert x.grad is not None, "x.max() gave x no gradient"
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 0.5, dtype=np.float32))


@pytest.mark.extra("internals")
def test_bce_gradient_is_zero_where_the_clip_is_active():
    # p = 0 and p = 1 are clipped to 1e-7 and 1 - 1e-7: the loss there does not depend on p,
    # so its gradient is 0. Elsewhere (hand-worked, mean over N = 4):
    # d/dp -t log p / N = -t / (p N), d/dp -(1 - t) log(1 - p) / N = (1 - t) / ((1 - p) N).
    p = Tensor([0.0, 0.3, 1.0, 0.6], requires_grad=True)
    loss = BinaryCrossEntropyLoss()(p, Tensor([1.0, 1.0, 0.0, 0.0]))
    loss.backward()
    assert p.grad is not None, "BCE gave the probabilities no gradient"
    expected = [0.0, -1.0 / (0.3 * 4), 0.0, 1.0 / (0.4 * 4)]
    assert p.grad.dtype == F32
    assert p.grad[0] == 0.0
    assert p.grad[2] == 0.0
    np.testing.assert_allclose(p.grad, expected, rtol=1e-6)
