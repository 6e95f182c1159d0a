"""Module 01 (Tensor): the contract of API.md section "01 Tensor", checked at every checkpoint.

These tests run again at every later checkpoint, where module 05 has turned autograd on
(importing tinytorch does that). The few behaviours autograd changes on purpose (backward,
the requires_grad of results) are asserted for whichever state is in force; see
``autograd_loaded``. Expected values are worked out by hand or in plain float64 numpy.
"""

import math
import operator
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinytorch_testing import F32, F64, autograd_loaded, check, record_from_op

from tinytorch.core.tensor import Tensor, default_dtype, get_default_dtype


def grid():
    """[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]] as a Tensor."""
    return Tensor(np.arange(12).reshape(3, 4))


class TestCreationAndDtype:
    def test_python_int_scalar_becomes_0d_float32(self):
        t = Tensor(3)
        check(t, 3.0)
        assert t.shape == ()
        assert t.size == 1

    def test_python_float_scalar(self):
        check(Tensor(2.5), 2.5)

    def test_flat_list(self):
        check(Tensor([1, 2, 3]), [1.0, 2.0, 3.0])

    def test_nested_list(self):
        t = Tensor([[1, 2, 3], [4, 5, 6]])
        check(t, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert t.size == 6

    def test_tuple(self):
        check(Tensor((1.5, -2.5)), [1.5, -2.5])

    def test_empty_list(self):
        check(Tensor([]), np.zeros(0))

    def test_int64_array_becomes_float32(self):
        check(Tensor(np.array([[1, -2], [3, 4]], dtype=np.int64)), [[1.0, -2.0], [3.0, 4.0]])

    def test_uint8_array_becomes_float32(self):
        check(Tensor(np.array([0, 255], dtype=np.uint8)), [0.0, 255.0])

    def test_bools_become_zero_and_one(self):
        check(Tensor([True, False, True]), [1.0, 0.0, 1.0])

    def test_float64_array_becomes_float32(self):
        t = Tensor(np.array([0.1, 1e-3], dtype=np.float64))
        assert t.dtype == F32
        assert t.data[0] == np.float32(0.1)
        assert t.data[1] == np.float32(1e-3)

    def test_numpy_scalar(self):
        check(Tensor(np.float64(4.0)), 4.0)

    def test_shape_is_a_tuple_and_size_an_int(self):
        t = Tensor(np.zeros((2, 3, 4)))
        assert type(t.shape) is tuple
        assert t.shape == (2, 3, 4)
        assert type(t.size) is int
        assert t.size == 24
        assert len(t) == 2

    def test_len_of_0d_raises(self):
        with pytest.raises(TypeError, match="0-d"):
            len(Tensor(1.0))

    def test_copies_an_ndarray(self):
        source = np.array([1.0, 2.0], dtype=np.float32)
        t = Tensor(source)
        source[0] = 99.0
        check(t, [1.0, 2.0])
        assert not np.shares_memory(t.data, source)

    def test_copies_a_tensor(self):
        original = Tensor([1.0, 2.0])
        clone = Tensor(original)
        original.data[0] = 99.0
        assert clone is not original
        check(clone, [1.0, 2.0])
        assert not np.shares_memory(clone.data, original.data)

    def test_list_of_tensors_stacks(self):
        check(Tensor([Tensor([1, 2]), Tensor([3, 4])]), [[1.0, 2.0], [3.0, 4.0]])

    def test_numpy_returns_the_stored_array(self):
        t = Tensor([1, 2])
        assert isinstance(t.numpy(), np.ndarray)
        assert t.numpy() is t.data
        np.testing.assert_array_equal(t.numpy(), np.array([1.0, 2.0]))

    def test_default_dtype_is_float32(self):
        assert get_default_dtype() == F32

    def test_float64_mode_applies_to_new_tensors_and_results(self):
        with default_dtype(np.float64) as chosen:
            assert chosen == F64
            assert get_default_dtype() == F64
            t = Tensor([1, 2])
            results = [
                t + 1,
                2 - t,
                t * t,
                t / 3,
                -t,
                t**2,
                t @ t,
                t[0],
                t.reshape(2, 1),
                t.transpose(),
                t.sum(),
                t.mean(),
                t.max(),
                t.exp(),
                t.log(),
                t.sqrt(),
            ]
        assert t.dtype == F64
        assert [r.dtype for r in results] == [F64] * len(results)
        check(results[3], [1 / 3, 2 / 3], dtype=F64, rtol=1e-15)

    def test_float64_mode_converts_float32_operands(self):
        t32 = Tensor([1.0, 3.0])
        with default_dtype(np.float64):
            check(t32 / 3, [1 / 3, 1.0], dtype=F64, rtol=1e-7)

    def test_float64_tensor_keeps_its_dtype_after_the_block(self):
        with default_dtype(np.float64):
            t64 = Tensor([1.0 / 3.0])
        assert t64.dtype == F64
        assert t64.data[0] == 1.0 / 3.0
        assert (t64 * 1).dtype == F32
        assert Tensor(t64).dtype == F32

    @pytest.mark.parametrize("spelling", ["float64", np.dtype("float64"), float])
    def test_float64_mode_accepts_other_spellings(self, spelling):
        with default_dtype(spelling):
            assert Tensor(1).dtype == F64

    def test_float64_mode_restored_after_exception(self):
        def fail_inside_the_block():
            with default_dtype(np.float64):
                assert Tensor(1).dtype == F64
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_inside_the_block()
        assert get_default_dtype() == F32
        assert Tensor(1).dtype == F32

    def test_float64_mode_nests(self):
        with default_dtype(np.float64):
            with default_dtype(np.float32):
                assert Tensor(1).dtype == F32
            assert Tensor(1).dtype == F64
            with default_dtype(np.float64):
                assert Tensor(1).dtype == F64
            assert get_default_dtype() == F64
        assert get_default_dtype() == F32

    @pytest.mark.parametrize("bad", [np.float16, np.int32, "int64", None, "no-such-dtype"])
    def test_default_dtype_rejects_other_dtypes(self, bad):
        with pytest.raises(ValueError, match="float32 and float64"):
            default_dtype(bad)
        assert get_default_dtype() == F32


class TestBadInput:
    def test_ragged_list(self):
        with pytest.raises(ValueError, match=r"rectangular.*ragged"):
            Tensor([[1, 2], [3]])

    def test_string(self):
        with pytest.raises(TypeError, match=r"must be a number.*got 'abc'"):
            Tensor("abc")

    def test_none(self):
        with pytest.raises(TypeError, match=r"must be a number.*got None"):
            Tensor(None)

    def test_list_of_strings(self):
        with pytest.raises(TypeError, match=r"must be a number.*got list"):
            Tensor(["1", "2"])

    def test_list_holding_none(self):
        with pytest.raises(TypeError, match=r"must be a number.*dtype object"):
            Tensor([1.0, None])

    def test_object_array(self):
        with pytest.raises(TypeError, match=r"got ndarray.*dtype object"):
            Tensor(np.array([{"a": 1}], dtype=object))

    def test_complex_array(self):
        with pytest.raises(TypeError, match="complex128"):
            Tensor(np.array([1 + 2j]))

    def test_dict(self):
        with pytest.raises(TypeError, match="got dict"):
            Tensor({"a": 1})


class TestArithmetic:
    a = ((1.0, 2.0), (3.0, 4.0))
    b = ((5.0, -6.0), (0.5, 8.0))

    def test_add(self):
        check(Tensor(self.a) + Tensor(self.b), [[6.0, -4.0], [3.5, 12.0]])

    def test_sub(self):
        check(Tensor(self.a) - Tensor(self.b), [[-4.0, 8.0], [2.5, -4.0]])

    def test_mul(self):
        check(Tensor(self.a) * Tensor(self.b), [[5.0, -12.0], [1.5, 32.0]])

    def test_div(self):
        check(Tensor(self.a) / Tensor(self.b), [[0.2, -1 / 3], [6.0, 0.5]])

    def test_scalar_on_the_right(self):
        t = Tensor([2.0, -4.0])
        check(t + 1.5, [3.5, -2.5])
        check(t - 2, [0.0, -6.0])
        check(t * 3, [6.0, -12.0])
        check(t / 4, [0.5, -1.0])

    def test_scalar_on_the_left(self):
        t = Tensor([2.0, -4.0])
        check(1.5 + t, [3.5, -2.5])
        check(1 - t, [-1.0, 5.0])
        check(3 * t, [6.0, -12.0])
        check(8 / t, [4.0, -2.0])

    def test_numpy_scalar_on_the_left(self):
        t = Tensor([2.0, -4.0])
        check(np.float64(1) - t, [-1.0, 5.0])
        check(np.float32(8) / t, [4.0, -2.0])
        check(np.int64(3) * t, [6.0, -12.0])

    def test_array_on_the_right(self):
        t = Tensor([2.0, -4.0])
        check(t + np.array([1.0, 1.0]), [3.0, -3.0])
        check(t - np.array([1, 2]), [1.0, -6.0])
        check(t * np.array([0.5, 0.25]), [1.0, -1.0])
        check(t / np.array([2.0, -8.0]), [1.0, 0.5])

    def test_array_on_the_left(self):
        t = Tensor([2.0, -4.0])
        check(np.array([1.0, 1.0]) + t, [3.0, -3.0])
        check(np.array([1, 2]) - t, [-1.0, 6.0])
        check(np.array([0.5, 0.25]) * t, [1.0, -1.0])
        check(np.array([2.0, -8.0]) / t, [1.0, 2.0])

    def test_list_on_either_side(self):
        t = Tensor([2.0, -4.0])
        check(t + [1, 2], [3.0, -2.0])  # noqa: RUF005 (elementwise, not concatenation)
        check([1, 2] - t, [-1.0, 6.0])

    def test_python_float_does_not_upcast(self):
        assert (Tensor([1.0]) * 0.1).dtype == F32
        assert (Tensor([1.0]) + np.float64(0.1)).dtype == F32
        assert (Tensor([1.0]) + np.array([0.1], dtype=np.float64)).dtype == F32

    def test_neg(self):
        check(-Tensor([1.0, -2.0, 0.0]), [-1.0, 2.0, 0.0])

    @pytest.mark.parametrize(
        ("exponent", "expected"),
        [
            (2, [4.0, 0.25, 9.0]),
            (0.5, [2**0.5, 0.5**0.5, 3**0.5]),
            (-1, [0.5, 2.0, 1 / 3]),
            (0, [1.0, 1.0, 1.0]),
            (3.0, [8.0, 0.125, 27.0]),
        ],
    )
    def test_pow(self, exponent, expected):
        check(Tensor([2.0, 0.5, 3.0]) ** exponent, expected)

    def test_pow_with_a_tensor_exponent_raises(self):
        with pytest.raises(TypeError, match=r"exponent must be a Python number; got Tensor"):
            Tensor([2.0]) ** Tensor([2.0])

    def test_results_are_new_tensors(self):
        t = Tensor([1.0, 2.0])
        result = t + 0
        assert result is not t
        assert not np.shares_memory(result.data, t.data)
        result.data[0] = 50.0
        check(t, [1.0, 2.0])

    def test_ieee_results_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor([1.0, -1.0, 0.0]) / 0, [np.inf, -np.inf, np.nan])
            check(Tensor([3e38]) * 10, [np.inf])
            check(Tensor(0.0) ** -1, np.inf)

    def test_ndarray_operator_returns_a_tensor_because_array_ufunc_is_none(self):
        assert Tensor.__array_ufunc__ is None
        assert isinstance(np.ones(2) * Tensor([1.0, 2.0]), Tensor)

    def test_numpy_ufuncs_refuse_tensors(self):
        t = Tensor([1.0, 2.0])
        with pytest.raises(TypeError, match="does not support ufuncs"):
            np.add(np.ones(2), t)

    def test_numpy_can_read_a_tensor(self):
        np.testing.assert_array_equal(np.asarray(Tensor([1, 2])), np.array([1.0, 2.0]))
        stacked = np.stack([Tensor([1, 2]), Tensor([3, 4])])
        np.testing.assert_array_equal(stacked, np.array([[1.0, 2.0], [3.0, 4.0]]))


