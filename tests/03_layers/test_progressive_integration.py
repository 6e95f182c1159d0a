"""Module 03 (Layers): the contract of API.md section "03 Layers", at every checkpoint.

Checkpoint 03 holds modules 01..03; these tests run again at every later checkpoint, where
module 05 has turned autograd on. Only what autograd changes on purpose (the requires_grad of
results that depend on a parameter) is asserted for whichever state is in force; see
``autograd_loaded``. Parameters themselves require grad at every checkpoint.

Expected values are worked out by hand or in plain float64 numpy, never by calling the code
under test. Statistical checks use fixed seeds, and each tolerance is derived from the
sampling error of the estimate it bounds (stated next to it).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinytorch_testing import (
    EPS,
    F32,
    F64,
    SETTINGS,
    autograd_loaded,
    check,
    record_from_op,
    ref_softmax,
)

from tinytorch.core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.layers import Dense, Dropout, Layer, Linear, Sequential
from tinytorch.core.tensor import Tensor, default_dtype


def linear_with(weight, bias=None):
    """A Linear whose parameters are set by hand (bias None means a layer without bias).

    Unlike tinytorch_testing.linear_with, which writes into the layer's own parameters, this
    one replaces them with new Tensors, and may build a layer without bias; the tests here
    check Linear with parameters set that way, so it stays local."""
    weight = np.asarray(weight, dtype=np.float64)
    layer = Linear(weight.shape[0], weight.shape[1], bias=bias is not None)
    layer.weight = Tensor(weight, requires_grad=True)
    if bias is not None:
        layer.bias = Tensor(bias, requires_grad=True)
    return layer


# =========================================================================================
# (a) modules 01..N-1 still work
# =========================================================================================


class TestPriorStackStillWorking:
    """Module 01 (Tensor) and module 02 (activations), re-proved with hand-worked values."""

    def test_tensor_matmul_plus_broadcast_bias(self):
        x = Tensor([[1.0, 2.0], [3.0, 4.0]])
        w = Tensor([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
        check(x @ w + Tensor([0.5, 0.0, 1.0]), [[5.5, 2.0, 0.0], [11.5, 4.0, -2.0]])

    def test_tensor_reductions_and_shape_ops(self):
        t = Tensor(np.arange(6)).reshape(2, 3)
        check(t.sum(axis=0), [3.0, 5.0, 7.0])
        check(t.transpose(), [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])
        check(t.mean(axis=1, keepdims=True), [[1.0], [4.0]])

    def test_relu_and_tanh(self):
        check(ReLU()(Tensor([-1.0, 0.0, 2.5])), [0.0, 0.0, 2.5])
        check(Tanh()(Tensor([0.0, 1000.0])), [0.0, 1.0], rtol=0)

    def test_sigmoid_and_gelu(self):
        check(Sigmoid()(Tensor([0.0, -1000.0])), [0.5, 0.0], rtol=0)
        # gelu(1) = 1 / (1 + e^-1.702)
        check(GELU()(Tensor([1.0])), [1 / (1 + math.exp(-1.702))], rtol=8 * EPS)

    def test_softmax(self):
        # [0, ln 3] -> [1/4, 3/4]; extreme logits stay exact
        check(Softmax()(Tensor([0.0, math.log(3.0)])), [0.25, 0.75])
        check(Softmax()(Tensor([-1047.0, -981.0, 1891.0])), [0.0, 0.0, 1.0], rtol=0)

    def test_activations_have_no_parameters(self):
        for act in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax()):
            assert act.parameters() == []


# =========================================================================================
# (b) module 03: each layer
# =========================================================================================


class TestLayerBase:
    def test_instantiable_without_arguments_with_no_parameters(self):
        layer = Layer()
        assert layer.parameters() == []
        assert isinstance(layer.parameters(), list)

    def test_forward_must_be_overridden(self):
        with pytest.raises(NotImplementedError, match="override forward"):
            Layer().forward(Tensor([1.0]))
        with pytest.raises(NotImplementedError, match="override forward"):
            Layer()(Tensor([1.0]))

    def test_call_passes_arguments_to_forward(self):
        class Recorder(Layer):
            def forward(self, x, *args, **kwargs):
                return (x, args, kwargs)

        x = Tensor([1.0])
        assert Recorder()(x, 2, 3, flag=True) == (x, (2, 3), {"flag": True})

    def test_subclass_without_super_init(self):
        class Scale(Layer):
            def __init__(self, factor):  # deliberately no super().__init__()
                self.factor = Tensor([factor], requires_grad=True)

            def forward(self, x):
                return x * self.factor

            def parameters(self):
                return [self.factor]

        layer = Scale(3.0)
        check(layer(Tensor([1.0, -2.0])), [3.0, -6.0])
        assert layer.parameters()[0] is layer.factor
        check(Sequential(layer, ReLU())(Tensor([1.0, -2.0])), [3.0, 0.0])

    def test_subclass_inherits_empty_parameters(self):
        class Double(Layer):
            def forward(self, x):
                return x * 2

        check(Double()(Tensor([1.5])), [3.0])
        assert Double().parameters() == []

    def test_every_layer_is_a_layer(self):
        for layer in (Linear(2, 3), Dropout(), Sequential()):
            assert isinstance(layer, Layer)


class TestLinearConstruction:
    def test_shapes_dtype_and_requires_grad(self):
        layer = Linear(3, 2)
        assert layer.in_features == 3
        assert layer.out_features == 2
        assert isinstance(layer.weight, Tensor)
        assert layer.weight.shape == (3, 2)
        assert layer.weight.dtype == F32
        assert layer.weight.requires_grad is True
        assert isinstance(layer.bias, Tensor)
        assert layer.bias.requires_grad is True
        check(layer.bias, [0.0, 0.0], rtol=0)

    def test_without_bias(self):
        layer = Linear(4, 5, bias=False)
        assert layer.bias is None
        assert layer.weight.shape == (4, 5)
        assert layer.weight.requires_grad is True
        params = layer.parameters()
        assert len(params) == 1
        assert params[0] is layer.weight

    def test_parameters_are_the_tensors_themselves(self):
        layer = Linear(3, 2)
        params = layer.parameters()
        assert isinstance(params, list)
        assert len(params) == 2
        assert params[0] is layer.weight
        assert params[1] is layer.bias

    def test_parameters_follow_replaced_tensors(self):
        layer = Linear(2, 2)
        new_weight = Tensor(np.eye(2), requires_grad=True)
        layer.weight = new_weight
        assert layer.parameters()[0] is new_weight

    def test_dense_is_linear(self):
        assert Dense is Linear
        layer = Dense(2, 3)
        assert isinstance(layer, Linear)
        assert layer.weight.shape == (2, 3)

    def test_repr(self):
        assert repr(Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
        assert repr(Linear(7, 1, bias=False)) == "Linear(in_features=7, out_features=1, bias=False)"

    def test_numpy_integer_features(self):
        layer = Linear(np.int64(3), np.int32(2))
        assert layer.weight.shape == (3, 2)
        assert repr(layer) == "Linear(in_features=3, out_features=2, bias=True)"

    def test_weights_come_from_the_seeded_global_numpy_generator(self):
        # The documented recipe, in float64: randn(in, out) * sqrt(1 / in).
        np.random.seed(1234)
        expected = np.random.randn(5, 3) * math.sqrt(1 / 5)
        np.random.seed(1234)
        layer = Linear(5, 3)
        check(layer.weight, expected, rtol=EPS)
        np.random.seed(1234)
        check(Linear(5, 3).weight, expected, rtol=EPS)

    def test_two_layers_get_different_weights(self):
        np.random.seed(0)
        a, b = Linear(4, 4), Linear(4, 4)
        assert not np.array_equal(a.weight.data, b.weight.data)

    def test_float64_mode_gives_float64_parameters(self):
        with default_dtype(np.float64):
            layer = Linear(3, 2)
            out = layer(Tensor(np.ones((1, 3))))
        assert layer.weight.dtype == F64
        assert layer.bias.dtype == F64
        assert out.dtype == F64


class TestLinearInitStatistics:
    # For N i.i.d. normal samples the relative standard error of the sample std is
    # 1 / sqrt(2 (N - 1)); that of the sample mean is std / sqrt(N). Tolerances are 5 of those.

    @pytest.mark.parametrize(("fan_in", "fan_out"), [(400, 400), (16, 10000), (10000, 16)])
    def test_std_is_sqrt_one_over_in_features(self, fan_in, fan_out):
        np.random.seed(2024)
        w = Linear(fan_in, fan_out).weight.data.astype(np.float64)
        n = w.size  # 160,000 in every case
        target = math.sqrt(1 / fan_in)
        rel_se = 1 / math.sqrt(2 * (n - 1))  # ~0.00177: 5 SE is ~0.9 %
        assert abs(w.std() / target - 1) < 5 * rel_se
        assert abs(w.mean()) < 5 * target / math.sqrt(n)

    def test_std_does_not_depend_on_out_features(self):
        # (16, 10000) and (10000, 16) share N but must differ in std by a factor of 25.
        np.random.seed(7)
        narrow = Linear(16, 10000).weight.data.std()
        wide = Linear(10000, 16).weight.data.std()
        # The ratio of two independent estimates has relative SE sqrt(2) times that of one.
        rel_se = math.sqrt(2) / math.sqrt(2 * (160000 - 1))
        assert abs((narrow / wide) / 25 - 1) < 5 * rel_se

    def test_bias_is_zero(self):
        np.random.seed(1)
        layer = Linear(400, 400)
        np.testing.assert_array_equal(layer.bias.data, np.zeros(400))


class TestLinearForward:
    def test_by_hand(self):
        # x (2, 3) @ W (3, 2) + b (2,):
        # [1, 2, 3] @ W = [1*1 + 2*0 + 3*2, 1*-1 + 2*1 + 3*0.5] = [7, 2.5], + b = [7.5, 0.5]
        # [0, -1, 4] @ W = [0 + 0 + 8, 0 - 1 + 2] = [8, 1], + b = [8.5, -1]
        layer = linear_with([[1.0, -1.0], [0.0, 1.0], [2.0, 0.5]], [0.5, -2.0])
        check(layer(Tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])), [[7.5, 0.5], [8.5, -1.0]])

    def test_forward_equals_call(self):
        layer = linear_with([[1.0], [2.0]], [3.0])
        x = Tensor([[1.0, 1.0]])
        check(layer.forward(x), [[6.0]])
        check(layer(x), [[6.0]])

    def test_weight_is_not_transposed(self):
        # With W of shape (in, out) = (2, 3), a one-hot input picks a row of W.
        w = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        layer = linear_with(w, [0.0, 0.0, 0.0])
        check(layer(Tensor([[0.0, 1.0]])), [[4.0, 5.0, 6.0]])

    def test_without_bias_by_hand(self):
        layer = linear_with([[2.0], [-1.0]])
        check(layer(Tensor([[3.0, 4.0], [1.0, 1.0]])), [[2.0], [1.0]])

    def test_single_sample_1d(self):
        layer = linear_with([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [10.0, 20.0])
        check(layer(Tensor([1.0, 2.0, 3.0])), [14.0, 25.0])

    def test_batched_3d_input(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 4, 3) / 10
        w = np.array([[0.5, -1.0], [2.0, 0.0], [-0.5, 1.5]])
        b = np.array([1.0, -1.0])
        layer = linear_with(w, b)
        check(layer(Tensor(x)), x @ w + b, rtol=1e-6, atol=1e-6)

    def test_default_initialised_layer_matches_numpy(self):
        np.random.seed(3)
        layer = Linear(4, 3)
        w = layer.weight.data.astype(np.float64)
        x = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
        check(layer(Tensor(x)), x @ w, rtol=1e-6, atol=1e-6)

    def test_input_is_unchanged_and_output_is_new(self):
        layer = linear_with([[1.0]], [0.0])
        x = Tensor([[2.0]])
        y = layer(x)
        assert y is not x
        check(x, [[2.0]])

    def test_output_requires_grad_only_with_autograd(self):
        layer = Linear(2, 2)
        assert layer(Tensor([[1.0, 2.0]])).requires_grad is autograd_loaded()

    @SETTINGS
    @given(data=st.data())
    def test_matches_float64_numpy(self, data):
        fan_in = data.draw(st.integers(1, 6))
        fan_out = data.draw(st.integers(1, 6))
        batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
        values = st.floats(-100, 100, width=32)
        x = data.draw(hnp.arrays(np.float32, (*batch, fan_in), elements=values))
        w = data.draw(hnp.arrays(np.float32, (fan_in, fan_out), elements=values))
        use_bias = data.draw(st.booleans())
        b = data.draw(hnp.arrays(np.float32, (fan_out,), elements=values)) if use_bias else None
        layer = linear_with(w, b)
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        b64 = np.zeros(fan_out) if b is None else b.astype(np.float64)
        expected = x64 @ w64 + b64
        # float32 dot product of fan_in terms plus the bias: each rounding is at most EPS/2
        # of a partial sum, all bounded by |x| @ |w| + |b|; (fan_in + 2) EPS is a safe bound.
        bound = (fan_in + 2) * EPS * (np.abs(x64) @ np.abs(w64) + np.abs(b64)) + 1e-30
        y = layer(Tensor(x))
        assert y.dtype == F32
        assert y.shape == expected.shape
        assert np.all(np.abs(y.data - expected) <= bound)


class TestDropout:
    def test_default_p_is_one_half(self):
        assert Dropout().p == 0.5
        assert repr(Dropout()) == "Dropout(p=0.5)"
        assert repr(Dropout(0.25)) == "Dropout(p=0.25)"

    def test_eval_mode_returns_the_input(self):
        x = Tensor([[1.0, -2.0, 3.0]])
        y = Dropout(0.5)(x, training=False)
        assert y is x
        check(y, [[1.0, -2.0, 3.0]])
        assert Dropout(0.9).forward(x, training=False) is x

    @pytest.mark.parametrize("p", [0, 0.0])
    def test_p_zero_is_the_identity_in_training(self, p):
        x = Tensor(np.linspace(-1.0, 1.0, 50))
        y = Dropout(p)(x)
        check(y, np.linspace(-1.0, 1.0, 50))
        y_explicit = Dropout(p)(x, training=True)
        check(y_explicit, np.linspace(-1.0, 1.0, 50))

    @pytest.mark.parametrize("p", [1, 1.0])
    def test_p_one_gives_zeros_in_training(self, p):
        x = Tensor(np.linspace(-5.0, 5.0, 40).reshape(4, 10))
        y = Dropout(p)(x)
        check(y, np.zeros((4, 10)), rtol=0)
        assert np.all(np.isfinite(y.data))

    def test_p_one_in_eval_mode_is_still_the_identity(self):
        x = Tensor([1.0, 2.0])
        assert Dropout(1.0)(x, training=False) is x

    @pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
    def test_each_element_is_zero_or_scaled_by_one_over_keep(self, p):
        np.random.seed(11)
        data = np.linspace(0.5, 2.0, 1000).reshape(10, 100)
        y = Dropout(p)(Tensor(data))
        assert y.shape == (10, 100)
        assert y.dtype == F32
        kept = y.data != 0
        scaled = data / (1 - p)
        np.testing.assert_allclose(y.data[kept], scaled[kept], rtol=2 * EPS)
        assert kept.any()
        assert (~kept).any()

    @pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
    def test_drop_fraction_and_expected_value(self, p):
        np.random.seed(2025)
        n = 200_000
        data = np.ones(n)
        y = Dropout(p)(Tensor(data)).data.astype(np.float64)
        # Each element is dropped independently with probability p: the dropped fraction has
        # standard error sqrt(p (1 - p) / n) (<= 0.0011 here); allow 5 of them.
        dropped = np.mean(y == 0)
        assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)
        # Each output is Bernoulli(1 - p) / (1 - p): mean 1, variance p / (1 - p), so the mean
        # of n of them has standard error sqrt(p / ((1 - p) n)) (0.0067 at p = 0.9); allow 5.
        assert abs(y.mean() - data.mean()) < 5 * math.sqrt(p / ((1 - p) * n))

    def test_expected_value_with_varied_input(self):
        np.random.seed(5)
        p, n = 0.5, 100_000
        data = np.linspace(-1.0, 3.0, n)  # mean 1, mean of squares 7/3
        y = Dropout(p)(Tensor(data)).data.astype(np.float64)
        # output_i = data_i * B_i / (1 - p), Var = data_i^2 p / (1 - p); the mean's SE is
        # sqrt(mean(data^2) p / ((1 - p) n)) = sqrt(7/3 / n) ~= 0.0048; allow 5.
        se = math.sqrt(np.mean(data**2) * p / ((1 - p) * n))
        assert abs(y.mean() - 1.0) < 5 * se

    def test_mask_is_fresh_on_every_call(self):
        np.random.seed(8)
        layer, x = Dropout(0.5), Tensor(np.ones(500))
        first, second = layer(x).data.copy(), layer(x).data.copy()
        # Two independent masks of 500 elements agree everywhere with probability 2**-500.
        assert not np.array_equal(first, second)

    def test_seed_makes_it_reproducible(self):
        x = Tensor(np.arange(1.0, 201.0))
        np.random.seed(99)
        first = Dropout(0.3)(x).data.copy()
        np.random.seed(99)
        second = Dropout(0.3)(x).data.copy()
        np.testing.assert_array_equal(first, second)
        np.random.seed(100)
        third = Dropout(0.3)(x).data.copy()
        assert not np.array_equal(first, third)

    def test_input_is_unchanged(self):
        x = Tensor(np.ones((3, 3)))
        np.random.seed(4)
        Dropout(0.5)(x)
        check(x, np.ones((3, 3)))

    def test_has_no_parameters(self):
        assert Dropout(0.2).parameters() == []

    def test_output_requires_grad_follows_the_input(self):
        x = Tensor(np.ones(10), requires_grad=True)
        assert Dropout(0.5)(x).requires_grad is autograd_loaded()

    @SETTINGS
    @given(
        data=hnp.arrays(
            np.float32,
            hnp.array_shapes(max_dims=3, max_side=6),
            elements=st.floats(0.5, 100, width=32),
        ),
        p=st.floats(0.05, 0.95),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_output_is_zero_or_input_over_keep(self, data, p, seed):
        np.random.seed(seed)
        y = Dropout(p)(Tensor(data))
        assert y.shape == data.shape
        scaled = data.astype(np.float64) / (1 - p)
        # one float32 rounding of the scaled value (and one of 1 / (1 - p)): 2 EPS
        ok = (y.data == 0) | np.isclose(y.data, scaled, rtol=2 * EPS, atol=0)
        assert np.all(ok)


class TestSequential:
    def test_calls_layers_in_order(self):
        # Linear then ReLU: relu([1, -1] @ [[1], [2]] + 0) = relu(-1) = 0
        # ReLU then Linear: relu([1, -1]) @ [[1], [2]] = [1, 0] @ [[1], [2]] = 1
        lin = linear_with([[1.0], [2.0]], [0.0])
        x = Tensor([[1.0, -1.0]])
        check(Sequential(lin, ReLU())(x), [[0.0]])
        check(Sequential(ReLU(), lin)(x), [[1.0]])

    def test_forward_equals_call(self):
        model = Sequential(linear_with([[2.0]], [1.0]), linear_with([[3.0]], [-1.0]))
        # (x * 2 + 1) * 3 - 1 at x = 4: 9 * 3 - 1 = 26
        check(model.forward(Tensor([[4.0]])), [[26.0]])
        check(model(Tensor([[4.0]])), [[26.0]])

    def test_accepts_a_single_list(self):
        model = Sequential([linear_with([[2.0]], [0.0]), ReLU()])
        check(model(Tensor([[-1.0], [3.0]])), [[0.0], [6.0]])
        assert len(model.parameters()) == 2

    def test_parameters_concatenate_in_order(self):
        a, b, c = Linear(3, 4), Linear(4, 2, bias=False), Linear(2, 1)
        params = Sequential(a, ReLU(), b, Tanh(), c, Softmax()).parameters()
        expected = [a.weight, a.bias, b.weight, c.weight, c.bias]
        assert [id(p) for p in params] == [id(e) for e in expected]

    def test_nested_sequential(self):
        inner = Sequential(linear_with([[1.0, -1.0]], [0.0, 0.0]), ReLU())
        outer = Sequential(inner, linear_with([[1.0], [1.0]], [0.5]))
        # x = -2: inner gives relu([-2, 2]) = [0, 2]; then 0 + 2 + 0.5 = 2.5
        check(outer(Tensor([[-2.0]])), [[2.5]])
        assert len(outer.parameters()) == 4
        assert outer.parameters()[0] is inner.parameters()[0]

    def test_shared_layer_parameters_are_listed_once(self):
        shared = linear_with([[2.0]], [0.0])
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


class TestAutogradReadiness:
    """Every result passes through Tensor._from_op, so module 05 can differentiate it: Linear
    as one "linear" op over (x, weight, bias), Dropout as a "mul" by a constant mask."""

    @pytest.fixture
    def calls(self, monkeypatch):
        return record_from_op(monkeypatch, fields=("out", "op", "inputs"))

    def test_linear_is_one_op_over_input_weight_and_bias(self, calls):
        layer = linear_with([[1.0, 0.5, -1.0], [2.0, 0.0, 0.25]], [0.1, 0.2, 0.3])
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


# =========================================================================================
# (c) integration of module 03 with modules 01 and 02
# =========================================================================================


class TestIntegration:
    W1 = np.array([[0.5, -1.0, 0.25], [1.5, 0.5, -0.75]])  # (2, 3)
    B1 = np.array([0.1, 0.2, -0.3])
    W2 = np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.0]])  # (3, 2)
    B2 = np.array([0.0, 0.5])
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0], [3.0, -2.0]])

    def reference(self, x, hidden=lambda h: np.maximum(h, 0)):
        h = hidden(x @ self.W1 + self.B1)
        return ref_softmax(h @ self.W2 + self.B2)

    def test_two_layer_network_by_layers(self):
        l1, l2 = linear_with(self.W1, self.B1), linear_with(self.W2, self.B2)
        probs = Softmax()(l2(ReLU()(l1(Tensor(self.X)))))
        check(probs, self.reference(self.X), rtol=1e-6, atol=1e-7)

    def test_two_layer_network_first_row_by_hand(self):
        # x = [1, 2]: x @ W1 + B1 = [0.5 + 3 + 0.1, -1 + 1 + 0.2, 0.25 - 1.5 - 0.3]
        #            = [3.6, 0.2, -1.55]; relu -> [3.6, 0.2, 0]
        # @ W2 + B2 = [3.6 + 0.1, -3.6 + 0.4 + 0.5] = [3.7, -2.7]
        # softmax: [1, e^-6.4] / (1 + e^-6.4)
        model = Sequential(
            linear_with(self.W1, self.B1), ReLU(), linear_with(self.W2, self.B2), Softmax()
        )
        q = math.exp(-6.4)
        check(model(Tensor(self.X[:1])), [[1 / (1 + q), q / (1 + q)]], rtol=1e-6)

    def test_two_layer_network_as_sequential(self):
        model = Sequential(
            linear_with(self.W1, self.B1), ReLU(), linear_with(self.W2, self.B2), Softmax()
        )
        probs = model(Tensor(self.X))
        check(probs, self.reference(self.X), rtol=1e-6, atol=1e-7)
        check(probs.sum(axis=1), np.ones(4), rtol=4 * EPS)
        assert len(model.parameters()) == 4

    @pytest.mark.parametrize(
        ("activation", "hidden"),
        [
            (Sigmoid, lambda h: 1 / (1 + np.exp(-h))),
            (Tanh, np.tanh),
            (GELU, lambda h: h / (1 + np.exp(-1.702 * h))),
        ],
    )
    def test_sequential_with_each_hidden_activation(self, activation, hidden):
        model = Sequential(
            Dense(2, 3), activation(), Dense(3, 2), Softmax()
        )  # Dense: the alias works in a model
        model[0].weight, model[0].bias = Tensor(self.W1), Tensor(self.B1)
        model[2].weight, model[2].bias = Tensor(self.W2), Tensor(self.B2)
        check(model(Tensor(self.X)), self.reference(self.X, hidden), rtol=1e-5, atol=1e-7)

    def test_dropout_in_eval_mode_inside_a_network(self):
        l1, l2 = linear_with(self.W1, self.B1), linear_with(self.W2, self.B2)
        drop = Dropout(0.5)
        h = drop(ReLU()(l1(Tensor(self.X))), training=False)
        check(Softmax()(l2(h)), self.reference(self.X), rtol=1e-6, atol=1e-7)

    def test_dropout_in_training_inside_a_network(self):
        # Dropout(p) in training: every hidden unit is 0 or twice its value (p = 0.5).
        np.random.seed(6)
        l1 = linear_with(self.W1, self.B1)
        h = ReLU()(l1(Tensor(self.X)))
        dropped = Sequential(l1, ReLU(), Dropout(0.5))(Tensor(self.X))
        expected_full = np.maximum(self.X @ self.W1 + self.B1, 0) * 2
        kept = dropped.data != 0
        np.testing.assert_allclose(dropped.data[kept], expected_full[kept], rtol=4 * EPS)
        check(h, expected_full / 2, rtol=1e-6)

    def test_regression_head_with_batched_input(self):
        # Linear(3, 1) on a (2, 2, 3) batch, then tanh: checks shapes through the stack.
        x = np.arange(12, dtype=np.float64).reshape(2, 2, 3) / 12
        w, b = np.array([[1.0], [-2.0], [0.5]]), np.array([0.25])
        out = Tanh()(linear_with(w, b)(Tensor(x)))
        check(out, np.tanh(x @ w + b), rtol=4 * EPS, atol=1e-7)

    def test_parameters_require_grad_and_outputs_follow_autograd(self):
        model = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
        assert all(p.requires_grad for p in model.parameters())
        assert model(Tensor([[1.0, 2.0]])).requires_grad is autograd_loaded()

    def test_results_feed_tensor_operations(self):
        layer = linear_with([[1.0, 2.0]], [0.0, -1.0])
        y = layer(Tensor([[1.0], [2.0]]))  # [[1, 1], [2, 3]]
        check((y * 2).sum(axis=0), [6.0, 8.0])
        check(y.mean(), 1.75)


# =========================================================================================
# (d) bad input
# =========================================================================================


class TestBadInput:
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

    def test_sequential_rejects_non_callables(self):
        with pytest.raises(TypeError, match=r"layer 1 must be callable.*got int"):
            Sequential(Linear(2, 2), 3)

    def test_sequential_rejects_a_class_instead_of_an_instance(self):
        with pytest.raises(TypeError, match=r"layer 0 is the class ReLU.*ReLU\(\)"):
            Sequential(ReLU, Linear(2, 2))

    def test_shape_error_inside_sequential_names_the_layer(self):
        model = Sequential(Linear(2, 3), ReLU(), Linear(4, 1))
        with pytest.raises(
            ValueError, match=r"Linear\(in_features=4, .*last dimension 4, got shape \(5, 3\)"
        ):
            model(Tensor(np.ones((5, 2))))
