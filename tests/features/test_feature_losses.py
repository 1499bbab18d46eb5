"""Feature terms: values against numpy references of the authors' code."""

import json

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.src.losses.base import OUTPUTS
from tests.backends import value_and_gradient

RNG = np.random.default_rng(0)


def _flat(x):
    return x.reshape(len(x), -1).astype("float64")


def _normalize(x, axis=-1):
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


def _huber(x):
    return np.where(np.abs(x) < 1, 0.5 * x**2, np.abs(x) - 0.5)


def np_hint(t, s):
    return ((t - s) ** 2).reshape(len(t), -1).mean(-1)


def np_attention_transfer(t, s, p=2.0):
    def at(x):
        return _normalize((np.abs(x) ** p).mean(-1).reshape(len(x), -1))

    return ((at(t) - at(s)) ** 2).mean(-1)


def np_similarity_preserving(t, s):
    def gram(x):
        x = _flat(x)
        return _normalize(x @ x.T)

    b = len(t)
    return ((gram(t) - gram(s)) ** 2).sum(-1) / b


def np_rkd_distance(t, s):
    def pdist(e):
        e = _flat(e)
        sq = (e**2).sum(1)
        d = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2 * e @ e.T, 1e-12, None))
        np.fill_diagonal(d, 0)
        return d / d[d > 0].mean()

    return _huber(pdist(s) - pdist(t)).mean(-1)


def np_rkd_angle(t, s):
    def angles(e):
        e = _flat(e)
        directions = _normalize(e[None, :, :] - e[:, None, :], axis=2)
        return np.einsum("ijd,ikd->ijk", directions, directions)

    return _huber(angles(s) - angles(t)).reshape(len(t), -1).mean(-1)


def np_pkt(t, s, eps=1e-7):
    def probabilities(x):
        x = _flat(x)
        x = x / (np.linalg.norm(x, axis=1, keepdims=True) + eps)
        similarity = (x @ x.T + 1) / 2
        return similarity / similarity.sum(1, keepdims=True)

    pt, ps = probabilities(t), probabilities(s)
    return (pt * np.log((pt + eps) / (ps + eps))).mean(-1)


# (term, numpy reference, teacher shape, student shape)
CASES = [
    (kd.losses.Hint(), np_hint, (6, 4, 4, 5), (6, 4, 4, 5)),
    (kd.losses.AttentionTransfer(), np_attention_transfer, (6, 4, 4, 8), (6, 4, 4, 3)),
    (kd.losses.SimilarityPreserving(), np_similarity_preserving, (6, 4, 4, 8), (6, 5)),
    (kd.losses.RKD(), lambda t, s: np_rkd_distance(t, s) + 2 * np_rkd_angle(t, s), (6, 7), (6, 3)),
    (kd.losses.PKT(), np_pkt, (6, 2, 2, 3), (6, 5)),
]
IDS = ["hint", "attention_transfer", "similarity_preserving", "rkd", "pkt"]


@pytest.mark.parametrize("term,reference,t_shape,s_shape", CASES, ids=IDS)
def test_value_matches_numpy_reference(term, reference, t_shape, s_shape):
    t = RNG.normal(size=t_shape).astype("float32")
    s = RNG.normal(size=s_shape).astype("float32")
    values = keras.ops.convert_to_numpy(term(t, s))
    assert values.shape == (t_shape[0],)
    np.testing.assert_allclose(values, reference(t, s), rtol=1e-4, atol=1e-6)


