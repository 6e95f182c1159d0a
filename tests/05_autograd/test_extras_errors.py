"""Module 05 (Autograd) bugs, the reference's extras: the exact refusals of backward().

The course-API side is test_bugs_errors.py (API.md fixes that these raise, not with what). Here
the reference's exception types and words (feature ``wording``), and the refusals API.md does
not require of every implementation: backward() on a tensor that does not require grad, and
a gradient whose shape is not the tensor's. Each refusal sits next to a control that must work.
"""

import re

import numpy as np
import pytest
from course_api import Linear, Tanh, Tensor

pytestmark = [pytest.mark.gradient, pytest.mark.extra("wording")]


@pytest.mark.memory
def test_backward_twice_without_retain_graph_names_retain_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


@pytest.mark.memory
def test_backward_through_a_freed_subgraph_names_retain_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    first = h.sum()
    second = (h * 2).sum()
    first.backward()
    np.testing.assert_allclose(x.grad, np.exp(np.float32([1.0, 2.0])), rtol=1e-6)
    with pytest.raises(RuntimeError, match="retain_graph"):
        second.backward()


@pytest.mark.accumulation
def test_after_retained_passes_the_last_one_frees_the_graph():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = (Tanh()(layer(x)) ** 2).mean()
    loss.backward(retain_graph=True)
    once = x.grad.copy()
    assert np.abs(once).sum() > 0
    loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * once)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


@pytest.mark.parametrize("shape", [(2,), (2, 3), (1, 2)])
def test_non_scalar_backward_without_gradient_names_the_shape(shape):
    x = Tensor(np.ones(shape), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element.*" + re.escape(str(shape))):
        y.backward()
    assert x.grad is None
    y.backward(np.ones(shape))  # the refused call left the graph whole
    np.testing.assert_array_equal(x.grad, np.full(shape, 2.0))


@pytest.mark.parametrize(
    "make",
    [lambda: Tensor([1.0]), lambda: Tensor([1.0, 2.0]).sum(), lambda: Tensor(3.0) * 2],
    ids=["leaf", "sum", "mul"],
)
def test_backward_on_tensor_that_does_not_require_grad_raises(make):
    with pytest.raises(RuntimeError, match="does not require grad"):
        make().backward()
    # control: the same with an input that requires grad works
    x = Tensor([1.0], requires_grad=True)
    (x * 2).backward()
    np.testing.assert_array_equal(x.grad, [2.0])


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
    y.backward(np.ones(out_shape))  # control: the right shape, through the same graph
    np.testing.assert_array_equal(x.grad, np.full(out_shape, 2.0))
