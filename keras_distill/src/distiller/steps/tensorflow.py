"""The Distiller's steps on the TensorFlow backend (inside `tf.function`)."""

import tensorflow as tf


def train_step(distiller, data):
    """Teacher outside the tape; student forward and loss inside it."""
    x, y, sample_weight, teacher = distiller._begin_train_step(data)
    with tf.GradientTape() as tape:
        scaled_loss, y_pred = distiller._train_loss(x, y, sample_weight, teacher)
    weights = distiller.trainable_weights
    gradients = tape.gradient(scaled_loss, weights)
    distiller.optimizer.apply_gradients(zip(gradients, weights))
    return distiller._train_logs(y, y_pred, sample_weight)


def test_step(distiller, data):
    return distiller._test_logs(data)


def wrap_train_function(distiller, train_function):
    if not distiller._schedules or distiller.run_eagerly:
        return train_function  # Eagerly, the guard raises inside the step.
    # Under XLA the in-graph assertion is ignored: read the record every call.
    return distiller._schedule_guard.wrap(
        train_function, check_every_call=bool(distiller.jit_compile)
    )
