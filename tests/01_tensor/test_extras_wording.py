"""Module 01 (Tensor), reference extra "wording": the reference's exact error messages and repr.

API.md makes an exception's type the contract (test_progressive_integration.py checks those
types); the words below are the reference's. Where API.md names no error at all (bad input,
len of a 0-d tensor, a Tensor exponent, numpy ufuncs, transpose's and the reductions' axis
checks, indices), the type is the reference's choice too and is checked here with its words.
"""

import numpy as np
import pytest
from course_api import Tensor
from tinytorch_testing import autograd_loaded, check, grid

pytestmark = pytest.mark.extra("wording")


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


def test_len_of_0d_raises():
    assert len(Tensor([1.0, 2.0])) == 2  # the control
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))


def test_pow_with_a_tensor_exponent_raises():
    check(Tensor([2.0]) ** 2, [4.0])  # the control
    with pytest.raises(TypeError, match=r"exponent must be a Python number; got Tensor"):
        Tensor([2.0]) ** Tensor([2.0])


def test_numpy_ufuncs_refuse_tensors():
    t = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.add(np.ones(2), t)


class TestBroadcastMessages:
    def test_failure_names_both_shapes(self):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(2,\) cannot be broadcast"):
            Tensor(np.ones((2, 3))) + Tensor([1.0, 2.0])

    def test_failure_with_an_array_on_the_left(self):
        with pytest.raises(ValueError, match=r"\(4,\) and \(3,\) cannot be broadcast"):
            np.ones(4) * Tensor([1.0, 2.0, 3.0])


class TestMatmulMessages:
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


class TestShapeMessages:
    def test_reshape_size_mismatch_names_sizes(self):
        with pytest.raises(ValueError, match=r"shape \(2, 3\) \(size 6\) into shape \(4, 2\)"):
            Tensor(np.zeros((2, 3))).reshape(4, 2)

    def test_reshape_two_minus_ones(self):
        with pytest.raises(ValueError, match=r"at most one -1"):
            Tensor(np.zeros((2, 3))).reshape(-1, -1)

    @pytest.mark.parametrize("error", [IndexError, ValueError])
    def test_transpose_out_of_range(self, error):
        # The reference raises one error that is both (PyTorch: IndexError; numpy: ValueError).
        with pytest.raises(error, match=r"dim 2 is out of range.*\(2, 3\)"):
            Tensor(np.zeros((2, 3))).transpose(0, 2)

    def test_transpose_needs_both_dims(self):
        with pytest.raises(TypeError, match="both dim0 and dim1"):
            Tensor(np.zeros((2, 3))).transpose(0)

    def test_axis_out_of_range(self):
        with pytest.raises(ValueError, match="out of bounds"):
            Tensor([1.0, 2.0]).sum(axis=1)


class TestIndexMessages:
    @pytest.mark.extra("internals")  # a Tensor as an index is the reference's, not API.md's
    def test_tensor_index_must_hold_whole_numbers(self):
        with pytest.raises(IndexError, match="whole numbers"):
            grid()[Tensor([0.5])]

    def test_out_of_range(self):
        t = grid()
        check(t[2], [8, 9, 10, 11])  # the control
        with pytest.raises(IndexError, match="out of bounds"):
            t[3]


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


def test_backward_before_autograd_names_module_05():
    """Before checkpoint 05 the error says where autograd comes from; from 05 on there is no
    such error (backward works, as test_progressive_integration.py checks in detail)."""
    t = Tensor([2.0], requires_grad=True)
    if autograd_loaded():
        t.backward()
        np.testing.assert_array_equal(t.grad, np.ones(1, dtype=np.float32))
        return
    with pytest.raises(RuntimeError, match=r"autograd.*module 05.*module05"):
        t.backward()
    with pytest.raises(RuntimeError, match="module 05"):
        t.backward(gradient=np.ones(1))
    assert t.grad is None