SIGNED = st.one_of(st.floats(-100, -0.5, width=32), st.floats(0.5, 100, width=32))
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


class TestBroadcasting:
    def test_0d_tensor_with_matrix(self):
        check(Tensor([[1.0, 2.0], [3.0, 4.0]]) * Tensor(10), [[10.0, 20.0], [30.0, 40.0]])

    def test_shape_1_with_vector(self):
        check(Tensor([1.0, 2.0, 3.0]) - Tensor([1.0]), [0.0, 1.0, 2.0])

    def test_column_plus_row(self):
        column = Tensor([[0.0], [10.0], [20.0]])
        row = Tensor([[1.0, 2.0, 3.0, 4.0]])
        expected = [[1, 2, 3, 4], [11, 12, 13, 14], [21, 22, 23, 24]]
        check(column + row, expected)
        check(row + column, expected)

    def test_row_vector_against_matrix(self):
        check(Tensor([[1.0, 2.0], [3.0, 4.0]]) / Tensor([1.0, 2.0]), [[1.0, 1.0], [3.0, 2.0]])

    def test_failure_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(2,\) cannot be broadcast"):
            Tensor(np.ones((2, 3))) + Tensor([1.0, 2.0])

    def test_failure_with_an_array_on_the_left(self):
        with pytest.raises(ValueError, match=r"\(4,\) and \(3,\) cannot be broadcast"):
            np.ones(4) * Tensor([1.0, 2.0, 3.0])

    @settings(max_examples=50, deadline=None, database=None)
    @given(
        data=st.data(),
        op=st.sampled_from(sorted(OPS)),
        form=st.sampled_from(
            ["tensors", "array_left", "array_right", "scalar_left", "scalar_right"]
        ),
    )
    def test_matches_float64_numpy(self, data, op, form):
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
        a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=SIGNED))
        b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=SIGNED))
        if form == "scalar_left":
            a = data.draw(SIGNED)
        if form == "scalar_right":
            b = data.draw(SIGNED)
        left = a if form in ("array_left", "scalar_left") else Tensor(a)
        right = b if form in ("array_right", "scalar_right") else Tensor(b)
        result = OPS[op](left, right)
        expected = OPS[op](np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        # The operands are exact float32 values, so one float32 rounding is the only error.
        check(result, expected, rtol=2**-23, atol=1e-37)


class TestMatmul:
    def test_2d_by_hand(self):
        a, b = Tensor([[1, 2], [3, 4]]), Tensor([[5, 6], [7, 8]])
        check(a @ b, [[19.0, 22.0], [43.0, 50.0]])
        check(a.matmul(b), [[19.0, 22.0], [43.0, 50.0]])

    def test_rectangular(self):
        a = Tensor([[1, 0, 2], [0, 1, -1]])  # (2, 3)
        b = Tensor([[1], [2], [3]])  # (3, 1)
        check(a @ b, [[7.0], [-1.0]])

    def test_batched(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
        w = np.arange(20, dtype=np.float64).reshape(4, 5) / 3 - 2
        expected = np.einsum("bij,jk->bik", x, w)
        check(Tensor(x) @ Tensor(w), expected, rtol=1e-5, atol=1e-5)

    def test_batch_dimensions_broadcast(self):
        x = np.arange(12, dtype=np.float64).reshape(1, 3, 4)
        w = np.arange(40, dtype=np.float64).reshape(2, 4, 5) - 20
        expected = np.stack([x[0] @ w[0], x[0] @ w[1]])
        check(Tensor(x) @ Tensor(w), expected, rtol=1e-6)

    def test_vector_dot_vector_is_0d(self):
        result = Tensor([1, 2, 3]) @ Tensor([4, 5, 6])
        check(result, 32.0)
        assert result.shape == ()

    def test_vector_times_matrix(self):
        check(Tensor([1, 2]) @ Tensor([[1, 2, 3], [4, 5, 6]]), [9.0, 12.0, 15.0])

    def test_matrix_times_vector(self):
        check(Tensor([[1, 2, 3], [4, 5, 6]]) @ Tensor([1, 0, -1]), [-2.0, -2.0])

    def test_vector_times_batch(self):
        w = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
        v = np.array([1.0, -1.0, 2.0])
        expected = [[v @ w[0][:, 0], v @ w[0][:, 1]], [v @ w[1][:, 0], v @ w[1][:, 1]]]
        check(Tensor(v) @ Tensor(w), expected)

    @pytest.mark.parametrize(
        ("other", "name"), [(np.ones((2, 2)), "ndarray"), ([[1.0]], "list"), (2.0, "float")]
    )
    def test_matmul_method_rejects_non_tensors(self, other, name):
        with pytest.raises(TypeError, match=f"must be a Tensor; got {name}"):
            Tensor(np.ones((2, 2))).matmul(other)

    def test_inner_dimension_mismatch_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
            Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))

    def test_inner_mismatch_with_a_vector(self):
        with pytest.raises(ValueError, match=r"\(2, 3\) @ \(2,\)"):
            Tensor(np.ones((2, 3))).matmul(Tensor([1.0, 2.0]))

    def test_0d_operand(self):
        with pytest.raises(ValueError, match=r"\(\) @ \(2, 2\)"):
            Tensor(2.0) @ Tensor(np.ones((2, 2)))

    def test_batch_mismatch_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"\(2, 3, 4\) @ \(3, 4, 5\)"):
            Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5)))

    def test_array_on_either_side_of_the_operator(self):
        a = np.array([[1.0, 2.0], [3.0, 4.0]])
        b = Tensor([[5, 6], [7, 8]])
        check(a @ b, [[19.0, 22.0], [43.0, 50.0]])
        check(b @ a, [[23.0, 34.0], [31.0, 46.0]])


