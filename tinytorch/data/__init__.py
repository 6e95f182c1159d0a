"""``tinytorch.data``: the data pipeline of module 08; ``tinytorch.data.loader`` holds it."""

from tinytorch.data import loader
from tinytorch.data.loader import *  # noqa: F403 - the same objects, under the shorter path

__all__ = loader.__all__
