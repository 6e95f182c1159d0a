"""Which checkpoint this copy of tinytorch is.

matrix/build.py replaces this file in every checkpoint wheel. The values here describe a
source checkout, which is no checkpoint: build and install one with ``nox -s moduleNN``.
"""

__version__ = "0.1.0"
CHECKPOINT = None
MODULES = ()
