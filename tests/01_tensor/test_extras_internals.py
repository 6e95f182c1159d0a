"""Module 01 (Tensor), reference extra "internals": what API.md leaves to the implementation.

- ``Tensor._version`` counts in-place changes (in-place operators, item assignment, writes to
  ``.data`` and through the array it hands out); module 05 reads it to refuse stale graphs.
- ``Tensor._from_op(out, op, inputs, **attrs)`` makes every differentiable result, operands
  in mathematical order (the hook module 05 replaces).
- Behaviours of the reference that API.md does not fix, so another course-compatible Tensor
  may differ: tuples, lists of Tensors, lists as operands, ``len`` and iteration, boolean
  masks and Tensors as indices, numpy reading a Tensor (``__array__``) and ndarray operators
  deferring to it (``__array_ufunc__ = None``), ndarrays on either side of ``@``, reshape
  with a list, in-place operators that keep the Tensor (and its memory), ``numpy()`` being
  ``.data`` itself, ``zero_grad`` before autograd, IEEE results without warnings, and
  results that do not require grad before autograd exists (API.md: requires_grad is "stored
  and ignored" before 05; the course's own Tensor passes the flag on).
"""

import warnings

import numpy as np
import pytest
from course_api import Tensor
from reference_extras import record_from_op
from tinytorch_testing import F32, autograd_loaded, check, grid

pytestmark = pytest.mark.extra("internals")


class TestReferenceBehaviour:
    def test_tuple(self):
        check(Tensor((1.5, -2.5)), [1.5, -2.5])

    def test_list_of_tensors_stacks(self):
        check(Tensor([Tensor([1, 2]), Tensor([3, 4])]), [[1.0, 2.0], [3.0, 4.0]])

    def test_len(self):
        assert len(Tensor(np.zeros((2, 3, 4)))) == 2

    def test_numpy_is_data_itself(self):
        t = Tensor([1, 2])
        assert t.numpy() is t.data

    def test_list_on_either_side(self):
        t = Tensor([2.0, -4.0])
        check(t + [1, 2], [3.0, -2.0])  # noqa: RUF005 (elementwise, not concatenation)
        check([1, 2] - t, [-1.0, 6.0])

    def test_ieee_results_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor([1.0, -1.0, 0.0]) / 0, [np.inf, -np.inf, np.nan])
            check(Tensor([3e38]) * 10, [np.inf])
            check(Tensor(0.0) ** -1, np.inf)

    def test_elementwise_ieee_edge_values_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor([0.0, -1.0]).log(), [-np.inf, np.nan])
            check(Tensor([-1.0]).sqrt(), [np.nan])
            check(Tensor([1000.0, -1000.0]).exp(), [np.inf, 0.0])

    def test_mean_of_nothing_is_nan_without_warning(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor(np.zeros((0, 3))).mean(axis=0), [np.nan] * 3)

    def test_ndarray_operator_returns_a_tensor_because_array_ufunc_is_none(self):
        t = Tensor([1.0, 2.0])
        assert type(t).__array_ufunc__ is None  # (the stand-in hides dunders: ask the class)
        assert isinstance(np.ones(2) * t, Tensor)

    def test_numpy_can_read_a_tensor(self):
        np.testing.assert_array_equal(np.asarray(Tensor([1, 2])), np.array([1.0, 2.0]))
        stacked = np.stack([Tensor([1, 2]), Tensor([3, 4])])
        np.testing.assert_array_equal(stacked, np.array([[1.0, 2.0], [3.0, 4.0]]))

    def test_array_on_either_side_of_the_matmul_operator(self):
        a = np.array([[1.0, 2.0], [3.0, 4.0]])
        b = Tensor([[5, 6], [7, 8]])
        check(a @ b, [[19.0, 22.0], [43.0, 50.0]])
        check(b @ a, [[23.0, 34.0], [31.0, 46.0]])

    def test_reshape_with_a_list(self):
        check(Tensor(np.arange(6)).reshape([2, 3]), [[0, 1, 2], [3, 4, 5]])

    def test_boolean_mask_array(self):
        check(grid()[np.array([True, False, True])], [[0, 1, 2, 3], [8, 9, 10, 11]])
        t = grid()
        check(t[t.data > 8], [9.0, 10.0, 11.0])

    def test_tensor_as_index(self):
        check(grid()[Tensor([2, 0])], [[8, 9, 10, 11], [0, 1, 2, 3]])
        check(grid()[Tensor([0, 1]), Tensor([3, 3])], [3.0, 7.0])
        check(grid()[1, Tensor([0, 0])], [4.0, 4.0])

    def test_iteration_gives_rows(self):
        rows = list(Tensor([[1, 2], [3, 4]]))
        assert len(rows) == 2
        check(rows[0], [1.0, 2.0])
        check(rows[1], [3.0, 4.0])

    def test_zero_grad_sets_grad_to_none_at_every_checkpoint(self):
        # API.md has zero_grad from module 05 on; the reference has it from module 01.
        t = Tensor([1.0, 2.0], requires_grad=True)
        t.grad = np.ones(2, dtype=np.float32)
        t.zero_grad()
        assert t.grad is None
        check(t, [1.0, 2.0])


