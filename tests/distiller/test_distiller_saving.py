"""Config round trips and `.keras` saving of the Distiller and its student."""

import json
import os

import keras
import numpy as np

import keras_distill as kd
from tests.distiller import helpers as h


def _distiller():
    teacher, student = h.teacher_and_student(batch_norm=True)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=h.sparse_ce(),
        distillation_loss_fn=[kd.losses.KLDivergence(), keras.losses.KLDivergence()],
        distillation_loss_weights=[1.0, 0.25],
        alpha=0.2,
        temperature=5.0,
    )
    return distiller


def test_get_config_from_config_round_trip_is_identical():
    distiller = _distiller()
    config = distiller.get_config()
    restored = kd.Distiller.from_config(config)
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(
        config, sort_keys=True
    )
    assert float(restored.temperature.numpy()) == 5.0
    assert [t.name for t in restored.distillation_loss_fn] == [
        "kl_divergence",
        "keras_kl_divergence",
    ]


def test_config_starts_from_keras_models_config():
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(
        teacher=teacher, student=student, name="kd_run", trainable=False, dtype="mixed_bfloat16"
    )
    config = distiller.get_config()
    base = keras.Model.get_config(distiller)
    assert {key: config[key] for key in base} == base
    restored = kd.Distiller.from_config(json.loads(json.dumps(config)))
    assert restored.name == "kd_run" and restored.trainable is False
    assert restored.dtype_policy.name == "mixed_bfloat16"


def test_loss_classes_round_trip():
    for loss in (kd.losses.KLDivergence(temperature=2.0, name="kd"),
                 kd.losses.KerasLoss("kl_divergence")):
        config = keras.saving.serialize_keras_object(loss)
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(loss)
        assert keras.saving.serialize_keras_object(restored) == config


def test_save_load_keeps_training_with_same_hyperparameters(tmp_path):
    x, y = h.data(32)
    distiller = _distiller()
    distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    distiller.temperature.assign(6.5)  # e.g. set by a callback
    path = os.path.join(tmp_path, "distiller.keras")
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, kd.Distiller)
    assert float(restored.temperature.numpy()) == 6.5
    assert float(restored.alpha.numpy()) == np.float32(0.2)
    assert [float(w.numpy()) for w in restored.distillation_loss_weights] == [1.0, 0.25]
    np.testing.assert_allclose(restored.predict(x, verbose=0), distiller.predict(x, verbose=0))
    assert restored.optimizer.iterations.numpy() == 2
    # Both continue identically: same weights, optimizer state and hyperparameters.
    original_history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    restored_history = restored.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(
        restored_history.history["loss"], original_history.history["loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        restored.student.get_weights()[0], distiller.student.get_weights()[0], rtol=1e-5
    )


def test_student_saves_alone_without_teacher_weights(tmp_path):
    x, y = h.data(32)
    distiller = _distiller()
    distiller.fit(x, y, epochs=1, verbose=0)
    student_path = os.path.join(tmp_path, "student.keras")
    distiller_path = os.path.join(tmp_path, "distiller.keras")
    distiller.student.save(student_path)
    distiller.save(distiller_path)
    student = keras.models.load_model(student_path)
    assert len(student.weights) == len(distiller.student.weights)
    teacher_shapes = sorted(tuple(w.shape) for w in distiller.teacher.weights)
    assert (6, 16) in teacher_shapes
    assert (6, 16) not in [tuple(w.shape) for w in student.weights]
    np.testing.assert_allclose(student.predict(x, verbose=0), distiller.predict(x, verbose=0))
    assert os.path.getsize(student_path) < os.path.getsize(distiller_path)
