"""Hyperparameters that are a float or a schedule `step -> value`."""

import keras
import numpy as np
from keras import ops

from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.validation import expectation
from keras_distill.src.utils.validation import is_valid


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


def invalid_value_error(name, value, where):
    """The error for a schedule that returned `value` for `name` when called
    with `where` (e.g. `"epoch=3"` or `"step=120"`)."""
    return ValueError(
        f"Invalid value for `{name}` returned by its schedule for {where}. "
        f"Received: {name}={value!r}. Expected {expectation(name)}. "
        f"Fix the schedule so that every epoch and step gives a valid `{name}`."
    )


def check_value(name, value, where):
    """Returns a schedule's output `value` as a float, checked for `name`.

    Accepts Python numbers, NumPy scalars and scalar tensors. Raises
    `invalid_value_error(name, value, where)` for anything else.
    """
    try:
        array = np.asarray(ops.convert_to_numpy(value))
    except (TypeError, ValueError) as error:
        raise invalid_value_error(name, value, where) from error
    if (
        isinstance(value, bool)
        or array.shape != ()
        or not np.issubdtype(array.dtype, np.number)
    ):
        raise invalid_value_error(name, value, where)
    number = float(array)
    if not bool(ops.convert_to_numpy(is_valid(name, number))):
        raise invalid_value_error(name, number, where)
    return number
