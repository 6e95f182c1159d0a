"""Module 08, DataLoader: datasets, mini-batches and image augmentations.

Also importable as ``tinytorch.data.loader`` (the same objects, re-exported).

Dataset
    The abstract base: a subclass overrides ``__len__`` (how many samples) and
    ``__getitem__(i)`` (sample ``i``, for ``0 <= i < len``). ``Dataset()`` itself, or a
    subclass that leaves either method out, raises TypeError naming the missing methods.

TensorDataset(*tensors)
    Wraps one or more Tensors (an ndarray or nested list is turned into a Tensor first) that
    share their first dimension, the sample axis; different lengths raise ValueError naming
    every length. Item ``i`` is a tuple holding row ``i`` of each tensor, as new Tensors
    (``requires_grad=False``; data never carries a graph). Indices are ints, negative ones
    counting from the end as for a list; anything outside ``[-len, len)`` raises IndexError
    naming the index and the length.

DataLoader(dataset, batch_size, shuffle=False, seed=None)
    Iterates over ``dataset`` in mini-batches of ``batch_size`` samples. ``len(loader)`` is the
    number of batches, ``ceil(len(dataset) / batch_size)``: the last batch holds what is left
    and is kept, never dropped. Each batch is a tuple with one Tensor per field of the samples,
    the fields stacked along a new first axis: a dataset of ``(x, y)`` pairs gives batches
    ``(X, Y)`` with ``X.shape == (b, *x.shape)``. A sample that is a single Tensor (not a tuple)
    counts as one field, so its batches are 1-tuples. Batch Tensors have the default dtype in
    force (float32 unless inside ``default_dtype(np.float64)``; class labels become whole-number
    floats, which CrossEntropyLoss accepts) and never require grad.

    Every epoch sees every sample exactly once. With ``shuffle=False`` the order is
    0, 1, ..., n-1. With ``shuffle=True`` each ``iter(loader)`` (each epoch: each ``for`` loop
    over it) draws a new permutation from the loader's own ``np.random.default_rng(seed)``, so
    epochs differ from one another, two loaders with the same ``seed`` produce the same
    sequence of epochs, and numpy's global random state is neither read nor changed. With
    ``seed=None`` the generator is seeded from fresh OS entropy (not reproducible).
    ``batch_size`` must be a positive int (ValueError otherwise: 0, negative, bool, float).

Transforms (data augmentation for one image at a time)
    Layout: an image is ``(C, H, W)`` (channels first, as in PyTorch) or ``(H, W)``; the last
    axis is the width, the one before it the height. Anything else raises ValueError.
    A transform takes an ndarray or a Tensor and returns the same kind: an ndarray of the
    input's dtype, or a new Tensor (default dtype, ``requires_grad=False``).
    Randomness: each transform takes an optional keyword ``rng``, a ``np.random.Generator``.
    Without one it draws from numpy's global generator (``np.random.random`` and
    ``np.random.randint``), so ``np.random.seed(s)`` makes it reproducible, as it does the
    initial weights of Linear and the masks of Dropout.

    RandomHorizontalFlip(p=0.5, *, rng=None)
        With probability ``p`` returns the image with its last (width) axis reversed, otherwise
        a copy of it: a new array (or Tensor) either way. ``p`` outside [0, 1] raises
        ValueError. One random number is drawn per call, whatever ``p``.
    RandomCrop(size, padding=4, *, rng=None)
        Pads height and width with ``padding`` zeros on every side, then cuts out a
        ``size`` window (an int for a square, or ``(height, width)``) at a uniformly random
        position: ``top`` in ``[0, H + 2*padding - height]``, then ``left`` in
        ``[0, W + 2*padding - width]`` (drawn in that order). The output is
        ``(C, height, width)`` or ``(height, width)``. A window larger than the padded image
        raises ValueError naming both sizes.
    Compose(transforms)
        Applies a list of transforms in order: ``Compose([a, b])(x) == b(a(x))``; an empty
        list returns a copy.

    DataLoader takes no transform: apply them in a Dataset's ``__getitem__``, e.g.::

        class Augmented(Dataset):
            def __init__(self, images, labels, transform):
                self.images, self.labels, self.transform = images, labels, transform
            def __len__(self):
                return len(self.images)
            def __getitem__(self, i):
                return self.transform(self.images[i]), self.labels[i]
"""

import abc
import numbers
import operator

import numpy as np

from tinytorch.core.tensor import Tensor

__all__ = [
    "Compose",
    "DataLoader",
    "Dataset",
    "RandomCrop",
    "RandomHorizontalFlip",
    "TensorDataset",
]


