"""Module 08 (DataLoader), course API: the transforms RandomHorizontalFlip, RandomCrop, Compose.

Images are (C, H, W) with few channels, or (H, W); the width is the last axis. Randomness
comes from numpy's global generator in the course and in the reference, so ``np.random.seed``
makes a run reproducible. Crops of a (C, H, W) image smaller than the image, the ``rng=``
argument, the checks of bad arguments and their words are the reference's extras
(test_extras*.py); memory sharing is tested in test_aliasing.py.

Expected outputs are written out by hand or built with plain numpy (``x[..., ::-1]``,
``np.pad``), never by calling the transform under test. Test images hold distinct positive
values, so that a zero in an output can only come from the padding and a window's position in
the padded image is unique.
"""

import numpy as np
import pytest
from course_api import (
    Compose,
    DataLoader,
    Dataset,
    RandomCrop,
    RandomHorizontalFlip,
    Tensor,
)
from data_cases import image, window_positions
from tinytorch_testing import F32, check


def as_array(out):
    """A transform's output as an ndarray (a Tensor's data, or the ndarray itself)."""
    return out.data if isinstance(out, Tensor) else out


class TestRandomHorizontalFlip:
    def test_p1_reverses_the_width_of_an_hw_image_by_hand(self):
        x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        out = RandomHorizontalFlip(p=1.0)(x)
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(out, [[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]])
        np.testing.assert_array_equal(x, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # input unchanged

    def test_p1_reverses_only_the_last_axis_of_a_chw_image(self):
        x = image(2, 3, 4)
        out = RandomHorizontalFlip(p=1.0)(x)
        assert out.shape == (2, 3, 4)
        # By hand for channel 1, row 2: values 21..24 become 24..21; rows and channels stay.
        np.testing.assert_array_equal(out[1, 2], [24.0, 23.0, 22.0, 21.0])
        np.testing.assert_array_equal(out[0, 0], [4.0, 3.0, 2.0, 1.0])
        np.testing.assert_array_equal(out, x[:, :, ::-1])
        np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(out), x)

    def test_p1_on_a_tensor_returns_a_flipped_tensor(self):
        x = Tensor(image(1, 2, 3))
        out = RandomHorizontalFlip(p=1.0)(x)
        assert isinstance(out, Tensor)
        assert out.dtype == F32
        assert out.requires_grad is False
        np.testing.assert_array_equal(out.data, [[[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]]])
        np.testing.assert_array_equal(x.data, image(1, 2, 3))

    def test_keeps_the_dtype_of_an_ndarray(self):
        x = np.array([[1, 2], [3, 4]], dtype=np.uint8)
        out = RandomHorizontalFlip(p=1.0)(x)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, [[2, 1], [4, 3]])

    @pytest.mark.parametrize("kind", ["ndarray", "tensor"])
    def test_p0_is_the_identity(self, kind):
        np.random.seed(0)
        x = image(3, 4, 5) if kind == "ndarray" else Tensor(image(3, 4, 5))
        flip = RandomHorizontalFlip(p=0.0)
        for _ in range(50):
            out = flip(x)
            assert isinstance(out, Tensor) == (kind == "tensor")
            np.testing.assert_array_equal(as_array(out), image(3, 4, 5))
        np.testing.assert_array_equal(as_array(x), image(3, 4, 5))

    def test_p_half_flips_about_half_the_time_and_nothing_else(self):
        np.random.seed(1)
        x = image(2, 3)
        flipped = x[:, ::-1]
        flip = RandomHorizontalFlip(p=0.5)
        count = 0
        for _ in range(2000):
            out = flip(x)
            if np.array_equal(out, flipped):
                count += 1
            else:
                np.testing.assert_array_equal(out, x)
        # Binomial(2000, 0.5): standard deviation 22; 0.44..0.56 is more than 5 of them.
        assert 880 <= count <= 1120

    def test_default_p_flips_about_half_the_time(self):
        np.random.seed(13)
        x = image(2, 3)
        flip = RandomHorizontalFlip()
        count = sum(np.array_equal(flip(x), x[:, ::-1]) for _ in range(2000))
        assert 880 <= count <= 1120  # p = 0.5, as above

    def test_p_quarter_flips_about_a_quarter_of_the_time(self):
        np.random.seed(2)
        x = image(2, 3)
        flip = RandomHorizontalFlip(p=0.25)
        count = sum(np.array_equal(flip(x), x[:, ::-1]) for _ in range(2000))
        # Binomial(2000, 0.25): mean 500, standard deviation 19.4.
        assert 400 <= count <= 600

    def test_global_seed_makes_it_reproducible(self):
        x = image(2, 3)
        flip = RandomHorizontalFlip(p=0.5)

        def decisions():
            return [bool(np.array_equal(flip(x), x[:, ::-1])) for _ in range(64)]

        np.random.seed(7)
        first = decisions()
        np.random.seed(7)
        second = decisions()
        assert first == second
        assert 0 < sum(first) < 64  # both outcomes occur

    @pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
    def test_p_outside_0_1_raises_value_error(self, p):
        np.testing.assert_array_equal(RandomHorizontalFlip(p=1)(image(1, 2)), [[2.0, 1.0]])
        with pytest.raises(ValueError):
            RandomHorizontalFlip(p=p)


