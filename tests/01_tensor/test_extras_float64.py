"""Module 01 (Tensor), reference extra "float64": the default-dtype switch of API.md.

``default_dtype(np.float64)`` is a context manager under which new Tensors and operation
results are float64 (for tight gradient checks); ``get_default_dtype()`` says which dtype
is in force. The course API has float32 only (test_progressive_integration.py).
"""

import numpy as np
import pytest
from course_api import Tensor
from reference_extras import default_dtype, get_default_dtype
from tinytorch_testing import F32, F64, check

pytestmark = pytest.mark.extra("float64")


def test_default_dtype_is_float32():
    assert get_default_dtype() == F32
    assert Tensor(1).dtype == F32


def test_float64_mode_applies_to_new_tensors_and_results():
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


def test_float64_mode_converts_float32_operands():
    t32 = Tensor([1.0, 3.0])
    with default_dtype(np.float64):
        check(t32 / 3, [1 / 3, 1.0], dtype=F64, rtol=1e-7)


def test_float64_tensor_keeps_its_dtype_after_the_block():
    with default_dtype(np.float64):
        t64 = Tensor([1.0 / 3.0])
    assert t64.dtype == F64
    assert t64.data[0] == 1.0 / 3.0
    assert (t64 * 1).dtype == F32
    assert Tensor(t64).dtype == F32


@pytest.mark.parametrize("spelling", ["float64", np.dtype("float64"), float])
def test_float64_mode_accepts_other_spellings(spelling):
    with default_dtype(spelling):
        assert Tensor(1).dtype == F64


def test_float64_mode_restored_after_exception():
    class Boom(Exception):
        pass

    def fail_inside_the_block():
        with default_dtype(np.float64):
            assert Tensor(1).dtype == F64
            raise Boom

    with pytest.raises(Boom):
        fail_inside_the_block()
    assert get_default_dtype() == F32
    assert Tensor(1).dtype == F32


def test_float64_mode_nests():
    with default_dtype(np.float64):
        with default_dtype(np.float32):
            assert Tensor(1).dtype == F32
        assert Tensor(1).dtype == F64
        with default_dtype(np.float64):
            assert Tensor(1).dtype == F64
        assert get_default_dtype() == F64
    assert get_default_dtype() == F32


@pytest.mark.extra("wording")
@pytest.mark.parametrize("bad", [np.float16, np.int32, "int64", None, "no-such-dtype"])
def test_default_dtype_rejects_other_dtypes(bad):
    with pytest.raises(ValueError, match="float32 and float64"):
        default_dtype(bad)
    assert get_default_dtype() == F32


@pytest.mark.extra("internals")
def test_in_place_keeps_dtype():
    t = Tensor([1.0, 2.0])
    t += np.array([0.5, 0.5], dtype=np.float64)
    assert t.dtype == F32
    with default_dtype(np.float64):
        t *= Tensor([2.0, 2.0])
    check(t, [3.0, 5.0])


@pytest.mark.extra("internals")
def test_assigning_data_uses_the_default_dtype():
    t = Tensor([1.0])
    with default_dtype(np.float64):
        t.data = [0.1]
    check(t, [0.1], dtype=F64, rtol=1e-15)