# Operations on inputs that require grad: (name, op(x, y)), x (2, 3) and y (3,) positive.
FLAG_OPS = {
    "x + y": lambda x, y: x + y,
    "x - 1": lambda x, y: x - 1,
    "x * y": lambda x, y: x * y,
    "x / 2": lambda x, y: x / 2,
    "2 * x": lambda x, y: 2 * x,
    "1 - x": lambda x, y: 1 - x,
    "-x": lambda x, y: -x,
    "x ** 2": lambda x, y: x**2,
    "x.matmul(y)": lambda x, y: x.matmul(y),
    "x @ y": lambda x, y: x @ y,
    "x[0]": lambda x, y: x[0],
    "x[[0, 0]]": lambda x, y: x[[0, 0]],
    "x.reshape(-1)": lambda x, y: x.reshape(-1),
    "x.transpose()": lambda x, y: x.transpose(),
    "x.sum()": lambda x, y: x.sum(),
    "x.mean(axis=0)": lambda x, y: x.mean(axis=0),
    "x.max(axis=-1)": lambda x, y: x.max(axis=-1),
    "x.exp()": lambda x, y: x.exp(),
    "x.log()": lambda x, y: x.log(),
    "x.sqrt()": lambda x, y: x.sqrt(),
}


@pytest.mark.parametrize("name", list(FLAG_OPS))
def test_results_require_grad_only_once_autograd_exists(name):
    """Before checkpoint 05 the reference ignores requires_grad entirely: every result is
    plain; from 05 on every result of an input that requires grad is recorded."""
    x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = Tensor([0.5, 1.0, 2.0], requires_grad=True)
    result = FLAG_OPS[name](x, y)
    assert result.requires_grad is autograd_loaded(), name
    assert (Tensor([1.0]) * 2).requires_grad is False
    assert x.grad is None
    assert y.grad is None


