"""Module 05 (Autograd): progressive integration tests of the reference's extras.

The checks of test_progressive_integration.py that lean on something API.md calls an extra:
Dense and Sequential, no_grad, the float64 mode, Function's fields and the reference's graph
(its op names, what it saves, non-leaves without .grad), and exact error words. Classes
keep the names of the audit's classes in that file, so the audit counts them with theirs.
Each test still needs module 05 to work (a backward, a recording), so it fails on a stub.
"""

import weakref

import numpy as np
import pytest
from autograd_checks import close, grad_of, tracked, untracked
from course_api import (
    CrossEntropyLoss,
    Function,
    Linear,
    MSELoss,
    ReLU,
    Tanh,
    Tensor,
    enable_autograd,
)
from models import random_linear
from reference_extras import SAVES, Dense, Sequential, default_dtype, no_grad
from tinytorch_testing import F32, F64, f32, gc_disabled, run_fresh_python


@pytest.mark.regression
class TestPriorStackStillWorking:
    @pytest.mark.extra("Sequential")
    def test_sequential_stable(self):
        rng = np.random.default_rng(0)
        first = random_linear(rng, 3, 2, requires_grad=False)
        second = random_linear(rng, 2, 1, requires_grad=False)
        x = rng.standard_normal((4, 3))
        model = Sequential(first, ReLU(), second)
        out = model(Tensor(x))
        untracked(out)
        w1, b1, w2, b2 = (
            p.data.astype(np.float64)
            for p in (first.weight, first.bias, second.weight, second.bias)
        )
        close(out.data, np.maximum(f32(x) @ w1 + b1, 0) @ w2 + b2)
        # the same Sequential on an input that requires grad: the same values, recorded
        recorded = model(Tensor(x, requires_grad=True))
        tracked(recorded)
        np.testing.assert_array_equal(recorded.data, out.data)

    @pytest.mark.extra("wording")
    def test_backward_on_untracked_result_raises(self):
        y = Tensor([1.0, 2.0]).sum()
        untracked(y)
        with pytest.raises(RuntimeError, match="does not require grad"):
            y.backward()
        x = Tensor([1.0, 2.0], requires_grad=True)  # control: tracked, the same works
        x.sum().backward()
        grad_of(x, [1.0, 1.0], rtol=0, atol=0)


