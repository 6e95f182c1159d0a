"""Module 05 (Autograd) bugs: backward() misuse is refused, and its options work.

API.md, "05 Autograd": a second backward() through a freed graph raises unless
retain_graph=True; backward() without a gradient needs a one-element tensor (a larger one
raises); the gradient, when given, may be a Tensor, an ndarray or a scalar. API.md fixes no
exception type for these refusals, so a test here checks only that one is raised, next to a
control that must work; the reference's types and words (and its refusals that API.md does
not require: a tensor that does not require grad, a gradient of the wrong shape) are in
test_extras_errors.py. Every gradient handed out is new memory (API.md, Aliasing).
"""

import numpy as np
import pytest
from course_api import Linear, Sigmoid, Tensor
from tinytorch_testing import f32, ref_sigmoid

pytestmark = pytest.mark.gradient


def assert_refused(call, what):
    """call() must raise (API.md fixes no type); fail naming the rule if it returns."""
    try:
        call()
    except Exception:  # API.md fixes no type
        return
    pytest.fail(f"{what}: it returned instead of raising (API.md 05)")


def backward_with(out, gradient):
    """out.backward(gradient), failing with the rule's name if this form is refused."""
    try:
        out.backward(gradient)
    except Exception as error:  # any failure here is the gradient form's
        pytest.fail(
            f"backward(gradient) with a {type(gradient).__name__} raised {error!r}; API.md 05:"
            " the gradient may be a Tensor, an ndarray or a scalar"
        )


@pytest.mark.memory
def test_backward_twice_without_retain_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert_refused(loss.backward, "a second backward() without retain_graph=True")
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # the refused pass added nothing


@pytest.mark.memory
def test_backward_through_a_freed_subgraph_raises():
    # the second loss shares the first one's (already freed) part of the graph
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    first = h.sum()
    second = (h * 2).sum()
    first.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert_refused(second.backward, "backward() through a part of a graph already freed")


@pytest.mark.accumulation
def test_retain_graph_twice_gives_exactly_double():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2)
    xv = rng.standard_normal((4, 3))
    x = Tensor(xv, requires_grad=True)
    y = Sigmoid()(layer(x))
    loss = (y * y).sum() * 0.125
    loss.backward(retain_graph=True)
    # by hand: L = sum(s(z)^2) / 8, z = x W + b; dL/dz = 2 s(z)^2 (1 - s(z)) / 8
    w, b = (p.data.astype(np.float64) for p in (layer.weight, layer.bias))
    t = ref_sigmoid(f32(xv) @ w + b)
    dz = 2 * t * t * (1 - t) / t.size
    for p, expected in ((layer.weight, f32(xv).T @ dz), (layer.bias, dz.sum(0)), (x, dz @ w.T)):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-4, atol=1e-7)
    once = [p.grad.copy() for p in (layer.weight, layer.bias, x)]
    loss.backward(retain_graph=True)
    for p, g in zip((layer.weight, layer.bias, x), once, strict=True):
        np.testing.assert_array_equal(p.grad, 2 * g)  # exactly: g + g is exact
    loss.backward()
    for p, g in zip((layer.weight, layer.bias, x), once, strict=True):
        np.testing.assert_allclose(p.grad, 3 * g, rtol=1e-6)
    assert_refused(loss.backward, "backward() after the last one without retain_graph=True")


@pytest.mark.parametrize("shape", [(2,), (2, 3), (1, 2)])
def test_non_scalar_backward_without_gradient_raises(shape):
    x = Tensor(np.ones(shape), requires_grad=True)
    y = x * 2
    assert_refused(y.backward, "backward() without a gradient on a tensor of many elements")
    assert x.grad is None
    # control: with a gradient of its shape, the same kind of graph differentiates
    x = Tensor(np.ones(shape), requires_grad=True)
    (x * 2).backward(np.full(shape, 0.5))
    np.testing.assert_array_equal(x.grad, np.ones(shape))


