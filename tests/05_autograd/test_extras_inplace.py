"""Module 05 (Autograd) extras: the reference's in-place checks, exactly as it makes them.

The course-API side of the in-place promise is test_bugs_inplace.py. Here: the reference's
error words (``match=``: "modified in place", the tensor's repr, its role such as "input 0 of
mul"), the values its ops keep (``SAVES``: mul keeps both operands even when one is a
constant, linear keeps its weight, add/sub/exp-input nothing), its check of every saved value
before any gradient is accumulated, its version counters, and its in-place operators on
leaves (an optimizer may write ``w -= lr * w.grad``).
"""

import re

import numpy as np
import pytest
from course_api import Linear, MSELoss, ReLU, Sigmoid, Softmax, Tanh, Tensor
from reference_extras import SAVES

pytestmark = pytest.mark.inplace
WORDING = pytest.mark.extra("wording")

MODIFIED = "modified in place"


def names(tensor, role):
    """A match= pattern: the message names the tensor (its repr, so its value and shape)
    and its role in the operation, e.g. 'input 0 of mul'."""
    return rf"{MODIFIED}.*{re.escape(repr(tensor))}.*{re.escape(role)}"


# --- (i) in-place operators --------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda x: x.__iadd__(1),
        lambda x: x.__isub__(1),
        lambda x: x.__imul__(2),
        lambda x: x.__itruediv__(2),
    ],
    ids=["+=", "-=", "*=", "/="],
)
@pytest.mark.extra("wording", "autograd-internals")
def test_inplace_operator_on_saved_input_raises(change):
    assert SAVES.get("mul") == "ab"  # x * 2 keeps x, although only the constant 2 is read
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    change(x)
    with pytest.raises(RuntimeError, match=names(x, "input 0 of mul")):
        y.sum().backward()
    assert x.grad is None


@pytest.mark.extra("wording", "autograd-internals")
def test_inplace_operator_statement_forms():
    assert SAVES.get("mul") == "ab"
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    x += 1
    with pytest.raises(RuntimeError, match=names(x, "input 0 of mul")):
        y.sum().backward()
    w = Tensor([1.0, 1.0], requires_grad=True)
    v = Tensor([3.0, 4.0], requires_grad=True)
    z = w * v
    v *= 2
    with pytest.raises(RuntimeError, match=names(v, "input 1 of mul")):
        z.sum().backward()


@WORDING
def test_saved_constant_that_does_not_require_grad_is_still_checked():
    # d(x * c)/dx reads c: changing c would change x's gradient
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    y = x * c
    c += 100
    with pytest.raises(RuntimeError, match=names(c, "input 1 of mul")):
        y.sum().backward()
    assert x.grad is None


@pytest.mark.parametrize(
    ("forward", "role"),
    [
        (lambda x, w: x / w, "input 1 of div"),
        (lambda x, w: x**2 + w, "input 0 of pow"),
        (lambda x, w: x @ w, "input 0 of matmul"),
        (lambda x, w: x.log() + w, "input 0 of log"),
        (lambda x, w: ReLU()(x) * 1 + w, "input 0 of relu"),
    ],
    ids=["div", "pow", "matmul", "log", "relu"],
)
@pytest.mark.extra("wording", "autograd-internals")
def test_every_rule_that_reads_its_input_detects_the_change(forward, role):
    assert SAVES.get("relu") == "a"  # relu keeps its input (PyTorch keeps its output)
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([4.0, 5.0], requires_grad=True)
    y = forward(x, w)
    target = w if role == "input 1 of div" else x
    target += 1
    with pytest.raises(RuntimeError, match=names(target, role)):
        y.sum().backward()


