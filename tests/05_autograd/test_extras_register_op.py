"""Module 05 (autograd), a reference extra: ``register_op``, how a later module adds an op.

API.md promises the ops of modules 01-04; a later module (convolution, pooling, attention)
adds its own differentiable ops by registering each one's backward rule, and what the rule
reads, with ``tinytorch.core.autograd.register_op(name, backward, saves="")`` when it is
imported. Module 05 registers its own ops the same way. Here, with a test op (a cube) whose
forward makes its result through the reference's hook ``Tensor._from_op``:

- a registered op records, and its gradient is the rule's (hand-worked values);
- ``saves`` is honoured: a saved input changed in place is detected, an unsaved one is not;
- an op registered twice (module 05's ``mul`` included) and bad arguments are refused with a
  message saying what was wrong, and leave the tables as they were;
- an op recorded without a rule names the op and ``register_op``.

The coverage of the whole table by the op registry is test_extras_registry.py's.
"""

import numpy as np
import pytest
from course_api import Tensor
from reference_extras import BACKWARD, SAVES, register_op

pytestmark = [pytest.mark.integration, pytest.mark.extra("register_op", "autograd-internals")]

CUBE = "test_cube"  # a name no module registers
INTERNALS = pytest.mark.extra("internals")  # the forward uses the reference's Tensor._from_op
WORDING = pytest.mark.extra("wording")


def cube_backward(g, f):
    return (3.0 * g * f.a**2,)


def cube(x):
    return Tensor._from_op(x.data**3, CUBE, (x,))


@pytest.fixture(autouse=True)
def tables_restored():
    """BACKWARD and SAVES as they were before the test, whatever it registered."""
    tables = [BACKWARD.resolve(), SAVES.resolve()]
    before = [dict(table) for table in tables]
    yield
    for table, saved in zip(tables, before, strict=True):
        table.clear()
        table.update(saved)


@INTERNALS
@pytest.mark.gradient
def test_a_registered_op_records_and_back_propagates_through_its_rule():
    register_op(CUBE, cube_backward, saves="a")
    assert BACKWARD[CUBE] is cube_backward
    assert SAVES.get(CUBE) == "a"
    x = Tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = cube(x)
    assert y.requires_grad is True
    assert y._grad_fn.op == CUBE
    (y * Tensor([1.0, 2.0, 4.0])).sum().backward()
    # d(w * x^3)/dx = 3 w x^2: [3 * 1 * 1, 3 * 2 * 4, 3 * 4 * 0.25]
    np.testing.assert_array_equal(x.grad, [3.0, 24.0, 3.0])


@INTERNALS
@WORDING
@pytest.mark.inplace
def test_an_input_the_rule_saves_must_not_change_in_place():
    register_op(CUBE, cube_backward, saves="a")
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = cube(x)
    x += 1
    with pytest.raises(RuntimeError, match=f"modified in place.*input 0 of {CUBE}"):
        y.sum().backward()


@INTERNALS
@pytest.mark.inplace
def test_an_input_the_rule_does_not_save_may_change_in_place():
    register_op(CUBE, lambda g, f: (2.0 * g,))  # reads nothing: saves=""
    assert CUBE not in SAVES
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = cube(x)
    x += 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


@WORDING
@pytest.mark.parametrize("name", ["mul", "softmax", CUBE])
def test_an_op_is_registered_once(name):
    if name == CUBE:
        register_op(CUBE, cube_backward, saves="a")
    rule, saves = BACKWARD[name], SAVES.get(name)
    with pytest.raises(ValueError, match=f"'{name}' already has a backward rule"):
        register_op(name, lambda g, f: (g,))
    assert BACKWARD[name] is rule
    assert SAVES.get(name) == saves


@WORDING
@pytest.mark.parametrize(
    ("name", "backward", "saves", "error", "message"),
    [
        ("", cube_backward, "", TypeError, "must be a non-empty str"),
        (3, cube_backward, "", TypeError, "must be a non-empty str"),
        (CUBE, "3 * g * a**2", "", TypeError, "backward must be a function"),
        (CUBE, None, "a", TypeError, "backward must be a function"),
        (CUBE, cube_backward, "ax", ValueError, "saves='ax' is not a string of distinct"),
        (CUBE, cube_backward, "aa", ValueError, "saves='aa' is not a string of distinct"),
        (CUBE, cube_backward, None, ValueError, "saves=None is not a string of distinct"),
        (CUBE, cube_backward, ["a"], ValueError, r"saves=\['a'\] is not a string of distinct"),
    ],
    ids=["empty-name", "int-name", "str-rule", "no-rule", "unknown-save", "saved-twice",
         "saves-None", "saves-list"],
)  # fmt: skip
def test_bad_arguments_are_refused_and_register_nothing(name, backward, saves, error, message):
    before = (dict(BACKWARD.resolve()), dict(SAVES.resolve()))
    with pytest.raises(error, match=message):
        register_op(name, backward, saves=saves)
    assert (dict(BACKWARD.resolve()), dict(SAVES.resolve())) == before


@INTERNALS
@WORDING
def test_an_op_without_a_rule_names_register_op():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        NotImplementedError, match=f"no backward rule for operation '{CUBE}'.*register_op"
    ):
        cube(x)