class Dataset(abc.ABC):
    """A sized, indexable collection of samples: override ``__len__`` and ``__getitem__``."""

    @abc.abstractmethod
    def __len__(self):
        """The number of samples."""

    @abc.abstractmethod
    def __getitem__(self, index):
        """Sample ``index`` (an int in ``[0, len(self))``)."""


def _int_index(where, index):
    """``index`` as a Python int, or TypeError (bools and floats are not indices)."""
    if isinstance(index, (bool, np.bool_)):
        raise TypeError(f"{where}: an index must be an int; got a bool ({index!r})")
    try:
        return operator.index(index)
    except TypeError:
        raise TypeError(
            f"{where}: an index must be an int; got {type(index).__name__} {index!r}"
        ) from None


class TensorDataset(Dataset):
    """Samples are rows of equally long Tensors; see the module docstring."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor; got none")
        converted = []
        for position, tensor in enumerate(tensors):
            tensor = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
            if tensor.data.ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensor {position} is 0-d (shape ()); every tensor needs "
                    "a first dimension, the sample axis"
                )
            converted.append(tensor)
        lengths = [tensor.shape[0] for tensor in converted]
        if len(set(lengths)) != 1:
            shapes = ", ".join(f"tensor {i}: {t.shape}" for i, t in enumerate(converted))
            raise ValueError(
                f"TensorDataset: all tensors must have the same first dimension (number of "
                f"samples); got lengths {lengths} ({shapes})"
            )
        self.tensors = tuple(converted)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        index = _int_index("TensorDataset", index)
        length = len(self)
        if not -length <= index < length:
            raise IndexError(
                f"TensorDataset: index {index} is out of range for a dataset of length "
                f"{length} (valid indices: {-length} to {length - 1})"
            )
        return tuple(Tensor(tensor.data[index]) for tensor in self.tensors)

    def _rows(self, indices):
        """The batch of samples ``indices`` (an int array, in range), one Tensor per field."""
        return tuple(Tensor(tensor.data[indices]) for tensor in self.tensors)

    def __repr__(self):
        shapes = ", ".join(str(tensor.shape) for tensor in self.tensors)
        return f"TensorDataset({len(self)} samples; tensors of shapes {shapes})"


def _batch_size(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"DataLoader: batch_size must be a positive int; got {type(value).__name__} {value!r}"
        )
    return int(value)


def _seed(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"DataLoader: seed must be None or a non-negative int; got {type(value).__name__} "
            f"{value!r}"
        )
    if value < 0:
        raise ValueError(f"DataLoader: seed must be None or a non-negative int; got {value}")
    return int(value)


def _stack(batch, indices):
    """Stack a list of samples field by field into a tuple of Tensors."""
    samples = [tuple(s) if isinstance(s, (tuple, list)) else (s,) for s in batch]
    fields = len(samples[0])
    for index, sample in zip(indices, samples, strict=True):
        if len(sample) != fields:
            raise ValueError(
                f"DataLoader: sample {int(indices[0])} has {fields} field(s) but sample "
                f"{int(index)} has {len(sample)}; every sample must have the same fields"
            )
    columns = []
    for field in range(fields):
        values = [np.asarray(sample[field]) for sample in samples]
        shapes = {value.shape for value in values}
        if len(shapes) != 1:
            raise ValueError(
                f"DataLoader: field {field} of the samples {[int(i) for i in indices]} has "
                f"different shapes {sorted(shapes)}; samples in a batch must stack"
            )
        columns.append(Tensor(np.stack(values)))
    return tuple(columns)


class DataLoader:
    """Mini-batches of a dataset, optionally reshuffled every epoch; see the module docstring."""

    def __init__(self, dataset, batch_size, shuffle=False, seed=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                "DataLoader: dataset must have __len__ and __getitem__ (a Dataset); got "
                f"{type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = _batch_size(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = _seed(seed)
        self._rng = np.random.default_rng(self.seed)

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)  # ceil, the partial batch included

    def __iter__(self):
        # The order is drawn here, when the epoch starts, not at the first next().
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order):
        # A plain TensorDataset is indexed a whole batch at a time (same result, faster); a
        # subclass that overrides __getitem__ is asked for each sample, as any other dataset.
        bulk = type(self.dataset).__getitem__ is TensorDataset.__getitem__
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            if bulk:
                yield self.dataset._rows(indices)
            else:
                yield _stack([self.dataset[int(i)] for i in indices], indices)

    def __repr__(self):
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, {len(self)} batches)"
        )


# --- transforms ----------------------------------------------------------------------------


def _image_array(where, x):
    """(array, was_tensor) for an image of shape (C, H, W) or (H, W)."""
    if isinstance(x, Tensor):
        array, is_tensor = x.data, True
    elif isinstance(x, np.ndarray):
        array, is_tensor = x, False
    else:
        raise TypeError(f"{where}: expects an ndarray or a Tensor; got {type(x).__name__}")
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{where}: expects one image of shape (C, H, W) or (H, W); got shape {array.shape}"
        )
    return np.asarray(array).view(np.ndarray), is_tensor


def _same_kind(array, is_tensor):
    return Tensor(array) if is_tensor else array


def _check_rng(where, rng):
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: rng must be None (numpy's global generator) or a np.random.Generator; "
            f"got {type(rng).__name__}"
        )
    return rng


class RandomHorizontalFlip:
    """Reverse the width (last) axis with probability ``p``; see the module docstring."""

    def __init__(self, p=0.5, *, rng=None):
        if (
            isinstance(p, (bool, np.bool_))
            or not isinstance(p, numbers.Real)
            or not 0.0 <= float(p) <= 1.0  # also refuses nan
        ):
            raise ValueError(f"RandomHorizontalFlip: p must be a number in [0, 1]; got p={p!r}")
        self.p = float(p)
        self.rng = _check_rng("RandomHorizontalFlip", rng)

    def __call__(self, x):
        array, is_tensor = _image_array("RandomHorizontalFlip", x)
        draw = self.rng.random() if self.rng is not None else np.random.random()
        # A new array whether or not it flips: the caller may write into what it gets back.
        kept = array if draw >= self.p else array[..., ::-1]
        return _same_kind(kept.copy(), is_tensor)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def _positive(where, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int; got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{where}: {name} must be positive; got {value}")
    return int(value)


class RandomCrop:
    """Zero-pad by ``padding``, then cut a random ``size`` window; see the module docstring."""

    def __init__(self, size, padding=4, *, rng=None):
        where = "RandomCrop"
        if isinstance(size, (tuple, list)):
            if len(size) != 2:
                raise ValueError(f"{where}: size must be an int or (height, width); got {size!r}")
            size = (_positive(where, "height", size[0]), _positive(where, "width", size[1]))
        else:
            side = _positive(where, "size", size)
            size = (side, side)
        if isinstance(padding, (bool, np.bool_)) or not isinstance(padding, numbers.Integral):
            raise TypeError(f"{where}: padding must be an int; got {type(padding).__name__}")
        if padding < 0:
            raise ValueError(f"{where}: padding must be 0 or more; got {padding}")
        self.size = size
        self.padding = int(padding)
        self.rng = _check_rng(where, rng)

    def _offset(self, high):
        """A uniform int in [0, high]."""
        if self.rng is not None:
            return int(self.rng.integers(0, high + 1))
        return int(np.random.randint(0, high + 1))

    def __call__(self, x):
        array, is_tensor = _image_array("RandomCrop", x)
        pad = self.padding
        height, width = array.shape[-2:]
        crop_h, crop_w = self.size
        padded_h, padded_w = height + 2 * pad, width + 2 * pad
        if crop_h > padded_h or crop_w > padded_w:
            raise ValueError(
                f"RandomCrop: a {crop_h}x{crop_w} window does not fit in the padded image of "
                f"{padded_h}x{padded_w} (image {height}x{width} of shape {array.shape}, "
                f"padding {pad})"
            )
        widths = [(0, 0)] * (array.ndim - 2) + [(pad, pad), (pad, pad)]
        padded = np.pad(array, widths, mode="constant", constant_values=0)
        top = self._offset(padded_h - crop_h)
        left = self._offset(padded_w - crop_w)
        window = padded[..., top : top + crop_h, left : left + crop_w].copy()
        return _same_kind(window, is_tensor)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class Compose:
    """Apply transforms in order: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms):
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(
                f"Compose: transforms must be a list or tuple of callables; got "
                f"{type(transforms).__name__}"
            )
        for index, transform in enumerate(transforms):
            if not callable(transform):
                raise TypeError(
                    f"Compose: transform {index} must be callable; got {type(transform).__name__}"
                )
        self.transforms = list(transforms)

    def __call__(self, x):
        if not self.transforms:  # nothing acts, and still a new array (API.md, Aliasing)
            return Tensor(x) if isinstance(x, Tensor) else np.array(x)
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self):
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"Compose([{inner}])"