@pytest.mark.parametrize(
    ("forward", "op"),
    [
        (lambda x: x.exp(), "exp"),
        (lambda x: x.sqrt(), "sqrt"),
        (lambda x: Sigmoid()(x), "sigmoid"),
        (lambda x: Tanh()(x), "tanh"),
        (lambda x: Softmax()(x), "softmax"),
    ],
)
@WORDING
def test_changing_a_saved_output_raises(forward, op):
    # these rules read their own output: y.exp()' = y
    x = Tensor([0.5, 1.0], requires_grad=True)
    y = forward(x)
    loss = (y - Tensor([1.0, 2.0])).sum()  # sub reads neither operand
    y.data[0] = 7.0
    with pytest.raises(RuntimeError, match=names(y, f"the output of {op}")):
        loss.backward()
    assert x.grad is None


# --- (ii) item assignment, (iii) writes to .data ------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda x: x.__setitem__(0, 5.0),
        lambda x: x.__setitem__(slice(None), Tensor([0.0, 0.0, 0.0])),
        lambda x: x.data.__setitem__(0, 999.0),
        lambda x: x.data.__setitem__((slice(0, 2),), -1.0),
        lambda x: setattr(x, "data", np.zeros(3)),
        lambda x: setattr(x, "data", [7.0, 8.0, 9.0]),
        lambda x: x.data.__iadd__(1.0),
        lambda x: np.multiply(x.data, 3.0, out=x.data),
        lambda x: x.data.reshape(3)[1:].__setitem__(0, 4.0),  # through a view of .data
    ],
    ids=[
        "x[0]=5",
        "x[:]=t",
        "x.data[0]=999",
        "x.data[:2]=-1",
        "x.data=zeros",
        "x.data=list",
        "x.data+=1",
        "np.multiply(out=x.data)",
        "view-of-data",
    ],
)
@WORDING
def test_item_assignment_and_data_writes_raise(change):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    change(x)
    with pytest.raises(RuntimeError, match=names(x, "input 0 of mul")):
        y.backward(Tensor([1, 1, 1]))
    assert x.grad is None


@WORDING
def test_audit_data_write_example():
    # the audit's scenario: must raise, not return a gradient computed from 999
    x = Tensor([1, 2, 3], requires_grad=True)
    y = x * x
    x.data[0] = 999
    with pytest.raises(RuntimeError, match=r"shape=\(3,\).*input 0 of mul"):
        y.backward(Tensor([1, 1, 1]))


@pytest.mark.extra("wording", "internals")
def test_failed_backward_leaves_no_partial_gradients():
    # the change is found before any gradient is accumulated, even a and c's right ones
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    c = Tensor([5.0, 6.0], requires_grad=True)
    y = (a + c) * 1 + (b * b) * 1
    b.data[1] = 0.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()
    assert a.grad is None
    assert b.grad is None
    assert c.grad is None


@pytest.mark.extra("wording", "autograd-internals")
def test_change_deep_in_a_network_is_found():
    assert SAVES.get("linear") == "ab"  # W1 is kept for x's gradient, though x needs none
    layer1, layer2 = Linear(3, 4), Linear(4, 1)
    x = Tensor(np.ones((2, 3)))
    loss = MSELoss()(layer2(ReLU()(layer1(x))), Tensor(np.zeros((2, 1))))
    layer1.weight.data[0, 0] += 1.0  # layer1's linear op saved W (for the gradient of its input)
    with pytest.raises(RuntimeError, match=r"input 1 of linear"):
        loss.backward()


@WORDING
def test_changed_non_leaf_result_is_never_silently_wrong():
    # h's own backward (mul by 2) does not read h, but h *= 3 changed what h means: the
    # gradient of sum(h) is now 6, not 2. PyTorch records the in-place op; this engine's
    # design detects changes instead. Either way 2 must not come back.
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h *= 3
    with pytest.raises(RuntimeError, match=MODIFIED):
        h.sum().backward()


# --- changes that keep working -------------------------------------------------------------


