"""Teachers that are plain callables or SavedModels (keras.layers.TFSMLayer)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests.distiller import helpers as h


def first_loss(teacher, data):
    distiller = kd.Distiller(teacher=teacher, student=h.mlp(3, "student", seed=2))
    distiller.compile(optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce())
    return distiller.fit(*data, batch_size=16, epochs=1, verbose=0).history["loss"][0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A trained-teacher stand-in, its loss, and its SavedModel directory."""
    teacher = h.mlp(16, "teacher", seed=1)
    path = str(tmp_path_factory.mktemp("saved") / "teacher")
    teacher.export(path, format="tf_saved_model", verbose=False)
    return teacher, first_loss(teacher, h.data(32)), path


def test_plain_function_and_tf_module_teachers(exported):
    teacher, expected, _ = exported
    np.testing.assert_allclose(first_loss(lambda x: teacher(x), h.data(32)), expected, rtol=1e-6)

    class Module(tf.Module):
        def __init__(self):
            self.kernel = tf.Variable(teacher.layers[1].kernel.numpy())
            self.head = teacher.layers[2]

        def __call__(self, x):
            return {"logits": self.head(tf.nn.relu(x @ self.kernel + teacher.layers[1].bias))}

    module = Module()
    np.testing.assert_allclose(first_loss(module, h.data(32)), expected, rtol=1e-6)
    assert kd.teachers.fingerprint(kd.teachers.CallableTeacher(module)) is not None
    assert kd.teachers.fingerprint(kd.teachers.CallableTeacher(tf.identity)) is None


def test_tfsm_layer_teacher_online_and_cached(exported):
    teacher, expected, path = exported
    saved = keras.layers.TFSMLayer(path, call_endpoint="serve")
    np.testing.assert_allclose(first_loss(saved, h.data(32)), expected, rtol=1e-6)
    # The SavedModel's weights fingerprint like the original model's.
    assert kd.teachers.fingerprint(saved) == kd.teachers.fingerprint(teacher)
    cached = kd.cache_teacher_outputs(saved, h.data(32), batch_size=16, verbose=0)
    distiller = kd.Distiller(teacher=None, student=h.mlp(3, "student", seed=2))
    distiller.compile(optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce())
    loss = distiller.fit(cached, epochs=1, verbose=0).history["loss"][0]
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_saved_model_signature_returning_a_dict(exported):
    _, expected, path = exported
    loaded = tf.saved_model.load(path)  # Keep a reference: it owns the variables.
    np.testing.assert_allclose(
        first_loss(lambda x: loaded.signatures["serving_default"](x), h.data(32)),
        expected,
        rtol=1e-6,
    )


def test_invalid_teachers_fail_clearly():
    student = h.mlp(3, "student")
    with pytest.raises(ValueError, match=r"`teacher`.*TFSMLayer\(path"):
        kd.Distiller(teacher="teacher_savedmodel/", student=student)
    two_outputs = lambda x: {"a": x, "b": x}  # noqa: E731
    distiller = kd.Distiller(teacher=two_outputs, student=student)
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    with pytest.raises(ValueError, match=r"several outputs \(\['a', 'b'\]\)"):
        distiller.fit(*h.data(8), epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="cannot be serialized"):
        distiller.get_config()