@pytest.mark.gradient
class TestModule05AutogradCore:
    @pytest.mark.extra("internals")
    def test_enable_autograd_records_one_node_straight_onto_the_leaf(self):
        enable_autograd()
        enable_autograd()
        x = Tensor([2.0], requires_grad=True)
        y = x * 3
        # one node per operation, straight onto the leaf: nothing wrapped twice
        assert isinstance(y._grad_fn, Function)
        assert y._grad_fn.op == "mul"
        assert y._grad_fn.inputs[0] is x
        y.sum().backward()
        grad_of(x, [3.0], rtol=0, atol=0)

    @pytest.mark.extra("internals")
    def test_import_tinytorch_turns_autograd_on_with_modules_01_to_05_only(self, tmp_path):
        # A fresh interpreter, with the _checkpoint of a checkpoint-05 wheel standing in for
        # the installed one (tinytorch._checkpoint is the reference's), imports only
        # `tinytorch` and must then record and differentiate, whatever checkpoint runs this.
        script = (
            "import sys, types\n"
            "cp = types.ModuleType('tinytorch._checkpoint')\n"
            "cp.__version__ = '0+cp05'\n"
            "cp.CHECKPOINT = 5\n"
            "cp.MODULES = ('tensor', 'activations', 'layers', 'losses', 'autograd')\n"
            "sys.modules['tinytorch._checkpoint'] = cp\n"
            "import tinytorch\n"
            "from tinytorch.core.tensor import Tensor\n"
            "x = Tensor([3.0], requires_grad=True)\n"
            "y = x * x\n"
            "y.backward()\n"
            "print(y.requires_grad, type(y._grad_fn).__name__, float(x.grad[0]))\n"
            "print(sorted(m for m in sys.modules if m.startswith('tinytorch.core.')))\n"
        )
        done = run_fresh_python(script, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        first, second = done.stdout.splitlines()
        assert first.split() == ["True", "Function", "6.0"]
        assert "tinytorch.core.optimizers" not in second  # module 05 alone turned it on

    @pytest.mark.extra("internals")
    def test_requires_grad_propagation_names_the_op(self):
        a = Tensor([1.0, 2.0], requires_grad=True)
        mixed = a * Tensor([3.0, 4.0])
        assert mixed._grad_fn.op == "mul"
        mixed.sum().backward()
        grad_of(a, [3.0, 4.0], rtol=0, atol=0)

    @pytest.mark.extra("internals")
    def test_non_leaf_tensors_get_no_grad(self):
        # PyTorch's rule, which the reference follows: only leaves keep .grad
        x = Tensor([1.0, -2.0], requires_grad=True)
        h = x * 3
        y = h * h
        y.sum().backward()
        grad_of(x, [18.0, -36.0], rtol=0, atol=0)
        assert h.grad is None
        assert y.grad is None

    @pytest.mark.extra("no_grad", "wording")
    def test_no_grad_records_nothing(self):
        a = Tensor([1.0, 2.0], requires_grad=True)
        with no_grad():
            y = (a * 3 + 1).exp().sum()
            h = ReLU()(a)
        for result in (y, h):
            untracked(result)
        with pytest.raises(RuntimeError, match="does not require grad"):
            y.backward()
        assert a.grad is None
        # recording resumes after the block
        after = a * 3
        assert after.requires_grad is True
        after.sum().backward()
        grad_of(a, [3.0, 3.0], rtol=0, atol=0)

    @pytest.mark.extra("no_grad")
    def test_no_grad_nests_and_restores_after_exception(self):
        a = Tensor([1.0], requires_grad=True)

        def fail_inside():
            with no_grad():
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            fail_inside()
        assert (a * 2).requires_grad is True
        with no_grad():
            with no_grad():
                assert (a * 2).requires_grad is False
            assert (a * 2).requires_grad is False
        assert (a * 2).requires_grad is True

    @pytest.mark.extra("float64")
    @pytest.mark.parametrize(("dtype", "shape"), [(F64, (4,)), (F64, (2, 1, 3)), (F64, ())])
    def test_grad_is_ndarray_of_leaf_shape_and_dtype(self, dtype, shape):
        with default_dtype(dtype):
            x = Tensor(np.ones(shape), requires_grad=True)
            bias = Tensor(np.ones((1,) * len(shape)), requires_grad=True)
            ((x * 2 + bias) * 3).sum().backward()
        assert x.dtype == dtype
        grad_of(x, np.full(shape, 6.0), rtol=0, atol=0)
        grad_of(bias, np.full(bias.shape, 3.0 * int(np.prod(shape))), rtol=0, atol=0)
        assert type(x.grad) is np.ndarray

    @pytest.mark.extra("float64")
    def test_float32_leaf_gets_float32_grad_from_float64_work(self):
        x = Tensor([1.0, 2.0], requires_grad=True)  # float32
        assert x.dtype == F32
        with default_dtype(np.float64):
            y = (x * 2).sum()
        assert y.dtype == F64
        y.backward()
        grad_of(x, [2.0, 2.0], rtol=0, atol=0)


@pytest.mark.integration
class TestAutogradLayerIntegration:
    @pytest.mark.extra("Dense")
    def test_dense_is_linear(self):
        layer = Dense(3, 2)
        assert isinstance(layer, Linear)
        assert type(layer) is type(Linear(3, 2))  # the same class, not a subclass
        x = Tensor([[1, 2, 3]], requires_grad=True)
        layer(x).sum().backward()
        grad_of(layer.weight, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], rtol=0, atol=0)
        grad_of(layer.bias, [1.0, 1.0], rtol=0, atol=0)
        grad_of(x, layer.weight.data.astype(np.float64).sum(axis=1)[np.newaxis, :])

    @pytest.mark.extra("Dense")
    def test_dense_layer_gradients(self):
        rng = np.random.default_rng(5)
        layer = Dense(3, 2)
        assert layer.weight.requires_grad
        assert layer.bias.requires_grad
        xv = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
        x = Tensor(xv, requires_grad=True)
        g = rng.standard_normal((2, 2))
        y = layer(x)
        assert y.requires_grad is True
        y.backward(g)
        w = layer.weight.data.astype(np.float64)
        g32 = f32(g)
        grad_of(layer.weight, xv.T @ g32)  # dW = x^T g
        grad_of(layer.bias, g32.sum(axis=0))  # db = sum g over the batch
        grad_of(x, g32 @ w.T)  # dx = g W^T

    @pytest.mark.extra("Sequential")
    def test_sequential_gradients(self):
        rng = np.random.default_rng(9)
        l1, l2 = random_linear(rng, 2, 3), random_linear(rng, 3, 1)
        model = Sequential(l1, Tanh(), l2)
        assert model.parameters() == [l1.weight, l1.bias, l2.weight, l2.bias]
        xv = rng.standard_normal((4, 2))
        model(Tensor(xv)).sum().backward()
        w1, b1, w2 = (p.data.astype(np.float64) for p in (l1.weight, l1.bias, l2.weight))
        x64 = f32(xv)
        h = np.tanh(x64 @ w1 + b1)
        dy = np.ones((4, 1))
        dz = (dy @ w2.T) * (1 - h**2)
        grad_of(l2.weight, h.T @ dy)
        grad_of(l2.bias, [4.0])
        grad_of(l1.weight, x64.T @ dz)
        grad_of(l1.bias, dz.sum(axis=0))


