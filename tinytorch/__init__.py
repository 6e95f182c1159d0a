"""TinyTorch, reference implementation: one module per course checkpoint.

A checkpoint wheel holds modules 01..N only; importing tinytorch imports exactly those, so
``tinytorch.core.<slug>`` exists for each of them and for no later one.
"""

import importlib

from tinytorch._checkpoint import CHECKPOINT, MODULES, __version__

__checkpoint__ = CHECKPOINT
__modules__ = MODULES

for _slug in MODULES:
    importlib.import_module(f"tinytorch.core.{_slug}")

__all__ = ["__checkpoint__", "__modules__", "__version__"]
