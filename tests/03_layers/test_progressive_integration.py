"""Module 03 (Layers), course API: API.md section "03 Layers", at every checkpoint.

Checkpoint 03 holds modules 01..03; these tests run again at every later checkpoint, where
module 05 has turned autograd on. What autograd changes on purpose (the requires_grad of
results that depend on a parameter, backward) is asserted for whichever state is in force;
see ``autograd_loaded``. Parameters themselves require grad at every checkpoint. Every test
goes through Layer, Linear or Dropout, so each one fails when module 03 is a stub.

Only course-API names and behaviours are used here. The reference's extras (``Dense``,
``Sequential``, the float64 mode, reprs and exact error wording, the op hook, and behaviours
API.md leaves open such as ``in_features``/``p`` attributes, Dropout returning the input
object itself, argument validation) are in test_extras.py.

Expected values are worked out by hand or in plain float64 numpy, never by calling the code
under test. Statistical checks use fixed seeds, and each tolerance is derived from the
sampling error of the estimate it bounds (stated next to it).
"""

import math

import numpy as np
import pytest
from course_api import GELU, Dropout, Layer, Linear, ReLU, Sigmoid, Softmax, Tanh, Tensor
from gradients import assert_gradients_match
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from models import Scale, linear_of
from tinytorch_testing import EPS, F32, SETTINGS, autograd_loaded, check, ref_sigmoid, ref_softmax


def assert_no_shared_memory(arrays):
    """No two of the named arrays share memory (API.md, Aliasing)."""
    names = list(arrays)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not np.shares_memory(arrays[first], arrays[second]), (
                f"{first} shares memory with {second}"
            )


# =========================================================================================
# (a) modules 01..02 still work, each result fed through a layer
# =========================================================================================


