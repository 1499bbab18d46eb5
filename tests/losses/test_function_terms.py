"""`DistillationLoss(fn, **kwargs)`: a term from a function, without a subclass."""

import json

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from keras_distill import losses as L
from tests.distiller import helpers as h


@keras.saving.register_keras_serializable(package="tests_function_terms")
def scaled_l1(teacher_logits, student_logits, scale=1.0):
    difference = ops.abs(ops.cast(teacher_logits, "float32") - ops.cast(student_logits, "float32"))
    return scale * ops.mean(difference, axis=-1)


@keras.saving.register_keras_serializable(package="tests_function_terms")
def softened_margin(teacher_logits, student_logits, temperature, y_true):
    target = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(student_logits)[-1])
    gap = ops.cast(teacher_logits - student_logits, "float32") / temperature
    return ops.sum(target * ops.square(gap), axis=-1)


def test_function_term_values_name_and_arguments():
    term = L.DistillationLoss(scaled_l1, scale=2.0)
    t = np.array([[1.0, -1.0], [0.0, 3.0]], "float32")
    s = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(term(t, s, temperature=7.0)), 2.0 * np.abs(t - s).mean(-1)
    )
    assert term.name == "scaled_l1" and term.scale == 2.0
    with pytest.raises(AttributeError, match="no attribute 'offset'"):
        _ = term.offset


def test_step_arguments_follow_the_signature():
    term = L.DistillationLoss(softened_margin)
    t = np.array([[2.0, 0.0]], "float32")
    s = np.array([[0.0, 0.0]], "float32")
    values = term(t, s, temperature=2.0, y_true=np.array([0]))
    np.testing.assert_allclose(ops.convert_to_numpy(values), [1.0])
    with pytest.raises(ValueError, match="needs the hard labels.*Received: y=None"):
        term(t, s, temperature=2.0)
    with pytest.raises(ValueError, match="`temperature`.*does not soften"):
        L.DistillationLoss(scaled_l1, temperature=2.0)
    with pytest.raises(ValueError, match="`fn`"):
        L.DistillationLoss("not a function")


def test_function_term_config_and_keras_file(tmp_path):
    term = L.DistillationLoss(scaled_l1, name="l1", output=0, scale=0.5)
    config = json.loads(json.dumps(term.get_config()))
    assert config["name"] == "l1" and config["scale"] == 0.5 and config["output"] == 0
    assert "temperature" not in config
    restored = L.DistillationLoss.from_config(config)
    assert restored.fn is scaled_l1 and restored.get_config() == term.get_config()

    teacher, student = h.teacher_and_student()
    term = L.DistillationLoss(scaled_l1, scale=3.0)
    distiller = kd.Distiller(teacher, student, distillation_loss_fn=term, alpha=0.0)
    distiller.compile(optimizer=h.frozen_optimizer(), jit_compile=False)
    x, _ = h.data(8)
    expected = 3.0 * np.abs(
        ops.convert_to_numpy(teacher(x)) - ops.convert_to_numpy(student(x))
    ).mean()
    history = distiller.fit(x, np.zeros(8), batch_size=8, verbose=0).history
    np.testing.assert_allclose(history["distillation_loss"][0], expected, rtol=1e-5)
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    [loaded] = keras.models.load_model(path).distillation_loss_fn
    assert type(loaded) is L.DistillationLoss and loaded.fn is scaled_l1 and loaded.scale == 3.0


def test_built_in_terms_store_their_arguments_once():
    term = L.DKD(alpha=2.0, beta=4.0, standardize=True)
    assert term.fn is L.decoupled_kd
    assert term.fn_kwargs == {"standardize": True, "alpha": 2.0, "beta": 4.0}
    assert term.get_config() == {
        "name": "dkd", "temperature": None, "standardize": True, "alpha": 2.0, "beta": 4.0
    }
    hint = L.Hint("t", "s", adapter="always")
    assert hint.get_config() == {
        "name": "hint",
        "teacher_layer": "t",
        "student_layer": "s",
        "adapter": "always",
        "resize": True,
        "interpolation": "bilinear",
    }
