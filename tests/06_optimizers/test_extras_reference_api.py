"""Module 06 (Optimizers): what the reference adds to API.md's optimizers (API.md, Two tiers).

API.md fixes the constructors, ``.params``, ``.step_count``, ``zero_grad()``, ``step()`` and
the update rules; the course tier (test_progressive_integration.py) tests those. The reference
also has: float64 arithmetic in every step (100 steps agree with the float64 references of
tests/support/optimizer_references.py to 1e-6, and any beta2 in [0, 1) is fine),
hyper-parameters as public attributes, ``.params`` as a list, AdamW as a subclass of Adam, one
update per step for a parameter listed twice, ``state_dict()``/``load_state_dict()`` with
per-parameter state, float64 gradients taken by float32 parameters, IEEE results without numpy
warnings, and argument checks with their exception types and words. None of this is in API.md,
so it is the extra "internals" (the reference's own API), and "wording" where a test matches
an error's words.
"""

import numpy as np
import pytest
from course_api import SGD, Adam, AdamW
from hypothesis import given, settings
from hypothesis import strategies as st
from optimizer_references import KINDS, OPTIMIZERS, P0, gradient_stream, reference, run
from tinytorch_testing import F32, check, param

pytestmark = pytest.mark.extra("internals")
WORDING = pytest.mark.extra("wording")


# ===========================================================================================
# Float64 arithmetic: the references to 1e-6 (the course tier allows float32 arithmetic)
# ===========================================================================================


class TestFloat64Arithmetic:
    @pytest.mark.parametrize(
        ("kind", "hyper", "seed", "skip_every"),
        [
            ("SGD", {"lr": 0.05}, 1, None),
            ("SGD", {"lr": 0.05, "momentum": 0.9}, 1, None),
            ("SGD", {"lr": 0.02, "weight_decay": 0.1}, 1, None),
            ("SGD", {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.05}, 1, None),
            ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, 2, 3),
            ("Adam", {"lr": 0.01}, 3, None),
            ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}, 3, None),
            ("Adam", {"lr": 0.01, "weight_decay": 0.1}, 3, None),
            ("Adam", {"lr": 0.005, "betas": (0.0, 0.9)}, 3, None),
            ("Adam", {"lr": 0.01}, 4, 3),
            ("AdamW", {"lr": 0.01, "weight_decay": 0.01}, 5, None),
            ("AdamW", {"lr": 0.01, "weight_decay": 0.5}, 5, None),
            (
                "AdamW",
                {"lr": 0.02, "betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": 0.1},
                5,
                None,
            ),
        ],
    )
    def test_100_steps_match_the_reference_to_1e_6(self, kind, hyper, seed, skip_every):
        grads = gradient_stream(seed, P0.shape, skip_every=skip_every)
        p, optimizer = run(kind, P0, grads, **hyper)
        expected = reference(kind, P0, grads, **hyper)
        assert p.dtype == F32
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-6)
        assert optimizer.step_count == 100

    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(
        kind=st.sampled_from(KINDS),
        lr=st.floats(0.0, 0.5),
        momentum=st.floats(0.0, 0.99),
        beta1=st.floats(0.0, 0.99),
        beta2=st.floats(0.0, 0.999),
        weight_decay=st.floats(0.0, 0.5),
        seed=st.integers(0, 2**16),
    )
    def test_property_short_runs_match_the_references_to_1e_6(
        self, kind, lr, momentum, beta1, beta2, weight_decay, seed
    ):
        rng = np.random.default_rng(seed)
        p0 = rng.normal(size=5).astype(np.float32)
        grads = [rng.normal(size=5).astype(np.float32) for _ in range(8)]
        if kind == "SGD":
            hyper = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
        else:
            hyper = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay}
        p, _ = run(kind, p0, grads, **hyper)
        expected = reference(kind, p0, grads, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-6)

    def test_adam_first_step_on_a_small_gradient_to_1e_7(self):
        small = float(np.float32(1e-3))
        p, _ = run("Adam", [1.0, -1.0, 0.5], [[2.0, -3.0, small]], lr=0.1)
        check(p, [0.9, -0.9, 0.5 - 0.1 * small / (small + 1e-8)], rtol=1e-7)

    @pytest.mark.parametrize("kind", KINDS)
    def test_float64_gradients_keep_float32_parameters(self, kind):
        p = param([[1.0, 2.0], [3.0, 4.0]])
        optimizer = OPTIMIZERS[kind]([p], lr=0.1)
        for _ in range(3):
            p.grad = np.full((2, 2), 0.3, dtype=np.float64)
            optimizer.step()
        assert p.dtype == F32
        assert p.data.dtype == F32
        assert p.requires_grad is True
        assert not np.allclose(p.data, [[1.0, 2.0], [3.0, 4.0]])

    def test_no_warning_for_huge_gradients(self):
        # filterwarnings = error: numpy overflow warnings would fail this test.
        p = param([1.0, -1.0])
        optimizer = SGD([p], lr=1.0)
        p.grad = np.array([3e38, -3e38], dtype=np.float32)
        optimizer.step()
        p.grad = np.array([3e38, -3e38], dtype=np.float32)
        optimizer.step()
        assert np.isinf(p.data).all()
        assert p.dtype == F32


