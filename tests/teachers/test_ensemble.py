"""Ensembles average probabilities at the step's temperature, against numpy."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h


def np_softmax(z):
    return np.exp(h.log_softmax(np.asarray(z, "float64")))


def np_mixture(member_logits, weights, temperature):
    weights = np.asarray(weights, "float64") / np.sum(weights)
    return sum(w * np_softmax(t / temperature) for w, t in zip(weights, member_logits))


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 6)])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_probability_mixture_matches_numpy(shape, temperature):
    rng = np.random.default_rng(0)
    members = [rng.normal(size=shape).astype("float32") * 3 for _ in range(3)]
    weights = np.array([0.2, 0.3, 0.5], "float32")
    out = np.asarray(kd.teachers.probability_mixture(members, weights, temperature))
    mixture = np_mixture(members, weights, temperature)
    # The output is T * log(mixture): its softmax at T is the mixture itself.
    np.testing.assert_allclose(out, temperature * np.log(mixture), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_softmax(out / temperature), mixture, atol=1e-6)
    # ... which is not what averaging logits gives.
    logit_mean = np_softmax(sum(w * t for w, t in zip(weights, members)) / temperature)
    assert np.abs(logit_mean - mixture).max() > 1e-2


def test_per_example_weights_match_numpy():
    rng = np.random.default_rng(1)
    members = [rng.normal(size=(3, 4)).astype("float32") for _ in range(2)]
    weights = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]], "float32")
    out = np.asarray(kd.teachers.probability_mixture(members, weights, 2.0))
    for row in range(3):
        expected = np_mixture([m[row] for m in members], weights[row], 2.0)
        np.testing.assert_allclose(np_softmax(out[row] / 2.0), expected, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_log_mixture_is_the_normalized_geometric_mean(temperature):
    rng = np.random.default_rng(2)
    members = [rng.normal(size=(4, 5)).astype("float32") * 2 for _ in range(2)]
    weights = np.array([0.25, 0.75], "float32")
    out = np.asarray(kd.teachers.log_mixture(members, weights))
    geometric = np.prod(
        [np_softmax(t / temperature) ** w for w, t in zip(weights, members)], axis=0
    )
    geometric /= geometric.sum(-1, keepdims=True)
    np.testing.assert_allclose(np_softmax(out / temperature), geometric, atol=1e-6)


def test_ensemble_layer_of_different_architectures():
    x, _ = h.data(8)
    wide = h.mlp(16, "wide", seed=1)
    linear = keras.Sequential(
        [keras.Input((h.NUM_FEATURES,)), keras.layers.Dense(h.NUM_CLASSES)], name="linear"
    )
    ensemble = kd.teachers.Ensemble([wide, linear], weights=[1, 3])
    out = np.asarray(ensemble(x, temperature=2.0))
    members = [np.asarray(wide(x)), np.asarray(linear(x))]
    np.testing.assert_allclose(
        np_softmax(out / 2.0), np_mixture(members, [1, 3], 2.0), atol=1e-5
    )
    assert not ensemble.trainable_weights and not wide.trainable and not linear.trainable


def test_distiller_ensemble_reads_the_temperature_variable_at_each_step():
    x, _ = h.data(16)
    teachers = [h.mlp(16, "t1", seed=1), h.mlp(8, "t2", seed=3)]
    student = h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teachers, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), temperature=2.0)
    members = [np.asarray(t(x)) for t in teachers]
    student_logits = np.asarray(student(x))
    for temperature in (2.0, 5.0):  # Assigned between fits: no recompile.
        distiller.temperature.assign(temperature)
        loss = distiller.fit(x, batch_size=16, epochs=1, verbose=0).history["loss"][0]
        mixture = np_mixture(members, [1, 1], temperature)
        expected = temperature**2 * np.mean(
            np.sum(mixture * (np.log(mixture) - h.log_softmax(student_logits / temperature)), -1)
        )
        np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert isinstance(distiller.teacher, kd.teachers.Ensemble)
    assert all(not t.trainable for t in teachers)
    trainable = {id(w) for w in distiller.trainable_weights}
    assert not trainable & {id(w) for t in teachers for w in t.weights}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weights": [1.0]}, "`weights`"),
        ({"weights": [1.0, -1.0]}, "`weights`"),
        ({"combine": "logits"}, "`combine`"),
    ],
)
def test_ensemble_validation(kwargs, match):
    teachers = [h.mlp(4, "a"), h.mlp(4, "b")]
    with pytest.raises(ValueError, match=match):
        kd.teachers.Ensemble(teachers, **kwargs)


def test_ensemble_of_different_class_counts_is_refused():
    with pytest.raises(ValueError, match="different output shapes"):
        kd.teachers.Ensemble([h.mlp(4, "a", num_classes=4), h.mlp(4, "b", num_classes=5)])
    with pytest.raises(ValueError, match=r"teacher output shape=\(None, 5\)"):
        kd.Distiller(
            teacher=[h.mlp(4, "a", num_classes=5), h.mlp(6, "b", num_classes=5)],
            student=h.mlp(3, "student"),
        )


def test_distiller_with_an_ensemble_saves_and_loads(tmp_path):
    x, y = h.data(16)
    distiller = kd.Distiller(
        teacher=kd.teachers.Ensemble([h.mlp(8, "t1", seed=1), h.mlp(6, "t2", seed=3)],
                                     weights=[3, 1]),
        student=h.mlp(3, "student", seed=2),
    )
    distiller.compile(optimizer="adam", student_loss_fn=h.sparse_ce())
    distiller.fit(x, y, epochs=1, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    restored = keras.models.load_model(tmp_path / "distiller.keras")
    assert restored.teacher.mixture_weights == [0.75, 0.25]
    np.testing.assert_allclose(
        restored.teacher(x, temperature=3.0), distiller.teacher(x, temperature=3.0), atol=1e-6
    )


def test_ensemble_config_round_trip():
    ensemble = kd.teachers.Ensemble(
        [h.mlp(4, "a"), h.mlp(6, "b")], weights=[1, 2], combine="log"
    )
    config = keras.saving.serialize_keras_object(ensemble)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, kd.teachers.Ensemble)
    again = keras.saving.serialize_keras_object(restored)["config"]
    # Keras renames the members' inner layers on load; the ensemble's own
    # fields and its members' names must survive unchanged.
    for key in ("name", "weights", "combine"):
        assert again[key] == config["config"][key]
    assert [t.name for t in restored.teachers] == ["a", "b"]
    np.testing.assert_allclose(restored.mixture_weights, [1 / 3, 2 / 3])


def test_student_inside_the_ensemble_is_refused_and_left_trainable():
    student = h.mlp(3, "student")
    with pytest.raises(ValueError, match="a model other than the student"):
        kd.Distiller(teacher=[h.mlp(8, "teacher"), student], student=student)
    assert student.trainable