def test_explicit_gradient_equals_gradient_of_weighted_sum():
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    x1 = Tensor(xv, requires_grad=True)
    (x1 * x1 * Tensor(wv)).backward(g)
    x2 = Tensor(xv, requires_grad=True)
    (x2 * x2 * Tensor(wv) * Tensor(g)).sum().backward()
    # both equal the hand gradient 2 x w g
    np.testing.assert_allclose(x1.grad, 2 * f32(xv) * f32(wv) * f32(g), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x1.grad, x2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make_gradient",
    [
        lambda: Tensor([[1.0, -2.0]]),
        lambda: np.array([[1.0, -2.0]]),
        lambda: np.array([[1.0, -2.0]], dtype=np.float32),
    ],
    ids=["tensor", "float64-ndarray", "float32-ndarray"],
)
def test_gradient_may_be_a_tensor_or_an_ndarray(make_gradient):
    x = Tensor([[3.0, 4.0]], requires_grad=True)
    backward_with(x * x, make_gradient())
    np.testing.assert_array_equal(x.grad, [[6.0, -16.0]])
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(), (1,)])
@pytest.mark.parametrize(
    "scalar", [3.0, 3, np.float32(3.0), np.float64(3.0)], ids=["float", "int", "f32", "f64"]
)
def test_scalar_gradient_for_a_one_element_output(shape, scalar):
    x = Tensor(np.full(shape, 2.0), requires_grad=True)
    backward_with(x * x, scalar)
    assert isinstance(x.grad, np.ndarray)
    assert x.grad.shape == shape
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.full(shape, 12.0))


def test_backward_on_a_leaf_itself():
    x = Tensor([5.0], requires_grad=True)
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0])
    m = Tensor([[1.0, 2.0]], requires_grad=True)
    m.backward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(m.grad, [[3.0, 4.0]])


THROUGH = {
    "leaf": lambda t: t,
    "reshape-same": lambda t: t.reshape(1, 2),
    "reshape": lambda t: t.reshape(2).reshape(1, 2),
    "transpose": lambda t: t.transpose().transpose(),
    "add0": lambda t: t + 0,
    "mul1": lambda t: t * 1,
    "getitem": lambda t: t[0:1],
}
GRADIENT_FORMS = {
    "float32-ndarray": lambda: np.array([[3.0, 4.0]], dtype=np.float32),
    "tensor": lambda: Tensor([[3.0, 4.0]]),
}
# The ndarray form through every rule; a Tensor gradient becomes an array once, at the root,
# which then flows like the ndarray form: so the Tensor form at a leaf root and through one
# rule that passes its gradient on unchanged (whether backward accepts a Tensor at all is
# test_gradient_may_be_a_tensor_or_an_ndarray's business).
HANDED_GRADIENTS = [
    pytest.param(THROUGH[through], GRADIENT_FORMS[form], id=f"{through}-{form}")
    for through, form in [
        *((through, "float32-ndarray") for through in THROUGH),
        ("leaf", "tensor"),
        ("add0", "tensor"),
    ]
]


@pytest.mark.accumulation
@pytest.mark.parametrize(("through", "make_gradient"), HANDED_GRADIENTS)
def test_gradient_handed_to_backward_is_never_stored_as_is(through, make_gradient):
    # API.md, Aliasing: a .grad is new memory, even where the gradient passes through
    # unchanged; writing into the caller's gradient later must not move .grad
    m = Tensor([[1.0, 2.0]], requires_grad=True)
    gradient = make_gradient()
    array = gradient.data if isinstance(gradient, Tensor) else gradient
    backward_with(through(m), gradient)
    np.testing.assert_array_equal(m.grad, [[3.0, 4.0]])
    assert m.grad.dtype == np.float32
    assert not np.shares_memory(m.grad, array)
    assert not np.shares_memory(m.grad, m.data)
    array[...] = 0.0
    np.testing.assert_array_equal(m.grad, [[3.0, 4.0]])


@pytest.mark.accumulation
def test_two_leaves_fed_one_gradient_get_separate_grads():
    # add hands the same gradient to both inputs: each leaf still gets its own array
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    gradient = np.array([0.5, -1.0], dtype=np.float32)
    (a + b).backward(gradient)
    np.testing.assert_array_equal(a.grad, [0.5, -1.0])
    np.testing.assert_array_equal(b.grad, [0.5, -1.0])
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, gradient)
    assert not np.shares_memory(b.grad, gradient)
    a.grad[...] = 7.0
    np.testing.assert_array_equal(b.grad, [0.5, -1.0])
