"""Module 08 (DataLoader): API.md "08 Data" on top of modules 01..07, checked at checkpoint 08.

(a) Modules 01..07 still work: tensor, activations, layers, losses, autograd, an optimizer
    step and the training utilities, each against values worked out by hand.
(b) Module 08's core: Dataset, TensorDataset and DataLoader (batching, the partial last batch,
    every sample exactly once per epoch, reshuffling, seeds, stacking, indexing).
(c) Integration: a DataLoader feeding a Linear + loss + SGD training loop through
    Trainer.train_epoch, and by hand.
(d) Bad inputs, with the error messages they must give.
(e) ``tinytorch.data.loader`` (and ``tinytorch.data``) expose the very same objects.

The transforms are tested in test_transforms.py. Every expected value is worked out by hand
or with plain numpy, never by calling the code under test. Samples are labelled with their
own index (``y[i] == i``, ``x[i]`` a function of ``i``), so a batch says which samples it holds.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinytorch_testing import F32, F64, check, linear_with

import tinytorch.core.dataloader as core_dataloader
from tinytorch.core.activations import ReLU, Sigmoid, Softmax
from tinytorch.core.autograd import enable_autograd, no_grad
from tinytorch.core.dataloader import (
    Compose,
    DataLoader,
    Dataset,
    RandomCrop,
    RandomHorizontalFlip,
    TensorDataset,
)
from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam, AdamW
from tinytorch.core.tensor import Tensor, default_dtype
from tinytorch.core.training import CosineSchedule, Trainer, clip_grad_norm

PUBLIC = ("Compose", "DataLoader", "Dataset", "RandomCrop", "RandomHorizontalFlip", "TensorDataset")

enable_autograd()


def labelled(n, features=2):
    """n samples: x[i] = [i, 10 i, 20 i, ...][:features] (float), y[i] = i."""
    idx = np.arange(n, dtype=np.float64)
    x = idx[:, None] * (10.0 * np.arange(features))[None, :] + idx[:, None] * (
        np.arange(features) == 0
    )
    return x, idx


def epoch_labels(loader):
    """The labels of one epoch, batch by batch, as lists of ints."""
    return [[int(v) for v in batch[-1].data] for batch in loader]


def flat(batches):
    return [v for batch in batches for v in batch]


# ===========================================================================================
# (a) Modules 01..07 still work, with independently worked values
# ===========================================================================================


class TestPriorStackStillWorking:
    def test_tensor_arithmetic_matmul_and_reductions(self):
        a = Tensor([[1, 2], [3, 4]])
        b = Tensor([[5, 6], [7, 8]])
        check(a + b, [[6, 8], [10, 12]])
        check(1 - a, [[0, -1], [-2, -3]])
        check(a @ b, [[19, 22], [43, 50]])
        check(a.sum(), 10.0)
        check(a.mean(axis=0), [2.0, 3.0])
        check(a.max(axis=1), [2.0, 4.0])
        check(a.reshape(4), [1, 2, 3, 4])
        check(a.transpose(), [[1, 3], [2, 4]])
        with default_dtype(np.float64):
            check(Tensor([1, 2]) / 3, [1 / 3, 2 / 3], dtype=F64, rtol=1e-15)

    def test_activations(self):
        check(ReLU()(Tensor([-2.0, 0.0, 3.5])), [0.0, 0.0, 3.5])
        e2 = math.exp(-2.0)
        check(Sigmoid()(Tensor([0.0, 2.0, -1000.0])), [0.5, 1 / (1 + e2), 0.0], atol=1e-30)
        # softmax of [0, ln 2, ln 3] is [1, 2, 3] / 6.
        check(Softmax()(Tensor([[0.0, math.log(2.0), math.log(3.0)]])), [[1 / 6, 1 / 3, 1 / 2]])

    def test_linear_and_sequential_by_hand(self):
        first = linear_with([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
        second = linear_with([[1.0], [1.0]], [0.0])
        model = Sequential(first, ReLU(), second)
        # [3, 4] -> [7, -3] -> relu [7, 0] -> 7.
        check(model(Tensor([[3.0, 4.0]])), [[7.0]])
        assert model.parameters() == [first.weight, first.bias, second.weight, second.bias]

    def test_losses_by_hand(self):
        check(MSELoss()(Tensor([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0]), 5 / 3)
        # Row 0: -log(1/2). Row 1: softmax [1/4, 3/4], -log(3/4).
        logits = Tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
        check(CrossEntropyLoss()(logits, [0, 1]), (math.log(2.0) + math.log(4 / 3)) / 2)

    def test_autograd_through_linear_and_mse_by_hand(self):
        layer = linear_with([[0.5], [-1.0]], [0.25])
        x = Tensor([[2.0, 1.0]])
        # y = 2 * 0.5 - 1 + 0.25 = 0.25; loss = (0.25 - 1.25)^2 = 1; dloss/dy = -2.
        loss = MSELoss()(layer(x), [[1.25]])
        check(loss, 1.0)
        loss.backward()
        np.testing.assert_allclose(layer.weight.grad, [[-4.0], [-2.0]])
        np.testing.assert_allclose(layer.bias.grad, [-2.0])
        assert layer.weight.grad.dtype == F32
        with no_grad():
            assert layer(x).requires_grad is False

    def test_sgd_step_and_momentum_by_hand(self):
        w = Tensor([1.0, -2.0], requires_grad=True)
        opt = SGD([w], lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            assert w.grad is None
            (w * Tensor([3.0, 4.0])).sum().backward()  # gradient [3, 4] every time
            opt.step()
        # Step 1: buffer g, w = [1, -2] - 0.1 [3, 4] = [0.7, -2.4].
        # Step 2: buffer 0.9 g + g = 1.9 g, w = [0.7, -2.4] - 0.19 [3, 4] = [0.13, -3.16].
        check(w, [0.13, -3.16], rtol=1e-5)
        assert opt.step_count == 2

    def test_adam_and_adamw_first_step_by_hand(self):
        # Adam's first bias-corrected step is lr * g / (|g| + eps) ~= lr * sign(g).
        w = Tensor([1.0, -2.0], requires_grad=True)
        (w * Tensor([3.0, -4.0])).sum().backward()
        Adam([w], lr=0.01).step()
        check(w, [0.99, -1.99], rtol=1e-6)
        # AdamW decays first: w (1 - lr wd) - lr sign(g) = [0.95 - 0.1, -1.9 + 0.1].
        v = Tensor([1.0, -2.0], requires_grad=True)
        (v * Tensor([3.0, -4.0])).sum().backward()
        AdamW([v], lr=0.1, weight_decay=0.5).step()
        check(v, [0.85, -1.8], rtol=1e-6)

    def test_cosine_schedule_and_clip_grad_norm_by_hand(self):
        schedule = CosineSchedule(max_lr=0.1, min_lr=0.01, total_epochs=10)
        assert schedule.get_lr(0) == pytest.approx(0.1)
        assert schedule.get_lr(5) == pytest.approx(0.055)  # 0.01 + 0.09 * (1 + cos(pi/2)) / 2
        assert schedule.get_lr(10) == pytest.approx(0.01)
        assert schedule.get_lr(25) == pytest.approx(0.01)
        a = Tensor([0.0, 0.0], requires_grad=True)
        b = Tensor([0.0], requires_grad=True)
        a.grad = np.array([3.0, 4.0], dtype=np.float32)
        b.grad = np.array([12.0], dtype=np.float32)
        norm = clip_grad_norm([a, b], max_norm=1.3)  # sqrt(9 + 16 + 144) = 13
        assert norm == pytest.approx(13.0)
        np.testing.assert_allclose(a.grad, [0.3, 0.4], rtol=1e-5)
        np.testing.assert_allclose(b.grad, [1.2], rtol=1e-5)

    def test_trainer_one_batch_by_hand(self):
        # One batch, one SGD step: the loss reported is the loss before the step.
        layer = linear_with([[0.5], [-1.0]], [0.25])
        trainer = Trainer(layer, SGD(layer.parameters(), lr=0.1), MSELoss())
        batches = [(Tensor([[2.0, 1.0]]), Tensor([[1.25]]))]
        loss = trainer.train_epoch(batches)
        assert loss == pytest.approx(1.0)
        # Gradients [[-4], [-2]] and [-2] (previous test): w - 0.1 g.
        check(layer.weight, [[0.9], [-0.8]], rtol=1e-6)
        check(layer.bias, [0.45], rtol=1e-6)
        assert trainer.history["train_loss"] == [pytest.approx(1.0)]


# ===========================================================================================
# (b) Module 08 core behaviour
# ===========================================================================================


class TestDataset:
    def test_dataset_is_abstract(self):
        with pytest.raises(TypeError, match=r"abstract|__len__|__getitem__"):
            Dataset()

    @pytest.mark.parametrize("missing", ["__len__", "__getitem__"])
    def test_subclass_must_override_both(self, missing):
        methods = {"__len__": lambda self: 3, "__getitem__": lambda self, i: i}
        del methods[missing]
        partial = type("Partial", (Dataset,), methods)
        with pytest.raises(TypeError, match=missing):
            partial()

    def test_subclass_through_a_dataloader(self):
        class Squares(Dataset):
            def __len__(self):
                return 5

            def __getitem__(self, i):
                return np.array([i, i * i], dtype=np.float64), i

        squares = Squares()
        assert isinstance(squares, Dataset)
        assert len(squares) == 5
        batches = list(DataLoader(squares, batch_size=2))
        assert len(batches) == 3
        assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
        check(batches[0][0], [[0, 0], [1, 1]])
        check(batches[1][0], [[2, 4], [3, 9]])
        check(batches[2][0], [[4, 16]])
        check(batches[2][1], [4])

    def test_single_field_samples_give_one_tuples(self):
        class Plain(Dataset):
            def __len__(self):
                return 3

            def __getitem__(self, i):
                return Tensor([i, -i])

        batches = list(DataLoader(Plain(), batch_size=2))
        assert [len(b) for b in batches] == [1, 1]
        check(batches[0][0], [[0, 0], [1, -1]])
        check(batches[1][0], [[2, -2]])


class TestTensorDataset:
    def test_length_and_items_by_hand(self):
        x = Tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        y = Tensor([7.0, 8.0, 9.0])
        ds = TensorDataset(x, y)
        assert len(ds) == 3
        item = ds[1]
        assert isinstance(item, tuple)
        assert len(item) == 2
        check(item[0], [3.0, 4.0])
        check(item[1], 8.0)
        assert item[0].requires_grad is False

    def test_negative_indices_count_from_the_end(self):
        ds = TensorDataset(Tensor([[1.0], [2.0], [3.0]]))
        check(ds[-1][0], [3.0])
        check(ds[-3][0], [1.0])
        check(ds[np.int64(-2)][0], [2.0])

    def test_three_tensors_and_a_single_tensor(self):
        ds = TensorDataset(Tensor([1.0, 2.0]), Tensor([[1.0, 0.0], [0.0, 1.0]]), Tensor([5, 6]))
        a, b, c = ds[0]
        check(a, 1.0)
        check(b, [1.0, 0.0])
        check(c, 5.0)
        (only,) = TensorDataset(Tensor([4.0, 5.0]))[1]
        check(only, 5.0)

    def test_ndarrays_become_tensors(self):
        ds = TensorDataset(np.array([[1, 2], [3, 4]]), np.array([0, 1]))
        x, y = ds[1]
        check(x, [3.0, 4.0])
        check(y, 1.0)

    def test_items_do_not_carry_a_graph(self):
        w = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        (x,) = TensorDataset(w)[0]
        assert x.requires_grad is False
        check(x, [1.0, 2.0])

    def test_plain_iteration_yields_every_item(self):
        ds = TensorDataset(Tensor([10.0, 20.0, 30.0]))
        assert [float(item[0].data) for item in ds] == [10.0, 20.0, 30.0]


class TestDataLoaderBatching:
    def test_batches_in_order_with_a_partial_last_batch(self):
        x, y = labelled(10)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=4)
        assert len(loader) == 3  # 4 + 4 + 2
        batches = list(loader)
        assert len(batches) == 3
        assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
        assert [b[1].shape for b in batches] == [(4,), (4,), (2,)]
        check(batches[0][1], [0, 1, 2, 3])
        check(batches[2][1], [8, 9])
        check(batches[2][0], [[8, 80], [9, 90]])
        check(batches[1][0], [[4, 40], [5, 50], [6, 60], [7, 70]])

    @pytest.mark.parametrize(
        ("n", "batch_size", "sizes"),
        [
            (10, 3, [3, 3, 3, 1]),
            (9, 3, [3, 3, 3]),
            (1, 64, [1]),
            (7, 1, [1] * 7),
            (7, 7, [7]),
            (7, 8, [7]),
            (0, 4, []),
        ],
    )
    def test_len_and_batch_sizes(self, n, batch_size, sizes):
        loader = DataLoader(TensorDataset(Tensor(np.zeros((n, 3)))), batch_size=batch_size)
        assert len(loader) == len(sizes)
        assert [b[0].shape[0] for b in loader] == sizes
        assert all(b[0].shape[1:] == (3,) for b in loader)

    def test_each_batch_is_a_tuple_of_tensors(self):
        x, y = labelled(5)
        for batch in DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=2, shuffle=True):
            assert type(batch) is tuple
            assert len(batch) == 2
            assert all(isinstance(t, Tensor) for t in batch)
            assert all(t.requires_grad is False for t in batch)

    def test_stacking_shapes_and_dtypes(self):
        images = np.arange(6 * 3 * 4 * 5, dtype=np.float64).reshape(6, 3, 4, 5)
        labels = np.array([3, 1, 4, 1, 5, 9])
        xs, ys = next(iter(DataLoader(TensorDataset(Tensor(images), Tensor(labels)), 4)))
        assert xs.shape == (4, 3, 4, 5)
        assert ys.shape == (4,)
        assert xs.dtype == F32
        assert ys.dtype == F32
        check(xs, images[:4])
        check(ys, [3, 1, 4, 1])

    def test_float64_mode_gives_float64_batches(self):
        with default_dtype(np.float64):
            loader = DataLoader(TensorDataset(Tensor([[0.1], [0.2], [0.3]])), batch_size=2)
            (first,), (second,) = list(loader)
        check(first, [[0.1], [0.2]], dtype=F64, rtol=1e-15)
        check(second, [[0.3]], dtype=F64, rtol=1e-15)

    def test_unshuffled_epochs_repeat(self):
        x, y = labelled(7)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=3)
        expected = [[0, 1, 2], [3, 4, 5], [6]]
        assert epoch_labels(loader) == expected
        assert epoch_labels(loader) == expected


class TestDataLoaderShuffling:
    def test_shuffled_epoch_holds_every_sample_exactly_once(self):
        x, y = labelled(23)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=5, shuffle=True, seed=0)
        for _ in range(5):
            batches = epoch_labels(loader)
            assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
            assert sorted(flat(batches)) == list(range(23))

    def test_shuffling_keeps_features_and_labels_together(self):
        x, y = labelled(40, features=3)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=6, shuffle=True, seed=1)
        for xs, ys in loader:
            i = ys.data.astype(np.float64)
            # x[i] = [i, 10 i, 20 i]
            np.testing.assert_array_equal(xs.data, np.stack([i, 10 * i, 20 * i], axis=1))

    def test_shuffle_actually_reorders(self):
        x, y = labelled(100)
        loader = DataLoader(
            TensorDataset(Tensor(x), Tensor(y)), batch_size=10, shuffle=True, seed=2
        )
        order = flat(epoch_labels(loader))
        assert order != list(range(100))

    def test_every_epoch_reshuffles(self):
        # With seed 3 the first three epochs are three different permutations of 0..99 (two
        # equal ones would have probability 1/100! if the seed were not fixed).
        x, y = labelled(100)
        loader = DataLoader(
            TensorDataset(Tensor(x), Tensor(y)), batch_size=16, shuffle=True, seed=3
        )
        epochs = [flat(epoch_labels(loader)) for _ in range(3)]
        assert all(sorted(e) == list(range(100)) for e in epochs)
        assert epochs[0] != epochs[1]
        assert epochs[1] != epochs[2]
        assert epochs[0] != epochs[2]

    def test_order_is_drawn_when_iteration_starts(self):
        x, y = labelled(30)
        loader = DataLoader(
            TensorDataset(Tensor(x), Tensor(y)), batch_size=30, shuffle=True, seed=4
        )
        first, second = iter(loader), iter(loader)
        a, b = next(first)[1], next(second)[1]
        assert sorted(a.data.tolist()) == sorted(b.data.tolist()) == list(range(30))
        assert a.data.tolist() != b.data.tolist()

    def test_same_seed_same_epochs(self):
        x, y = labelled(50)
        ds = TensorDataset(Tensor(x), Tensor(y))
        one = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
        two = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
        for _ in range(3):
            assert epoch_labels(one) == epoch_labels(two)

    def test_different_seeds_differ(self):
        x, y = labelled(50)
        ds = TensorDataset(Tensor(x), Tensor(y))
        one = flat(epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=1)))
        two = flat(epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=2)))
        assert sorted(one) == sorted(two) == list(range(50))
        assert one != two

    def test_global_numpy_state_is_neither_used_nor_changed(self):
        x, y = labelled(50)
        ds = TensorDataset(Tensor(x), Tensor(y))
        np.random.seed(0)
        state = np.random.get_state()[1].copy()
        first = epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=9))
        np.testing.assert_array_equal(np.random.get_state()[1], state)
        np.random.seed(999)
        assert epoch_labels(DataLoader(ds, batch_size=8, shuffle=True, seed=9)) == first

    def test_shuffle_false_ignores_the_seed(self):
        x, y = labelled(9)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=4, seed=5)
        assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]

    @settings(max_examples=60, deadline=None, database=None)
    @given(
        n=st.integers(0, 40),
        batch_size=st.integers(1, 50),
        shuffle=st.booleans(),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_property_every_sample_once_and_batch_sizes(self, n, batch_size, shuffle, seed):
        x, y = labelled(n)
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size, shuffle, seed)
        batches = (n + batch_size - 1) // batch_size
        assert len(loader) == batches
        for _ in range(2):
            labels = epoch_labels(loader)
            assert len(labels) == batches
            assert all(len(b) == batch_size for b in labels[:-1])
            if labels:
                assert len(labels[-1]) == n - batch_size * (batches - 1)
            assert sorted(flat(labels)) == list(range(n))
            if not shuffle:
                assert flat(labels) == list(range(n))


# ===========================================================================================
# (c) Integration: a DataLoader feeding training
# ===========================================================================================


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    return x, y


class TestTrainingIntegration:
    def test_trainer_train_epoch_lowers_the_loss(self):
        np.random.seed(0)
        x, y = regression_data()
        loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=8, shuffle=True, seed=0)
        model = Linear(3, 1)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.05), MSELoss())
        losses = [trainer.train_epoch(loader) for _ in range(15)]
        assert all(isinstance(loss, float) and math.isfinite(loss) for loss in losses)
        assert losses[-1] < losses[0] / 20
        assert all(later < earlier for earlier, later in itertools.pairwise(losses[:6]))
        assert trainer.history["train_loss"] == pytest.approx(losses)
        # y = x @ [1.5, -2, 0.5] + 0.3 exactly, so SGD finds those values.
        np.testing.assert_allclose(model.weight.data[:, 0], [1.5, -2.0, 0.5], atol=0.05)
        np.testing.assert_allclose(model.bias.data, [0.3], atol=0.05)

    def test_train_epoch_mean_loss_over_a_partial_last_batch(self):
        # lr 0: nothing moves, so the epoch loss is a fixed function of the batches.
        x = np.array([[1.0], [2.0], [3.0]])
        y = np.zeros((3, 1))
        model = linear_with([[1.0]], [0.0])
        trainer = Trainer(model, SGD(model.parameters(), lr=0.0), MSELoss())
        loss = trainer.train_epoch(DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=2))
        # Batches [1, 2] (MSE 2.5) and [3] (MSE 9). Module 07 reports the mean per sample,
        # (2 * 2.5 + 1 * 9) / 3 = 14 / 3, so the partial batch must reach it with its size 1
        # (dropping it would give 2.5; averaging batch means would give 5.75).
        assert loss == pytest.approx(14 / 3)

    def test_classification_with_cross_entropy_and_evaluate(self):
        np.random.seed(1)
        rng = np.random.default_rng(1)
        centers = np.array([[2.0, 2.0], [-2.0, 2.0], [0.0, -2.5]])
        labels = np.repeat(np.arange(3), 40)
        points = centers[labels] + rng.normal(scale=0.5, size=(120, 2))
        ds = TensorDataset(Tensor(points), Tensor(labels))
        model = Sequential(Linear(2, 16), ReLU(), Linear(16, 3))
        trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
        train = DataLoader(ds, batch_size=16, shuffle=True, seed=1)
        losses = [trainer.train_epoch(train) for _ in range(10)]
        assert losses[-1] < losses[0] / 3
        loss, accuracy = trainer.evaluate(DataLoader(ds, batch_size=32))
        assert math.isfinite(loss)
        assert accuracy >= 0.95  # three well separated blobs
        with no_grad():
            logits = model(Tensor(points)).data
        assert (logits.argmax(axis=1) == labels).mean() == pytest.approx(accuracy)

    def test_hand_written_loop_with_augmented_images(self):
        # Images whose class is the brightness of the left half; flips would swap it, so the
        # label follows the flip. A DataLoader feeds a manual forward/backward/step loop.
        np.random.seed(2)
        rng = np.random.default_rng(2)
        n = 64
        left = rng.integers(0, 2, size=n)
        images = np.zeros((n, 1, 4, 4))
        images[left == 1, :, :, :2] = 1.0
        images[left == 0, :, :, 2:] = 1.0

        class Flipped(Dataset):
            def __init__(self):
                self.flip = Compose([RandomHorizontalFlip(p=1.0)])

            def __len__(self):
                return n

            def __getitem__(self, i):
                return self.flip(images[i]).reshape(16), 1 - left[i]

        model = Linear(16, 2)
        opt = SGD(model.parameters(), lr=0.5)
        loss_fn = CrossEntropyLoss()
        loader = DataLoader(Flipped(), batch_size=16, shuffle=True, seed=2)
        epoch_losses = []
        for _ in range(8):
            total = 0.0
            for xs, ys in loader:
                opt.zero_grad()
                loss = loss_fn(model(xs), ys)
                loss.backward()
                opt.step()
                total += float(loss.data)
            epoch_losses.append(total / len(loader))
        assert epoch_losses[-1] < epoch_losses[0] / 4
        flipped = images[..., ::-1].reshape(n, 16)
        with no_grad():
            predicted = model(Tensor(flipped)).data.argmax(axis=1)
        np.testing.assert_array_equal(predicted, 1 - left)

    def test_random_crop_in_a_pipeline_keeps_shapes(self):
        np.random.seed(3)
        images = np.arange(8 * 3 * 6 * 6, dtype=np.float64).reshape(8, 3, 6, 6) + 1

        class Cropped(Dataset):
            transform = Compose([RandomHorizontalFlip(), RandomCrop(6, padding=2)])

            def __len__(self):
                return 8

            def __getitem__(self, i):
                return self.transform(images[i]), i

        shapes = [tuple(xs.shape) for xs, _ in DataLoader(Cropped(), batch_size=3)]
        assert shapes == [(3, 3, 6, 6), (3, 3, 6, 6), (2, 3, 6, 6)]


# ===========================================================================================
# (d) Bad inputs
# ===========================================================================================


class TestBadInputs:
    def test_mismatched_lengths_name_every_length(self):
        with pytest.raises(ValueError, match=r"3, 4"):
            TensorDataset(Tensor(np.zeros((3, 2))), Tensor(np.zeros(4)))
        with pytest.raises(ValueError, match=r"5, 5, 2"):
            TensorDataset(Tensor(np.zeros(5)), Tensor(np.zeros((5, 1))), Tensor(np.zeros(2)))

    def test_no_tensors_or_a_0d_tensor(self):
        with pytest.raises(ValueError, match="at least one tensor"):
            TensorDataset()
        with pytest.raises(ValueError, match="0-d"):
            TensorDataset(Tensor(3.0))

    @pytest.mark.parametrize("batch_size", [0, -1, -8, 2.5, 2.0, True, "4", None])
    def test_bad_batch_size(self, batch_size):
        ds = TensorDataset(Tensor(np.zeros(4)))
        with pytest.raises(ValueError, match=r"batch_size must be a positive int"):
            DataLoader(ds, batch_size)

    def test_numpy_int_batch_size_is_fine(self):
        loader = DataLoader(TensorDataset(Tensor(np.zeros(5))), np.int64(2))
        assert len(loader) == 3

    @pytest.mark.parametrize("index", [5, 6, 100, -6, -100])
    def test_index_out_of_range_names_index_and_length(self, index):
        ds = TensorDataset(Tensor(np.zeros((5, 2))), Tensor(np.zeros(5)))
        with pytest.raises(IndexError, match=rf"index {index}\b.*length 5"):
            ds[index]

    @pytest.mark.parametrize("index", [1.0, "1", True, None])
    def test_non_int_index(self, index):
        ds = TensorDataset(Tensor(np.zeros(5)))
        with pytest.raises(TypeError, match="index must be an int"):
            ds[index]

    def test_not_a_dataset(self):
        with pytest.raises(TypeError, match="__len__ and __getitem__"):
            DataLoader(42, batch_size=2)

    @pytest.mark.parametrize(("seed", "error"), [(-1, ValueError), (1.5, TypeError)])
    def test_bad_seed(self, seed, error):
        with pytest.raises(error, match="seed must be None or a non-negative int"):
            DataLoader(TensorDataset(Tensor(np.zeros(4))), 2, shuffle=True, seed=seed)

    def test_samples_that_do_not_stack(self):
        class Ragged(Dataset):
            def __len__(self):
                return 2

            def __getitem__(self, i):
                return np.zeros(i + 1), 0

        with pytest.raises(ValueError, match=r"field 0.*different shapes"):
            list(DataLoader(Ragged(), batch_size=2))


# ===========================================================================================
# (e) The tinytorch.data.loader path
# ===========================================================================================


class TestDataLoaderPath:
    @pytest.mark.parametrize("name", PUBLIC)
    def test_same_objects_under_both_paths(self, name):
        import tinytorch.data
        import tinytorch.data.loader

        obj = getattr(core_dataloader, name)
        assert getattr(tinytorch.data.loader, name) is obj
        assert getattr(tinytorch.data, name) is obj

    def test_public_names(self):
        import tinytorch.data.loader

        assert sorted(core_dataloader.__all__) == sorted(PUBLIC)
        assert sorted(tinytorch.data.loader.__all__) == sorted(PUBLIC)

    def test_loader_path_works_end_to_end(self):
        from tinytorch.data.loader import DataLoader as Loader
        from tinytorch.data.loader import TensorDataset as Data

        batches = list(Loader(Data(Tensor([[1.0], [2.0], [3.0]])), batch_size=2))
        check(batches[0][0], [[1.0], [2.0]])
        check(batches[1][0], [[3.0]])
