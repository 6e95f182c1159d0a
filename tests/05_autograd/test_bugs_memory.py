"""Module 05 (Autograd) bugs: graphs that outlive their use.

API.md: the graph holds no reference cycles, so dropping the loss and outputs frees it by
reference counting alone; ``backward()`` releases the values the graph saved, and a second
``backward()`` through a freed graph raises unless ``retain_graph=True`` was passed.

Each test runs with the cyclic garbage collector disabled (``gc.disable()``, re-enabled in
``finally``), so only reference counting can free anything: a reference cycle in the graph
shows up as an object that stays alive, instead of being hidden by a lucky collection.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from tinytorch_testing import gc_disabled

from tinytorch.core.activations import ReLU, Sigmoid
from tinytorch.core.autograd import Function, no_grad
from tinytorch.core.layers import Linear
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.memory


def test_dropping_loss_and_output_frees_the_graph():
    with gc_disabled():
        x = Tensor(np.ones((4, 3)), requires_grad=True)
        layer = Linear(3, 2)
        hidden = ReLU()(layer(x))
        out = Sigmoid()(hidden)
        loss = MSELoss()(out, Tensor(np.zeros((4, 2))))
        # inside the loss: the squared error that its mean reads (only loss's graph holds it)
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


def test_retain_graph_keeps_saved_values_until_the_loss_is_dropped():
    with gc_disabled():
        x = Tensor([1.0, 2.0], requires_grad=True)
        hidden = x * x
        probe = weakref.ref(hidden)
        loss = (hidden * 3).sum()
        del hidden
        loss.backward(retain_graph=True)
        assert probe() is not None
        loss.backward()  # the second pass, without retain_graph, frees it
        assert probe() is None
        np.testing.assert_array_equal(x.grad, [12.0, 24.0])  # 2 * 6x


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


def test_a_leaf_grad_holds_no_graph():
    with gc_disabled():
        w = Tensor(np.ones((3, 2)), requires_grad=True)
        h = Tensor(np.ones((4, 3))) @ w
        probe = weakref.ref(h)
        h.sum().backward()
        del h
        assert probe() is None
        assert type(w.grad) is np.ndarray  # a plain array: nothing that points into a graph
        np.testing.assert_array_equal(w.grad, np.full((3, 2), 4.0))


def test_training_steps_create_no_reference_cycles():
    # With DEBUG_SAVEALL, gc.collect() keeps every object it finds unreachable in
    # gc.garbage: after steps run with gc off, no Tensor or Function may be among them.
    layer = Linear(3, 3)
    x, labels = Tensor(np.ones((2, 3))), [0, 2]
    gc.collect()
    old_flags = gc.get_debug()
    with gc_disabled():
        try:
            gc.set_debug(gc.DEBUG_SAVEALL)
            for _ in range(5):
                layer.weight.zero_grad()
                loss = CrossEntropyLoss()(ReLU()(layer(x)), labels)
                loss.backward()
                layer.weight.data -= 0.1 * layer.weight.grad
                del loss
                unbacked = (layer(x) * 2).sum()  # a graph dropped without backward
                del unbacked
            gc.collect()
            leaked = [o for o in gc.garbage if isinstance(o, (Tensor, Function))]
        finally:
            gc.set_debug(old_flags)
            gc.garbage.clear()
    assert leaked == []


def test_long_training_loop_memory_stays_flat():
    """1,000 SGD steps of a small MLP: traced memory after step 1000 ~= after step 100.

    Bound: 64 KiB of growth over the 900 steps from step 100 to step 1000. A step builds ~10
    nodes and ~30 arrays of up to (16, 8) float32 (512 B of data + ~100 B of header each):
    keeping even ONE such array per step would add ~550 KB, one bare 56-byte Python object
    per step ~50 KB (close to the bound), and a whole retained graph (several KB per step)
    megabytes. Measured growth without any leak is a few hundred bytes (allocator noise:
    numpy's small-array cache, dict resizing), two orders of magnitude below the bound.

    One bounded effect is not noise but would look like growth: CPython keeps up to 2,000
    freed tuples of each small size for reuse, and tuples that enter those free lists while
    tracing count as traced memory; they fill up over the first few hundred steps (~110 KB)
    and then stay full. Filling them before the loop (a throw-away list of small tuples)
    makes that happen up front. Step 100 is the baseline so that one-time allocations
    (first-call caches) are over.
    """
    rng = np.random.default_rng(0)
    l1, l2 = Linear(4, 8), Linear(8, 1)
    for layer in (l1, l2):
        layer.weight = Tensor(rng.standard_normal(layer.weight.shape) * 0.3, requires_grad=True)
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    x = Tensor(rng.standard_normal((16, 4)))
    t = Tensor(rng.standard_normal((16, 1)))
    loss_fn, relu = MSELoss(), ReLU()
    losses = []
    was_tracing = tracemalloc.is_tracing()
    with gc_disabled():
        if not was_tracing:
            tracemalloc.start()
        scratch = [tuple(range(n)) for n in range(1, 8) for _ in range(2500)]
        del scratch  # fills the tuple free lists with traced tuples (see the docstring)
        try:
            for step in range(1, 1001):
                for p in params:
                    p.zero_grad()
                loss = loss_fn(l2(relu(l1(x))), t)
                loss.backward()
                for p in params:
                    p.data -= 0.01 * p.grad
                if step == 100:
                    at_100 = tracemalloc.get_traced_memory()[0]
                if step in (1, 1000):
                    losses.append(float(loss.data))
                del loss
            at_1000 = tracemalloc.get_traced_memory()[0]
        finally:
            if not was_tracing:
                tracemalloc.stop()
    assert losses[1] < losses[0]  # it did train
    growth = at_1000 - at_100
    assert growth < 64 * 1024, f"traced memory grew by {growth} bytes over 900 steps"
