"""Module 08 (DataLoader), reference extras (API.md, Two tiers): what the course API leaves open.

- float64: batches in the float64 mode.
- no_grad, Sequential: the reference's names, used with batches from a DataLoader.
- internals (none of the listed features fits these reference behaviours, and "internals"
  probes for the reference itself): DataLoader's ``seed=`` argument (API.md says shuffling
  "can be made reproducible with a seed" without naming how; the course seeds Python's
  ``random``), the transforms' ``rng=`` argument and ``p``/``padding`` attributes, negative
  indices, samples that are ndarrays, ints or a bare Tensor, ndarrays given to TensorDataset,
  an np.integer batch size, items that share no memory with the dataset, crops smaller than a
  (C, H, W) image at every position, and ``tinytorch.data.loader``/``tinytorch.data`` holding
  the very objects of ``tinytorch.core.dataloader``; the Trainer's epoch loss over a
  DataLoader as a Python float, the mean per sample (API.md does not say how batches are
  averaged: the course averages the batch means).

Every test goes through module 08. The words of the errors are in test_extras_wording.py.
"""

import importlib

import numpy as np
import pytest
from course_api import (
    SGD,
    Adam,
    Compose,
    CrossEntropyLoss,
    DataLoader,
    Dataset,
    Linear,
    MSELoss,
    RandomCrop,
    RandomHorizontalFlip,
    ReLU,
    Tensor,
    TensorDataset,
    Trainer,
)
from data_cases import (
    blobs,
    epoch_labels,
    flat,
    image,
    labelled_dataset,
    window_positions,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_extras import Sequential, default_dtype, no_grad
from tinytorch_testing import F64, check, linear_with

PUBLIC = ("Compose", "DataLoader", "Dataset", "RandomCrop", "RandomHorizontalFlip", "TensorDataset")


# --- float64, no_grad, Sequential ---------------------------------------------------------


@pytest.mark.extra("float64")
class TestFloat64:
    def test_float64_mode_gives_float64_batches(self):
        with default_dtype(np.float64):
            loader = DataLoader(TensorDataset(Tensor([[0.1], [0.2], [0.3]])), batch_size=2)
            (first,), (second,) = list(loader)
        check(first, [[0.1], [0.2]], dtype=F64, rtol=1e-15)
        check(second, [[0.3]], dtype=F64, rtol=1e-15)

    def test_tensor_arithmetic_on_a_float64_batch(self):
        with default_dtype(np.float64):
            ((batch,),) = list(DataLoader(TensorDataset(Tensor([1, 2])), batch_size=2))
            third = batch / 3
        check(third, [1 / 3, 2 / 3], dtype=F64, rtol=1e-15)


@pytest.mark.extra("no_grad")
class TestNoGrad:
    def test_no_grad_on_a_batch(self):
        layer = linear_with([[0.5], [-1.0]], [0.25])
        ((x,),) = list(DataLoader(TensorDataset(Tensor([[2.0, 1.0]])), batch_size=1))
        assert layer(x).requires_grad is True
        with no_grad():
            out = layer(x)
        assert out.requires_grad is False
        check(out, [[0.25]])


@pytest.mark.extra("Sequential")
class TestSequential:
    def test_linear_and_sequential_on_a_batch_by_hand(self):
        first = linear_with([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
        second = linear_with([[1.0], [1.0]], [0.0])
        model = Sequential(first, ReLU(), second)
        ((x,),) = list(DataLoader(TensorDataset(Tensor([[3.0, 4.0]])), batch_size=1))
        # [3, 4] -> [7, -3] -> relu [7, 0] -> 7.
        check(model(x), [[7.0]])
        assert model.parameters() == [first.weight, first.bias, second.weight, second.bias]


@pytest.mark.extra("Sequential", "no_grad", "internals")
def test_classification_with_a_sequential_model_and_a_seeded_loader():
    np.random.seed(1)
    points, labels = blobs()
    ds = TensorDataset(Tensor(points), Tensor(labels))
    model = Sequential(Linear(2, 16), ReLU(), Linear(16, 3))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
    train = DataLoader(ds, batch_size=16, shuffle=True, seed=1)
    losses = [trainer.train_epoch(train) for _ in range(10)]
    assert losses[-1] < losses[0] / 3
    loss, accuracy = trainer.evaluate(DataLoader(ds, batch_size=32))
    assert np.isfinite(loss)
    assert accuracy >= 0.95
    with no_grad():
        logits = model(Tensor(points))
    assert logits.requires_grad is False
    assert (logits.data.argmax(axis=1) == labels).mean() == pytest.approx(accuracy)


# --- DataLoader(seed=) --------------------------------------------------------------------


@pytest.mark.extra("internals")
class TestSeed:
    def test_seeded_shuffled_epochs_hold_every_sample_once_and_differ(self):
        loader = DataLoader(labelled_dataset(23), batch_size=5, shuffle=True, seed=0)
        epochs = []
        for _ in range(5):
            batches = epoch_labels(loader)
            assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
            assert sorted(flat(batches)) == list(range(23))
            epochs.append(flat(batches))
        assert len({tuple(e) for e in epochs}) > 1

    def test_same_seed_same_epochs(self):
        ds = labelled_dataset(50)
        one = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
        two = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
        for _ in range(3):
            assert epoch_labels(one) == epoch_labels(two)

    def test_different_seeds_differ(self):
        ds = labelled_dataset(50)
        one = flat(epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=1)))
        two = flat(epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=2)))
        assert sorted(one) == sorted(two) == list(range(50))
        assert one != two

    def test_global_numpy_state_is_neither_used_nor_changed(self):
        ds = labelled_dataset(50)
        np.random.seed(0)
        state = np.random.get_state()[1].copy()
        first = epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=9))
        np.testing.assert_array_equal(np.random.get_state()[1], state)
        np.random.seed(999)
        assert epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=9)) == first

    def test_shuffle_false_ignores_the_seed(self):
        loader = DataLoader(labelled_dataset(9), batch_size=4, seed=5)
        assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]

    def test_order_is_drawn_when_iteration_starts(self):
        loader = DataLoader(labelled_dataset(30), batch_size=30, shuffle=True, seed=4)
        first, second = iter(loader), iter(loader)
        a, b = next(first)[1], next(second)[1]
        assert sorted(a.data.tolist()) == sorted(b.data.tolist()) == list(range(30))
        assert a.data.tolist() != b.data.tolist()
        # The same two draws, in the order the iterators were made, come from a fresh loader.
        again = DataLoader(labelled_dataset(30), batch_size=30, shuffle=True, seed=4)
        third, fourth = iter(again), iter(again)
        assert next(fourth)[1].data.tolist() == b.data.tolist()
        assert next(third)[1].data.tolist() == a.data.tolist()

    def test_a_seeded_loader_makes_a_training_run_reproducible(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 3))
        y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3

        def run():
            model = linear_with([[0.1], [0.2], [-0.1]], [0.0])
            trainer = Trainer(model, SGD(model.parameters(), lr=0.05), MSELoss())
            loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), 8, shuffle=True, seed=0)
            losses = [trainer.train_epoch(loader) for _ in range(15)]
            return losses, model.weight.data.copy()

        losses, weight = run()
        again, weight_again = run()
        assert losses == again
        np.testing.assert_array_equal(weight, weight_again)
        assert losses[-1] < losses[0] / 20
        np.testing.assert_allclose(weight[:, 0], [1.5, -2.0, 0.5], atol=0.05)

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(
        n=st.integers(0, 40),
        batch_size=st.integers(1, 50),
        shuffle=st.booleans(),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_property_positional_seed(self, n, batch_size, shuffle, seed):
        loader = DataLoader(labelled_dataset(n), batch_size, shuffle, seed)
        batches = (n + batch_size - 1) // batch_size
        assert len(loader) == batches
        first = epoch_labels(loader)
        again = DataLoader(labelled_dataset(n), batch_size, shuffle, seed)
        assert epoch_labels(again) == first
        assert sorted(flat(first)) == list(range(n))
        if not shuffle:
            assert flat(first) == list(range(n))


# --- datasets and samples the course API does not fix -------------------------------------


@pytest.mark.extra("internals")
class TestDatasetsAndSamples:
    def test_negative_indices_count_from_the_end(self):
        ds = TensorDataset(Tensor([[1.0], [2.0], [3.0]]))
        check(ds[-1][0], [3.0])
        check(ds[-3][0], [1.0])
        check(ds[np.int64(-2)][0], [2.0])

    def test_ndarrays_become_tensors(self):
        ds = TensorDataset(np.array([[1, 2], [3, 4]]), np.array([0, 1]))
        x, y = ds[1]
        check(x, [3.0, 4.0])
        check(y, 1.0)

    def test_ndarray_and_int_samples_are_stacked(self):
        class Squares(Dataset):
            def __len__(self):
                return 5

            def __getitem__(self, i):
                return np.array([i, i * i], dtype=np.float64), i

        batches = list(DataLoader(Squares(), batch_size=2))
        assert len(batches) == 3
        assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
        check(batches[0][0], [[0, 0], [1, 1]])
        check(batches[1][0], [[2, 4], [3, 9]])
        check(batches[2][0], [[4, 16]])
        check(batches[2][1], [4])

    def test_bare_tensor_samples_give_one_tuples(self):
        class Plain(Dataset):
            def __len__(self):
                return 3

            def __getitem__(self, i):
                return Tensor([i, -i])

        batches = list(DataLoader(Plain(), batch_size=2))
        assert [len(b) for b in batches] == [1, 1]
        check(batches[0][0], [[0, 0], [1, -1]])
        check(batches[1][0], [[2, -2]])

    def test_numpy_int_batch_size_is_fine(self):
        loader = DataLoader(TensorDataset(Tensor(np.zeros(5))), np.int64(2))
        assert len(loader) == 3
        assert [b[0].shape for b in loader] == [(2,), (2,), (1,)]

    def test_items_share_no_memory_with_the_dataset(self):
        x = np.arange(6, dtype=np.float32).reshape(3, 2)
        tx = Tensor(x)
        ds = TensorDataset(tx)
        items = [ds[i][0] for i in range(3)] + [ds[-1][0]]
        for item in items:
            assert not np.shares_memory(item.data, x)
            assert not np.shares_memory(item.data, tx.data)
        check(items[1], [2.0, 3.0])


# --- transforms: rng=, attributes, every window -------------------------------------------


@pytest.mark.extra("internals")
class TestTransformExtras:
    def test_flip_rng_makes_it_reproducible_without_global_state(self):
        x = image(2, 3)

        def decisions(seed):
            flip = RandomHorizontalFlip(p=0.5, rng=np.random.default_rng(seed))
            return [bool(np.array_equal(flip(x), x[:, ::-1])) for _ in range(64)]

        np.random.seed(0)
        before = np.random.get_state()[1].copy()
        first = decisions(11)
        np.testing.assert_array_equal(np.random.get_state()[1], before)
        np.random.seed(12345)  # the global state does not matter
        assert decisions(11) == first
        assert decisions(12) != first  # 2**-64 chance of a tie

    def test_crop_rng_makes_it_reproducible(self):
        x = image(3, 6, 6)
        crop_a = RandomCrop(4, rng=np.random.default_rng(21))
        crop_b = RandomCrop(4, rng=np.random.default_rng(21))
        outs_a = [crop_a(x) for _ in range(30)]
        outs_b = [crop_b(x) for _ in range(30)]
        for a, b in zip(outs_a, outs_b, strict=True):
            np.testing.assert_array_equal(a, b)
        # 30 crops with 121 positions each cannot all coincide (the positions differ somewhere).
        assert len({out.tobytes() for out in outs_a}) > 1

    def test_default_attributes(self):
        assert RandomHorizontalFlip().p == 0.5
        assert RandomCrop(12).padding == 4

    def test_every_window_of_a_smaller_chw_crop_is_reached(self):
        np.random.seed(3)
        x = image(3, 5, 6)
        padded = np.pad(x, [(0, 0), (2, 2), (2, 2)])
        crop = RandomCrop((4, 5), padding=2)
        seen = set()
        for _ in range(400):
            positions = window_positions(crop(x), padded)
            assert positions
            seen.update(positions)
        # Windows of 4x5 in a padded 9x10 image: top 0..5, left 0..5, each reachable.
        assert seen == {(top, left) for top in range(6) for left in range(6)}


# --- tinytorch.data.loader and tinytorch.data hold the very same objects ------------------


def exercise(names):
    """Use the six public names of one module path together; return the batch it gives."""
    pipeline = names["Compose"]([names["RandomHorizontalFlip"](p=1.0), names["RandomCrop"](2, 0)])

    class Images(names["Dataset"]):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return (Tensor(pipeline(np.array([[1.0, 2.0], [3.0, 4.0]]))),)

    ((a,),) = list(names["DataLoader"](Images(), batch_size=1))
    ((b,),) = list(names["DataLoader"](names["TensorDataset"](Tensor([[5.0]])), batch_size=1))
    check(a, [[[2.0, 1.0], [4.0, 3.0]]])
    check(b, [[5.0]])


@pytest.mark.extra("internals")
class TestSameObjectsUnderEveryPath:
    @pytest.mark.parametrize("name", PUBLIC)
    def test_same_objects_under_both_paths(self, name):
        core = importlib.import_module("tinytorch.core.dataloader")
        loader = importlib.import_module("tinytorch.data.loader")
        data = importlib.import_module("tinytorch.data")
        obj = getattr(core, name)
        assert getattr(loader, name) is obj
        assert getattr(data, name) is obj
        exercise({n: getattr(data, n) for n in PUBLIC})

    def test_public_names(self):
        core = importlib.import_module("tinytorch.core.dataloader")
        loader = importlib.import_module("tinytorch.data.loader")
        assert sorted(core.__all__) == sorted(PUBLIC)
        assert sorted(loader.__all__) == sorted(PUBLIC)
        exercise({n: getattr(loader, n) for n in loader.__all__})
        exercise({n: getattr(core, n) for n in core.__all__})

    def test_an_object_of_one_path_is_an_instance_under_the_other(self):
        loader = importlib.import_module("tinytorch.data.loader")
        ds = TensorDataset(Tensor([[1.0], [2.0]]))
        assert isinstance(ds, loader.TensorDataset)
        assert isinstance(ds, loader.Dataset)
        assert isinstance(loader.DataLoader(ds, batch_size=1), DataLoader)
        assert isinstance(Compose([]), loader.Compose)
        check(next(iter(loader.DataLoader(ds, batch_size=2)))[0], [[1.0], [2.0]])


@pytest.mark.extra("internals")
def test_train_epoch_mean_loss_over_a_partial_last_batch():
    # lr 0: nothing moves, so the epoch loss is a fixed function of the batches.
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.zeros((3, 1))
    model = linear_with([[1.0]], [0.0])
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), MSELoss())
    loss = trainer.train_epoch(DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=2))
    # Batches [1, 2] (MSE 2.5) and [3] (MSE 9). Module 07 reports the mean per sample,
    # (2 * 2.5 + 1 * 9) / 3 = 14 / 3, so the partial batch must reach it with its size 1
    # (dropping it would give 2.5; averaging batch means would give 5.75).
    assert isinstance(loss, float)
    assert loss == pytest.approx(14 / 3)