class TestRandomCrop:
    @pytest.mark.parametrize(
        ("shape", "size", "expected"),
        [
            ((3, 8, 8), 8, (3, 8, 8)),
            ((3, 8, 8), 5, (3, 5, 5)),
            ((1, 6, 10), (4, 7), (1, 4, 7)),
            ((6, 10), (4, 7), (4, 7)),
            ((6, 10), 6, (6, 6)),
        ],
    )
    def test_output_shape(self, shape, size, expected):
        np.random.seed(0)
        crop = RandomCrop(size, padding=2)
        for _ in range(20):
            assert crop(image(*shape)).shape == expected

    @pytest.mark.parametrize("shape", [(3, 5, 6), (5, 6)])
    def test_output_is_a_window_of_the_zero_padded_image(self, shape):
        np.random.seed(3)
        x = image(*shape)
        pad = 2
        widths = [(0, 0)] * (len(shape) - 2) + [(pad, pad), (pad, pad)]
        padded = np.pad(x, widths)
        assert padded.shape[-2:] == (shape[-2] + 4, shape[-1] + 4)
        crop = RandomCrop((4, 5), padding=pad)
        for _ in range(200):
            out = crop(x)
            assert isinstance(out, np.ndarray)
            assert out.shape == (*shape[:-2], 4, 5)
            assert window_positions(out, padded), f"output is no window of the padded image:\n{out}"

    def test_every_window_of_an_hw_image_is_reached(self):
        np.random.seed(3)
        x = image(5, 6)
        padded = np.pad(x, 2)
        crop = RandomCrop((4, 5), padding=2)
        seen = set()
        for _ in range(400):
            seen.update(window_positions(crop(x), padded))
        # Windows of 4x5 in a padded 9x10 image: top 0..5, left 0..5, each reachable.
        assert seen == {(top, left) for top in range(6) for left in range(6)}

    def test_every_shift_of_a_full_size_chw_crop_is_reached(self):
        # The standard augmentation: pad by 2, cut back to the image's size: 5 x 5 shifts.
        np.random.seed(12)
        x = image(3, 5, 6)
        padded = np.pad(x, [(0, 0), (2, 2), (2, 2)])
        crop = RandomCrop((5, 6), padding=2)
        seen = set()
        for _ in range(400):
            out = crop(x)
            assert out.shape == (3, 5, 6)
            positions = window_positions(out, padded)
            assert positions
            seen.update(positions)
        assert seen == {(top, left) for top in range(5) for left in range(5)}

    def test_same_size_crop_shifts_by_at_most_the_padding(self):
        # A 3x3 image, padding 1, crop 3: 9 positions; at (1, 1) the window is the image.
        np.random.seed(4)
        x = image(3, 3)
        padded = np.zeros((5, 5))
        padded[1:4, 1:4] = x
        crop = RandomCrop(3, padding=1)
        outputs = [crop(x) for _ in range(300)]
        assert any(np.array_equal(out, x) for out in outputs)
        # Top-left position: the first row and column are padding, the rest is x[:2, :2].
        top_left = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 4.0, 5.0]])
        assert any(np.array_equal(out, top_left) for out in outputs)
        for out in outputs:
            assert window_positions(out, padded)

    def test_default_padding_is_four(self):
        # A 12x12 window of a 4x4 image padded by 4 on each side has one position: the whole.
        x = image(4, 4)
        out = RandomCrop(12)(x)
        expected = np.zeros((12, 12))
        expected[4:8, 4:8] = x
        np.testing.assert_array_equal(out, expected)

    def test_padding_zero_and_full_size_is_the_identity(self):
        x = image(2, 4, 3)
        out = RandomCrop((4, 3), padding=0)(x)
        np.testing.assert_array_equal(out, x)

    def test_padding_zero_crop_stays_inside_the_image(self):
        np.random.seed(5)
        x = image(5, 5)
        for _ in range(100):
            out = RandomCrop(2, padding=0)(x)
            assert (out > 0).all()
            assert window_positions(out, x)

    def test_all_channels_share_one_window(self):
        np.random.seed(6)
        x = image(3, 4, 4)
        padded = np.pad(x, [(0, 0), (2, 2), (2, 2)])
        for _ in range(50):
            out = RandomCrop(3, padding=2)(x)
            per_channel = [set(window_positions(out[c], padded[c])) for c in range(3)]
            assert set.intersection(*per_channel), "channels were cropped at different places"

    def test_tensor_in_tensor_out(self):
        np.random.seed(8)
        x = Tensor(image(1, 3, 3))
        out = RandomCrop(3, padding=1)(x)
        assert isinstance(out, Tensor)
        assert out.dtype == F32
        assert out.shape == (1, 3, 3)
        padded = np.pad(image(1, 3, 3), [(0, 0), (1, 1), (1, 1)])
        assert window_positions(out.data.astype(np.float64), padded)
        np.testing.assert_array_equal(x.data, image(1, 3, 3))

    def test_keeps_the_dtype_of_an_ndarray(self):
        x = np.array([[1, 2], [3, 4]], dtype=np.uint8)
        out = RandomCrop(2, padding=0)(x)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, x)

    def test_global_seed_makes_it_reproducible(self):
        x = image(6, 6)
        crop = RandomCrop(4)
        np.random.seed(9)
        first = [crop(x) for _ in range(20)]
        np.random.seed(9)
        second = [crop(x) for _ in range(20)]
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(a, b)
        assert len({out.tobytes() for out in first}) > 1  # 20 crops, 49 positions each