class TestPriorStackStillWorking:
    """Module 01 (Tensor) and module 02 (activations), re-proved with hand-worked values and
    fed through module 03."""

    def test_tensor_matmul_plus_broadcast_bias(self):
        x = Tensor([[1.0, 2.0], [3.0, 4.0]])
        w = [[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]
        expected = [[5.5, 2.0, 0.0], [11.5, 4.0, -2.0]]
        check(x.matmul(Tensor(w)) + Tensor([0.5, 0.0, 1.0]), expected)
        check(linear_of(w, [0.5, 0.0, 1.0])(x), expected)

    def test_tensor_reductions_and_shape_ops(self):
        t = Tensor(np.arange(6)).reshape(2, 3)
        check(t.sum(axis=0), [3.0, 5.0, 7.0])
        check(t.transpose(), [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])
        check(t.mean(axis=1, keepdims=True), [[1.0], [4.0]])
        # the transpose's rows summed by a Linear(2, 1) of ones: [3, 5, 7]
        summed = linear_of([[1.0], [1.0]], [0.0])(t.transpose())
        check(summed, [[3.0], [5.0], [7.0]])
        check(summed.reshape(3), [3.0, 5.0, 7.0])

    def test_relu_and_tanh(self):
        check(ReLU()(Tensor([-1.0, 0.0, 2.5])), [0.0, 0.0, 2.5])
        check(Tanh()(Tensor([0.0, 1000.0])), [0.0, 1.0], rtol=0)
        # Linear(1, 3) then ReLU and Tanh: x = 2 -> [2, -2, 0] + [0, 0, 1000]
        layer = linear_of([[1.0, -1.0, 0.0]], [0.0, 0.0, 1000.0])
        check(ReLU()(layer(Tensor([[2.0]]))), [[2.0, 0.0, 1000.0]])
        check(Tanh()(layer(Tensor([[0.0]]))), [[0.0, 0.0, 1.0]], rtol=0)

    def test_sigmoid_and_gelu(self):
        check(Sigmoid()(Tensor([0.0, -1000.0])), [0.5, 0.0], rtol=0)
        # gelu(1) = 1 / (1 + e^-1.702)
        check(GELU()(Tensor([1.0])), [1 / (1 + math.exp(-1.702))], rtol=8 * EPS)
        layer = linear_of([[2.0]], [-1.0])  # x = 1 -> 1; x = -499.5 -> -1000
        check(Sigmoid()(layer(Tensor([[-499.5]]))), [[0.0]], rtol=0)
        check(GELU()(layer(Tensor([[1.0]]))), [[1 / (1 + math.exp(-1.702))]], rtol=8 * EPS)

    def test_softmax(self):
        # [0, ln 3] -> [1/4, 3/4]; extreme logits stay exact
        check(Softmax()(Tensor([0.0, math.log(3.0)])), [0.25, 0.75])
        check(Softmax()(Tensor([-1047.0, -981.0, 1891.0])), [0.0, 0.0, 1.0], rtol=0)
        identity = linear_of(np.eye(2), [0.0, math.log(3.0)])
        check(Softmax()(identity(Tensor([[0.0, 0.0]]))), [[0.25, 0.75]])

    def test_activations_have_no_parameters(self):
        layers = [Linear(2, 3), ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(), Linear(3, 1)]
        for act in layers[1:-1]:
            assert act.parameters() == []
        counts = [len(layer.parameters()) for layer in layers]
        assert counts == [2, 0, 0, 0, 0, 0, 2]


# =========================================================================================
# (b) module 03: each layer
# =========================================================================================


class TestLayerBase:
    def test_instantiable_without_arguments_with_no_parameters(self):
        layer = Layer()
        assert layer.parameters() == []
        assert isinstance(layer.parameters(), list)

    def test_forward_must_be_overridden(self):
        with pytest.raises(NotImplementedError):
            Layer().forward(Tensor([1.0]))
        with pytest.raises(NotImplementedError):
            Layer()(Tensor([1.0]))

        class Negate(Layer):
            def forward(self, x):
                return x * -1.0

        # overriding forward is all a subclass needs: calling it then works
        check(Negate()(Tensor([1.0, -2.0])), [-1.0, 2.0])

    def test_call_passes_arguments_to_forward(self):
        class Recorder(Layer):
            def forward(self, x, *args, **kwargs):
                return (x, args, kwargs)

        x = Tensor([1.0])
        result = Recorder()(x, 2, 3, flag=True)
        assert result[0] is x
        assert result[1:] == ((2, 3), {"flag": True})

    def test_subclass_without_super_init(self):
        # models.Scale: a Layer subclass whose __init__ does not call super().__init__()
        layer = Scale(3.0)
        check(layer(Tensor([1.0, -2.0])), [3.0, -6.0])
        assert layer.parameters()[0] is layer.factor
        check(ReLU()(layer(Tensor([1.0, -2.0]))), [3.0, 0.0])

    def test_subclass_inherits_empty_parameters(self):
        class Double(Layer):
            def forward(self, x):
                return x * 2

        check(Double()(Tensor([1.5])), [3.0])
        assert Double().parameters() == []

    def test_every_layer_is_a_layer(self):
        for layer in (Linear(2, 3), Dropout()):
            assert isinstance(layer, Layer)


class TestLinearConstruction:
    def test_shapes_dtype_and_requires_grad(self):
        layer = Linear(3, 2)
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

    def test_weight_and_bias_do_not_share_memory(self):
        layer = Linear(3, 3)
        other = Linear(3, 3)
        assert_no_shared_memory(
            {
                "weight": layer.weight.data,
                "bias": layer.bias.data,
                "other weight": other.weight.data,
                "other bias": other.bias.data,
            }
        )

    def test_numpy_integer_features(self):
        layer = Linear(np.int64(3), np.int32(2))
        assert layer.weight.shape == (3, 2)
        assert layer.bias.shape == (2,)

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
        layer = linear_of([[1.0, -1.0], [0.0, 1.0], [2.0, 0.5]], [0.5, -2.0])
        check(layer(Tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])), [[7.5, 0.5], [8.5, -1.0]])

    def test_forward_equals_call(self):
        layer = linear_of([[1.0], [2.0]], [3.0])
        x = Tensor([[1.0, 1.0]])
        check(layer.forward(x), [[6.0]])
        check(layer(x), [[6.0]])

    def test_weight_is_not_transposed(self):
        # With W of shape (in, out) = (2, 3), a one-hot input picks a row of W.
        w = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        layer = linear_of(w, [0.0, 0.0, 0.0])
        check(layer(Tensor([[0.0, 1.0]])), [[4.0, 5.0, 6.0]])

    def test_without_bias_by_hand(self):
        layer = linear_of([[2.0], [-1.0]])
        check(layer(Tensor([[3.0, 4.0], [1.0, 1.0]])), [[2.0], [1.0]])

    def test_single_sample_1d(self):
        layer = linear_of([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [10.0, 20.0])
        check(layer(Tensor([1.0, 2.0, 3.0])), [14.0, 25.0])

    def test_batched_3d_input(self):
        x = np.arange(24, dtype=np.float64).reshape(2, 4, 3) / 10
        w = np.array([[0.5, -1.0], [2.0, 0.0], [-0.5, 1.5]])
        b = np.array([1.0, -1.0])
        layer = linear_of(w, b)
        check(layer(Tensor(x)), x @ w + b, rtol=1e-6, atol=1e-6)

    def test_default_initialised_layer_matches_numpy(self):
        np.random.seed(3)
        layer = Linear(4, 3)
        w = layer.weight.data.astype(np.float64)
        x = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
        check(layer(Tensor(x)), x @ w, rtol=1e-6, atol=1e-6)

    def test_input_is_unchanged_and_output_is_new(self):
        layer = linear_of([[1.0]], [0.0])
        x = Tensor([[2.0]])
        y = layer(x)
        assert y is not x
        check(x, [[2.0]])
        check(y, [[2.0]])

    @pytest.mark.parametrize(
        ("x", "bias"),
        [
            pytest.param([[1.0, 2.0], [3.0, 4.0]], [0.0, 0.0], id="identity-zero-bias"),
            pytest.param([[1.0, 2.0], [3.0, 4.0]], None, id="identity-no-bias"),
            pytest.param([1.0, 2.0], [0.0, 0.0], id="1d-input"),
            pytest.param([[0.0, 0.0]], [5.0, 6.0], id="zero-input-is-the-bias"),
        ],
    )
    def test_output_never_shares_memory(self, x, bias):
        # API.md, Aliasing: even where the output equals the input (W = I, b = 0) or the bias
        # (x = 0), it is a new array.
        layer = linear_of(np.eye(2), bias)
        x = Tensor(x)
        y = layer(x)
        expected = x.data.astype(np.float64) + (0.0 if bias is None else np.asarray(bias))
        check(y, expected)
        arrays = {"output": y.data, "input": x.data, "weight": layer.weight.data}
        if bias is not None:
            arrays["bias"] = layer.bias.data
        assert_no_shared_memory(arrays)

    def test_output_requires_grad_with_autograd(self):
        # Before 05 the flag of a result is not fixed (the reference's: test_extras.py).
        layer = linear_of([[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5])
        y = layer(Tensor([[1.0, 2.0]]))
        check(y, [[1.5, 1.5]])
        if autograd_loaded():
            assert y.requires_grad is True, "the output of Linear was not recorded"

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
        layer = linear_of(w, b)
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


class TestLinearGradients:
    """Before checkpoint 05 the forward values are what these tests can check; from 05 on
    Linear's gradients match float32 central differences of our own, and no gradient shares
    memory with another or with the forward's arrays (API.md, Aliasing)."""

    X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    W = np.array([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]])
    B = np.array([0.1, -0.2])
    G = np.array([[1.0, -0.5], [0.25, 2.0]])  # the weights of the loss sum(G * y)

    def test_gradients_match_central_differences(self):
        layer = linear_of(self.W, self.B)
        check(layer(Tensor(self.X)), self.X @ self.W + self.B, rtol=1e-6)
        if autograd_loaded():

            def loss(x, w, b):
                layer.weight, layer.bias = w, b
                return (layer(x) * Tensor(self.G)).sum()

            assert_gradients_match(loss, [self.X, self.W, self.B])

    def test_gradients_by_hand(self):
        # y = x W + b, loss = sum(G * y): dx = G W^T, dW = x^T G, db = sum of G's rows
        layer = linear_of(self.W, self.B)
        x = Tensor(self.X, requires_grad=True)
        y = layer(x)
        check(y, self.X @ self.W + self.B, rtol=1e-6)
        if autograd_loaded():
            (y * Tensor(self.G)).sum().backward()
            np.testing.assert_allclose(x.grad, self.G @ self.W.T, rtol=1e-6)
            np.testing.assert_allclose(layer.weight.grad, self.X.T @ self.G, rtol=1e-6)
            np.testing.assert_allclose(layer.bias.grad, self.G.sum(axis=0), rtol=1e-6)

    def test_without_bias_only_the_weight_gets_a_gradient(self):
        layer = linear_of(self.W)
        y = layer(Tensor(self.X))
        check(y, self.X @ self.W, rtol=1e-6)
        if autograd_loaded():
            (y * Tensor(self.G)).sum().backward()
            np.testing.assert_allclose(layer.weight.grad, self.X.T @ self.G, rtol=1e-6)

    @pytest.mark.parametrize("batched", [True, False], ids=["2d-input", "1d-input"])
    def test_gradients_are_new_arrays(self, batched):
        # With a 1-d input the bias's gradient equals the output's gradient itself: it must
        # still be a new array, not the one passed to backward().
        x_data, seed = (self.X, self.G) if batched else (self.X[0], self.G[0])
        layer = linear_of(self.W, self.B)
        x = Tensor(x_data, requires_grad=True)
        y = layer(x)
        check(y, x_data @ self.W + self.B, rtol=1e-6)
        arrays = {"output": y.data, "input": x.data, "weight": layer.weight.data}
        arrays["bias"] = layer.bias.data
        assert_no_shared_memory(arrays)
        if autograd_loaded():
            seed = seed.astype(np.float32)
            try:
                y.backward(seed)
            except Exception as exc:  # say which call failed, not numpy's words
                pytest.fail(f"backward through Linear of a {x_data.ndim}-d input failed: {exc!r}")
            assert layer.bias.grad is not None, "the bias got no gradient"
            np.testing.assert_allclose(layer.bias.grad, seed.reshape(-1, 2).sum(axis=0))
            arrays.update(
                {
                    "seed": seed,
                    "x.grad": x.grad,
                    "weight.grad": layer.weight.grad,
                    "bias.grad": layer.bias.grad,
                }
            )
            assert_no_shared_memory(arrays)


class TestDropout:
    def test_default_p_is_one_half(self):
        # Inverted dropout with p = 1/2 keeps survivors scaled by exactly 1 / (1 - p) = 2.
        np.random.seed(12)
        y = Dropout()(Tensor(np.ones(10_000)))
        kept = y.data != 0
        np.testing.assert_array_equal(y.data[kept], 2.0)
        # dropped fraction: SE sqrt(1/4 / 10^4) = 0.005; allow 5
        assert abs(np.mean(~kept) - 0.5) < 5 * 0.005

    @pytest.mark.parametrize("p", [0.5, 0.9, 1.0])
    def test_eval_mode_returns_the_input_values(self, p):
        # API.md: with training=False, Dropout returns x unchanged (the object itself or an
        # equal Tensor; the reference returns x itself: test_extras.py).
        x = Tensor([[1.0, -2.0, 3.0]])
        y = Dropout(p)(x, training=False)
        assert isinstance(y, Tensor)
        check(y, [[1.0, -2.0, 3.0]], rtol=0)
        check(Dropout(p).forward(x, training=False), [[1.0, -2.0, 3.0]], rtol=0)
        check(x, [[1.0, -2.0, 3.0]], rtol=0)

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
        assert not np.shares_memory(y.data, x.data)
        check(x, np.linspace(-5.0, 5.0, 40).reshape(4, 10))

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

    def test_input_is_unchanged(self):
        x = Tensor(np.ones((3, 3)))
        np.random.seed(4)
        Dropout(0.5)(x)
        check(x, np.ones((3, 3)))

    @pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
    def test_training_output_is_new(self, p):
        # API.md, Aliasing: in training the output never shares memory with the input, even
        # where every element survives.
        np.random.seed(9)
        x = Tensor(np.ones((4, 5)))
        y = Dropout(p)(x)
        assert not np.shares_memory(y.data, x.data)
        check(x, np.ones((4, 5)))
        assert set(np.unique(y.data)) <= {0.0, np.float32(1 / (1 - p))}

    def test_has_no_parameters(self):
        assert Dropout(0.2).parameters() == []

    def test_output_requires_grad_follows_the_input(self):
        # Before 05 the flag of a result is not fixed (the reference's: test_extras.py).
        x = Tensor(np.ones(10), requires_grad=True)
        y = Dropout(0.5)(x)
        assert set(np.unique(y.data)) <= {0.0, 2.0}
        if autograd_loaded():
            assert y.requires_grad is True, "the output of Dropout was not recorded"

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


class TestDropoutGradients:
    """From checkpoint 05 on: the gradient of inverted dropout is its mask over (1 - p) in
    training and the identity in evaluation; before it, the forward values."""

    W = np.array([[0.5, -1.0, 2.0, 0.25], [-0.75, 1.5, 1.0, -2.0]])

    @pytest.mark.parametrize("p", [0.25, 0.5])
    def test_training_gradient_is_the_scaled_mask(self, p):
        np.random.seed(13)
        x = Tensor(np.ones(self.W.shape), requires_grad=True)
        y = Dropout(p)(x)
        # with x = 1 the output is the mask over (1 - p) itself
        assert set(np.unique(y.data)) <= {0.0, np.float32(1 / (1 - p))}
        if autograd_loaded():
            mask = y.data.astype(np.float64)
            seed = self.W.astype(np.float32)
            y.backward(seed)
            np.testing.assert_allclose(x.grad, self.W * mask, rtol=2 * EPS)
            assert_no_shared_memory({"x.grad": x.grad, "seed": seed, "output": y.data})

    def test_eval_gradient_is_the_identity(self):
        x = Tensor(np.linspace(-1.0, 1.0, 8).reshape(2, 4), requires_grad=True)
        y = Dropout(0.5)(x, training=False)
        check(y, np.linspace(-1.0, 1.0, 8).reshape(2, 4))
        if autograd_loaded():
            (y * Tensor(self.W)).sum().backward()
            np.testing.assert_allclose(x.grad, self.W, rtol=EPS)

    def test_p_one_gradient_is_zero(self):
        x = Tensor(np.ones(self.W.shape), requires_grad=True)
        y = Dropout(1.0)(x)
        check(y, np.zeros(self.W.shape), rtol=0)
        if autograd_loaded():
            (y * Tensor(self.W)).sum().backward()
            # p = 1 drops every element: no gradient reaches x, or a gradient of zeros
            assert x.grad is None or not np.any(x.grad)


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
        l1, l2 = linear_of(self.W1, self.B1), linear_of(self.W2, self.B2)
        probs = Softmax()(l2(ReLU()(l1(Tensor(self.X)))))
        check(probs, self.reference(self.X), rtol=1e-6, atol=1e-7)
        check(probs.sum(axis=1), np.ones(4), rtol=4 * EPS)

    def test_two_layer_network_first_row_by_hand(self):
        # x = [1, 2]: x @ W1 + B1 = [0.5 + 3 + 0.1, -1 + 1 + 0.2, 0.25 - 1.5 - 0.3]
        #            = [3.6, 0.2, -1.55]; relu -> [3.6, 0.2, 0]
        # @ W2 + B2 = [3.6 + 0.1, -3.6 + 0.4 + 0.5] = [3.7, -2.7]
        # softmax: [1, e^-6.4] / (1 + e^-6.4)
        l1, l2 = linear_of(self.W1, self.B1), linear_of(self.W2, self.B2)
        q = math.exp(-6.4)
        probs = Softmax()(l2(ReLU()(l1(Tensor(self.X[:1])))))
        check(probs, [[1 / (1 + q), q / (1 + q)]], rtol=1e-6)

    @pytest.mark.parametrize(
        ("activation", "hidden"),
        [
            pytest.param(Sigmoid, lambda h: 1 / (1 + np.exp(-h)), id="Sigmoid"),
            pytest.param(Tanh, np.tanh, id="Tanh"),
            pytest.param(GELU, lambda h: h / (1 + np.exp(-1.702 * h)), id="GELU"),
        ],
    )
    def test_each_hidden_activation(self, activation, hidden):
        layers = [Linear(2, 3), activation(), Linear(3, 2), Softmax()]
        layers[0].weight, layers[0].bias = Tensor(self.W1), Tensor(self.B1)
        layers[2].weight, layers[2].bias = Tensor(self.W2), Tensor(self.B2)
        out = Tensor(self.X)
        for layer in layers:
            out = layer(out)
        check(out, self.reference(self.X, hidden), rtol=1e-5, atol=1e-7)

    def test_dropout_in_eval_mode_inside_a_network(self):
        l1, l2 = linear_of(self.W1, self.B1), linear_of(self.W2, self.B2)
        drop = Dropout(0.5)
        h = drop(ReLU()(l1(Tensor(self.X))), training=False)
        check(Softmax()(l2(h)), self.reference(self.X), rtol=1e-6, atol=1e-7)

    def test_dropout_in_training_inside_a_network(self):
        # Dropout(p) in training: every hidden unit is 0 or twice its value (p = 0.5).
        np.random.seed(6)
        l1 = linear_of(self.W1, self.B1)
        h = ReLU()(l1(Tensor(self.X)))
        dropped = Dropout(0.5)(ReLU()(l1(Tensor(self.X))))
        expected_full = np.maximum(self.X @ self.W1 + self.B1, 0) * 2
        kept = dropped.data != 0
        np.testing.assert_allclose(dropped.data[kept], expected_full[kept], rtol=4 * EPS)
        check(h, expected_full / 2, rtol=1e-6)

    def test_regression_head_with_batched_input(self):
        # Linear(3, 1) on a (2, 2, 3) batch, then tanh: checks shapes through the stack.
        x = np.arange(12, dtype=np.float64).reshape(2, 2, 3) / 12
        w, b = np.array([[1.0], [-2.0], [0.5]]), np.array([0.25])
        out = Tanh()(linear_of(w, b)(Tensor(x)))
        check(out, np.tanh(x @ w + b), rtol=4 * EPS, atol=1e-7)

    def test_parameters_require_grad_and_outputs_follow_autograd(self):
        layers = [Linear(2, 3), ReLU(), Linear(3, 1)]
        params = [p for layer in layers for p in layer.parameters()]
        assert len(params) == 4
        assert all(p.requires_grad for p in params)
        out = Tensor([[1.0, 2.0]])
        for layer in layers:
            out = layer(out)
        assert out.shape == (1, 1)
        if autograd_loaded():  # before 05 the flag of a result is not fixed
            assert out.requires_grad is True, "the output of Linear was not recorded"

    def test_results_feed_tensor_operations(self):
        layer = linear_of([[1.0, 2.0]], [0.0, -1.0])
        y = layer(Tensor([[1.0], [2.0]]))  # [[1, 1], [2, 3]]
        check((y * 2).sum(axis=0), [6.0, 8.0])
        check(y.mean(), 1.75)

    def test_network_gradients_match_central_differences(self):
        # Linear -> Sigmoid -> Linear -> Softmax, loss sum(G * probs); from checkpoint 05 on.
        l1, l2 = linear_of(self.W1, self.B1), linear_of(self.W2, self.B2)
        g = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25], [0.75, -0.5]])
        probs = Softmax()(l2(Sigmoid()(l1(Tensor(self.X)))))
        check(probs, self.reference(self.X, ref_sigmoid), rtol=1e-5, atol=1e-7)
        if autograd_loaded():

            def loss(x, w1, b1, w2, b2):
                l1.weight, l1.bias, l2.weight, l2.bias = w1, b1, w2, b2
                return (Softmax()(l2(Sigmoid()(l1(x)))) * Tensor(g)).sum()

            assert_gradients_match(loss, [self.X, self.W1, self.B1, self.W2, self.B2])


