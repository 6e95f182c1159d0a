"""Module 03 (Layers): the reference's extras (API.md, "Two tiers"), at every checkpoint.

``Dense`` (the audit's name for Linear), ``Sequential``, the float64 mode, reprs and exact
error messages (feature ``wording``), the autograd hook ``Tensor._from_op`` (Linear as one
"linear" op, Dropout as one "mul"), and behaviours of the reference that API.md does not fix
(feature ``internals``: the ``in_features``/``out_features``/``p`` attributes, Dropout
returning the input object itself, the mask drawn from numpy's seeded global generator).
Each test still goes through module 03, so each one fails when module 03 is a stub.
"""

import importlib
import math
import re

import numpy as np
import pytest
from course_api import GELU, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax, Tanh, Tensor
from models import Scale, linear_of
from reference_extras import Dense, Sequential, default_dtype, record_from_op
from tinytorch_testing import EPS, F64, autograd_loaded, check, ref_softmax

W1 = np.array([[0.5, -1.0, 0.25], [1.5, 0.5, -0.75]])  # (2, 3)
B1 = np.array([0.1, 0.2, -0.3])
W2 = np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.0]])  # (3, 2)
B2 = np.array([0.0, 0.5])
X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0], [3.0, -2.0]])


def reference(x, hidden=lambda h: np.maximum(h, 0)):
    """softmax(hidden(x W1 + B1) W2 + B2) in float64."""
    return ref_softmax(hidden(x @ W1 + B1) @ W2 + B2)


# =========================================================================================
# Dense
# =========================================================================================


@pytest.mark.extra("Dense")
def test_dense_is_linear():
    layers = importlib.import_module("tinytorch.core.layers")
    assert layers.Dense is layers.Linear
    layer = Dense(2, 3)
    assert isinstance(layer, Linear)
    assert layer.weight.shape == (2, 3)


@pytest.mark.extra("Dense", "Sequential")
@pytest.mark.parametrize(
    ("activation", "hidden"),
    [
        pytest.param(Sigmoid, lambda h: 1 / (1 + np.exp(-h)), id="Sigmoid"),
        pytest.param(Tanh, np.tanh, id="Tanh"),
        pytest.param(GELU, lambda h: h / (1 + np.exp(-1.702 * h)), id="GELU"),
    ],
)
def test_sequential_of_dense_with_each_hidden_activation(activation, hidden):
    model = Sequential(Dense(2, 3), activation(), Dense(3, 2), Softmax())
    model[0].weight, model[0].bias = Tensor(W1), Tensor(B1)
    model[2].weight, model[2].bias = Tensor(W2), Tensor(B2)
    check(model(Tensor(X)), reference(X, hidden), rtol=1e-5, atol=1e-7)


# =========================================================================================
# Sequential
# =========================================================================================


