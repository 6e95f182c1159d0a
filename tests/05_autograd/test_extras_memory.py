"""Module 05 (Autograd) extras: what the reference's graph holds, and when it lets go.

The course-API side of the memory promise is test_bugs_memory.py (weakrefs to Tensors only,
"alive" only for leaves). Here the reference's own layout is pinned: a Function's
``inputs`` (the input Tensors, ``None`` once released), the intermediate Tensors a live or
retained graph keeps, an output that its node never holds, the error words of a second
backward, ``.grad`` as exactly ``np.ndarray``, and ``no_grad()`` recording nothing.
Every test runs with the cyclic collector off (``gc_disabled()``).
"""

import weakref

import numpy as np
import pytest
from course_api import Function, Linear, MSELoss, ReLU, Sigmoid, Tensor
from reference_extras import no_grad
from tinytorch_testing import gc_disabled

pytestmark = pytest.mark.memory


@pytest.mark.extra("internals")
def test_dropping_loss_and_output_frees_the_graph():
    with gc_disabled():
        x = Tensor(np.ones((4, 3)), requires_grad=True)
        layer = Linear(3, 2)
        hidden = ReLU()(layer(x))
        out = Sigmoid()(hidden)
        loss = MSELoss()(out, Tensor(np.zeros((4, 2))))
        # inside the loss: the squared error that its mean reads (only loss's graph holds it),
        # reached through the reference's Function.inputs
        squared = loss._grad_fn.inputs[0]
        probes = [weakref.ref(hidden), weakref.ref(out), weakref.ref(squared)]
        del hidden, squared
        assert probes[0]() is not None  # held by the graph of out (and loss)
        assert probes[2]() is not None
        del loss
        assert probes[0]() is not None  # still held by out's graph
        assert probes[2]() is None  # the loss's part of the graph went with it
        del out
        assert [p() for p in probes] == [None, None, None]  # no gc.collect() needed
        assert x.grad is None
        assert layer.weight._grad_fn is None


@pytest.mark.extra("internals")
def test_an_output_is_not_kept_alive_by_its_own_node():
    # exp saves its output's VALUE for backward; the node must not refer to the output
    # Tensor (that would be a cycle: output -> node -> output)
    with gc_disabled():
        x = Tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        node = y._grad_fn
        assert isinstance(node, Function)
        probe = weakref.ref(y)
        del y
        assert probe() is None
        assert node.inputs[0] is x  # the node itself lives on (we hold it) and still works


@pytest.mark.extra("internals", "wording")
def test_saved_values_are_released_by_backward():
    with gc_disabled():
        x = Tensor(np.linspace(-1, 1, 6), requires_grad=True)
        hidden = (x * 2).exp()  # only the graph will hold this tensor
        probe = weakref.ref(hidden)
        loss = (hidden * x).sum()
        del hidden
        assert probe() is not None
        loss.backward()
        assert probe() is None  # released right after backward, while loss is still alive
        assert loss._grad_fn.inputs is None
        xv = np.linspace(-1, 1, 6).astype(np.float32).astype(np.float64)
        # d/dx sum(exp(2x) x) = exp(2x) (2x + 1)
        np.testing.assert_allclose(x.grad, np.exp(2 * xv) * (2 * xv + 1), rtol=1e-5)
        with pytest.raises(RuntimeError, match="retain_graph"):
            loss.backward()


@pytest.mark.extra("internals")
def test_retain_graph_keeps_saved_values_until_the_loss_is_dropped():
    with gc_disabled():
        x = Tensor([1.0, 2.0], requires_grad=True)
        hidden = x * x
        probe = weakref.ref(hidden)
        loss = (hidden * 3).sum()
        del hidden
        loss.backward(retain_graph=True)
        assert probe() is not None  # the reference's retained graph holds its input Tensors
        loss.backward()  # the second pass, without retain_graph, frees it
        assert probe() is None
        np.testing.assert_array_equal(x.grad, [12.0, 24.0])  # 2 * 6x


@pytest.mark.extra("no_grad")
def test_no_grad_results_do_not_hold_their_inputs():
    with gc_disabled():
        x = Tensor([1.0, 2.0], requires_grad=True)
        with no_grad():
            y = (x * 2).exp()
        probe = weakref.ref(x)
        del x
        assert probe() is None
        np.testing.assert_allclose(y.data, np.exp([2.0, 4.0]), rtol=1e-6)
        # the contrast: with recording on, the result keeps its inputs (for backward)
        x2 = Tensor([1.0, 2.0], requires_grad=True)
        y2 = x2 * 2
        probe2 = weakref.ref(x2)
        del x2
        assert probe2() is not None
        del y2
        assert probe2() is None


@pytest.mark.extra("internals")
def test_a_leaf_grad_holds_no_graph():
    with gc_disabled():
        w = Tensor(np.ones((3, 2)), requires_grad=True)
        h = Tensor(np.ones((4, 3))) @ w
        probe = weakref.ref(h)
        h.sum().backward()
        del h
        assert probe() is None
        # exactly a plain ndarray (not even the reference's tracked subclass that .data is)
        assert type(w.grad) is np.ndarray
        np.testing.assert_array_equal(w.grad, np.full((3, 2), 4.0))
