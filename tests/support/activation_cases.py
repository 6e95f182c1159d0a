"""Module 02's activations as test parameters, with their float64 references by name
(tests/02_activations: the course-API tests and the extras).

Imports no tinytorch: the classes are course_api stand-ins.
"""

import numpy as np
import pytest
from course_api import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch_testing import ref_gelu, ref_sigmoid, ref_softmax

CLASSES = {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "GELU": GELU, "Softmax": Softmax}
# float64 references by class name (Softmax along the last axis).
REFERENCE = {
    "ReLU": lambda x: np.maximum(np.asarray(x, dtype=np.float64), 0.0),
    "Sigmoid": ref_sigmoid,
    "Tanh": lambda x: np.tanh(np.asarray(x, dtype=np.float64)),
    "GELU": ref_gelu,
    "Softmax": ref_softmax,
}


def each(names=tuple(CLASSES)):
    """The activation classes (course-API stand-ins) as parameters, with their names as ids."""
    return [pytest.param(name, CLASSES[name], id=name) for name in names]
