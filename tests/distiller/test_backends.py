"""The same Distiller, the same numbers, on every backend.

Run under `KERAS_BACKEND=tensorflow|jax|torch` (`.ci/run` runs all three):
each test compares against NumPy, so passing on all three means the
backends agree with each other.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from keras_distill.src.distiller import steps
from tests.backends import BACKEND
from tests.distiller import helpers as h

NUM_FEATURES, NUM_CLASSES = 5, 3


def _linear_model(name, kernel, bias):
    model = keras.Sequential(
        [keras.Input((NUM_FEATURES,)), keras.layers.Dense(NUM_CLASSES)], name=name
    )
    model.set_weights([kernel, bias])
    return model


def _weights(seed):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(NUM_FEATURES, NUM_CLASSES)).astype("float32"),
        rng.normal(size=(NUM_CLASSES,)).astype("float32"),
    ]


def _softmax(z):
    return np.exp(h.log_softmax(z))


def np_train(teacher, student, x, y, sample_weight, temperatures, alpha, learning_rate):
    """NumPy float64 reference of SGD steps on a linear student, one full
    batch per step: `alpha * CE + (1 - alpha) * T^2 KL`, weighted mean.

    Returns the loss of each step and the student's final `[kernel, bias]`.
    """
    kernel, bias = (w.astype("float64") for w in student)
    teacher_logits = x @ teacher[0].astype("float64") + teacher[1]
    weights = sample_weight / sample_weight.sum()
    one_hot = np.eye(NUM_CLASSES)[y]
    losses = []
    for temperature in temperatures:
        logits = x @ kernel + bias
        per_example = alpha * h.np_sparse_ce(y, logits) + (1 - alpha) * h.np_kd(
            teacher_logits, logits, temperature
        )
        losses.append((weights * per_example).sum())
        # d/dlogits of CE is softmax - one_hot; of T^2 KL it is T (p_s - p_t).
        soft = _softmax(logits / temperature) - _softmax(teacher_logits / temperature)
        gradient = weights[:, None] * (
            alpha * (_softmax(logits) - one_hot) + (1 - alpha) * temperature * soft
        )
        kernel = kernel - learning_rate * x.T @ gradient
        bias = bias - learning_rate * gradient.sum(axis=0)
    return np.array(losses), [kernel, bias]


def test_training_matches_numpy_step_by_step():
    """Three SGD steps with a scheduled temperature and sample weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, NUM_FEATURES)).astype("float32")
    y = np.arange(8) % NUM_CLASSES
    sample_weight = np.array([1, 2, 0, 1, 1, 0.5, 3, 1], dtype="float32")
    teacher_weights, student_weights = _weights(1), _weights(2)
    distiller = kd.Distiller(
        teacher=_linear_model("teacher", *teacher_weights),
        student=_linear_model("student", *student_weights),
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.5),
        student_loss_fn=h.sparse_ce(),
        alpha=0.3,
        temperature=lambda step: 4.0 - ops.cast(step, "float32"),
    )
    history = distiller.fit(
        x, y, sample_weight=sample_weight, batch_size=8, epochs=3, shuffle=False, verbose=0
    )
    losses, final = np_train(
        teacher_weights, student_weights, x.astype("float64"), y, sample_weight,
        temperatures=[4.0, 3.0, 2.0], alpha=0.3, learning_rate=0.5,
    )
    np.testing.assert_allclose(history.history["temperature"], [4.0, 3.0, 2.0])
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    for got, expected in zip(distiller.student.get_weights(), final):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    for got, expected in zip(distiller.teacher.get_weights(), teacher_weights):
        np.testing.assert_array_equal(got, expected)


CALLS = {"kl_divergence": 0}


def counting_kl_divergence(teacher_logits, student_logits, temperature):
    """KL divergence counting its Python calls: once per trace when the step
    is compiled (TensorFlow, JAX), once per step on PyTorch."""
    CALLS["kl_divergence"] += 1
    return kd.losses.kl_divergence(teacher_logits, student_logits, temperature)


