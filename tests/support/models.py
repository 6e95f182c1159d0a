"""Small models of the course's layers, shared by the suites (never the extra Sequential).

``Chain``, ``Net`` and ``Scale`` are subclasses of the course's Layer. A class statement
resolves its base at once, which would import tinytorch when this file is imported; so each
class is defined on first use (``built_on_first_use``) and importing this file imports no
tinytorch. The layer builders use course_api stand-ins, looked up when they run.
"""

import functools

import numpy as np
from course_api import Dropout, Layer, Linear, ReLU, Tensor


def built_on_first_use(define):
    """Decorates ``define()``, which defines and returns a Layer subclass: calling the
    decorated name builds an instance, the class being defined (once) on the first call."""
    define_once = functools.cache(define)

    @functools.wraps(define)
    def construct(*args, **kwargs):
        return define_once()(*args, **kwargs)

    return construct


@built_on_first_use
def Chain():  # named like the class it builds: it is called like one
    """Layers called in order: a model of several layers without the extra Sequential."""

    class Chain(Layer):
        def __init__(self, *layers):
            self.layers = layers

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]

    return Chain


@built_on_first_use
def Net():  # named like the class it builds: it is called like one
    """Linear(2, hidden) -> ReLU -> Dropout(p) -> Linear(hidden, classes); forward takes the
    training flag, as Dropout's does, and the model has no ``training`` attribute."""

    class Net(Layer):
        def __init__(self, hidden=8, classes=3, p=0.25):
            self.first, self.drop = Linear(2, hidden), Dropout(p)
            self.last = Linear(hidden, classes)

        def forward(self, x, training=True):
            return self.last(self.drop(ReLU()(self.first(x)), training=training))

        def parameters(self):
            return self.first.parameters() + self.last.parameters()

    return Net


@built_on_first_use
def Scale():  # named like the class it builds: it is called like one
    """A layer multiplying by a factor of its own, Tensor([factor]) requiring grad; its
    __init__ deliberately does not call super().__init__() (API.md: subclasses work without)."""

    class Scale(Layer):
        def __init__(self, factor):  # deliberately no super().__init__()
            self.factor = Tensor([factor], requires_grad=True)

        def forward(self, x):
            return x * self.factor

        def parameters(self):
            return [self.factor]

    return Scale


def linear_of(weight, bias=None):
    """A Linear whose parameters are replaced by new Tensors set by hand (bias None: a layer
    without bias). Unlike tinytorch_testing.linear_with, which writes into the layer's own
    parameters."""
    weight = np.asarray(weight, dtype=np.float64)
    layer = Linear(weight.shape[0], weight.shape[1], bias=bias is not None)
    layer.weight = Tensor(weight, requires_grad=True)
    if bias is not None:
        layer.bias = Tensor(bias, requires_grad=True)
    return layer


def random_linear(rng, n_in, n_out, requires_grad=True):
    """A Linear layer with standard normal weights drawn from rng (not numpy's global
    generator), as new Tensors."""
    layer = Linear(n_in, n_out)
    layer.weight = Tensor(rng.standard_normal((n_in, n_out)), requires_grad=requires_grad)
    layer.bias = Tensor(rng.standard_normal(n_out), requires_grad=requires_grad)
    return layer