@pytest.mark.extra("Sequential")
class TestSequential:
    def test_is_a_layer(self):
        assert isinstance(Sequential(), Layer)
        assert isinstance(Sequential(ReLU()), Layer)

    def test_calls_layers_in_order(self):
        # Linear then ReLU: relu([1, -1] @ [[1], [2]] + 0) = relu(-1) = 0
        # ReLU then Linear: relu([1, -1]) @ [[1], [2]] = [1, 0] @ [[1], [2]] = 1
        lin = linear_of([[1.0], [2.0]], [0.0])
        x = Tensor([[1.0, -1.0]])
        check(Sequential(lin, ReLU())(x), [[0.0]])
        check(Sequential(ReLU(), lin)(x), [[1.0]])

    def test_forward_equals_call(self):
        model = Sequential(linear_of([[2.0]], [1.0]), linear_of([[3.0]], [-1.0]))
        # (x * 2 + 1) * 3 - 1 at x = 4: 9 * 3 - 1 = 26
        check(model.forward(Tensor([[4.0]])), [[26.0]])
        check(model(Tensor([[4.0]])), [[26.0]])

    def test_accepts_a_single_list(self):
        model = Sequential([linear_of([[2.0]], [0.0]), ReLU()])
        check(model(Tensor([[-1.0], [3.0]])), [[0.0], [6.0]])
        assert len(model.parameters()) == 2

    def test_parameters_concatenate_in_order(self):
        a, b, c = Linear(3, 4), Linear(4, 2, bias=False), Linear(2, 1)
        params = Sequential(a, ReLU(), b, Tanh(), c, Softmax()).parameters()
        expected = [a.weight, a.bias, b.weight, c.weight, c.bias]
        assert [id(p) for p in params] == [id(e) for e in expected]

    def test_nested_sequential(self):
        inner = Sequential(linear_of([[1.0, -1.0]], [0.0, 0.0]), ReLU())
        outer = Sequential(inner, linear_of([[1.0], [1.0]], [0.5]))
        # x = -2: inner gives relu([-2, 2]) = [0, 2]; then 0 + 2 + 0.5 = 2.5
        check(outer(Tensor([[-2.0]])), [[2.5]])
        assert len(outer.parameters()) == 4
        assert outer.parameters()[0] is inner.parameters()[0]

    def test_shared_layer_parameters_are_listed_once(self):
        shared = linear_of([[2.0]], [0.0])
        model = Sequential(shared, shared)
        check(model(Tensor([[3.0]])), [[12.0]])
        params = model.parameters()
        assert len(params) == 2
        assert params[0] is shared.weight
        assert params[1] is shared.bias

    def test_empty_sequential_is_the_identity(self):
        x = Tensor([1.0, 2.0])
        check(Sequential()(x), [1.0, 2.0])
        assert Sequential().parameters() == []

    def test_layers_are_accessible(self):
        a, r = Linear(2, 2), ReLU()
        model = Sequential(a, r)
        assert len(model) == 2
        assert model[0] is a
        assert model[1] is r
        assert list(model) == [a, r]

    def test_subclass_without_super_init_inside_sequential(self):
        # models.Scale: a Layer subclass whose __init__ does not call super().__init__()
        layer = Scale(3.0)
        model = Sequential(layer, ReLU())
        check(model(Tensor([1.0, -2.0])), [3.0, 0.0])
        assert model.parameters()[0] is layer.factor

    def test_two_layer_network_first_row_by_hand(self):
        # x = [1, 2]: relu(x W1 + B1) = [3.6, 0.2, 0]; @ W2 + B2 = [3.7, -2.7];
        # softmax: [1, e^-6.4] / (1 + e^-6.4)
        model = Sequential(linear_of(W1, B1), ReLU(), linear_of(W2, B2), Softmax())
        q = math.exp(-6.4)
        check(model(Tensor(X[:1])), [[1 / (1 + q), q / (1 + q)]], rtol=1e-6)

    def test_two_layer_network_as_sequential(self):
        model = Sequential(linear_of(W1, B1), ReLU(), linear_of(W2, B2), Softmax())
        probs = model(Tensor(X))
        check(probs, reference(X), rtol=1e-6, atol=1e-7)
        check(probs.sum(axis=1), np.ones(4), rtol=4 * EPS)
        assert len(model.parameters()) == 4

    def test_dropout_in_training_inside_a_sequential(self):
        # Dropout(0.5) in training (Sequential's default): each hidden unit is 0 or doubled.
        np.random.seed(6)
        dropped = Sequential(linear_of(W1, B1), ReLU(), Dropout(0.5))(Tensor(X))
        expected_full = np.maximum(X @ W1 + B1, 0) * 2
        kept = dropped.data != 0
        np.testing.assert_allclose(dropped.data[kept], expected_full[kept], rtol=4 * EPS)

    def test_parameters_require_grad_and_outputs_follow_autograd(self):
        model = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
        assert all(p.requires_grad for p in model.parameters())
        assert model(Tensor([[1.0, 2.0]])).requires_grad is autograd_loaded()


# =========================================================================================
# float64 mode
# =========================================================================================


@pytest.mark.extra("float64")
def test_float64_mode_gives_float64_parameters():
    with default_dtype(np.float64):
        layer = Linear(3, 2)
        out = layer(Tensor(np.ones((1, 3))))
    assert layer.weight.dtype == F64
    assert layer.bias.dtype == F64
    assert out.dtype == F64


# =========================================================================================
# wording: reprs and error messages
# =========================================================================================


