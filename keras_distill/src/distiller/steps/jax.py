"""The Distiller's steps on the JAX backend (stateless, inside `jax.jit`).

Keras calls `train_step(state, data)` with the model's state as arrays:
`(trainable, non_trainable, optimizer, metrics)` variable values. Each part
of the shared step runs in a `keras.StatelessScope` mapping the variables to
those arrays, so the Distiller's ordinary code (variable reads, `assign`,
metric updates) reads and writes the state, never the variables:

1. `_begin_train_step`: schedules are computed from `optimizer.iterations`
   *in the state* and written into the non-trainable state; the teacher runs.
   This is outside the differentiated function: the teacher is never
   differentiated.
2. `jax.value_and_grad` of `_train_loss` with respect to the trainable state,
   in a scope that collects the losses layers add (`add_loss`, activity
   regularizers), which Keras's stateless layers return only this way.
3. `optimizer.stateless_apply`, then the logs.

A value set by a callback (`distiller.temperature.assign(8.0)`) is part of
the state passed to the next step: Keras re-reads the variables after a
callback that touches `self.model`, and `wrap_train_function` writes values
assigned through a held variable into the state. No value is frozen at trace
time, and nothing is retraced.

Keras's own JAX `train_step` with the Distiller's `compute_loss` (what
`keras.distillation` relies on) would run the teacher inside the
differentiated function, compute the predictions in a forward pass of their
own (the Distiller reads logits, taps and predictions from one), and keep
values assigned through a held variable out of the state until the epoch
ends. Which part guarantees what, each with its test:

- Part 1, outside `value_and_grad`: the teacher is never differentiated
  (`test_teacher_is_never_differentiated`), and runs once per step
  (`test_teacher_runs_once_per_step_and_never_in_evaluate_or_predict`);
  scheduled values are computed in the state (`test_schedule_values.py`).
- Part 2's `collect_losses=True`: the student's own losses
  (`test_add_loss_and_activity_regularizer_are_part_of_the_training_loss`).
- `wrap_train_function`: values assigned through a held variable, without a
  recompile (`test_callback_holding_the_variable_changes_every_next_step`,
  `test_changing_values_never_retraces`), and the schedule guard's error.
"""

import jax
import keras

from keras_distill.src.utils import keras_compat

SCHEDULE_RECORD = "_schedule_violation"


def _state_scope(variables, values, collect_losses=False):
    return keras.StatelessScope(
        state_mapping=list(zip(variables, values)), collect_losses=collect_losses
    )


def _current(scope, variables, values):
    """The values of `variables` after `scope` ran: updated, or as given."""
    current = [scope.get_current_value(variable) for variable in variables]
    return [old if new is None else new for new, old in zip(current, values)]


def train_step(distiller, state, data):
    trainable, non_trainable, optimizer_values, metrics = state
    variables = (
        distiller.trainable_variables,
        distiller.non_trainable_variables,
        distiller.optimizer.variables,
        distiller.metrics_variables,
    )

    def mapped(*values, collect_losses=False):
        return _state_scope(sum(variables, []), sum(values, []), collect_losses)

    with mapped(trainable, non_trainable, optimizer_values, metrics) as scope:
        x, y, sample_weight, teacher = distiller._begin_train_step(data)
    non_trainable = _current(scope, variables[1], non_trainable)
    record = scope.get_current_value(distiller._schedule_guard.record)

    def loss_fn(trainable):
        # Losses are collected: the student's `add_loss` and activity
        # regularizers reach `student.losses` (as in Keras's own JAX step).
        with mapped(
            trainable, non_trainable, optimizer_values, metrics, collect_losses=True
        ) as scope:
            scaled_loss, y_pred = distiller._train_loss(x, y, sample_weight, teacher)
        return scaled_loss, (
            y_pred,
            _current(scope, variables[1], non_trainable),
            _current(scope, variables[3], metrics),
        )

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (y_pred, non_trainable, metrics)), gradients = grad_fn(trainable)
    trainable, optimizer_values = distiller.optimizer.stateless_apply(
        optimizer_values, gradients, trainable
    )
    with mapped(trainable, non_trainable, optimizer_values, metrics) as scope:
        logs = distiller._train_logs(y, y_pred, sample_weight)
    metrics = _current(scope, variables[3], metrics)
    if record is not None:
        logs[SCHEDULE_RECORD] = record
    return logs, (trainable, non_trainable, optimizer_values, metrics)


def test_step(distiller, state, data):
    trainable, non_trainable, metrics = state
    variables = (
        distiller.trainable_variables,
        distiller.non_trainable_variables,
        distiller.metrics_variables,
    )
    with _state_scope(
        sum(variables, []), trainable + non_trainable + metrics, collect_losses=True
    ) as scope:
        logs = distiller._test_logs(data)
    non_trainable = _current(scope, variables[1], non_trainable)
    metrics = _current(scope, variables[2], metrics)
    return logs, (trainable, non_trainable, metrics)


def wrap_train_function(distiller, train_function):
    """Wraps Keras's JAX train function `(state, iterator) -> (logs, state)`.

    - Values assigned to hyperparameter variables since Keras detached the
      variables from the state (by a callback that holds the variable, e.g.
      a `LambdaCallback` calling `distiller.temperature.assign`) are written
      into the state, so the next step uses them, as on the other backends.
    - After a step that met an invalid in-step schedule value (the step kept
      the last valid one), the schedule guard's `ValueError` is raised. The
      step's record is read after every call, as TensorFlow does under XLA;
      with `steps_per_execution > 1` Keras keeps only the last step's logs,
      so the record of that step is the one checked.
    """

    def wrapped_train_function(state, iterator):
        state = _with_assigned_hyperparameters(distiller, state)
        logs, state = train_function(state, iterator)
        record = logs.pop(SCHEDULE_RECORD, None)
        if record is not None and distiller._schedule_guard.is_violation(record):
            _attach_state(distiller, state)
            distiller._schedule_guard.raise_for_record(record)
        return logs, state

    return wrapped_train_function


def _with_assigned_hyperparameters(distiller, state):
    """`state` with the values of hyperparameter variables assigned while
    `fit` had detached the variables from it (Keras sets a detached
    variable's value to None; an `assign` gives it one again)."""
    assigned = {
        id(variable)
        for variable in distiller.hyperparameter_variables
        if keras_compat.detached_value(variable) is not None
    }
    if not assigned:
        return state  # The common case: checked without walking the model.
    weights = distiller.trainable_variables
    if not weights or keras_compat.detached_value(weights[0]) is not None:
        return state  # Variables attached (e.g. `train_on_batch`): current.
    trainable, non_trainable, *rest = state
    non_trainable = list(non_trainable)
    for index, variable in enumerate(distiller.non_trainable_variables):
        if id(variable) in assigned:
            non_trainable[index] = keras_compat.detached_value(variable)
            keras_compat.set_detached_value(variable, None)  # Detached again.
    return (trainable, non_trainable, *rest)


def _attach_state(distiller, state):
    """Writes `state` into the variables before training stops: the state
    passed to the step was donated to it and is gone."""
    keras_compat.attach_jax_state(distiller, state)
