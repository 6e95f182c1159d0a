"""Module 06 (Optimizers): the reference's extras used with an optimizer (API.md, Two tiers).

The float64 mode, no_grad and Sequential of modules 01..05 feeding an optimizer, the version
counter that an update bumps, and the exact words of the errors whose type the course tier
(test_progressive_integration.py) checks. Each test is marked with the extra features it
needs and goes through an optimizer, so it fails while module 06 is a stub.
"""

import numpy as np
import pytest
from course_api import (
    SGD,
    Adam,
    BinaryCrossEntropyLoss,
    Dropout,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Tanh,
    Tensor,
)
from optimizer_references import KINDS, OPTIMIZERS
from reference_extras import Sequential, default_dtype, no_grad
from tinytorch_testing import F32, F64, check, linear_with, param


@pytest.mark.extra("float64")
@pytest.mark.parametrize("kind", KINDS)
def test_float64_parameter_stays_float64(kind):
    with default_dtype(np.float64):
        p = param([1.0, 2.0])
    optimizer = OPTIMIZERS[kind]([p], lr=0.1)
    p.grad = np.array([1.0, -1.0])
    optimizer.step()  # outside the float64 block
    assert p.dtype == F64
    expected = {"SGD": [0.9, 2.1], "Adam": [0.9, 2.1], "AdamW": [0.899, 2.098]}[kind]
    check(p, expected, dtype=F64, rtol=1e-7)


@pytest.mark.extra("no_grad")
def test_no_grad_forward_gives_the_optimizer_nothing_to_apply():
    w = param([1.0, 2.0])
    optimizer = SGD([w], lr=0.1)
    with no_grad():
        out = (w * 3).sum()
    assert out.requires_grad is False
    check(out, 9.0)
    optimizer.step()  # nothing was recorded, so w has no gradient and stays
    assert w.grad is None
    check(w, [1.0, 2.0])
    (w * 3).sum().backward()
    optimizer.step()
    check(w, [0.7, 1.7])


@pytest.mark.extra("Sequential")
def test_sequential_forward_and_its_parameters_feed_an_optimizer():
    check(Dropout(0.5)(Tensor([1.0, -2.0]), training=False), [1.0, -2.0])
    model = Sequential(linear_with([[2.0], [1.0]], [0.5]), ReLU())
    optimizer = SGD(model.parameters(), lr=0.1)
    x = Tensor([[1.0, -4.0], [1.0, 1.0]])
    out = model(x)
    check(out, [[0.0], [3.5]])
    out.sum().backward()  # only the second row passes the ReLU: dW = [1, 1], db = 1
    optimizer.step()
    check(model.parameters()[0], [[1.9], [0.9]])
    check(model.parameters()[1], [0.4])

    bigger = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    optimizer = SGD(bigger.parameters(), lr=0.1)
    assert [id(p) for p in optimizer.params] == [id(p) for p in bigger.parameters()]
    assert len(optimizer.params) == 4


@pytest.mark.extra("Sequential", "no_grad")
@pytest.mark.parametrize(
    ("kind", "hyper", "steps"),
    [("Adam", {"lr": 0.1}, 300), ("SGD", {"lr": 0.5, "momentum": 0.9}, 300)],
    ids=["adam", "sgd-momentum"],
)
def test_xor_is_solved_by_a_sequential_network(kind, hyper, steps):
    np.random.seed(6)
    x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = Sequential(Linear(2, 4), Tanh(), Linear(4, 1), Sigmoid())
    optimizer = OPTIMIZERS[kind](model.parameters(), **hyper)
    loss_fn = BinaryCrossEntropyLoss()
    first = float(loss_fn(model(x), y).data)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    with no_grad():
        out = model(x)
        final = float(loss_fn(out, y).data)
    assert out.requires_grad is False
    np.testing.assert_array_equal(out.data > 0.5, y > 0.5)
    assert final < 0.05
    assert final < first / 10
    assert all(p.dtype == F32 for p in model.parameters())


@pytest.mark.extra("internals")
def test_update_counts_as_an_in_place_change():
    p = param([1.0])
    version = p._version
    optimizer = SGD([p], lr=0.1)
    p.grad = np.array([1.0], dtype=np.float32)
    optimizer.step()
    assert p._version > version
    check(p, [0.9])


@pytest.mark.extra("wording")
def test_parameter_without_requires_grad_is_refused_by_index_and_shape():
    frozen = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"parameter 1 .*\(2, 3\).*requires?.grad"):
        SGD([param([1.0]), frozen])
    with pytest.raises(ValueError, match=r"parameter 0 .*\(2, 3\)"):
        Adam([frozen])


@pytest.mark.extra("wording")
def test_reusing_a_graph_after_a_step_says_modified_in_place():
    layer = linear_with([[1.0], [2.0]], [0.0])
    optimizer = SGD(layer.parameters(), lr=0.1)
    loss = MSELoss()(layer(Tensor([[1.0, 1.0]])), [[0.0]])
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
