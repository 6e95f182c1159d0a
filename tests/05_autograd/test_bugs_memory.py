"""Module 05 (Autograd) bugs: graphs that outlive their use.

API.md: the graph holds no reference cycles, so dropping the loss and outputs frees it by
reference counting alone; ``backward()`` releases the values the graph saved, and a second
``backward()`` through a freed graph raises unless ``retain_graph=True`` was passed.

Each test runs with the cyclic garbage collector off (``gc_disabled()``), so only reference
counting can free anything: a reference cycle shows up as a Tensor that stays alive, seen
through a ``weakref`` to it. Which Tensors a graph holds while it lives is the implementation's
choice, with one exception: it must hold the leaves it will send gradients to. So "still
alive" is only asserted of such leaves (the reference's own choices: test_extras_memory.py);
"freed" is asserted of every Tensor once nothing of the user's refers to it.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from course_api import (
    CrossEntropyLoss,
    Function,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    Tensor,
)
from tinytorch_testing import f32, gc_disabled, linear_with, param, ref_sigmoid

pytestmark = pytest.mark.memory


def assert_second_backward_refused(loss):
    """A backward() through a graph already freed must raise (API.md: "a clear error")."""
    try:
        loss.backward()
    except Exception:  # API.md fixes no type
        return
    pytest.fail("a second backward() through a freed graph returned instead of raising")


def test_dropping_loss_and_output_frees_the_graph():
    with gc_disabled():
        x = Tensor(np.ones((4, 3)))
        layer = Linear(3, 2)
        gain = param([1.5, 0.5])  # a leaf that only the graph will refer to
        hidden = ReLU()(layer(x))
        out = Sigmoid()(hidden * gain)
        diff = out - Tensor(np.full((4, 2), 0.25))  # only the loss's graph needs this
        loss = MSELoss()(diff, Tensor(np.zeros((4, 2))))
        assert isinstance(loss._grad_fn, Function)
        probes = {name: weakref.ref(t) for name, t in [("hidden", hidden), ("gain", gain)]}
        probes["diff"] = weakref.ref(diff)
        del hidden, gain, diff
        assert probes["gain"]() is not None  # out's graph must still reach the leaf
        del loss
        assert probes["diff"]() is None  # the loss's part of the graph went with it
        assert probes["gain"]() is not None  # still held by out's graph
        del out
        assert {name: probe() for name, probe in probes.items()} == dict.fromkeys(probes)
        assert layer.weight.grad is None  # nothing ran backward


def test_graph_is_freed_after_backward_once_the_loss_is_dropped():
    with gc_disabled():
        gain = param([2.0, -1.0])
        hidden = Tensor([[1.0, 2.0], [3.0, 4.0]]) * gain
        loss = (hidden * hidden).sum()  # sum (x gain)^2: d/dgain_j = 2 gain_j sum_i x_ij^2
        probes = [weakref.ref(gain), weakref.ref(hidden)]
        del hidden
        leaf = probes[0]()
        del gain
        loss.backward()
        np.testing.assert_allclose(leaf.grad, [2 * 2.0 * 10.0, 2 * -1.0 * 20.0])
        del leaf, loss
        assert [probe() for probe in probes] == [None, None]


@pytest.mark.parametrize(
    "forward",
    [
        lambda x: x.exp(),
        lambda x: x.sqrt(),
        lambda x: Sigmoid()(x),
        lambda x: Tanh()(x),
        lambda x: Softmax()(x),
    ],
    ids=["exp", "sqrt", "sigmoid", "tanh", "softmax"],
)
def test_an_output_is_not_kept_alive_by_its_own_node(forward):
    # these rules can use their output's VALUE for backward; the node must not hold the
    # output Tensor with the output holding the node (a cycle that refcounting never frees)
    with gc_disabled():
        x = param([1.0, 2.0])
        y = forward(x)
        grad_fn = getattr(y, "_grad_fn", None)
        assert isinstance(grad_fn, Function), (
            f"the result was not recorded: its _grad_fn is {grad_fn!r}, not a Function"
        )
        probe = weakref.ref(y)
        del y
        assert probe() is None


def test_saved_values_are_released_by_backward():
    with gc_disabled():
        x = param(np.linspace(-1, 1, 6))
        hidden = x * x  # x's gradient reads it, and only the graph will hold it
        probe = weakref.ref(hidden)
        loss = (hidden * x).sum()
        del hidden
        loss.backward()
        assert probe() is None, "backward() kept a saved value alive while the loss lives"
        xv = f32(np.linspace(-1, 1, 6))
        # d/dx sum(x^3) = 3 x^2
        np.testing.assert_allclose(x.grad, 3 * xv * xv, rtol=1e-5)
        assert_second_backward_refused(loss)


def test_retain_graph_allows_a_second_backward_then_frees():
    with gc_disabled():
        x = param([1.0, 2.0])
        hidden = x * x
        probe = weakref.ref(hidden)
        loss = (hidden * hidden).sum()  # sum x^4: d/dx = 4 x^3 = [4, 32]
        del hidden
        loss.backward(retain_graph=True)
        np.testing.assert_array_equal(x.grad, [4.0, 32.0])
        loss.backward()  # the second pass, without retain_graph, frees it
        np.testing.assert_array_equal(x.grad, [8.0, 64.0])  # and adds the same again
        assert probe() is None
        assert_second_backward_refused(loss)
        np.testing.assert_array_equal(x.grad, [8.0, 64.0])


def test_a_retained_graph_is_freed_when_the_loss_is_dropped():
    with gc_disabled():
        gain = param([3.0])
        loss = (Tensor([2.0]) * gain * gain).sum()  # 2 gain^2: d/dgain = 4 gain = 12
        probe = weakref.ref(gain)
        del gain
        loss.backward(retain_graph=True)
        np.testing.assert_array_equal(probe().grad, [12.0])
        del loss
        assert probe() is None


def test_a_result_keeps_its_leaf_until_it_is_dropped():
    with gc_disabled():
        x = param([1.0, 2.0])
        y = x * 2
        probe = weakref.ref(x)
        del x
        leaf = probe()  # the graph sends y's gradient to x: it must still reach it
        assert leaf is not None
        y.backward(np.array([1.0, 3.0]))
        np.testing.assert_array_equal(leaf.grad, [2.0, 6.0])
        del leaf, y
        assert probe() is None


def test_a_leaf_grad_holds_no_graph():
    with gc_disabled():
        w = param(np.ones((3, 2)))
        h = Tensor(np.ones((4, 3))).matmul(w)
        probe = weakref.ref(h)
        h.sum().backward()
        del h
        assert probe() is None
        # a plain array: nothing that points into a graph
        assert isinstance(w.grad, np.ndarray)
        assert not isinstance(w.grad, Tensor)
        np.testing.assert_array_equal(w.grad, np.full((3, 2), 4.0))


def test_training_steps_free_every_tensor_they_make():
    # weakrefs to every Tensor of each step's graph, also for a graph dropped without
    # backward: all dead after the step, by reference counting alone
    layer = linear_with(np.eye(3) * 0.5 + 0.1, [0.0, 0.0, 0.0])  # every ReLU open
    x, labels = Tensor(np.ones((2, 3))), Tensor([0, 2])
    with gc_disabled():
        for _ in range(3):
            layer.weight.zero_grad()
            hidden = layer(x)
            active = ReLU()(hidden)
            loss = CrossEntropyLoss()(active, labels)
            probes = [weakref.ref(t) for t in (hidden, active, loss)]
            del hidden, active
            loss.backward()
            assert layer.weight.grad.shape == (3, 3)
            layer.weight.data -= 0.1 * layer.weight.grad
            del loss
            unbacked = (layer(x) * 2).sum()  # a graph dropped without backward
            probes.append(weakref.ref(unbacked))
            del unbacked
            assert [probe() for probe in probes] == [None] * 4


def test_training_steps_create_no_reference_cycles():
    # With DEBUG_SAVEALL, gc.collect() keeps every object it finds unreachable in
    # gc.garbage: after steps run with gc off, no Tensor or Function may be among them.
    # (gc.collect() here only finds cycles; nothing relies on it to free memory.)
    layer = linear_with(np.eye(3) * 0.5 + 0.1, [0.0, 0.0, 0.0])  # every ReLU open
    x, labels = Tensor(np.ones((2, 3))), Tensor([0, 2])
    gc.collect()
    old_flags = gc.get_debug()
    losses = []
    with gc_disabled():
        try:
            gc.set_debug(gc.DEBUG_SAVEALL)
            for _ in range(5):
                layer.weight.zero_grad()
                loss = CrossEntropyLoss()(ReLU()(layer(x)), labels)
                loss.backward()
                losses.append(float(loss.data))
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
    assert losses[-1] < losses[0]  # the steps did train


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


def test_a_dropped_sigmoid_graph_frees_its_saved_output_value():
    # sigmoid's rule reads its output; once the graph is dropped, so is that value's Tensor
    with gc_disabled():
        x = param(f32([0.0, 1.0]))
        y = Sigmoid()(x)
        loss = (y * Tensor([1.0, 2.0])).sum()
        probe = weakref.ref(y)
        del y
        loss.backward()
        s = ref_sigmoid(f32([0.0, 1.0]))
        np.testing.assert_allclose(x.grad, s * (1 - s) * [1.0, 2.0], rtol=1e-6)
        del loss
        assert probe() is None