# ===========================================================================================
# Attributes, classes and parameter lists
# ===========================================================================================


class TestAttributesAndParameterLists:
    @pytest.mark.parametrize("kind", KINDS)
    def test_params_is_a_list(self, kind):
        a, b = param([1.0]), param([[2.0, 3.0]])
        for source in ([a, b], (a, b), (p for p in [a, b]), iter([a, b])):
            optimizer = OPTIMIZERS[kind](source)
            assert isinstance(optimizer.params, list)
            assert optimizer.params[0] is a
            assert optimizer.params[1] is b

    def test_hyperparameters_are_attributes_with_pytorchs_defaults(self):
        sgd = SGD([param([1.0])])
        assert (sgd.lr, sgd.momentum, sgd.weight_decay) == (0.01, 0.0, 0.0)
        adam = Adam([param([1.0])])
        assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (0.001, (0.9, 0.999), 1e-8, 0)
        adamw = AdamW([param([1.0])])
        assert (adamw.lr, adamw.betas, adamw.eps) == (0.001, (0.9, 0.999), 1e-8)
        assert adamw.weight_decay == 0.01
        given_ = SGD([param([1.0])], lr=0.5, momentum=0.25, weight_decay=0.125)
        assert (given_.lr, given_.momentum, given_.weight_decay) == (0.5, 0.25, 0.125)

    def test_adamw_is_an_adam(self):
        assert isinstance(AdamW([param([1.0])]), Adam)  # Adam with decoupled decay

    def test_shared_parameter_is_updated_once(self):
        shared = param([1.0])
        optimizer = SGD([shared, shared], lr=0.5)
        assert len(optimizer.params) == 1
        assert optimizer.params[0] is shared
        shared.grad = np.array([1.0], dtype=np.float32)
        optimizer.step()
        check(shared, [0.5])

    @WORDING
    def test_non_tensor_parameter_is_refused(self):
        with pytest.raises(TypeError, match=r"parameter 1 .*ndarray.*Tensor"):
            SGD([param([1.0]), np.zeros(3)])
        check(SGD([param([1.0])]).params[0], [1.0])  # control: a list of Tensors is fine

    @WORDING
    def test_empty_parameter_list_is_refused(self):
        with pytest.raises(ValueError, match="empty"):
            Adam([])
        used = iter([param([1.0])])
        list(used)
        with pytest.raises(ValueError, match="empty"):
            SGD(used)

    @WORDING
    @pytest.mark.parametrize("kind", KINDS)
    def test_wrong_gradient_shape_is_refused_before_any_update(self, kind):
        a, b = param([1.0, 2.0]), param([3.0, 4.0])
        optimizer = OPTIMIZERS[kind]([a, b], lr=0.1)
        a.grad = np.ones(2, dtype=np.float32)
        b.grad = np.ones(3, dtype=np.float32)
        with pytest.raises(ValueError, match=r"parameter 1.*\(2,\).*\(3,\)"):
            optimizer.step()
        check(a, [1.0, 2.0])
        check(b, [3.0, 4.0])
        assert optimizer.step_count == 0


# ===========================================================================================
# Bad hyper-parameters: checked when made and at every step, by type and words
# ===========================================================================================

BAD_HYPER = [
    ("SGD", {"lr": -0.1}, "lr"),
    ("SGD", {"lr": float("nan")}, "lr"),
    ("SGD", {"lr": float("inf")}, "lr"),
    ("SGD", {"momentum": -0.5}, "momentum"),
    ("SGD", {"weight_decay": -1e-4}, "weight_decay"),
    ("Adam", {"lr": -1e-3}, "lr"),
    ("Adam", {"betas": (1.0, 0.999)}, "beta1"),
    ("Adam", {"betas": (0.9, 1.0)}, "beta2"),
    ("Adam", {"betas": (-0.1, 0.999)}, "beta1"),
    ("Adam", {"betas": (0.9, 1.5)}, "beta2"),
    ("Adam", {"betas": (0.9,)}, "betas"),
    ("Adam", {"eps": -1e-8}, "eps"),
    ("Adam", {"weight_decay": -0.01}, "weight_decay"),
    ("AdamW", {"lr": -0.5}, "lr"),
    ("AdamW", {"betas": (0.9, 1.0)}, "beta2"),
    ("AdamW", {"eps": -1.0}, "eps"),
    ("AdamW", {"weight_decay": -0.01}, "weight_decay"),
]


@WORDING
class TestBadHyperparameters:
    @pytest.mark.parametrize(("kind", "hyper", "name"), BAD_HYPER)
    def test_bad_value_raises_a_value_error_naming_it(self, kind, hyper, name):
        with pytest.raises(ValueError, match=name):
            OPTIMIZERS[kind]([param([1.0])], **hyper)

    @pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
    def test_non_number_lr_raises_a_type_error(self, value):
        with pytest.raises(TypeError, match="lr"):
            SGD([param([1.0])], lr=value)

    def test_bad_lr_set_later_is_refused_at_step(self):
        p = param([1.0])
        optimizer = Adam([p], lr=0.1)
        optimizer.lr = -0.1
        p.grad = np.array([1.0], dtype=np.float32)
        with pytest.raises(ValueError, match="lr"):
            optimizer.step()
        check(p, [1.0])
        assert optimizer.step_count == 0


