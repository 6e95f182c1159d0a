"""The course API of ../shared/API.md, looked up when a test uses a name, never at import.

    from course_api import Linear, Tensor

gives stand-ins that find ``tinytorch.core.layers.Linear`` and ``tinytorch.core.tensor.Tensor``
the moment a test calls, subclasses, reads or ``isinstance``-checks them. A suite file
therefore imports no tinytorch: a name the implementation lacks fails exactly the tests that
use it, each saying which name of which module is missing, and never sinks the whole file.

``COURSE_API`` is the one table of course-API names (module slug -> names), as API.md lists
them; ``name_in(path, name)`` reaches a name under another path (a re-export, such as
``tinytorch.core.training``'s ``MSELoss`` or ``tinytorch.data.loader``). A stand-in compares
by what it stands for only through ``isinstance``/``issubclass``; tests never use ``is`` on it.
"""

import importlib

import pytest

# API.md's module map: slug -> (number, public names). Re-exports are reached with name_in().
COURSE_API = {
    "tensor": (1, ("Tensor",)),
    "activations": (2, ("ReLU", "Sigmoid", "Tanh", "GELU", "Softmax")),
    "layers": (3, ("Layer", "Linear", "Dropout")),
    "losses": (4, ("MSELoss", "CrossEntropyLoss", "BinaryCrossEntropyLoss", "log_softmax")),
    "autograd": (5, ("enable_autograd", "Function")),
    "optimizers": (6, ("Optimizer", "SGD", "Adam", "AdamW")),
    "training": (7, ("Trainer", "CosineSchedule", "clip_grad_norm")),
    "dataloader": (
        8,
        ("Dataset", "TensorDataset", "DataLoader", "RandomHorizontalFlip", "RandomCrop", "Compose"),
    ),
}
COURSE_NAMES = {name: slug for slug, (_, names) in COURSE_API.items() for name in names}


class NameMissing(LookupError):
    """A name (or its whole module) is not in the installed tinytorch; says which."""


def module_label(path):
    """'tinytorch.core.layers' -> 'module 03 (layers)', for messages; other paths as they are."""
    slug = path.rsplit(".", 1)[-1]
    if path.startswith("tinytorch.core.") and slug in COURSE_API:
        return f"module {COURSE_API[slug][0]:02d} ({slug})"
    return path


def import_name(path, name):
    """getattr(import path, name); NameMissing if the module or the name does not exist.

    Any other error while importing the module is the implementation's own failure and is
    re-raised as it is (its test fails with the real traceback)."""
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as error:
        if error.name and (path == error.name or path.startswith(error.name + ".")):
            raise NameMissing(f"{path} is not installed, so {name!r} is missing") from None
        raise
    try:
        return getattr(module, name)
    except AttributeError:
        raise NameMissing(f"{path} has no {name!r}") from None


class LazyName:
    """Stands for `path`.`name` and looks it up on every use (see the module docstring).

    `tier` is "course API" or "extra": it only changes the words of the failure; which
    tests may use an extra is checked by tests/conftest.py."""

    def __init__(self, path, name, tier="course API"):
        self._path, self._name, self._tier = path, name, tier

    def resolve(self):
        try:
            return import_name(self._path, self._name)
        except NameMissing as error:
            missing = str(error)
        pytest.fail(  # outside the except: the message alone, no chained lookup traceback
            f"{self._tier} name missing: {missing} ({module_label(self._path)}, "
            f"../shared/API.md). Every test that uses {self._name} fails for this.",
            pytrace=False,
        )

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attribute):
        if attribute.startswith("__"):  # copy, pickle and pytest probe dunders: not the API
            raise AttributeError(attribute)
        return getattr(self.resolve(), attribute)

    # A stand-in for a table (an extra of the reference's autograd) reads like the table.
    def __getitem__(self, key):
        return self.resolve()[key]

    def __contains__(self, key):
        return key in self.resolve()

    def __iter__(self):
        return iter(self.resolve())

    def __len__(self):
        return len(self.resolve())

    def __bool__(self):  # without it, truth would ask __len__, which a class lacks
        return bool(self.resolve())

    def __instancecheck__(self, instance):
        return isinstance(instance, self.resolve())

    def __subclasscheck__(self, subclass):
        return issubclass(subclass, self.resolve())

    def __mro_entries__(self, bases):
        # `class MyLayer(Layer)` runs at import: a missing base must not sink the file, so
        # the subclass gets a base that fails (naming the name) when it is instantiated.
        try:
            return (import_name(self._path, self._name),)
        except Exception:  # missing, or its module broke: the tests say which, one by one
            return (_missing_base(self),)

    def __repr__(self):
        return f"<{self._tier} name {self._path}.{self._name}>"


def _missing_base(lazy):
    def __new__(cls, *args, **kwargs):
        lazy.resolve()  # fails the test, naming the missing name
        raise AssertionError(f"{lazy!r} resolved at import but not now")  # pragma: no cover

    return type(f"Missing_{lazy._name}", (), {"__new__": __new__})


def name_in(path, name, tier="course API"):
    """A stand-in for `name` under a full module path (re-exports, tinytorch.data.loader)."""
    return LazyName(path, name, tier)


def __getattr__(name):
    # `from course_api import Tensor`: PEP 562 hands every course-API name out as a stand-in.
    if name in COURSE_NAMES:
        return LazyName(f"tinytorch.core.{COURSE_NAMES[name]}", name)
    raise AttributeError(f"{name!r} is not a course-API name of ../shared/API.md")
