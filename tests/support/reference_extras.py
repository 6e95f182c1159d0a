"""The reference's extras (API.md, "Two tiers"): what they are, how to tell one is there.

A test of an extra is marked ``@pytest.mark.extra("feature", ...)`` (or a file's
``pytestmark``) with the features of ``EXTRAS`` it needs, and lives in a ``test_extras*.py``
file of its suite, apart from the course-API tests. tests/conftest.py probes the features
before each such test: one the implementation lacks makes the test "missing" (a skip whose
reason starts with ``MISSING``, which the report counts apart), or a failure when the run
requires every extra (``--extras=required``, the default: the reference has them all).

    from reference_extras import Sequential, no_grad

gives stand-ins, as course_api does; using one in a test that is not marked with its feature
fails that test (a course-API test must not lean on an extra).
"""

import numpy as np
import pytest
from course_api import LazyName, NameMissing, import_name

MISSING = "extra missing:"

# The reference's op hook: a package without it is another implementation, which keeps
# internals and error words of its own, so those extras are missing there, not wrong.
REFERENCE_HOOK = ("tinytorch.core.tensor", "Tensor._from_op")

# feature -> (what it is, the names that must exist for it: (module path, dotted attribute))
EXTRAS = {
    "float64": (
        "a float64 mode",
        (
            ("tinytorch.core.tensor", "default_dtype"),
            ("tinytorch.core.tensor", "get_default_dtype"),
        ),
    ),
    "no_grad": ("no_grad()", (("tinytorch.core.autograd", "no_grad"),)),
    "gradcheck": ("gradcheck()", (("tinytorch.core.autograd", "gradcheck"),)),
    "Dense": ("Dense, the audit's name for Linear", (("tinytorch.core.layers", "Dense"),)),
    "Sequential": ("Sequential", (("tinytorch.core.layers", "Sequential"),)),
    "internals": (
        "the reference's private machinery, and behaviours API.md leaves open",
        (REFERENCE_HOOK,),
    ),
    "wording": ("the reference's exact error messages", (REFERENCE_HOOK,)),
    "autograd-internals": (
        "the reference's backward and saved-value tables",
        (("tinytorch.core.autograd", "BACKWARD"), ("tinytorch.core.autograd", "SAVES")),
    ),
    "register_op": (
        "register_op(), how a later module adds a differentiable op",
        (("tinytorch.core.autograd", "register_op"),),
    ),
}
# extra name -> (module path, feature)
EXTRA_NAMES = {
    "default_dtype": ("tinytorch.core.tensor", "float64"),
    "get_default_dtype": ("tinytorch.core.tensor", "float64"),
    "no_grad": ("tinytorch.core.autograd", "no_grad"),
    "gradcheck": ("tinytorch.core.autograd", "gradcheck"),
    "Dense": ("tinytorch.core.layers", "Dense"),
    "Sequential": ("tinytorch.core.layers", "Sequential"),
    "BACKWARD": ("tinytorch.core.autograd", "autograd-internals"),
    "SAVES": ("tinytorch.core.autograd", "autograd-internals"),
    "register_op": ("tinytorch.core.autograd", "register_op"),
}

_running = {"item": None}  # the test being run; tests/conftest.py keeps it current


def set_running(item):
    _running["item"] = item


def features_of(item):
    """The extra features a test is marked with (its own marks and its file's)."""
    return {feature for mark in item.iter_markers("extra") for feature in mark.args}


def has_attribute_path(path, dotted):
    head, *rest = dotted.split(".")
    try:
        value = import_name(path, head)
    except NameMissing:
        return False
    for part in rest:
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def absent_features(features):
    """The features, of those given, that the installed tinytorch lacks (sorted)."""
    absent = []
    for feature in sorted(features):
        _, probes = EXTRAS[feature]
        if not all(has_attribute_path(path, dotted) for path, dotted in probes):
            absent.append(feature)
    return absent


class ExtraName(LazyName):
    def __init__(self, path, name, feature):
        super().__init__(path, name, tier="extra")
        self._feature = feature

    def resolve(self):
        item = _running["item"]
        if item is not None and self._feature not in features_of(item):
            pytest.fail(
                f"{item.nodeid} uses the extra {self._name} but is not marked "
                f'@pytest.mark.extra("{self._feature}"): course-API tests use course-API '
                f"names only (../shared/API.md, Two tiers)",
                pytrace=False,
            )
        return super().resolve()


def __getattr__(name):
    if name in EXTRA_NAMES:
        path, feature = EXTRA_NAMES[name]
        return ExtraName(path, name, feature)
    raise AttributeError(f"{name!r} is not an extra of reference_extras.EXTRA_NAMES")


# --- helpers of extras tests --------------------------------------------------------------


def central_differences(loss_fn, param, eps=1e-6):
    """d loss_fn() / d param (a float64 Tensor), element by element, by central differences:
    each element moved by +-eps in place, loss_fn() re-evaluated under no_grad. Needs the
    extras float64 and no_grad; the course-API check is gradients.assert_gradients_match."""
    from tinytorch.core.autograd import no_grad

    assert param.dtype == np.float64
    numeric = np.zeros(param.shape)
    with no_grad():
        for index in np.ndindex(param.shape):
            original = float(param.data[index])
            param.data[index] = original + eps
            above = float(loss_fn().data)
            param.data[index] = original - eps
            below = float(loss_fn().data)
            param.data[index] = original
            numeric[index] = (above - below) / (2 * eps)
    return numeric


def record_from_op(monkeypatch, fields=("op", "inputs", "attrs")):
    """Replace Tensor._from_op (the reference's autograd hook) by a recorder for the test.

    Returns the list it appends to: one tuple per recorded operation holding `fields`, chosen
    from "out", "op", "inputs", "attrs", in that order. Each result is a plain Tensor(out).
    Needs the extra "internals"."""
    from tinytorch.core.tensor import Tensor

    recorded = []

    def record(out, op, inputs, **attrs):
        call = {"out": out, "op": op, "inputs": inputs, "attrs": attrs}
        recorded.append(tuple(call[field] for field in fields))
        return Tensor(out)

    monkeypatch.setattr(Tensor, "_from_op", staticmethod(record))
    return recorded
