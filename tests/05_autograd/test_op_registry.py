"""Module 05 (autograd), course API: the op registry drives every test of this file.

The registry (tests/support/op_registry.py, PyTorch's OpInfo idea) lists every differentiable
operation of modules 01-04 with sample inputs; test_extras_registry.py runs the reference's
extras over the same table. Here, in the course API's float32, for every (op, sample) pair of
``COURSE_PAIRS`` (the entries whose call needs no extra; indexing with a Tensor key, which
API.md does not promise, is run by test_extras_registry.py only):

- backward()'s gradients equal central differences of our own (tests/support/gradients.py:
  eps 1e-3, rtol 1e-2, atol 1e-3) of ``sum(weight * f(inputs))``, with a fixed, non-uniform
  weight (with a plain sum, softmax's gradient would be 0 whatever its backward rule), scaled
  by a power of two so that the loss stays of order 1, as float32 differences need;
- the result requires grad and has a ``_grad_fn`` that is a ``Function``; ``.grad`` is a
  float32 ndarray of the input's shape; inputs that do not require grad (loss targets) get
  none; the same call on inputs that require no grad records nothing;
- a second graph built from the same leaves adds its gradient into ``.grad`` (twice one
  gradient); two ``backward(retain_graph=True)`` through one graph do too, checked on one
  sample of each op family (the keyword is one rule of the engine, not of each op);
- no gradient shares memory with an input, the output, the upstream gradient or another
  input's ``.grad``, and the output shares none with the inputs (API.md, Aliasing).

Expected gradients come from central differences of the forward pass or from hand formulas,
never from the backward rules under test.
"""

import numpy as np
import pytest
from course_api import Function, Linear, Tensor
from gradients import assert_gradients_match, numerical_gradients, scale_to_one
from op_registry import COURSE_PAIRS, call, make_inputs, plain_inputs, upstream
from tinytorch_testing import F32

pytestmark = [pytest.mark.gradient]


# --- helpers ---------------------------------------------------------------------------------


def loss_weight(op, s):
    """``upstream`` scaled by a power of two (exact) so that sum(|weight * f|) <= 1: the
    rounding error of a float32 loss L, about L * 6e-8 / eps, then stays far below atol."""
    out = np.asarray(call(op, s, plain_inputs(s)).data, dtype=np.float64)
    weight = upstream(op, s, out.shape)
    return weight * scale_to_one(weight * out)


def weighted_loss(op, s, weight):
    """loss(*differentiable inputs) = sum(weight * f(inputs)); the sample's other inputs
    (targets) are fixed Tensors that require no grad."""
    flags = s.grad_flags()

    def loss(*leaves):
        given = iter(leaves)
        inputs = [
            next(given) if flag else Tensor(a) for a, flag in zip(s.arrays, flags, strict=True)
        ]
        return (call(op, s, inputs) * Tensor(weight)).sum()

    return loss


def differentiable_arrays(s):
    return [a for a, flag in zip(s.arrays, s.grad_flags(), strict=True) if flag]


# --- the tests the registry drives -----------------------------------------------------------


@pytest.mark.parametrize(("op", "s"), COURSE_PAIRS)
def test_gradients_match_central_differences(op, s):
    loss = weighted_loss(op, s, loss_weight(op, s))
    assert_gradients_match(loss, differentiable_arrays(s))


@pytest.mark.parametrize(("op", "s"), COURSE_PAIRS)
def test_grad_is_float32_ndarray_of_input_shape(op, s):
    inputs = make_inputs(s)
    out = call(op, s, inputs)
    assert out.dtype == F32
    assert out.requires_grad is True, f"the result of {op.name} was not recorded (requires_grad)"
    grad_fn = getattr(out, "_grad_fn", None)
    assert isinstance(grad_fn, Function), (
        f"the result of {op.name} was not recorded: its _grad_fn is {grad_fn!r}, not a Function"
    )
    out.backward(upstream(op, s, out.shape))
    for index, (t, flag) in enumerate(zip(inputs, s.grad_flags(), strict=True)):
        assert t.dtype == F32
        if not flag:
            assert t.grad is None, f"input {index} does not require grad but got {t.grad!r}"
            continue
        assert type(t.grad) is np.ndarray, f"input {index}: .grad is a {type(t.grad).__name__}"
        assert t.grad.shape == t.shape, f"input {index}: grad {t.grad.shape} vs {t.shape}"
        assert t.grad.dtype == F32, f"input {index}: grad dtype {t.grad.dtype}"
        assert np.all(np.isfinite(t.grad))
    # The same call on inputs that require no grad records nothing.
    plain = call(op, s, plain_inputs(s))
    assert plain.requires_grad is False
    assert getattr(plain, "_grad_fn", None) is None


# One sample of each op family for retain_graph (an implementation without the keyword
# fails these few, not every registry case).
RETAIN_OPS = (
    "mul", "div", "matmul", "getitem", "transpose", "sum", "exp", "sigmoid", "softmax",
    "linear", "mse", "cross_entropy",
)  # fmt: skip
RETAIN_PAIRS = [next(p for p in COURSE_PAIRS if p.values[0].name == name) for name in RETAIN_OPS]