class TestInPlaceVersion:
    @pytest.mark.parametrize(
        ("apply", "expected"),
        [
            (lambda t: t.__iadd__(2), [3.0, 4.0]),
            (lambda t: t.__isub__(2), [-1.0, 0.0]),
            (lambda t: t.__imul__(3), [3.0, 6.0]),
            (lambda t: t.__itruediv__(4), [0.25, 0.5]),
        ],
    )
    def test_each_in_place_operator_bumps_the_version(self, apply, expected):
        t = Tensor([1.0, 2.0])
        storage = t.data
        assert t._version == 0
        assert apply(t) is t
        assert t._version == 1
        assert t.data is storage  # the existing array was changed, not replaced
        check(t, expected)

    def test_augmented_assignment_keeps_identity(self):
        t = Tensor([1.0, 2.0])
        alias = t
        t += 1
        t -= Tensor([0.5, 0.5])
        t *= np.array([2.0, 4.0])
        t /= 2
        assert t is alias
        assert t._version == 4
        check(t, [1.5, 5.0])

    def test_in_place_broadcasts_into_the_tensor(self):
        t = Tensor(np.zeros((2, 3)))
        alias = t
        t += Tensor([1.0, 2.0, 3.0])
        assert t is alias
        assert t._version == 1
        check(t, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])

    @pytest.mark.extra("wording")
    def test_in_place_that_would_grow_the_tensor_fails_cleanly(self):
        t = Tensor([1.0, 2.0])
        with pytest.raises(ValueError, match=r"\(2, 2\).*does not fit in \(2,\)"):
            t += np.ones((2, 2))
        assert t._version == 0
        check(t, [1.0, 2.0])

    def test_setitem_bumps_the_version(self):
        t = Tensor([1.0, 2.0, 3.0])
        t[0] = 10
        assert t._version == 1
        t[1:] = Tensor([20.0, 30.0])
        assert t._version == 2
        t[Tensor([0])] = -1.0
        assert t._version == 3
        check(t, [-1.0, 20.0, 30.0])
        assert t.dtype == F32

    def test_setitem_of_an_element_in_place(self):
        t = Tensor([1.0, 2.0])
        t[1] += 5
        check(t, [1.0, 7.0])
        assert t._version == 1

    def test_assigning_data_bumps_the_version_and_converts(self):
        t = Tensor([1.0, 2.0])
        new = np.array([5.0, 6.0, 7.0], dtype=np.float64)
        t.data = new
        assert t._version == 1
        check(t, [5.0, 6.0, 7.0])
        new[0] = 0.0
        assert t.data[0] == 5.0
        t.data = [1, 2]
        assert t._version == 2
        check(t, [1.0, 2.0])

    def test_augmented_assignment_to_data_bumps_the_version(self):
        t = Tensor([1.0, 2.0])
        storage = t.data
        t.data -= 0.5
        assert t._version == 1
        assert t.data is storage  # written in place, not replaced
        check(t, [0.5, 1.5])

    def test_writes_through_the_data_array_bump_the_version(self):
        t = Tensor([[1.0, 2.0], [3.0, 4.0]])
        t.data[0, 0] = 10.0
        assert t._version == 1
        t.data[1][0] = 30.0  # through a view of the view
        assert t._version == 2
        np.multiply(t.data, 2.0, out=t.data)
        assert t._version == 3
        t.data.reshape(4)[3] = -1.0
        assert t._version == 4
        check(t, [[20.0, 4.0], [60.0, -1.0]])

    def test_arrays_computed_from_data_are_plain_and_untracked(self):
        t = Tensor([1.0, 2.0])
        doubled = t.data * 2
        copied = t.data.copy()
        assert type(doubled) is np.ndarray
        doubled[0] = 7.0
        copied[0] = 7.0
        assert t._version == 0
        check(t, [1.0, 2.0])
        assert repr(t.data) == "array([1., 2.], dtype=float32)"

    def test_out_of_place_operations_leave_versions_alone(self):
        t = Tensor([[1.0, 2.0], [3.0, 4.0]])
        u = Tensor([[1.0, 0.0], [0.0, 1.0]])
        for op in (
            lambda: t + u,
            lambda: t - 1,
            lambda: 2 * t,
            lambda: t / u,
            lambda: -t,
            lambda: t**2,
            lambda: t @ u,
            lambda: t[0],
            lambda: t.reshape(4),
            lambda: t.transpose(),
            lambda: t.sum(axis=0),
            lambda: t.mean(),
            lambda: t.max(),
            lambda: t.exp(),
            lambda: t.log(),
            lambda: t.sqrt(),
            lambda: t.numpy(),
            lambda: repr(t),
            lambda: Tensor(t),
        ):
            assert op() is not None
        assert (t._version, u._version) == (0, 0)

    def test_results_start_at_version_zero(self):
        t = Tensor([1.0])
        t += 1
        assert t._version == 1
        assert (t * 2)._version == 0