class TestShapeOps:
    def test_reshape_varargs_is_row_major(self):
        check(Tensor(np.arange(6)).reshape(3, 2), [[0, 1], [2, 3], [4, 5]])

    def test_reshape_tuple_and_list(self):
        check(Tensor(np.arange(6)).reshape((2, 3)), [[0, 1, 2], [3, 4, 5]])
        check(Tensor(np.arange(6)).reshape([2, 3]), [[0, 1, 2], [3, 4, 5]])

    def test_reshape_minus_one(self):
        assert Tensor(np.zeros((2, 3, 4))).reshape(-1, 4).shape == (6, 4)
        assert Tensor(np.zeros((2, 3, 4))).reshape(2, -1).shape == (2, 12)
        check(Tensor([[1, 2], [3, 4]]).reshape(-1), [1, 2, 3, 4])

    def test_reshape_to_and_from_0d(self):
        check(Tensor([7.0]).reshape(()), 7.0)
        check(Tensor(7.0).reshape(1, 1), [[7.0]])

    def test_reshape_size_mismatch_names_sizes(self):
        with pytest.raises(ValueError, match=r"shape \(2, 3\) \(size 6\) into shape \(4, 2\)"):
            Tensor(np.zeros((2, 3))).reshape(4, 2)

    def test_reshape_two_minus_ones(self):
        with pytest.raises(ValueError, match=r"at most one -1"):
            Tensor(np.zeros((2, 3))).reshape(-1, -1)

    def test_reshape_returns_a_copy(self):
        t = Tensor([1.0, 2.0])
        r = t.reshape(2, 1)
        r.data[0, 0] = 9.0
        check(t, [1.0, 2.0])

    def test_transpose_default_2d(self):
        check(Tensor([[1, 2, 3], [4, 5, 6]]).transpose(), [[1, 4], [2, 5], [3, 6]])

    def test_transpose_default_swaps_last_two_of_3d(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
        result = Tensor(x).transpose()
        assert result.shape == (2, 4, 3)
        for b, i, j in [(0, 0, 0), (1, 2, 3), (0, 1, 2), (1, 0, 3)]:
            assert result.data[b, j, i] == x[b, i, j]

    def test_transpose_explicit_dims(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
        result = Tensor(x).transpose(0, 2)
        assert result.shape == (4, 3, 2)
        for b, i, j in [(0, 0, 0), (1, 2, 3), (0, 1, 2), (1, 0, 3)]:
            assert result.data[j, i, b] == x[b, i, j]

    def test_transpose_negative_dims(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
        result = Tensor(x).transpose(-1, -3)
        assert result.shape == (4, 3, 2)
        assert result.data[3, 2, 1] == x[1, 2, 3]

    def test_transpose_same_dim_is_unchanged(self):
        check(Tensor([[1, 2], [3, 4]]).transpose(1, 1), [[1, 2], [3, 4]])

    @pytest.mark.parametrize("data", [[1.0, 2.0, 3.0], 5.0])
    def test_transpose_of_1d_and_0d_is_an_unchanged_copy(self, data):
        t = Tensor(data)
        result = t.transpose()
        assert result is not t
        check(result, data)
        assert not np.shares_memory(result.data, t.data)

    @pytest.mark.parametrize("error", [IndexError, ValueError])
    def test_transpose_out_of_range(self, error):
        with pytest.raises(error, match=r"dim 2 is out of range.*\(2, 3\)"):
            Tensor(np.zeros((2, 3))).transpose(0, 2)

    def test_transpose_needs_both_dims(self):
        with pytest.raises(TypeError, match="both dim0 and dim1"):
            Tensor(np.zeros((2, 3))).transpose(0)


class TestReductions:
    x = ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))

    def test_sum(self):
        t = Tensor(self.x)
        check(t.sum(), 21.0)
        check(t.sum(axis=0), [5.0, 7.0, 9.0])
        check(t.sum(axis=1), [6.0, 15.0])
        check(t.sum(axis=-1), [6.0, 15.0])
        check(t.sum(axis=(0, 1)), 21.0)

    def test_sum_keepdims(self):
        t = Tensor(self.x)
        check(t.sum(axis=0, keepdims=True), [[5.0, 7.0, 9.0]])
        check(t.sum(axis=-1, keepdims=True), [[6.0], [15.0]])
        check(t.sum(keepdims=True), [[21.0]])

    def test_mean(self):
        t = Tensor(self.x)
        check(t.mean(), 3.5)
        check(t.mean(axis=0), [2.5, 3.5, 4.5])
        check(t.mean(axis=-1), [2.0, 5.0])
        check(t.mean(axis=(1, 0)), 3.5)
        check(t.mean(axis=1, keepdims=True), [[2.0], [5.0]])

    def test_max(self):
        t = Tensor([[1.0, 9.0, 3.0], [4.0, -5.0, 6.0]])
        check(t.max(), 9.0)
        check(t.max(axis=0), [4.0, 9.0, 6.0])
        check(t.max(axis=-1), [9.0, 6.0])
        check(t.max(axis=1, keepdims=True), [[9.0], [6.0]])
        check(t.max(axis=(0, 1), keepdims=True), [[9.0]])

    def test_max_of_negatives(self):
        check(Tensor([-3.0, -1.0, -2.0]).max(), -1.0)

    @pytest.mark.parametrize("axis", [None, 0, 2, -1, (0, 2), (-1, -2), (0, 1, 2)])
    @pytest.mark.parametrize("keepdims", [False, True])
    def test_3d_against_float64_numpy(self, axis, keepdims):
        x = (np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 11.5) / 3
        t = Tensor(x)
        check(
            t.sum(axis=axis, keepdims=keepdims),
            np.sum(x, axis=axis, keepdims=keepdims),
            rtol=1e-5,
            atol=1e-5,
        )
        check(
            t.mean(axis=axis, keepdims=keepdims),
            np.mean(x, axis=axis, keepdims=keepdims),
            rtol=1e-5,
            atol=1e-6,
        )
        check(t.max(axis=axis, keepdims=keepdims), np.max(x, axis=axis, keepdims=keepdims))

    def test_results_are_0d_tensors(self):
        t = Tensor([1.0, 2.0])
        for result in (t.sum(), t.mean(), t.max()):
            assert isinstance(result, Tensor)
            assert result.shape == ()

    def test_axis_out_of_range(self):
        with pytest.raises(ValueError, match="out of bounds"):
            Tensor([1.0, 2.0]).sum(axis=1)

    def test_mean_of_nothing_is_nan_without_warning(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor(np.zeros((0, 3))).mean(axis=0), [np.nan] * 3)


class TestElementwise:
    def test_exp(self):
        check(Tensor([0.0, 1.0, -1.0, 2.5]).exp(), [1.0, math.e, 1 / math.e, math.exp(2.5)])

    def test_log(self):
        check(Tensor([1.0, math.e, 0.5, 100.0]).log(), [0.0, 1.0, math.log(0.5), math.log(100)])

    def test_sqrt(self):
        check(Tensor([0.0, 4.0, 2.0, 0.25]).sqrt(), [0.0, 2.0, math.sqrt(2), 0.5])

    def test_ieee_edge_values_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(Tensor([0.0, -1.0]).log(), [-np.inf, np.nan])
            check(Tensor([-1.0]).sqrt(), [np.nan])
            check(Tensor([1000.0, -1000.0]).exp(), [np.inf, 0.0])

    def test_input_is_unchanged(self):
        t = Tensor([1.0, 4.0])
        t.sqrt()
        t.exp()
        t.log()
        check(t, [1.0, 4.0])


class TestIndexing:
    def test_integer_gives_a_row(self):
        check(grid()[1], [4, 5, 6, 7])

    def test_two_integers_give_a_0d_tensor(self):
        check(grid()[1, 2], 6.0)
        check(grid()[-1, -1], 11.0)

    def test_slices(self):
        check(grid()[:, 1:3], [[1, 2], [5, 6], [9, 10]])
        check(grid()[::2], [[0, 1, 2, 3], [8, 9, 10, 11]])
        check(grid()[..., 0], [0, 4, 8])
        assert grid()[None].shape == (1, 3, 4)

    def test_integer_array_with_repeats(self):
        check(grid()[np.array([2, 0, 2])], [[8, 9, 10, 11], [0, 1, 2, 3], [8, 9, 10, 11]])
        check(grid()[[0, 0]], [[0, 1, 2, 3], [0, 1, 2, 3]])

    def test_paired_integer_arrays(self):
        check(grid()[np.array([0, 2, 2]), np.array([1, 3, 3])], [1.0, 11.0, 11.0])

    def test_boolean_mask_array(self):
        check(grid()[np.array([True, False, True])], [[0, 1, 2, 3], [8, 9, 10, 11]])
        t = grid()
        check(t[t.data > 8], [9.0, 10.0, 11.0])

    def test_tensor_as_index(self):
        check(grid()[Tensor([2, 0])], [[8, 9, 10, 11], [0, 1, 2, 3]])
        check(grid()[Tensor([0, 1]), Tensor([3, 3])], [3.0, 7.0])
        check(grid()[1, Tensor([0, 0])], [4.0, 4.0])

    def test_tensor_index_must_hold_whole_numbers(self):
        with pytest.raises(IndexError, match="whole numbers"):
            grid()[Tensor([0.5])]

    def test_out_of_range(self):
        t = grid()
        with pytest.raises(IndexError, match="out of bounds"):
            t[3]

    def test_result_is_a_copy(self):
        t = grid()
        row = t[0]
        row.data[0] = 100.0
        assert t.data[0, 0] == 0.0

    def test_iteration_gives_rows(self):
        rows = list(Tensor([[1, 2], [3, 4]]))
        assert len(rows) == 2
        check(rows[0], [1.0, 2.0])
        check(rows[1], [3.0, 4.0])


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
        t += Tensor([1.0, 2.0, 3.0])
        check(t, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])

    def test_in_place_keeps_dtype(self):
        t = Tensor([1.0, 2.0])
        t += np.array([0.5, 0.5], dtype=np.float64)
        assert t.dtype == F32
        with default_dtype(np.float64):
            t *= Tensor([2.0, 2.0])
        check(t, [3.0, 5.0])

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

    def test_assigning_data_uses_the_default_dtype(self):
        t = Tensor([1.0])
        with default_dtype(np.float64):
            t.data = [0.1]
        check(t, [0.1], dtype=F64, rtol=1e-15)

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
        assert (t * 2)._version == 0