# =========================================================================================
# (d) bad input
# =========================================================================================


class TestBadInput:
    @pytest.mark.parametrize(
        ("in_features", "shape"),
        [
            pytest.param(3, (2, 4), id="wrong-last-dimension"),
            pytest.param(5, (4,), id="wrong-1d-input"),
            pytest.param(3, (3, 8), id="transposed-input"),
        ],
    )
    def test_wrong_last_dimension_raises_value_error(self, in_features, shape):
        # x @ weight with mismatched inner dimensions (API.md 01: ValueError)
        layer = Linear(in_features, 2)
        with pytest.raises(ValueError):
            layer(Tensor(np.ones(shape)))
        # the same layer takes an input of the right width
        right = Tensor(np.ones((*shape[:-1], in_features)))
        check(layer(right), right.data @ layer.weight.data, rtol=1e-6)

    @pytest.mark.parametrize("p", [-0.1, 1.5, 2, -1, float("nan"), float("inf")])
    def test_dropout_p_outside_unit_interval(self, p):
        with pytest.raises(ValueError):
            Dropout(p)
        # the bounds themselves are allowed
        check(Dropout(0.0)(Tensor([1.0, 2.0])), [1.0, 2.0])
        check(Dropout(1.0)(Tensor([1.0, 2.0])), [0.0, 0.0])
