"""The Distiller's steps on the TensorFlow backend (inside `tf.function`).

The step is traced once by Keras's `tf.function` (XLA with
`jit_compile=True`). What each part guarantees:

- The teacher runs in `_begin_train_step`, before the `GradientTape`: it is
  never differentiated and the tape holds none of its activations (teacher
  cost; `test_teacher_runs_once_per_step_and_never_in_evaluate_or_predict`).
- Temperature, alpha and the term weights are `keras.Variable`s read inside
  the graph, so assigned or scheduled values reach the next step without a
  retrace (`test_changing_values_never_retraces`,
  `test_callback_holding_the_variable_changes_every_next_step`).
- `wrap_train_function`: under XLA an in-graph assertion is dropped, so the
  schedule guard's record is read after each call instead.
"""

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