def test_callback_holding_the_variable_changes_every_next_step():
    """A callback that assigns a captured variable, without touching
    `self.model`: on JAX, Keras keeps the step's state detached from the
    variables within an epoch; the Distiller still hands the value over."""
    x, _ = h.data(16)
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    CALLS["kl_divergence"] = 0
    distiller.compile(
        optimizer=h.frozen_optimizer(),
        distillation_loss_fn=kd.losses.DistillationLoss(
            counting_kl_divergence, name="kl_divergence"
        ),
        temperature=1.0,
    )
    temperature = distiller.temperature  # Held by the callback below.
    steps_seen, logs_seen = [], []
    set_temperature = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs=None: (
            temperature.assign(1.0 + len(steps_seen)),
            steps_seen.append(batch),
        )
    )
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs=None: logs_seen.append(dict(logs))
    )
    distiller.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0,
                  callbacks=[set_temperature, record])

    temperatures = 1.0 + np.arange(8)
    np.testing.assert_allclose([logs["temperature"] for logs in logs_seen], temperatures)
    # `loss` is the epoch's running mean over batches of equal size.
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    batches = [slice(4 * b, 4 * b + 4) for b in range(4)] * 2
    batch_losses = [
        h.np_kd(t[batch], s[batch], temperature).mean()
        for batch, temperature in zip(batches, temperatures)
    ]
    expected_means = [np.mean(batch_losses[4 * e:4 * e + j + 1]) for e in (0, 1) for j in range(4)]
    np.testing.assert_allclose([logs["loss"] for logs in logs_seen], expected_means, rtol=1e-5)
    assert float(distiller.temperature) == 8.0
    # Compiled steps are traced once whatever the values; PyTorch runs eagerly.
    assert CALLS["kl_divergence"] == (8 if BACKEND == "torch" else 1)


class GradientProbe(keras.layers.Layer):
    """Identity recording whether it runs under differentiation: inside
    `jax.value_and_grad` (JAX) or with autograd enabled (PyTorch)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs):
        if BACKEND == "jax":
            from jax._src import core

            trace = type(core.trace_ctx.trace).__name__
            self.seen.append(trace in ("JVPTrace", "LinearizeTrace"))
        elif BACKEND == "torch":
            import torch

            self.seen.append(torch.is_grad_enabled())
        return inputs


def _probed(units, name):
    inputs = keras.Input((h.NUM_FEATURES,))
    probe = GradientProbe(name=f"{name}_probe")
    hidden = probe(keras.layers.Dense(units, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(h.NUM_CLASSES)(hidden), name=name), probe


@pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="TensorFlow's teacher runs outside the GradientTape (steps/tensorflow.py); "
    "a tape is not observable from inside a layer",
)
def test_teacher_is_never_differentiated():
    x, y = h.data(16)
    teacher, teacher_probe = _probed(16, "teacher")
    student, student_probe = _probed(3, "student")
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    teacher_probe.seen.clear()
    student_probe.seen.clear()
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert len(teacher_probe.seen) == (2 if BACKEND == "torch" else 1)  # Steps or traces.
    assert not any(teacher_probe.seen)
    assert student_probe.seen and all(student_probe.seen)  # The probe works.


def test_a_backend_without_a_step_says_which_ones_have_one(monkeypatch):
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    message = (
        r"Training a Distiller is not supported on the 'numpy' backend\. Supported "
        r"backends: \['tensorflow', 'jax', 'torch'\]\. Set the environment variable "
        r"KERAS_BACKEND=tensorflow"
    )
    with pytest.raises(RuntimeError, match=message):
        steps.train_step(distiller, h.data(4))


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow exports every format")
def test_export_to_tflite_on_another_backend_says_how(tmp_path):
    _, student = h.teacher_and_student()
    message = r"SavedModel and TFLite need TensorFlow.*Set KERAS_BACKEND=tensorflow"
    with pytest.raises(ValueError, match=message):
        kd.export.export_student(student, str(tmp_path / "student.tflite"), format="tflite")
