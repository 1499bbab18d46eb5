"""Hyperparameters that are a float or a schedule `step -> value`."""

import keras
from keras import ops

from keras_distill.src.utils.errors import invalid_argument


def is_schedule(value):
    """True for a `step -> value` callable (any Keras LR schedule counts)."""
    return callable(value) and not isinstance(value, (int, float, bool))


def initial_value(value, argument):
    """The value a hyperparameter starts from: the float, or `schedule(0)`."""
    if is_schedule(value):
        value = value(0)
        try:
            value = float(ops.convert_to_numpy(value))
        except (TypeError, ValueError) as error:
            raise invalid_argument(
                argument,
                value,
                "a schedule returning a scalar number for step 0",
            ) from error
    return value


def scheduled_value(schedule, step):
    """Evaluates `schedule` at `step` (a tensor) as a float32 scalar."""
    return ops.cast(schedule(step), "float32")


def serialize(value):
    """Serializes a float or schedule for `get_config`."""
    if is_schedule(value):
        return keras.saving.serialize_keras_object(value)
    return value


def deserialize(value):
    """Inverse of `serialize`."""
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value