@pytest.mark.extra("autograd-internals")
def test_changing_an_unsaved_input_works():
    assert SAVES.get("add") is None
    assert SAVES.get("sub") is None
    # add and sub read neither input: their gradients do not depend on the values
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    y = (a + b) - a.sum()
    a += 10
    b.data[0] = -1.0
    b[1] = 0.0
    (y * Tensor([2.0, 5.0])).sum().backward()
    # d/da [2 (a0 + b0 - sum a) + 5 (a1 + b1 - sum a)] = [2 - 7, 5 - 7]; d/db = [2, 5]
    np.testing.assert_array_equal(a.grad, [-5.0, -2.0])
    np.testing.assert_array_equal(b.grad, [2.0, 5.0])


@pytest.mark.extra("autograd-internals")
def test_changing_the_input_of_an_op_that_saves_only_its_output_works():
    assert SAVES.get("exp") == "o"
    # exp saves exp(x), not x: its gradient is the saved output, unaffected by x += 1
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.exp()
    x += 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.exp([0.0, 1.0]), rtol=1e-6)


@WORDING
def test_changing_a_saved_value_between_retained_backwards_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    x.data[1] = 0.0
    with pytest.raises(RuntimeError, match=names(x, "input 0 of mul")):
        y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # untouched by the refused pass


@pytest.mark.extra("internals")
def test_sgd_inplace_leaf_updates_after_backward_keep_gradients_correct():
    # the reference lets an optimizer write `w -= lr * w.grad` on a leaf (PyTorch asks for
    # no_grad); w stays the same leaf, and every step's gradient is right
    # L(w) = sum((w * x - t)^2): dL/dw = 2 x (w x - t), checked at every step's new w
    x = np.array([1.0, -2.0, 0.5])
    t = np.array([2.0, 1.0, -1.0])
    w = Tensor([0.5, 0.5, 0.5], requires_grad=True)
    leaf = w
    w_ref = np.array([0.5, 0.5, 0.5])
    lr = 0.1
    for _ in range(5):
        w.zero_grad()
        loss = ((w * Tensor(x) - Tensor(t)) ** 2).sum()
        loss.backward()
        expected = 2 * x * (w_ref * x - t)
        np.testing.assert_allclose(w.grad, expected, rtol=1e-5, atol=1e-6)
        w -= lr * w.grad
        w_ref = w_ref - lr * expected
        np.testing.assert_allclose(w.data, w_ref, rtol=1e-5, atol=1e-6)
    assert w is leaf
    assert w.requires_grad is True
    assert w._grad_fn is None


@pytest.mark.extra("internals")
@pytest.mark.parametrize(
    ("change", "counted"),
    [
        (lambda x: x.__iadd__(1), 1),
        (lambda x: x.__imul__(2), 1),
        (lambda x: x.__setitem__(0, 5.0), 1),
        (lambda x: setattr(x, "data", np.zeros(3)), 1),
        (lambda x: x.data.__setitem__(0, 9.0), 1),
        (lambda x: x.data.__isub__(1.0), 1),
        (lambda x: np.add(x.data, 1.0, out=x.data), 1),
        (lambda x: x.data[1:].__setitem__(0, 4.0), 1),
        (lambda x: x + 1, 0),
        (lambda x: x.data + 1, 0),
        (lambda x: x.data.copy().__setitem__(0, 7.0), 0),
    ],
    ids=[
        "+=", "*=", "x[0]=", "x.data=", "x.data[0]=", "x.data-=", "ufunc-out",
        "view-of-data", "x+1", "x.data+1", "copy-of-data",
    ],
)  # fmt: skip
def test_version_counts_every_inplace_change(change, counted):
    # what backward()'s check reads: in-place operators change the tensor itself and count
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    assert x._version == 0
    result = change(x)
    if isinstance(result, Tensor) and counted:
        assert result is x
    assert x._version == counted
    if counted:
        with pytest.raises(RuntimeError, match=names(x, "input 0 of mul")):
            y.sum().backward()
    else:
        y.sum().backward()
        np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