# ===========================================================================================
# State for checkpoints: state_dict() / load_state_dict()
# ===========================================================================================


def stepped_adam():
    p = param([1.0, 2.0])
    optimizer = Adam([p], lr=0.1)
    p.grad = np.array([1.0, 1.0], dtype=np.float32)
    optimizer.step()
    return p, optimizer


class TestStateDict:
    @pytest.mark.parametrize(
        ("kind", "hyper"),
        [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01})],
    )
    def test_restored_optimizer_continues_bit_identically(self, kind, hyper):
        grads = gradient_stream(7, (2, 3), steps=10)
        a = param(P0[:2, :3])
        first = OPTIMIZERS[kind]([a], **hyper)
        for g in grads[:5]:
            a.grad = g
            first.step()
        b = param(a.data.copy())
        second = OPTIMIZERS[kind]([b], lr=0.5)  # other hyper-parameters: the state carries them
        second.load_state_dict(first.state_dict())
        assert second.lr == first.lr
        assert second.step_count == 5
        for g in grads[5:]:
            a.grad, b.grad = g, g.copy()
            first.step()
            second.step()
        np.testing.assert_array_equal(a.data, b.data)
        assert second.step_count == 10

    def test_state_dict_is_plain_data_and_a_copy(self):
        _, optimizer = stepped_adam()
        state = optimizer.state_dict()
        assert state["type"] == "Adam"
        assert state["step_count"] == 1
        assert state["hyperparameters"]["lr"] == 0.1
        entry = state["state"][0]
        assert entry["step"] == 1
        # m = (1 - 0.9) * 1, v = (1 - 0.999) * 1
        np.testing.assert_allclose(entry["exp_avg"], [0.1, 0.1])
        np.testing.assert_allclose(entry["exp_avg_sq"], [0.001, 0.001])
        entry["exp_avg"][:] = 99.0
        again = optimizer.state_dict()["state"][0]["exp_avg"]
        np.testing.assert_allclose(again, [0.1, 0.1])

    def test_sgd_momentum_buffer_in_state(self):
        p = param([1.0])
        optimizer = SGD([p], lr=0.1, momentum=0.9)
        assert optimizer.state_dict()["state"] == [{}]
        p.grad = np.array([2.0], dtype=np.float32)
        optimizer.step()
        np.testing.assert_allclose(optimizer.state_dict()["state"][0]["momentum_buffer"], [2.0])

    @pytest.mark.parametrize("kind", KINDS)
    def test_parameter_without_grad_keeps_an_empty_state(self, kind):
        moving, idle = param([1.0, -1.0]), param([[0.5, 0.25]])
        extra = {"momentum": 0.9} if kind == "SGD" else {}
        optimizer = OPTIMIZERS[kind]([moving, idle], lr=0.1, weight_decay=0.1, **extra)
        for _ in range(3):
            moving.grad = np.array([1.0, 1.0], dtype=np.float32)
            optimizer.step()
        assert optimizer.state_dict()["state"][1] == {}
        assert optimizer.state_dict()["state"][0] != {}

    def test_adam_step_in_state_counts_the_parameters_own_updates(self):
        _, optimizer = run("Adam", [1.0, -1.0], [[2.0, -3.0]], lr=0.1)
        assert optimizer.state_dict()["state"][0]["step"] == 1
        _, optimizer = run("Adam", P0, gradient_stream(3, P0.shape), lr=0.01)
        assert optimizer.state_dict()["state"][0]["step"] == 100
        _, optimizer = run("Adam", P0, gradient_stream(4, P0.shape, skip_every=3), lr=0.01)
        assert optimizer.state_dict()["state"][0]["step"] == 67
        assert optimizer.step_count == 100

    @WORDING
    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (lambda s: s.update(type="SGD"), "SGD"),
            (lambda s: s["state"][0].update(exp_avg=np.zeros(3)), r"\(3,\).*\(2,\)"),
            (lambda s: s["state"].append({}), "2 parameters"),
            (lambda s: s["state"][0].pop("exp_avg_sq"), "keys"),
            (lambda s: s["hyperparameters"].update(lr=-1.0), "lr"),
            (lambda s: s.update(step_count=-3), "step_count"),
        ],
        ids=["other-class", "shape", "count", "missing-key", "bad-lr", "bad-count"],
    )
    def test_bad_state_is_refused_and_nothing_changes(self, change, match):
        _, target = stepped_adam()
        before = target.state_dict()
        _, source = stepped_adam()
        source.step_count = 7
        source.lr = 0.5
        state = source.state_dict()
        change(state)
        with pytest.raises(ValueError, match=match):
            target.load_state_dict(state)
        assert target.step_count == before["step_count"]
        assert target.lr == 0.1
        np.testing.assert_array_equal(
            target.state_dict()["state"][0]["exp_avg"], before["state"][0]["exp_avg"]
        )