class TestRepr:
    def test_plain(self):
        assert repr(Tensor([1, 2])) == "Tensor(data=[1. 2.], shape=(2,))"

    def test_requires_grad_is_shown_only_when_set(self):
        assert repr(Tensor([1, 2], requires_grad=True)) == (
            "Tensor(data=[1. 2.], shape=(2,), requires_grad=True)"
        )

    def test_0d_and_2d(self):
        assert repr(Tensor(3)) == "Tensor(data=3., shape=())"
        text = repr(Tensor([[1, 2], [3, 4]]))
        assert text.startswith("Tensor(data=[[1. 2.]")
        assert text.endswith("[3. 4.]], shape=(2, 2))")


class TestBeforeAutograd:
    def test_requires_grad_is_stored(self):
        assert Tensor([1.0]).requires_grad is False
        assert Tensor([1.0], requires_grad=True).requires_grad is True

    def test_grad_starts_as_none_and_stays_none_after_operations(self):
        t = Tensor([1.0, 2.0], requires_grad=True)
        result = (t * 2 + 1).sum()
        assert t.grad is None
        assert result.grad is None

    def test_results_require_grad_only_once_autograd_exists(self):
        t = Tensor([1.0, 2.0], requires_grad=True)
        assert (t * 2).requires_grad is autograd_loaded()
        assert (Tensor([1.0]) * 2).requires_grad is False

    def test_zero_grad_sets_grad_to_none(self):
        t = Tensor([1.0, 2.0], requires_grad=True)
        t.grad = np.ones(2, dtype=np.float32)
        t.zero_grad()
        assert t.grad is None

    def test_backward(self):
        t = Tensor([2.0], requires_grad=True)
        if autograd_loaded():
            # From checkpoint 05 on, API.md: a one-element tensor's backward seeds ones.
            t.backward()
            np.testing.assert_array_equal(t.grad, np.ones(1, dtype=np.float32))
        else:
            with pytest.raises(RuntimeError, match=r"autograd.*module 05.*module05"):
                t.backward()
            with pytest.raises(RuntimeError, match="module 05"):
                t.backward(gradient=np.ones(1))
            assert t.grad is None


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
