"""``tinytorch.data``: the data pipeline of module 08; ``tinytorch.data.loader`` holds it."""

from tinytorch.data.loader import (
    Compose,
    DataLoader,
    Dataset,
    RandomCrop,
    RandomHorizontalFlip,
    TensorDataset,
)

__all__ = [
    "Compose",
    "DataLoader",
    "Dataset",
    "RandomCrop",
    "RandomHorizontalFlip",
    "TensorDataset",
]
