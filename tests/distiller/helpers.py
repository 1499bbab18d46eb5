"""Tiny models, data and numpy references shared by the Distiller tests."""

import keras
import numpy as np

NUM_FEATURES = 6
NUM_CLASSES = 4


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, NUM_FEATURES)).astype("float32")
    y = (np.arange(n) % NUM_CLASSES).astype("int32")
    return x, y


def mlp(units, name, batch_norm=False, num_classes=NUM_CLASSES, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((NUM_FEATURES,))
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    if batch_norm:
        hidden = keras.layers.BatchNormalization()(hidden)
    outputs = keras.layers.Dense(num_classes, name="logits")(hidden)
    return keras.Model(inputs, outputs, name=name)


def teacher_and_student(batch_norm=False):
    return (
        mlp(16, "teacher", batch_norm=batch_norm, seed=1),
        mlp(3, "student", batch_norm=batch_norm, seed=2),
    )


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_kd(teacher_logits, student_logits, temperature):
    """Per-example T^2 * KL(softmax(t/T) || softmax(s/T)), float64."""
    t = np.asarray(teacher_logits, "float64") / temperature
    s = np.asarray(student_logits, "float64") / temperature
    log_pt, log_ps = log_softmax(t), log_softmax(s)
    return temperature**2 * (np.exp(log_pt) * (log_pt - log_ps)).sum(-1)


def np_sparse_ce(labels, logits):
    log_p = log_softmax(np.asarray(logits, "float64"))
    return -log_p[np.arange(len(labels)), labels]


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def frozen_optimizer():
    """An optimizer that leaves the weights unchanged, to read exact losses."""
    return keras.optimizers.SGD(learning_rate=0.0)


def np_softmax(z):
    return np.exp(log_softmax(np.asarray(z, "float64")))


def count_calls(layer):
    """A list that grows by one at each call of `layer` (its `call`)."""
    calls = []
    original = layer.call
    layer.call = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    return calls