@pytest.mark.extra("wording")
class TestWording:
    def test_linear_repr(self):
        assert repr(Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
        assert repr(Linear(7, 1, bias=False)) == "Linear(in_features=7, out_features=1, bias=False)"

    def test_linear_repr_of_numpy_integer_features(self):
        layer = Linear(np.int64(3), np.int32(2))
        assert repr(layer) == "Linear(in_features=3, out_features=2, bias=True)"

    def test_dropout_repr(self):
        assert repr(Dropout()) == "Dropout(p=0.5)"
        assert repr(Dropout(0.25)) == "Dropout(p=0.25)"

    def test_layer_forward_says_to_override_it(self):
        with pytest.raises(NotImplementedError, match="override forward"):
            Layer().forward(Tensor([1.0]))
        with pytest.raises(NotImplementedError, match="override forward"):
            Layer()(Tensor([1.0]))
        assert Layer().parameters() == []

    def test_wrong_last_dimension_names_shape_and_expectation(self):
        layer = Linear(3, 2)
        with pytest.raises(
            ValueError,
            match=(
                r"^Linear\(in_features=3, out_features=2, bias=True\) expects input with last "
                r"dimension 3, got shape \(2, 4\)$"
            ),
        ):
            layer(Tensor(np.ones((2, 4))))

    def test_wrong_1d_input(self):
        with pytest.raises(ValueError, match=r"last dimension 5, got shape \(4,\)"):
            Linear(5, 1)(Tensor(np.ones(4)))

    def test_0d_input(self):
        with pytest.raises(ValueError, match=r"last dimension 2, got shape \(\)"):
            Linear(2, 1)(Tensor(1.0))

    def test_transposed_input_is_caught(self):
        with pytest.raises(ValueError, match=r"last dimension 3, got shape \(3, 8\)"):
            Linear(3, 4)(Tensor(np.ones((3, 8))))

    @pytest.mark.parametrize(
        ("value", "name"), [([[1.0, 2.0]], "list"), (np.ones((1, 2)), "ndarray")]
    )
    def test_linear_non_tensor_input(self, value, name):
        with pytest.raises(TypeError, match=f"expects a Tensor; got {name}"):
            Linear(2, 1)(value)

    @pytest.mark.parametrize(
        ("args", "error", "message"),
        [
            ((0, 2), ValueError, "in_features must be a positive int; got 0"),
            ((3, 0), ValueError, "out_features must be a positive int; got 0"),
            ((-1, 2), ValueError, "in_features must be a positive int; got -1"),
            ((3, -4), ValueError, "out_features must be a positive int; got -4"),
            ((3.0, 2), TypeError, "in_features must be a positive int; got float 3.0"),
            ((3, 2.5), TypeError, "out_features must be a positive int; got float 2.5"),
            (("3", 2), TypeError, "in_features must be a positive int; got str '3'"),
            ((True, 2), TypeError, "in_features must be a positive int; got bool True"),
            ((None, 2), TypeError, "in_features must be a positive int; got NoneType None"),
        ],
    )
    def test_bad_features(self, args, error, message):
        with pytest.raises(error, match=message):
            Linear(*args)

    def test_bad_bias_flag(self):
        with pytest.raises(TypeError, match="bias must be True or False; got str"):
            Linear(2, 2, bias="yes")

    @pytest.mark.parametrize("p", [-0.1, 1.5, 2, -1, float("nan"), float("inf")])
    def test_dropout_p_outside_unit_interval(self, p):
        with pytest.raises(ValueError, match=rf"p must be a number in \[0, 1\]; got p={p!r}"):
            Dropout(p)

    @pytest.mark.parametrize("p", ["0.5", None, [0.5], True])
    def test_dropout_p_not_a_number(self, p):
        with pytest.raises(
            ValueError, match=r"p must be a number in \[0, 1\]; got p=" + re.escape(repr(p))
        ):
            Dropout(p)

    def test_dropout_non_tensor_input(self):
        with pytest.raises(TypeError, match="Dropout expects a Tensor; got list"):
            Dropout(0.5)([1.0, 2.0])


@pytest.mark.extra("Sequential", "wording")
class TestSequentialWording:
    def test_sequential_rejects_non_callables(self):
        with pytest.raises(TypeError, match=r"layer 1 must be callable.*got int"):
            Sequential(Linear(2, 2), 3)

    def test_sequential_rejects_a_class_instead_of_an_instance(self):
        relu_class = importlib.import_module("tinytorch.core.activations").ReLU  # not a stand-in
        with pytest.raises(TypeError, match=r"layer 0 is the class ReLU.*ReLU\(\)"):
            Sequential(relu_class, Linear(2, 2))

    def test_shape_error_inside_sequential_names_the_layer(self):
        model = Sequential(Linear(2, 3), ReLU(), Linear(4, 1))
        with pytest.raises(
            ValueError, match=r"Linear\(in_features=4, .*last dimension 4, got shape \(5, 3\)"
        ):
            model(Tensor(np.ones((5, 2))))


# =========================================================================================
# internals: the reference's attributes and behaviours where API.md is silent
# =========================================================================================


@pytest.mark.extra("internals")
class TestReferenceBehaviour:
    def test_linear_keeps_its_features(self):
        layer = Linear(3, 2)
        assert layer.in_features == 3
        assert layer.out_features == 2
        assert layer.weight.shape == (3, 2)

    def test_dropout_keeps_p(self):
        assert Dropout().p == 0.5
        assert Dropout(0.25).p == 0.25

    def test_eval_mode_returns_the_input_itself(self):
        x = Tensor([[1.0, -2.0, 3.0]])
        y = Dropout(0.5)(x, training=False)
        assert y is x
        check(y, [[1.0, -2.0, 3.0]])
        assert Dropout(0.9).forward(x, training=False) is x

    def test_p_one_in_eval_mode_returns_the_input_itself(self):
        x = Tensor([1.0, 2.0])
        assert Dropout(1.0)(x, training=False) is x

    def test_p_zero_in_training_returns_the_input_itself(self):
        x = Tensor([1.0, 2.0])
        assert Dropout(0.0)(x) is x

    def test_seed_makes_dropout_reproducible(self):
        # The mask comes from numpy's global generator, which np.random.seed resets.
        x = Tensor(np.arange(1.0, 201.0))
        np.random.seed(99)
        first = Dropout(0.3)(x).data.copy()
        np.random.seed(99)
        second = Dropout(0.3)(x).data.copy()
        np.testing.assert_array_equal(first, second)
        np.random.seed(100)
        third = Dropout(0.3)(x).data.copy()
        assert not np.array_equal(first, third)


@pytest.mark.extra("internals")
class TestAutogradReadiness:
    """Every result passes through Tensor._from_op, so module 05 can differentiate it: Linear
    as one "linear" op over (x, weight, bias), Dropout as a "mul" by a constant mask."""

    @pytest.fixture
    def calls(self, monkeypatch):
        return record_from_op(monkeypatch, fields=("out", "op", "inputs"))

    def test_linear_is_one_op_over_input_weight_and_bias(self, calls):
        layer = linear_of([[1.0, 0.5, -1.0], [2.0, 0.0, 0.25]], [0.1, 0.2, 0.3])
        x = Tensor([[1.0, 2.0]])
        layer(x)
        [(out, op, (first, weight, bias))] = calls
        assert op == "linear"
        assert first is x
        assert weight is layer.weight
        assert bias is layer.bias
        # [1, 2] @ W + b, by hand: [1 + 4, 0.5 + 0, -1 + 0.5] + [0.1, 0.2, 0.3]
        np.testing.assert_allclose(out, [[5.1, 0.7, -0.2]], rtol=1e-6)

    def test_linear_without_bias_is_one_op_over_input_and_weight(self, calls):
        layer = Linear(2, 3, bias=False)
        x = Tensor([[1.0, 2.0]])
        layer(x)
        [(out, op, (first, weight))] = calls
        assert op == "linear"
        assert first is x
        assert weight is layer.weight
        np.testing.assert_allclose(out, x.data @ layer.weight.data, rtol=1e-6)

    def test_dropout_is_one_multiplication_by_a_constant_mask(self, calls):
        np.random.seed(0)
        x = Tensor(np.ones(8))
        Dropout(0.5)(x)
        [(_, op, (first, mask))] = calls
        assert op == "mul"
        assert first is x
        assert mask.requires_grad is False
        assert set(np.unique(mask.data)) <= {0.0, 2.0}


@pytest.mark.extra("internals")
def test_outputs_require_grad_only_once_autograd_exists():
    """The reference ignores requires_grad before checkpoint 05: every output is plain then
    (API.md leaves the flag of a result open before 05); from 05 on, outputs are recorded."""
    layer = linear_of([[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5])
    y = layer(Tensor([[1.0, 2.0]]))
    check(y, [[1.5, 1.5]])
    assert y.requires_grad is autograd_loaded()
    dropped = Dropout(0.5)(Tensor(np.ones(10), requires_grad=True))
    assert dropped.requires_grad is autograd_loaded()
    out = Tensor([[1.0, 2.0]])
    for step in (Linear(2, 3), ReLU(), Linear(3, 1)):
        out = step(out)
    assert out.shape == (1, 1)
    assert out.requires_grad is autograd_loaded()
