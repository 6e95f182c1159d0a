"""Module 08 (DataLoader), course API: memory sharing (API.md "Aliasing" and "08 Data").

A batch is new: it never shares memory with the dataset's arrays or Tensors, nor with another
batch (of the same epoch, field or not, or of another epoch). A transform never writes into its
input, and its output shares no memory with the input, even when nothing acts (a flip that
does not happen, ``Compose([])``): API.md says a transform "returns a new array", and a caller
may write into what it gets back.
"""

import itertools

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


def assert_no_two_share(arrays):
    for (i, a), (j, b) in itertools.combinations(enumerate(arrays), 2):
        assert not np.shares_memory(a, b), f"arrays {i} and {j} share memory"


def assert_shares_with_none(array, others):
    for k, other in enumerate(others):
        assert not np.shares_memory(array, other), f"a new array shares memory with input {k}"


def readonly(array):
    """A copy of `array` that nobody may write into: a transform writing into it would fail."""
    frozen = np.array(array)
    frozen.setflags(write=False)
    return frozen


class TestBatchesAreNew:
    @pytest.mark.parametrize("shuffle", [False, True])
    @pytest.mark.parametrize("batch_size", [1, 2, 3, 6, 10])
    def test_batches_share_no_memory_with_the_dataset_or_each_other(self, batch_size, shuffle):
        # float32 arrays: an implementation may keep them inside its Tensors as they are.
        x = np.arange(12, dtype=np.float32).reshape(6, 2)
        y = np.arange(6, dtype=np.float32)
        tx, ty = Tensor(x), Tensor(y)
        loader = DataLoader(TensorDataset(tx, ty), batch_size=batch_size, shuffle=shuffle)
        arrays = []
        for _ in range(2):  # two epochs
            labels = []
            for xs, ys in loader:
                check(xs, np.stack([2 * ys.data, 2 * ys.data + 1], axis=1))
                labels.extend(int(v) for v in ys.data)
                arrays += [xs.data, ys.data]
            assert sorted(labels) == list(range(6))
        for array in arrays:
            assert_shares_with_none(array, [x, y, tx.data, ty.data])
        assert_no_two_share(arrays)

    @pytest.mark.parametrize("batch_size", [1, 3])
    def test_batches_share_no_memory_with_the_samples_of_a_dataset(self, batch_size):
        # The dataset hands out the very same Tensors every time.
        samples = [(Tensor(np.full(3, float(i))), Tensor(float(i))) for i in range(3)]

        class Kept(Dataset):
            def __len__(self):
                return 3

            def __getitem__(self, i):
                return samples[i]

        batches = list(DataLoader(Kept(), batch_size=batch_size))
        assert sum(len(b[0].data) for b in batches) == 3
        arrays = [t.data for batch in batches for t in batch]
        sample_arrays = [t.data for sample in samples for t in sample]
        for array in arrays:
            assert_shares_with_none(array, sample_arrays)
        assert_no_two_share(arrays)

    def test_writing_into_a_batch_changes_neither_the_dataset_nor_later_batches(self):
        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        ds = TensorDataset(Tensor(x))
        loader = DataLoader(ds, batch_size=4)
        ((first,),) = list(loader)
        first.data[...] = -1.0
        np.testing.assert_array_equal(x, np.arange(8).reshape(4, 2))
        check(ds[3][0], [6.0, 7.0])
        ((second,),) = list(loader)
        check(second, np.arange(8).reshape(4, 2))


def transforms_that_make_an_output():
    """(name, transform) pairs, each path that can return an output (acting or not)."""
    return [
        ("flip", RandomHorizontalFlip(p=1.0)),
        ("flip that does not happen", RandomHorizontalFlip(p=0.0)),
        ("compose of nothing", Compose([])),
        ("crop same size, no padding", RandomCrop((4, 5), padding=0)),
        ("crop padded", RandomCrop((4, 5), padding=2)),
        ("crop smaller", RandomCrop(2, padding=0)),
        ("flip then crop", Compose([RandomHorizontalFlip(p=1.0), RandomCrop((4, 5), padding=1)])),
    ]


class TestTransformOutputsAreNew:
    @pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5)])
    def test_ndarray_outputs_share_no_memory_with_the_input(self, shape):
        np.random.seed(20)
        x = np.arange(1, np.prod(shape) + 1, dtype=np.float64).reshape(shape)
        original = x.copy()
        for name, transform in transforms_that_make_an_output():
            for _ in range(5):
                out = transform(x)
                assert isinstance(out, np.ndarray), name
                assert not np.shares_memory(out, x), f"{name}: the output shares the input"
        np.testing.assert_array_equal(x, original)

    @pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5)])
    def test_tensor_outputs_share_no_memory_with_the_input(self, shape):
        np.random.seed(21)
        x = Tensor(np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape))
        original = np.array(x.data)
        for name, transform in transforms_that_make_an_output():
            out = transform(x)
            assert isinstance(out, Tensor), name
            assert not np.shares_memory(out.data, x.data), f"{name}: the output shares the input"
        np.testing.assert_array_equal(x.data, original)

    def test_two_outputs_of_one_input_share_no_memory(self):
        np.random.seed(22)
        x = np.arange(1, 21, dtype=np.float64).reshape(4, 5)
        for name, transform in transforms_that_make_an_output():
            a, b = transform(x), transform(x)
            assert not np.shares_memory(a, b), name

    @pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
    def test_transforms_never_write_into_their_input(self, p):
        # A read-only input: any write into it raises, so a transform that works never writes.
        np.random.seed(23)
        x = readonly(np.arange(1, 41, dtype=np.float64).reshape(2, 4, 5))
        flip = RandomHorizontalFlip(p=p)
        crop = RandomCrop((4, 5), padding=1)
        for _ in range(10):
            flipped = flip(x)
            assert any(np.array_equal(flipped, v) for v in (x, x[..., ::-1]))
            assert crop(x).shape == (2, 4, 5)
            assert Compose([flip, crop])(x).shape == (2, 4, 5)
        np.testing.assert_array_equal(x, np.arange(1, 41).reshape(2, 4, 5))
