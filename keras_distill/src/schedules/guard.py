"""Stops training when an in-step schedule returns an invalid value.

Schedules given to the `Distiller` are evaluated inside the compiled train
step, where a Python `raise` cannot run. The guard checks each value there:

- eagerly (`run_eagerly=True`) it raises at once;
- under `tf.function` a `tf.debugging.Assert` stops the step before the value
  is used;
- under XLA (`jit_compile=True`, the default on GPU) asserts are ignored, so
  the step keeps the variable's last valid value instead, and the train
  function raises right after the step (once per `steps_per_execution`);
- under `jax.jit` the same: the step keeps the last valid value and returns
  its record with the logs, and the train function raises after the step
  (see `distiller/steps/jax.py`);
- on PyTorch (eager) it raises at once.

In every case the first invalid value is recorded in a small variable, and
the user sees one `ValueError` naming the hyperparameter, the step and the
value.
"""

import keras
from keras import ops

from keras_distill.src.schedules import hyperparameter
from keras_distill.src.utils.backend import is_traced
from keras_distill.src.utils.validation import is_valid


class ScheduleGuard:
    """Validates scheduled hyperparameter values inside the train step.

    The record is a transient variable `[index + 1, step, value]` of the
    first invalid value (all zeros while none). It is deliberately not
    tracked by the model, so it is never saved with the weights.
    """

    def __init__(self):
        self._record = keras.Variable(
            [0.0, 0.0, 0.0],
            dtype="float32",
            trainable=False,
            name="schedule_violation",
            aggregation="only_first_replica",
        )
        self._names = []

    def _index(self, name):
        if name not in self._names:
            self._names.append(name)
        return self._names.index(name)

    def validated(self, name, value, step, variable):
        """Returns `value` if valid for `name`, else stops training.

        Args:
            name: The hyperparameter, e.g. `"temperature"`.
            value: The schedule's float32 scalar at this step.
            step: The step (`optimizer.iterations`).
            variable: The hyperparameter's variable; its current (valid)
                value replaces an invalid one where the step cannot stop.
        """
        valid = is_valid(name, value)
        if not is_traced(value):
            if not bool(ops.convert_to_numpy(valid)):
                raise hyperparameter.invalid_value_error(
                    name, float(ops.convert_to_numpy(value)), f"step={int(step)}"
                )
            return value
        step = ops.cast(step, "float32")
        first = ops.logical_and(ops.logical_not(valid), self._record[0] == 0.0)
        entry = ops.stack([float(self._index(name) + 1), step, value])
        record = self._record.assign(ops.where(first, entry, self._record.value))
        if keras.backend.backend() == "tensorflow":
            return _asserted(valid, record, name, value, variable)
        return ops.where(valid, value, variable.value)

    @property
    def record(self):
        """The record variable (read by the JAX step from its state scope)."""
        return self._record

    @staticmethod
    def is_violation(record):
        """Whether a record (array `[index + 1, step, value]`) holds one."""
        return float(ops.convert_to_numpy(record)[0]) != 0.0

    def raise_for_record(self, record):
        """Raises the `ValueError` for `record`, if it holds a violation."""
        index, step, value = ops.convert_to_numpy(record).tolist()
        if index == 0:
            return
        raise hyperparameter.invalid_value_error(
            self._names[int(index) - 1], value, f"step={int(step)}"
        )

    def raise_if_violated(self):
        """Raises the `ValueError` for the first recorded invalid value."""
        record = ops.convert_to_numpy(self._record)
        if not self.is_violation(record):
            return
        self._record.assign([0.0, 0.0, 0.0])
        self.raise_for_record(record)

    def wrap(self, train_function, check_every_call):
        """Wraps a Keras train function so violations raise a `ValueError`.

        Args:
            train_function: The function made by `make_train_function`.
            check_every_call: Read the record after every call. Needed under
                XLA, where the in-graph assertion is ignored.
        """
        import tensorflow as tf

        def guarded_train_function(iterator):
            try:
                logs = train_function(iterator)
            except tf.errors.InvalidArgumentError:
                self.raise_if_violated()
                raise
            if check_every_call:
                self.raise_if_violated()
            return logs

        return guarded_train_function


def _asserted(valid, record, name, value, variable):
    """`value` if valid, else `variable`, after a `tf.debugging.Assert` that
    stops the (non-XLA) graph on an invalid value."""
    import tensorflow as tf

    with tf.control_dependencies([record]):
        assertion = tf.debugging.Assert(
            valid,
            [f"Invalid value for `{name}` returned by its schedule."],
        )
    with tf.control_dependencies([assertion]):
        return tf.identity(ops.where(valid, value, variable))