class TestAutogradHook:
    """Every differentiable operation makes its result through Tensor._from_op."""

    @pytest.fixture
    def calls(self, monkeypatch):
        return record_from_op(monkeypatch)

    def test_binary_operations_pass_operands_in_order(self, calls):
        a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
        for result, op in (
            (a + b, "add"),
            (a - b, "sub"),
            (a * b, "mul"),
            (a / b, "div"),
            (a @ b, "matmul"),
        ):
            recorded_op, inputs, attrs = calls.pop(0)
            assert (recorded_op, attrs) == (op, {})
            assert inputs[0] is a
            assert inputs[1] is b
            assert isinstance(result, Tensor)
        assert calls == []

    @pytest.mark.parametrize(
        ("apply", "op", "left"),
        [
            (lambda t: 2 - t, "sub", 2.0),
            (lambda t: 8 / t, "div", 8.0),
            (lambda t: 3 + t, "add", 3.0),
            (lambda t: 5 * t, "mul", 5.0),
            (lambda t: np.array([1.0, 1.0]) - t, "sub", [1.0, 1.0]),
            (lambda t: np.eye(2) @ t, "matmul", [[1.0, 0.0], [0.0, 1.0]]),
        ],
    )
    def test_reflected_operations_put_the_other_operand_first(self, calls, apply, op, left):
        t = Tensor([1.0, 2.0])
        apply(t)
        [(recorded_op, (first, second), _)] = calls
        assert recorded_op == op
        check(first, left)
        assert second is t

    @pytest.mark.parametrize(
        ("apply", "op", "attrs"),
        [
            (lambda t: -t, "neg", {}),
            (lambda t: t**3, "pow", {"exponent": 3}),
            (lambda t: t.exp(), "exp", {}),
            (lambda t: t.log(), "log", {}),
            (lambda t: t.sqrt(), "sqrt", {}),
            (lambda t: t[0, 1:], "getitem", {"key": (0, slice(1, None))}),
            (lambda t: t.reshape(3, 2), "reshape", {"shape": (3, 2)}),
            (lambda t: t.transpose(), "transpose", {"dim0": -2, "dim1": -1}),
            (lambda t: t.transpose(1, 0), "transpose", {"dim0": 1, "dim1": 0}),
            (lambda t: t.sum(), "sum", {"axis": None, "keepdims": False}),
            (lambda t: t.mean(axis=-1, keepdims=True), "mean", {"axis": -1, "keepdims": True}),
            (lambda t: t.max(axis=(0, 1)), "max", {"axis": (0, 1), "keepdims": False}),
        ],
    )
    def test_unary_operations_record_their_arguments(self, calls, apply, op, attrs):
        t = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        apply(t)
        [(recorded_op, inputs, recorded_attrs)] = calls
        assert recorded_op == op
        assert len(inputs) == 1
        assert inputs[0] is t
        assert recorded_attrs == attrs

    def test_tensor_index_is_recorded_as_an_integer_array(self, calls):
        t = Tensor([1.0, 2.0, 3.0])
        t[Tensor([2, 2])]
        [(_, _, attrs)] = calls
        assert attrs["key"].dtype.kind == "i"
        np.testing.assert_array_equal(attrs["key"], [2, 2])

    def test_in_place_operations_make_no_new_tensor(self, calls):
        t = Tensor([1.0, 2.0])
        t += 1
        t[0] = 5.0
        t.data = [3.0, 4.0]
        assert calls == []
        check(t, [3.0, 4.0])
