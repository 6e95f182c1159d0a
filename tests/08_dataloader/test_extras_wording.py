"""Module 08 (DataLoader), reference extras: the reference's argument checks and their words.

API.md names ValueError for unequal first dimensions and IndexError for an index out of range
(the course-API tests check those types); the words of every message, and the checks API.md
does not ask for (no tensors, a 0-d tensor, batch_size, seed, a non-int index, a non-dataset,
p, size, padding, the image layout, a non-callable transform) are the reference's own.
Each test pairs the raise with a call that needs module 08 to work, so a stub fails it.
"""

import types

import numpy as np
import pytest
from course_api import (
    Compose,
    DataLoader,
    Dataset,
    RandomCrop,
    RandomHorizontalFlip,
    Tensor,
    TensorDataset,
)
from tinytorch_testing import check

pytestmark = pytest.mark.extra("wording")


def working_loader():
    """A control: a two-sample dataset in one batch, which needs module 08 to work."""
    ((xs,),) = list(DataLoader(TensorDataset(Tensor([[1.0], [2.0]])), batch_size=2))
    check(xs, [[1.0], [2.0]])


class Complete(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (Tensor([float(i)]),)


class TestDatasetWords:
    def test_dataset_is_abstract(self):
        with pytest.raises(TypeError, match=r"abstract|__len__|__getitem__"):
            Dataset()
        ((xs,),) = list(DataLoader(Complete(), batch_size=2))
        check(xs, [[0.0], [1.0]])

    @pytest.mark.parametrize("missing", ["__len__", "__getitem__"])
    def test_subclass_must_override_both(self, missing):
        methods = {"__len__": lambda self: 3, "__getitem__": lambda self, i: i}
        del methods[missing]
        partial = types.new_class("Partial", (Dataset,), exec_body=lambda ns: ns.update(methods))
        with pytest.raises(TypeError, match=missing):
            partial()
        working_loader()


class TestTensorDatasetWords:
    def test_mismatched_lengths_name_every_length(self):
        with pytest.raises(ValueError, match=r"3, 4"):
            TensorDataset(Tensor(np.zeros((3, 2))), Tensor(np.zeros(4)))
        with pytest.raises(ValueError, match=r"5, 5, 2"):
            TensorDataset(Tensor(np.zeros(5)), Tensor(np.zeros((5, 1))), Tensor(np.zeros(2)))
        working_loader()

    def test_no_tensors_or_a_0d_tensor(self):
        with pytest.raises(ValueError, match="at least one tensor"):
            TensorDataset()
        with pytest.raises(ValueError, match="0-d"):
            TensorDataset(Tensor(3.0))
        working_loader()

    @pytest.mark.parametrize("index", [5, 6, 100, -6, -100])
    def test_index_out_of_range_names_index_and_length(self, index):
        ds = TensorDataset(Tensor(np.zeros((5, 2))), Tensor(np.zeros(5)))
        with pytest.raises(IndexError, match=rf"index {index}\b.*length 5"):
            ds[index]
        check(ds[4][1], 0.0)

    @pytest.mark.parametrize("index", [1.0, "1", True, None])
    def test_non_int_index(self, index):
        ds = TensorDataset(Tensor(np.arange(5.0)))
        with pytest.raises(TypeError, match="index must be an int"):
            ds[index]
        check(ds[1][0], 1.0)


class TestDataLoaderWords:
    @pytest.mark.parametrize("batch_size", [0, -1, -8, 2.5, 2.0, True, "4", None])
    def test_bad_batch_size(self, batch_size):
        ds = TensorDataset(Tensor(np.zeros(4)))
        with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
            DataLoader(ds, batch_size)
        assert len(DataLoader(ds, 3)) == 2

    def test_not_a_dataset(self):
        with pytest.raises(TypeError, match="__len__ and __getitem__"):
            DataLoader(42, batch_size=2)
        working_loader()

    @pytest.mark.extra("internals")
    @pytest.mark.parametrize(("seed", "error"), [(-1, ValueError), (1.5, TypeError)])
    def test_bad_seed(self, seed, error):
        ds = TensorDataset(Tensor(np.zeros(4)))
        with pytest.raises(error, match="seed must be None or a non-negative int"):
            DataLoader(ds, 2, shuffle=True, seed=seed)
        assert len(DataLoader(ds, 2, shuffle=True, seed=0)) == 2

    def test_samples_that_do_not_stack(self):
        class Ragged(Dataset):
            def __len__(self):
                return 2

            def __getitem__(self, i):
                return np.zeros(i + 1), 0

        with pytest.raises(ValueError, match=r"field 0.*different shapes"):
            list(DataLoader(Ragged(), batch_size=2))
        working_loader()


class TestTransformWords:
    @pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5"])
    def test_bad_p_raises(self, p):
        with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\]"):
            RandomHorizontalFlip(p=p)
        np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(np.eye(2)), np.eye(2)[:, ::-1])

    @pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4)])
    def test_flip_wrong_layout_raises(self, shape):
        with pytest.raises(ValueError, match=r"\(C, H, W\) or \(H, W\)"):
            RandomHorizontalFlip(p=1.0)(np.zeros(shape))
        assert RandomHorizontalFlip(p=1.0)(np.zeros((1, 2, 3))).shape == (1, 2, 3)

    def test_window_larger_than_padded_image_raises(self):
        x = np.arange(1.0, 17.0).reshape(4, 4)
        with pytest.raises(ValueError, match=r"13x13.*12x12"):
            RandomCrop(13, padding=4)(x)
        assert RandomCrop(12, padding=4)(x).shape == (12, 12)

    @pytest.mark.parametrize("size", [0, -3, (4, 0)])
    def test_bad_size_raises(self, size):
        with pytest.raises(ValueError, match="must be positive"):
            RandomCrop(size)
        assert RandomCrop(2, padding=0)(np.ones((2, 2))).shape == (2, 2)

    def test_negative_padding_raises(self):
        with pytest.raises(ValueError, match="padding must be 0 or more"):
            RandomCrop(3, padding=-1)
        assert RandomCrop(3, padding=0)(np.ones((3, 3))).shape == (3, 3)

    def test_crop_wrong_layout_raises(self):
        with pytest.raises(ValueError, match=r"\(C, H, W\) or \(H, W\)"):
            RandomCrop(2)(np.zeros((2, 3, 4, 4)))
        assert RandomCrop(2)(np.zeros((3, 4, 4))).shape == (3, 2, 2)

    def test_non_callable_raises(self):
        with pytest.raises(TypeError, match="transform 1 must be callable"):
            Compose([RandomHorizontalFlip(), 3])
        assert Compose([RandomHorizontalFlip(p=0.0)])(np.eye(2)).shape == (2, 2)
