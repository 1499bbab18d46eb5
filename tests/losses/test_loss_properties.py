"""Properties of single losses beyond the conformance suite: identities from
the papers, label formats, output shapes, and argument validation."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from tests.backends import value_and_gradient
from tests.losses.references import softmax

L = kd.losses
RNG = np.random.default_rng(0)
T_LOGITS = (RNG.normal(size=(6, 5)) * 3).astype("float32")
S_LOGITS = (RNG.normal(size=(6, 5)) * 3).astype("float32")
LABELS = np.array([0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_jensen_shannon_ends_are_forward_and_reverse_kl(temperature):
    args = (T_LOGITS, S_LOGITS, temperature)
    np.testing.assert_allclose(
        L.generalized_jensen_shannon(*args, beta=0.0), L.kl_divergence(*args), rtol=1e-6
    )
    np.testing.assert_allclose(
        L.generalized_jensen_shannon(*args, beta=1.0), L.reverse_kl_divergence(*args), rtol=1e-6
    )


def test_symmetric_jensen_shannon_is_symmetric_and_bounded_by_log_2():
    forward = L.generalized_jensen_shannon(T_LOGITS * 100, S_LOGITS * 100, 1.0, beta=0.5)
    backward = L.generalized_jensen_shannon(S_LOGITS * 100, T_LOGITS * 100, 1.0, beta=0.5)
    np.testing.assert_allclose(forward, backward, rtol=1e-5)
    assert np.all(np.asarray(forward) <= np.log(2.0) + 1e-6)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dkd_reassembles_classic_kd(temperature):
    # Zhao et al., eq. (1): KD = TCKD + (1 - p_target_teacher) * NCKD.
    tckd, nckd = (
        ops.convert_to_numpy(
            L.decoupled_kd(T_LOGITS, S_LOGITS, LABELS, temperature, alpha=alpha, beta=beta)
        )
        for alpha, beta in ((1.0, 0.0), (0.0, 1.0))
    )
    p_target = softmax(T_LOGITS / temperature)[np.arange(6), LABELS]
    np.testing.assert_allclose(
        tckd + (1 - p_target) * nckd, L.kl_divergence(T_LOGITS, S_LOGITS, temperature), rtol=1e-4
    )


def test_dkd_accepts_sparse_column_and_one_hot_labels():
    sparse = L.decoupled_kd(T_LOGITS, S_LOGITS, LABELS, 4.0)
    column = L.decoupled_kd(T_LOGITS, S_LOGITS, LABELS[:, None], 4.0)
    one_hot = L.decoupled_kd(T_LOGITS, S_LOGITS, np.eye(5)[LABELS], 4.0)
    np.testing.assert_allclose(column, sparse, rtol=1e-6)
    np.testing.assert_allclose(one_hot, sparse, rtol=1e-6)


def test_soft_target_cross_entropy_is_kl_plus_teacher_entropy_with_same_gradient():
    cross_entropy = L.soft_target_cross_entropy(T_LOGITS, S_LOGITS, 4.0)
    kl = L.kl_divergence(T_LOGITS, S_LOGITS, 4.0)
    p = softmax(T_LOGITS.astype("float64") / 4.0)
    entropy = -(p * np.log(p)).sum(-1)
    np.testing.assert_allclose(cross_entropy - kl, 16.0 * entropy, rtol=1e-4)
    _, cross_entropy_gradient = value_and_gradient(
        lambda s: ops.sum(L.soft_target_cross_entropy(T_LOGITS, s, 4.0)), S_LOGITS
    )
    _, kl_gradient = value_and_gradient(
        lambda s: ops.sum(L.kl_divergence(T_LOGITS, s, 4.0)), S_LOGITS
    )
    np.testing.assert_allclose(cross_entropy_gradient, kl_gradient, rtol=1e-4, atol=1e-6)


def test_standardized_kl_ignores_each_models_logit_shift_and_scale():
    plain = L.kl_divergence(T_LOGITS, S_LOGITS, 2.0, standardize=True)
    rescaled = L.kl_divergence(T_LOGITS * 7.0 + 3.0, S_LOGITS * 0.1 - 5.0, 2.0, standardize=True)
    np.testing.assert_allclose(rescaled, plain, rtol=1e-4)
    z = np.asarray(L.standardize_logits(T_LOGITS))
    np.testing.assert_allclose(z.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(-1, ddof=1), 1.0, rtol=1e-5)


def test_dist_ignores_a_common_scale_of_the_sample_weights():
    weights = np.array([1.0, 2.0, 0.0, 1.0, 0.5, 1.0])
    once, thrice = (
        ops.convert_to_numpy(L.dist_loss(T_LOGITS, S_LOGITS, 1.0, sample_weight=w))
        for w in (weights, 3 * weights)
    )
    mean = np.sum(weights * once) / weights.sum()
    np.testing.assert_allclose(np.sum(weights * thrice) / weights.sum(), mean, rtol=1e-5)


@pytest.mark.parametrize("shape", [(6,), (6, 1), (6, 3, 2)])
def test_sigmoid_and_regression_losses_accept_one_unit_and_sequence_outputs(shape):
    t = RNG.normal(size=shape).astype("float32")
    s = RNG.normal(size=shape).astype("float32")
    batch_shape = shape[:2] if len(shape) == 3 else shape[:1]
    for loss in (L.BernoulliKLDivergence(), L.LogitMSE(), L.LogitHuber()):
        assert loss(t, s, temperature=2.0).shape == batch_shape
    expected = ((s - t) ** 2).reshape(batch_shape + (-1,)).mean(-1)
    np.testing.assert_allclose(L.logit_mse(t, s), expected, rtol=1e-6)


def test_a_terms_own_temperature_overrides_the_distillers():
    loss = L.JensenShannon(temperature=2.0)
    np.testing.assert_allclose(
        loss(T_LOGITS, S_LOGITS, temperature=9.0),
        L.generalized_jensen_shannon(T_LOGITS, S_LOGITS, 2.0),
        rtol=1e-6,
    )


def test_dkd_without_labels_says_what_it_needs():
    x = RNG.normal(size=(4, 3)).astype("float32")
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    distiller = kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=L.DKD())
    distiller.compile(optimizer="sgd", jit_compile=False)
    with pytest.raises(ValueError, match=r"needs the hard labels.*Received: y=None"):
        distiller.fit(x, batch_size=4, verbose=0)


@pytest.mark.parametrize("loss", [L.DKD(), L.DIST()], ids=["DKD", "DIST"])
def test_class_losses_reject_one_logit_outputs_at_construction(loss):
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"at least 2 classes.*BernoulliKLDivergence"):
        kd.Distiller(teacher=teacher, student=student, distillation_loss_fn=loss)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.DKD(alpha=-1.0), r"`alpha`. Received: alpha=-1.0. Expected a number >= 0.0"),
        (lambda: L.DKD(beta="8"), r"`beta`. Received: beta='8'"),
        (lambda: L.DIST(gamma=float("nan")), r"`gamma`"),
        (lambda: L.JensenShannon(beta=1.5), r"Expected a number in \[0.0, 1.0\]. beta=0 is"),
        (lambda: L.LogitHuber(delta=0.0), r"Expected a number > 0. Use LogitMSE"),
        (lambda: L.KLDivergence(standardize="yes"), r"`standardize`. .*True or False"),
        (lambda: L.KLDivergence(output=-1), r"`output`. Received: output=-1"),
        (lambda: L.ReverseKLDivergence(temperature=0.0), r"`temperature`"),
    ],
)
def test_invalid_arguments_name_argument_value_and_expectation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_raw_output_losses_take_no_temperature():
    with pytest.raises(TypeError):
        L.LogitMSE(temperature=2.0)
    t, s = np.array([[2.0, -1.0, 0.5]]), np.array([[1.0, 0.0, 0.2]])
    np.testing.assert_array_equal(
        L.LogitCosine()(t, s, temperature=1.0), L.LogitCosine()(t, s, temperature=8.0)
    )
    assert L.LogitMSE().get_config() == {"name": "logit_mse"}
