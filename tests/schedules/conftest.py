"""Tiny models, data and a NumPy reference for the schedule tests."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller.helpers import np_kd
from tests.distiller.helpers import np_sparse_ce

NUM_FEATURES = 4
NUM_CLASSES = 3


def _dense_model(name):
    return keras.Sequential(
        [keras.Input((NUM_FEATURES,)), keras.layers.Dense(NUM_CLASSES)], name=name
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, NUM_FEATURES)).astype("float32")
    return x, np.arange(8) % NUM_CLASSES


@pytest.fixture
def make_distiller():
    """Builds a compiled Distiller of two `Dense(3)` models (seeded)."""

    def make(seed=0, optimizer="sgd", compile_kwargs=None, **kwargs):
        keras.utils.set_random_seed(seed)
        distiller = kd.Distiller(
            teacher=_dense_model("teacher"), student=_dense_model("student"), **kwargs
        )
        distiller.compile(
            optimizer=optimizer,
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            **(compile_kwargs or {}),
        )
        return distiller

    return make


def _logits(weights, x):
    kernel, bias = weights
    return x.astype("float64") @ kernel + bias


def reference_loss(teacher_weights, student_weights, x, y, temperature, alpha, weight=1.0):
    """NumPy loss of one step: `alpha * CE + (1 - alpha) * weight * T^2 KL`,
    for `Dense` teacher and student given by their `[kernel, bias]`."""
    teacher, student = _logits(teacher_weights, x), _logits(student_weights, x)
    distillation = weight * np_kd(teacher, student, temperature).mean()
    if y is None:
        return distillation
    return alpha * np_sparse_ce(y, student).mean() + (1 - alpha) * distillation


class StepRecorder(keras.callbacks.Callback):
    """Records, for every training step, the student's weights before it,
    the loss of that step alone, and the logged hyperparameters."""

    def __init__(self):
        super().__init__()
        self.weights, self.losses, self.logs = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._running_means = []

    def on_train_batch_begin(self, batch, logs=None):
        self.weights.append(self.model.student.get_weights())

    def on_train_batch_end(self, batch, logs=None):
        # `loss` is the running mean over the epoch; equal batch sizes make
        # the step's own loss (j + 1) * mean_j - j * mean_{j-1}.
        means, index = self._running_means, len(self._running_means)
        previous = means[-1] if means else 0.0
        self.losses.append((index + 1) * logs["loss"] - index * previous)
        means.append(logs["loss"])
        self.logs.append(dict(logs))

    def logged(self, key):
        return np.array([logs[key] for logs in self.logs])


@pytest.fixture
def recorder():
    return StepRecorder()


@pytest.fixture
def reference():
    return reference_loss