class TestCompose:
    def test_applies_in_order(self):
        add_one = lambda x: x + 1  # noqa: E731
        double = lambda x: x * 2  # noqa: E731
        x = np.array([[1.0, 2.0]])
        np.testing.assert_array_equal(Compose([add_one, double])(x), [[4.0, 6.0]])  # (x+1)*2
        np.testing.assert_array_equal(Compose([double, add_one])(x), [[3.0, 5.0]])  # 2x+1

    def test_order_of_flip_and_a_shift(self):
        # A one-sided shift does not commute with a flip, so the result shows the order.
        x = image(2, 3)
        shift_left = lambda a: np.concatenate([a[:, 1:], np.zeros((a.shape[0], 1))], axis=1)  # noqa: E731
        flip = RandomHorizontalFlip(p=1.0)
        # shift then flip: [[2,3,0],[5,6,0]] -> [[0,3,2],[0,6,5]]
        np.testing.assert_array_equal(
            Compose([shift_left, flip])(x), [[0.0, 3.0, 2.0], [0.0, 6.0, 5.0]]
        )
        # flip then shift: [[3,2,1],[6,5,4]] -> [[2,1,0],[5,4,0]]
        np.testing.assert_array_equal(
            Compose([flip, shift_left])(x), [[2.0, 1.0, 0.0], [5.0, 4.0, 0.0]]
        )

    def test_empty_compose_is_the_identity(self):
        x = image(2, 2)
        np.testing.assert_array_equal(Compose([])(x), image(2, 2))
        np.testing.assert_array_equal(Compose([])(Tensor(x)).data, image(2, 2))

    def test_flip_then_crop_pipeline(self):
        np.random.seed(10)
        x = image(3, 4, 4)
        padded_flipped = np.pad(x[:, :, ::-1], [(0, 0), (1, 1), (1, 1)])
        pipeline = Compose([RandomHorizontalFlip(p=1.0), RandomCrop(4, padding=1)])
        for _ in range(30):
            out = pipeline(x)
            assert out.shape == (3, 4, 4)
            assert window_positions(out, padded_flipped)

    def test_a_pipeline_on_a_tensor(self):
        x = Tensor(image(1, 2, 2))
        out = Compose([RandomHorizontalFlip(p=1.0), RandomCrop(2, padding=0)])(x)
        assert isinstance(out, Tensor)
        check(out, [[[2.0, 1.0], [4.0, 3.0]]])


class Augmented(Dataset):
    """A Dataset that applies a transform in __getitem__ and returns Tensors."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return Tensor(self.transform(self.images[i])), Tensor(float(self.labels[i]))


class TestTransformsInADataLoader:
    def test_flipped_batches(self):
        images = image(5, 1, 2, 3)  # five 1x2x3 images
        labels = np.arange(5)
        loader = DataLoader(Augmented(images, labels, RandomHorizontalFlip(p=1.0)), 2)
        batches = list(loader)
        assert [b[0].shape for b in batches] == [(2, 1, 2, 3), (2, 1, 2, 3), (1, 1, 2, 3)]
        xs = np.concatenate([b[0].data for b in batches])
        np.testing.assert_array_equal(xs, images[..., ::-1])
        # Image 4 by hand: values 25..30, rows [25, 26, 27], [28, 29, 30], flipped.
        np.testing.assert_array_equal(xs[4, 0], [[27.0, 26.0, 25.0], [30.0, 29.0, 28.0]])

    def test_cropped_batches_are_windows(self):
        np.random.seed(11)
        images = image(6, 2, 4, 4)
        loader = DataLoader(Augmented(images, np.arange(6), RandomCrop(4, padding=1)), 4)
        seen = 0
        for xs, ys in loader:
            assert xs.shape[1:] == (2, 4, 4)
            for x, y in zip(xs.data, ys.data, strict=True):
                padded = np.pad(images[int(y)], [(0, 0), (1, 1), (1, 1)])
                assert window_positions(x.astype(np.float64), padded)
                seen += 1
        assert seen == 6
