"""Module 01 (Tensor), course API: the aliasing rule of API.md for every Tensor operation.

"A result that the rules above call new (an op's output, a gradient in .grad, ...) never
shares memory with an input or with another tensor's .grad, unless a rule says it is a
view." No rule of module 01 makes a view, so every operation's result (reshape, transpose and
indexing included, and results equal to an input, such as ``t + 0`` or ``t.reshape(t.shape)``)
owns its memory. ``numpy()`` and ``.data`` are not new results (numpy() returns the ndarray).

Each operation runs on inputs with and without requires_grad: from checkpoint 05 on, the
second kind goes through autograd, and the gradients that backward() leaves in the inputs'
``.grad`` must not share memory with each other, with any input or with the result either.
"""

import numpy as np
import pytest
from course_api import Tensor
from tinytorch_testing import autograd_loaded, check

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # positive, for log, sqrt and ** 0.5
Y = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -3.0]])
ROW = np.array([10.0, 20.0, 30.0])
SQUARE = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
ARRAY = np.array([[2.0, 4.0, 8.0], [1.0, 3.0, 5.0]])  # an ndarray operand

# name -> op(o), where o holds the operands: Tensors x, y, row, square, v (1-D), s (0-d),
# one_row ((1, 3)) and the ndarray a. Results equal to an input are here on purpose: they are
# where an implementation is most tempted to hand back the input's memory.
OPS = {
    "x + y": lambda o: o["x"] + o["y"],
    "x - y": lambda o: o["x"] - o["y"],
    "x * y": lambda o: o["x"] * o["y"],
    "x / y": lambda o: o["x"] / o["y"],
    "x + row (broadcast)": lambda o: o["x"] + o["row"],
    "row * x (broadcast)": lambda o: o["row"] * o["x"],
    "x + 0": lambda o: o["x"] + 0,
    "x - 0": lambda o: o["x"] - 0,
    "x * 1": lambda o: o["x"] * 1,
    "x / 1": lambda o: o["x"] / 1,
    "x + a": lambda o: o["x"] + o["a"],
    "x * a": lambda o: o["x"] * o["a"],
    "0 + x": lambda o: 0 + o["x"],
    "1 * x": lambda o: 1 * o["x"],
    "2 - x": lambda o: 2 - o["x"],
    "8 / x": lambda o: 8 / o["x"],
    "np.float32(1) * x": lambda o: np.float32(1) * o["x"],
    "a + x": lambda o: o["a"] + o["x"],
    "a - x": lambda o: o["a"] - o["x"],
    "a * x": lambda o: o["a"] * o["x"],
    "a / x": lambda o: o["a"] / o["x"],
    "-x": lambda o: -o["x"],
    "x ** 1": lambda o: o["x"] ** 1,
    "x ** 2": lambda o: o["x"] ** 2,
    "x ** 0.5": lambda o: o["x"] ** 0.5,
    "x @ square (identity)": lambda o: o["x"] @ o["square"],
    "x.matmul(square)": lambda o: o["x"].matmul(o["square"]),
    "x.matmul(v)": lambda o: o["x"].matmul(o["v"]),
    "v.matmul(v)": lambda o: o["v"].matmul(o["v"]),
    "x[0]": lambda o: o["x"][0],
    "x[:]": lambda o: o["x"][:],
    "x[...]": lambda o: o["x"][...],
    "x[None]": lambda o: o["x"][None],
    "x[:, 1:]": lambda o: o["x"][:, 1:],
    "x[::-1]": lambda o: o["x"][::-1],
    "x[1, 2]": lambda o: o["x"][1, 2],
    "x[int array]": lambda o: o["x"][np.array([1, 0])],
    "x[[0, 0]]": lambda o: o["x"][[0, 0]],
    "x.reshape(x.shape)": lambda o: o["x"].reshape(o["x"].shape),
    "x.reshape(-1)": lambda o: o["x"].reshape(-1),
    "x.reshape(3, 2)": lambda o: o["x"].reshape(3, 2),
    "v.reshape(3)": lambda o: o["v"].reshape(3),
    "x.transpose()": lambda o: o["x"].transpose(),
    "x.transpose(0, 1)": lambda o: o["x"].transpose(0, 1),
    "x.transpose(1, 1)": lambda o: o["x"].transpose(1, 1),
    "v.transpose()": lambda o: o["v"].transpose(),
    "s.transpose()": lambda o: o["s"].transpose(),
    "x.sum()": lambda o: o["x"].sum(),
    "x.sum(axis=0)": lambda o: o["x"].sum(axis=0),
    "one_row.sum(axis=0, keepdims=True)": lambda o: o["one_row"].sum(axis=0, keepdims=True),
    "x.mean()": lambda o: o["x"].mean(),
    "x.mean(axis=1, keepdims=True)": lambda o: o["x"].mean(axis=1, keepdims=True),
    "one_row.mean(axis=0, keepdims=True)": lambda o: o["one_row"].mean(axis=0, keepdims=True),
    "x.max()": lambda o: o["x"].max(),
    "x.max(axis=-1)": lambda o: o["x"].max(axis=-1),
    "one_row.max(axis=0, keepdims=True)": lambda o: o["one_row"].max(axis=0, keepdims=True),
    "s.sum()": lambda o: o["s"].sum(),
    "x.exp()": lambda o: o["x"].exp(),
    "x.log()": lambda o: o["x"].log(),
    "x.sqrt()": lambda o: o["x"].sqrt(),
    "Tensor(x)": lambda o: Tensor(o["x"]),
    "Tensor(a)": lambda o: Tensor(o["a"]),
}