def two_backwards_double(op, s, inputs, once):
    """After a second backward of the same gradient, every input's .grad is twice ``once``."""
    differentiable = [i for i, flag in enumerate(s.grad_flags()) if flag]
    for index, (t, first, flag) in enumerate(zip(inputs, once, s.grad_flags(), strict=True)):
        if not flag:
            assert t.grad is None
            continue
        assert type(first) is np.ndarray, f"input {index}: .grad is {first!r}, not an ndarray"
        assert t.grad is not None, f"input {index}: the second backward() left .grad None"
        if not np.any(first != 0):  # then it must be 0 (relu < 0, softmax over a size-1 axis)
            loss = weighted_loss(op, s, loss_weight(op, s))
            numeric = numerical_gradients(loss, differentiable_arrays(s))
            np.testing.assert_allclose(numeric[differentiable.index(index)], 0.0, atol=1e-3)
        # Twice the same numbers: exact in the reference; one rounding of slack for an
        # implementation that adds an input's partial gradients into .grad one by one.
        slack = 1e-6 * float(np.abs(first).max())
        np.testing.assert_allclose(
            t.grad, 2 * first, rtol=1e-6, atol=slack, err_msg=f"input {index}"
        )


@pytest.mark.accumulation
@pytest.mark.parametrize(("op", "s"), COURSE_PAIRS)
def test_second_graph_from_the_same_leaves_doubles_the_gradient(op, s):
    inputs = make_inputs(s)
    out = call(op, s, inputs)
    g = upstream(op, s, out.shape)
    out.backward(g)
    once = [None if t.grad is None else t.grad.copy() for t in inputs]
    call(op, s, inputs).backward(g)
    two_backwards_double(op, s, inputs, once)


@pytest.mark.accumulation
@pytest.mark.parametrize(("op", "s"), RETAIN_PAIRS)
def test_retained_second_backward_doubles_the_gradient(op, s):
    inputs = make_inputs(s)
    out = call(op, s, inputs)
    g = upstream(op, s, out.shape)
    out.backward(g, retain_graph=True)
    once = [None if t.grad is None else t.grad.copy() for t in inputs]
    out.backward(g)
    two_backwards_double(op, s, inputs, once)


@pytest.mark.accumulation
@pytest.mark.parametrize(("op", "s"), COURSE_PAIRS)
def test_gradients_share_no_memory(op, s):
    inputs = make_inputs(s)
    out = call(op, s, inputs)
    for index, t in enumerate(inputs):
        assert not np.shares_memory(out.data, t.data), f"the output is a view of input {index}"
    g = upstream(op, s, out.shape)
    out.backward(g)
    others = {f"input {i}": t.data for i, t in enumerate(inputs)}
    others.update({"the output": out.data, "the gradient given to backward()": g})
    grads = {
        i: t.grad for i, (t, flag) in enumerate(zip(inputs, s.grad_flags(), strict=True)) if flag
    }
    assert grads
    for index, grad in grads.items():
        assert isinstance(grad, np.ndarray), f"input {index}: .grad is {grad!r}"
        for name, other in others.items():
            assert not np.shares_memory(grad, other), f"input {index}'s .grad shares {name}"
        for other_index, other in grads.items():
            if other_index != index:
                assert not np.shares_memory(grad, other), (
                    f"inputs {index} and {other_index} share one .grad array"
                )


# --- cases the registry cannot express --------------------------------------------------------
# (Ties of max and the gradient at clipped BCE probabilities, which API.md does not fix, are
# reference behaviour: test_extras_registry.py.)


@pytest.mark.parametrize("batch", [(4,), (2, 3), ()], ids=["(4,3)", "(2,3,3)", "(3,)"])
def test_linear_parameters_get_the_grads_of_its_formula(batch):
    # Linear's own parameters get the gradients of the registry's x @ w + b with the same
    # values, and both equal the hand formulas: dW = x^T g, db = sum of g over the batch axes,
    # dx = g W^T.
    rng = np.random.default_rng(5)
    layer = Linear(3, 2)
    x_values = rng.uniform(-2, 2, (*batch, 3))
    g = rng.choice([-1.5, -0.5, 0.5, 1.0, 2.0], size=(*batch, 2))
    x = Tensor(x_values, requires_grad=True)
    layer(x).backward(g)
    w_copy = Tensor(layer.weight.data.copy(), requires_grad=True)
    b_copy = Tensor(layer.bias.data.copy(), requires_grad=True)
    x_copy = Tensor(x_values, requires_grad=True)
    (x_copy.matmul(w_copy) + b_copy).backward(g)
    for param in layer.parameters():
        assert type(param.grad) is np.ndarray
        assert param.grad.shape == param.shape
        assert param.grad.dtype == F32
    # Equal up to float32 summation order (an implementation may sum in another order).
    same = {"rtol": 1e-6, "atol": 1e-6}
    np.testing.assert_allclose(layer.weight.grad, w_copy.grad, **same)
    np.testing.assert_allclose(layer.bias.grad, b_copy.grad, **same)
    np.testing.assert_allclose(x.grad, x_copy.grad, **same)
    xs = x.data.astype(np.float64).reshape(-1, 3)
    gs = g.reshape(-1, 2)
    weight = layer.weight.data.astype(np.float64)
    np.testing.assert_allclose(layer.weight.grad, xs.T @ gs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, gs.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad, g @ weight.T, rtol=1e-5, atol=1e-6)