def test_rkd_parts_match_numpy_reference():
    t = RNG.normal(size=(5, 4)).astype("float32")
    s = RNG.normal(size=(5, 9)).astype("float32")
    distance = kd.losses.rkd_distance(t, s)
    angle = kd.losses.rkd_angle(t, s)
    np.testing.assert_allclose(distance, np_rkd_distance(t, s), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(angle, np_rkd_angle(t, s), rtol=1e-4, atol=1e-6)
    only_angle = kd.losses.RKD(distance_weight=0.0, angle_weight=3.0)(t, s)
    np.testing.assert_allclose(only_angle, 3 * np_rkd_angle(t, s), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("term,reference,t_shape,s_shape", CASES, ids=IDS)
def test_zero_when_student_equals_teacher(term, reference, t_shape, s_shape):
    t = RNG.normal(size=t_shape).astype("float32")
    values = keras.ops.convert_to_numpy(term(t, t))
    np.testing.assert_allclose(values, np.zeros(t_shape[0]), atol=1e-6)


@pytest.mark.parametrize("term,reference,t_shape,s_shape", CASES, ids=IDS)
def test_gradients_finite_even_for_zero_or_repeated_features(term, reference, t_shape, s_shape):
    t = RNG.normal(size=t_shape).astype("float32")
    s = RNG.normal(size=s_shape).astype("float32")
    s[0] = 0.0  # a dead (all-zero) example, as after a ReLU
    s[2] = s[1]  # two identical examples: zero distance
    loss, gradient = value_and_gradient(lambda s: keras.ops.mean(term(t, s)), s)
    assert np.isfinite(loss) and np.all(np.isfinite(gradient))
    assert np.abs(gradient).sum() > 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("term,reference,t_shape,s_shape", CASES, ids=IDS)
def test_low_precision_inputs_give_float32_values(dtype, term, reference, t_shape, s_shape):
    t = RNG.normal(size=t_shape).astype("float32")
    s = RNG.normal(size=s_shape).astype("float32")
    t_low, s_low = keras.ops.cast(t, dtype), keras.ops.cast(s, dtype)
    values = term(t_low, s_low)
    assert keras.backend.standardize_dtype(values.dtype) == "float32"
    # The math runs in float32: the value is the reference on the rounded
    # inputs, to float32 precision (not merely close to the float32 value).
    rounded = [keras.ops.convert_to_numpy(keras.ops.cast(v, "float32")) for v in (t_low, s_low)]
    np.testing.assert_allclose(values, reference(*rounded), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "term",
    [
        kd.losses.Hint("a", "backbone/b", adapter="always", resize=False, name="h"),
        kd.losses.AttentionTransfer("a", "b", p=4),
        kd.losses.SimilarityPreserving("a", None),
        kd.losses.RKD("a", "b", distance_weight=25, angle_weight=50),
        kd.losses.PKT(None, "b"),
    ],
    ids=IDS,
)
def test_config_round_trip(term):
    config = keras.saving.serialize_keras_object(term)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert type(restored) is type(term)
    assert restored.get_config() == term.get_config()
    assert restored.teacher_source == (term.teacher_layer or OUTPUTS)
    assert restored.student_source == (term.student_layer or OUTPUTS)


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: kd.losses.Hint(teacher_layer=["conv3", "conv4"]), "teacher_layer"),
        (lambda: kd.losses.Hint(student_layer="backbone/"), "student_layer"),
        (lambda: kd.losses.Hint(adapter="dense"), "adapter"),
        (lambda: kd.losses.Hint(resize="yes"), "resize"),
        (lambda: kd.losses.AttentionTransfer(p=0), "p"),
        (lambda: kd.losses.RKD(distance_weight=-1), "distance_weight"),
        (lambda: kd.losses.RKD(distance_weight=0, angle_weight=0), "angle_weight"),
    ],
)
def test_invalid_arguments_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"argument `{argument}`"):
        make()


def test_feature_terms_are_public():
    names = {
        "FeatureLoss", "Hint", "AttentionTransfer", "SimilarityPreserving", "RKD", "PKT",
        "hint_loss", "attention_transfer", "similarity_preserving", "rkd", "rkd_distance",
        "rkd_angle", "pkt",
    }
    assert names <= set(kd.losses.__all__)
    assert all(callable(getattr(kd.losses, name)) for name in names)