def operands(requires_grad):
    """Fresh operands for one operation; the Tensors require grad when asked."""
    tensors = {
        "x": X,
        "y": Y,
        "row": ROW,
        "square": SQUARE,
        "v": np.array([1.0, -2.0, 0.5]),
        "s": np.array(2.0),
        "one_row": np.array([[7.0, -1.0, 0.5]]),
    }
    made = {name: Tensor(values, requires_grad=requires_grad) for name, values in tensors.items()}
    made["a"] = ARRAY.copy()
    return made


def memory_of(o):
    """name -> every array the operands hold: each Tensor's data and .grad, each ndarray."""
    arrays = {}
    for name, value in o.items():
        if isinstance(value, np.ndarray):
            arrays[name] = value
            continue
        arrays[f"{name}.data"] = value.data
        if value.grad is not None:
            arrays[f"{name}.grad"] = value.grad
    return arrays


def assert_owns_its_memory(result, o, what):
    assert isinstance(result, Tensor), f"{what} gave {type(result).__name__}, not a Tensor"
    for name, value in o.items():
        assert result is not value, f"{what} returned its input {name} itself"
    for name, array in memory_of(o).items():
        assert not np.shares_memory(result.data, array), f"{what} shares memory with {name}"


def apply(name, o):
    """The result of operation ``name``; an operation the Tensor lacks fails with its name."""
    try:
        return OPS[name](o)
    except Exception as exc:  # any failure of a valid operation is its own
        pytest.fail(f"{name} is not supported (API.md 01 lists it): {type(exc).__name__}: {exc}")


def snapshot(o):
    return {name: np.array(array, copy=True) for name, array in memory_of(o).items()}


def assert_unchanged(o, before, what):
    for name, array in memory_of(o).items():
        if name in before:
            np.testing.assert_array_equal(array, before[name], err_msg=f"{what} changed {name}")


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@pytest.mark.parametrize("name", list(OPS))
def test_result_owns_its_memory(name, requires_grad):
    o = operands(requires_grad)
    before = snapshot(o)
    result = apply(name, o)
    assert_owns_its_memory(result, o, name)
    # And in behaviour: writing into the result changes no input.
    result.data[...] = -77.0
    assert_unchanged(o, before, f"writing into the result of {name}")
    check(result, np.full(result.shape, -77.0))


@pytest.mark.parametrize("name", list(OPS))
def test_gradients_own_their_memory(name):
    """From checkpoint 05 on: backward through the operation leaves .grad arrays that share
    memory with no input, no result and no other .grad; then a second result, made while the
    inputs hold gradients, shares memory with none of those either. Before autograd, the
    inputs' .grad stays None (requires_grad is stored and ignored: the result's own flag is
    not fixed before 05, see test_extras_internals.py)."""
    o = operands(requires_grad=True)
    result = apply(name, o)
    leaves = {key: value for key, value in o.items() if isinstance(value, Tensor)}
    if not autograd_loaded():
        assert all(leaf.grad is None for leaf in leaves.values()), (
            f"before autograd (checkpoint < 05), {name} left a .grad in an input"
        )
        assert_owns_its_memory(result, o, name)
        return
    if name.startswith("Tensor("):
        # Tensor(x) is a new leaf (requires_grad defaults to False): nothing to backward.
        assert result.requires_grad is False, f"{name} did not make a new leaf"
        assert_owns_its_memory(result, o, name)
        return
    assert result.requires_grad, (
        f"the result of {name} was not recorded (its inputs require grad, it does not)"
    )
    weights = Tensor(np.linspace(-1.0, 1.0, result.size).reshape(result.shape))
    (result * weights).sum().backward()
    graded = {key: leaf.grad for key, leaf in leaves.items() if leaf.grad is not None}
    assert graded, f"backward through {name} gave no input a gradient"
    others = {"result.data": result.data, "weights.data": weights.data}
    others.update({f"{key}.data": leaf.data for key, leaf in leaves.items()})
    others["a"] = o["a"]
    for key, grad in graded.items():
        assert isinstance(grad, np.ndarray)
        for other, array in others.items():
            assert not np.shares_memory(grad, array), f"{key}.grad shares memory with {other}"
        for other, other_grad in graded.items():
            if other != key:
                assert not np.shares_memory(grad, other_grad), (
                    f"{key}.grad and {other}.grad share memory"
                )
    again = apply(name, o)
    assert_owns_its_memory(again, o, f"{name}, with gradients present")
