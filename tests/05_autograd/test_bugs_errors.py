"""Module 05 (Autograd) bugs: backward() misuse gets a clear error, and its options work.

API.md, "05 Autograd": a second backward() through a freed graph raises unless
retain_graph=True; backward() without a gradient needs a one-element tensor; the gradient,
when given, may be a Tensor, an ndarray or a scalar and must have the tensor's shape;
backward() on a tensor that does not require grad raises.
"""

import re

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (importing module 05 turns autograd on)
from tinytorch.core.activations import Tanh
from tinytorch.core.layers import Linear
from tinytorch.core.tensor import Tensor

pytestmark = pytest.mark.gradient


@pytest.mark.memory
def test_backward_twice_without_retain_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # the refused pass added nothing


@pytest.mark.memory
def test_backward_through_a_freed_subgraph_raises():
    # the second loss shares the first one's (already freed) part of the graph
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    first = h.sum()
    second = (h * 2).sum()
    first.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        second.backward()


@pytest.mark.accumulation
def test_retain_graph_twice_gives_exactly_double():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = (Tanh()(layer(x)) ** 2).mean()
    loss.backward(retain_graph=True)
    once = [p.grad.copy() for p in (layer.weight, layer.bias, x)]
    loss.backward(retain_graph=True)
    for p, g in zip((layer.weight, layer.bias, x), once, strict=True):
        np.testing.assert_array_equal(p.grad, 2 * g)  # exactly: g + g is exact
    loss.backward()
    for p, g in zip((layer.weight, layer.bias, x), once, strict=True):
        np.testing.assert_allclose(p.grad, 3 * g, rtol=1e-6)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


@pytest.mark.parametrize("shape", [(2,), (2, 3), (1, 2)])
def test_non_scalar_backward_without_gradient_raises_naming_the_shape(shape):
    x = Tensor(np.ones(shape), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element.*" + re.escape(str(shape))):
        y.backward()
    assert x.grad is None


def test_explicit_gradient_equals_gradient_of_weighted_sum():
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    x1 = Tensor(xv, requires_grad=True)
    (x1**2 * Tensor(wv)).backward(g)
    x2 = Tensor(xv, requires_grad=True)
    (x2**2 * Tensor(wv) * Tensor(g)).sum().backward()
    # both equal the hand gradient 2 x w g
    x32, w32, g32 = (v.astype(np.float32).astype(np.float64) for v in (xv, wv, g))
    np.testing.assert_allclose(x1.grad, 2 * x32 * w32 * g32, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x1.grad, x2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "gradient",
    [Tensor([[1.0, -2.0]]), np.array([[1.0, -2.0]]), np.array([[1.0, -2.0]], dtype=np.float64)],
    ids=["tensor", "ndarray", "float64-ndarray"],
)
def test_gradient_may_be_a_tensor_or_an_ndarray(gradient):
    x = Tensor([[3.0, 4.0]], requires_grad=True)
    (x * x).backward(gradient)
    np.testing.assert_array_equal(x.grad, [[6.0, -16.0]])
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(), (1,)])
def test_scalar_gradient_for_a_one_element_output(shape):
    x = Tensor(np.full(shape, 2.0), requires_grad=True)
    (x * x).backward(3.0)
    np.testing.assert_array_equal(np.asarray(x.grad), np.full(shape, 12.0))


def test_backward_on_a_leaf_itself():
    x = Tensor([5.0], requires_grad=True)
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0])
    m = Tensor([[1.0, 2.0]], requires_grad=True)
    m.backward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(m.grad, [[3.0, 4.0]])


def test_backward_on_tensor_that_does_not_require_grad_raises():
    for t in (Tensor([1.0]), Tensor([1.0, 2.0]).sum(), Tensor(3.0) * 2):
        with pytest.raises(RuntimeError, match="does not require grad"):
            t.backward()


@pytest.mark.parametrize(
    ("out_shape", "grad_shape"), [((2, 3), (3, 2)), ((2, 3), (3,)), ((4,), (2, 2)), ((2,), (3,))]
)
def test_gradient_of_wrong_shape_raises_naming_both_shapes(out_shape, grad_shape):
    x = Tensor(np.ones(out_shape), requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError, match="shape") as caught:
        y.backward(np.ones(grad_shape))
    assert str(grad_shape) in str(caught.value)
    assert str(out_shape) in str(caught.value)
    assert x.grad is None