@pytest.mark.integration
class TestAutogradLossIntegration:
    @pytest.mark.inplace
    @pytest.mark.extra("autograd-internals")
    def test_crossentropy_gradient_is_of_the_logits_it_read(self):
        # The reference's cross-entropy keeps its own log-softmax and saves no logits (SAVES),
        # so a later change of the logits' values (here through .data) neither breaks nor
        # changes the gradient: (softmax - onehot) / N of the logits the loss was computed from.
        assert "a" not in SAVES.get("cross_entropy", "")
        zv = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
        z = Tensor(zv, requires_grad=True)
        loss = CrossEntropyLoss()(z, [1, 0])
        z.data[...] = 100.0
        loss.backward()
        grad_of(z, [[0.25 / 2, -0.25 / 2], [-0.5 / 2, 0.5 / 2]])


@pytest.mark.integration
class TestProgressiveStackIntegration:
    @pytest.mark.extra("Sequential")
    def test_end_to_end_training_step(self):
        rng = np.random.default_rng(14)
        model = Sequential(random_linear(rng, 2, 8), ReLU(), random_linear(rng, 8, 1))
        xv = rng.standard_normal((16, 2))
        tv = (xv[:, :1] * 2 - xv[:, 1:]).astype(np.float64)
        x, t = Tensor(xv), Tensor(tv)
        loss_fn = MSELoss()
        losses = []
        for _ in range(30):
            for p in model.parameters():
                p.zero_grad()
            loss = loss_fn(model(x), t)
            loss.backward()
            losses.append(float(loss.data))
            for p in model.parameters():
                p.data -= 0.05 * p.grad
        assert losses[1] < losses[0]
        assert losses[-1] < 0.5 * losses[0]


class TestAutogradBugPrevention:
    @pytest.mark.inplace
    @pytest.mark.extra("wording")
    def test_inplace_operations(self):
        # the audit's case: x.data[0] = 999 after y = x * 2 must not give a silent gradient;
        # the reference's message names the tensor (its repr) and the operation
        control = Tensor([1, 2, 3], requires_grad=True)
        (control * 2).backward(Tensor([1, 1, 1]))
        grad_of(control, [2.0, 2.0, 2.0], rtol=0, atol=0)
        x = Tensor([1, 2, 3], requires_grad=True)
        y = x * 2
        x.data[0] = 999
        with pytest.raises(RuntimeError, match=r"modified in place.*shape=\(3,\).*input 0 of mul"):
            y.backward(Tensor([1, 1, 1]))
        assert x.grad is None

    @pytest.mark.inplace
    @pytest.mark.extra("autograd-internals")
    def test_inplace_on_unsaved_input_is_fine(self):
        # the reference's add saves neither input (SAVES), so changing them after the forward
        # is no reason to refuse: the gradient is right
        assert SAVES.get("add", "") == ""
        a = Tensor([1.0, 2.0], requires_grad=True)
        b = Tensor([3.0, 4.0], requires_grad=True)
        y = a + b
        a += 10
        b.data[0] = -1
        (y * 3).sum().backward()
        grad_of(a, [3.0, 3.0], rtol=0, atol=0)
        grad_of(b, [3.0, 3.0], rtol=0, atol=0)

    @pytest.mark.memory
    @pytest.mark.extra("internals")
    def test_graph_holds_its_intermediates_until_the_loss_goes(self):
        # the reference's Functions hold their inputs: an intermediate lives as long as the
        # loss does, and goes with it (reference counting alone)
        with gc_disabled():
            x = Tensor(np.ones((8, 8)), requires_grad=True)
            hidden = (x * 2).exp()
            probe = weakref.ref(hidden)
            loss = (hidden * x).sum()
            del hidden
            assert probe() is not None  # the graph of loss holds it
            product = loss._grad_fn.inputs[0]  # sum <- mul(hidden, x)
            assert product._grad_fn.inputs[0] is probe()
            del product
            del loss
            assert probe() is None
