"""``tinytorch.data.loader``: module 08 (DataLoader) under the path TinyTorch's package uses.

The objects are those of ``tinytorch.core.dataloader`` themselves, not copies, so
``tinytorch.data.loader.DataLoader is tinytorch.core.dataloader.DataLoader``; see that module
for what they do.
"""

from tinytorch.core import dataloader
from tinytorch.core.dataloader import *  # noqa: F403 - re-exported as they are

__all__ = dataloader.__all__
