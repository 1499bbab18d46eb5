"""What fit refuses before the first step, and NaN training made visible."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.backends import tensorflow_only
from tests.distiller import helpers as h


def _distiller(teacher=None, student=None):
    teacher = teacher or h.mlp(16, "teacher", seed=1)
    student = student or h.mlp(3, "student", seed=2)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=h.sparse_ce())
    return distiller, student


def test_string_labels_are_refused_with_the_fix():
    x, y = h.data()
    distiller, _ = _distiller()
    with pytest.raises(ValueError, match=r"string labels of dtype <U7.*StringLookup"):
        distiller.fit(x, np.array([f"class_{i}" for i in y]), epochs=1, verbose=0)


@tensorflow_only
def test_string_labels_in_a_dataset_are_refused():
    import tensorflow as tf

    x, y = h.data()
    data = tf.data.Dataset.from_tensor_slices((x, [str(i) for i in y])).batch(8)
    distiller, _ = _distiller()
    with pytest.raises(ValueError, match=r"string labels of dtype string.*numeric labels"):
        distiller.fit(data, epochs=1, verbose=0)


def test_empty_arrays_are_refused():
    x, y = h.data()
    distiller, _ = _distiller()
    with pytest.raises(ValueError, match="at least one batch of data"):
        distiller.fit(x[:0], y[:0], epochs=1, verbose=0)


@tensorflow_only
def test_empty_dataset_is_refused():
    import tensorflow as tf

    x, y = h.data()
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: b > 100).batch(8)
    distiller, _ = _distiller()
    with pytest.raises(ValueError, match=r"empty _?\w*Dataset.*at least one batch"):
        distiller.fit(data, epochs=1, verbose=0)


def test_nan_inputs_are_refused_before_any_step():
    x, y = h.data()
    x[5, 2] = np.nan
    x[9, 0] = np.inf
    distiller, student = _distiller()
    before = student.get_weights()
    with pytest.raises(ValueError, match="NaN or Inf in 2 of 32 examples.*index 5"):
        distiller.fit(x, y, epochs=1, verbose=0)
    for got, expected in zip(student.get_weights(), before):
        np.testing.assert_array_equal(got, expected)


def test_unbuilt_teacher_is_refused():
    class Teacher(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(h.NUM_CLASSES)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="never been built.*load_model"):
        kd.Distiller(teacher=Teacher(), student=h.mlp(3, "student"))
    with pytest.raises(ValueError, match="Received: teachers='.*never been built"):
        kd.teachers.Ensemble([h.mlp(16, "teacher"), Teacher()])


def test_nan_weights_after_a_finite_step_log_a_nan_loss():
    """A NaN gradient (of sqrt at 0) makes the weights NaN while that step's
    loss is finite: the logged loss is NaN all the same."""
    x, y = h.data()
    keras.utils.set_random_seed(2)
    inputs = keras.Input((h.NUM_FEATURES,))
    hidden = keras.layers.Dense(8)(inputs)
    # Forward 0; backward inf - inf = NaN on every backend.
    hidden = keras.layers.Lambda(lambda t: keras.ops.sqrt(t - t))(hidden)
    student = keras.Model(inputs, keras.layers.Dense(h.NUM_CLASSES)(hidden))
    distiller, _ = _distiller(student=student)
    history = distiller.fit(
        x, y, batch_size=len(x), epochs=3, verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN()],
    )
    weights = np.concatenate([np.ravel(w) for w in student.get_weights()])
    assert not np.all(np.isfinite(weights))
    assert len(history.history["loss"]) == 1  # Stopped after the first step.
    assert np.isnan(history.history["loss"][0])


@tensorflow_only
def test_nan_in_the_first_batch_of_a_dataset_is_refused():
    import tensorflow as tf

    x, y = h.data()
    x[3, 1] = np.nan
    distiller, _ = _distiller()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="NaN or Inf in 1 of 8 examples of the first batch"):
        distiller.fit(data, epochs=1, verbose=0)


@tensorflow_only
def test_a_shuffled_dataset_is_not_read_ahead():
    """Each new iterator of a shuffled dataset draws the next order: reading
    it ahead would make the Distiller train on other batches than Keras."""
    import tensorflow as tf

    x, y = h.data()
    next_order = {}
    for name in ("keras", "distiller"):
        tf.random.set_seed(0)
        data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(32).batch(32)
        if name == "keras":
            model = h.mlp(3, "student", seed=2)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=h.sparse_ce())
        else:
            model, _ = _distiller()
        model.fit(data, epochs=1, verbose=0)
        next_order[name] = next(iter(data))[1].numpy().tolist()
    assert next_order["keras"] == next_order["distiller"]

