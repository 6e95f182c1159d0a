"""Fixtures of tests/02_activations, shared by its course-API tests and its extras.

Imports no tinytorch.
"""

import pytest
from tinytorch_testing import numpy_strict


@pytest.fixture
def strict_numpy():
    """Any numpy RuntimeWarning or floating-point error in the test fails it."""
    with numpy_strict():
        yield
