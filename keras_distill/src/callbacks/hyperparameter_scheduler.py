"""Callbacks that set a Distiller hyperparameter each epoch or each step."""

import inspect

import keras
import numpy as np
from keras import ops

from keras_distill.src.schedules import hyperparameter
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument

_UPDATES = ("epoch", "batch")


def _takes_current_value(schedule):
    """Whether `schedule` is called as `schedule(index, current)` (True) or
    as `schedule(index)` (False), like `keras.callbacks.LearningRateScheduler`."""
    try:
        parameters = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (
            parameter.POSITIONAL_ONLY,
            parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional >= 2


class HyperparameterScheduler(keras.callbacks.Callback):
    """Sets a `Distiller` hyperparameter from a schedule during `fit`.

    The `keras.callbacks.LearningRateScheduler` pattern for `temperature`,
    `alpha` or a distillation term's weight (e.g. `"kl_divergence_weight"`).
    Before each epoch (`update="epoch"`) or each training step
    (`update="batch"`), calls `schedule(index, current_value)` (or
    `schedule(index)`) and assigns the result to the Distiller's variable. The
    variable is read inside the compiled step, so the new value takes effect
    at once and the train function is never retraced.

    `index` is the epoch (from 0) for `update="epoch"` and the global step
    (`optimizer.iterations`, from 0, continuing across `fit` calls and
    `BackupAndRestore` resumes) for `update="batch"`. With
    `steps_per_execution > 1`, batch updates happen once per execution.

    Each value is validated (`temperature > 0`, `0 <= alpha <= 1`, weights
    `>= 0`, all finite); an invalid one stops training with an error naming
    the epoch or step and the value. The current value is written into the
    epoch and batch `logs` under `name`, so `History`, `CSVLogger` and
    `TensorBoard` record it (list them after this callback; `fit`'s own
    `History` always comes last). `temperature` and `alpha` are also logged
    by the train step itself.

    To schedule from inside the step without a callback, pass the schedule
    itself to the Distiller (`temperature=keras.optimizers.schedules...`);
    a hyperparameter can't be scheduled both ways.

    Args:
        name: The Distiller variable: `"temperature"`, `"alpha"`, or
            `"<term name>_weight"`.
        schedule: A function `(index, current_value) -> value` or
            `index -> value` (for example a `keras.optimizers.schedules`
            object with `update="batch"`).
        update: `"epoch"` or `"batch"`.
        verbose: 0 (quiet) or 1 (print each update).

    Example:

    ```python
    # Halve the temperature every 10 epochs.
    scheduler = keras_distill.callbacks.HyperparameterScheduler(
        "temperature", lambda epoch, t: t / 2 if epoch and epoch % 10 == 0 else t
    )
    distiller.fit(train_ds, epochs=30, callbacks=[scheduler])
    ```
    """

    def __init__(self, name, schedule, update="epoch", verbose=0):
        super().__init__()
        if not isinstance(name, str):
            raise invalid_argument(
                "name",
                name,
                'a string such as "temperature", "alpha" or '
                '"kl_divergence_weight"',
            )
        if not callable(schedule):
            raise invalid_argument(
                "schedule",
                schedule,
                "a function (index, current_value) -> value or index -> value",
            )
        if update not in _UPDATES:
            raise invalid_argument(
                "update",
                update,
                "either 'epoch' or 'batch'",
                "Use 'batch' to update before every training step.",
            )
        self.name = name
        self.schedule = schedule
        self.update = update
        self.verbose = verbose
        self._takes_current_value = _takes_current_value(schedule)
        self._value = None

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "hyperparameter_variable"):
            raise invalid_argument(
                "model",
                type(self.model).__name__,
                "a keras_distill.Distiller",
                f"{type(self).__name__} sets Distiller hyperparameters; use "
                "it in `distiller.fit(..., callbacks=[...])`.",
            )
        self._variable = self.model.hyperparameter_variable(self.name)
        if self.name in getattr(self.model, "_schedules", {}):
            raise invalid_argument(
                "name",
                self.name,
                "a hyperparameter the Distiller does not already schedule "
                "inside its train step",
                f"`{self.name}` was given to the Distiller as a schedule; "
                f"pass a float there, or drop this {type(self).__name__}.",
            )
        self._value = float(ops.convert_to_numpy(self._variable))

    def _set(self, index, where, message_prefix):
        arguments = [index]
        if self._takes_current_value:
            arguments.append(float(ops.convert_to_numpy(self._variable)))
        value = self.schedule(*arguments)
        value = hyperparameter.check_value(self.name, value, where)
        self._variable.assign(value)
        # Log what the step sees: the float32 value of the variable.
        self._value = float(np.float32(value))
        if self.verbose > 0:
            keras_compat.print_msg(
                f"\n{message_prefix}: {type(self).__name__} setting "
                f"{self.name} to {value}."
            )

    def on_epoch_begin(self, epoch, logs=None):
        if self.update == "epoch":
            # Printed 1-based like the progress bar ("Epoch 1/10").
            self._set(epoch, f"epoch={epoch}", f"Epoch {epoch + 1}")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update == "batch":
            step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
            self._set(step, f"step={step}", f"Step {step}")

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs[self.name] = self._value

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = self._value


class TemperatureScheduler(HyperparameterScheduler):
    """Sets the Distiller's `temperature` from a schedule during `fit`.

    `HyperparameterScheduler("temperature", ...)`: see it for details. Each
    value must be a finite number > 0.

    Args:
        schedule: `(index, current_temperature) -> temperature` or
            `index -> temperature`.
        update: `"epoch"` (index is the epoch) or `"batch"` (index is the
            global step).
        verbose: 0 (quiet) or 1 (print each update).

    Example:

    ```python
    # Anneal the temperature from 8 to 1 over 20 epochs.
    scheduler = keras_distill.callbacks.TemperatureScheduler(
        lambda epoch: max(1.0, 8.0 - 7.0 * epoch / 19)
    )
    distiller.fit(train_ds, epochs=20, callbacks=[scheduler])
    ```
    """

    def __init__(self, schedule, update="epoch", verbose=0):
        super().__init__("temperature", schedule, update=update, verbose=verbose)


class AlphaScheduler(HyperparameterScheduler):
    """Sets the Distiller's `alpha` (the hard-label weight) from a schedule.

    `HyperparameterScheduler("alpha", ...)`, with the arguments of
    `TemperatureScheduler`; `schedule` returns values in [0, 1]. For example,
    to lean on the teacher early and on the labels later:
    `AlphaScheduler(lambda epoch: min(0.9, 0.1 + 0.1 * epoch))`.
    """

    def __init__(self, schedule, update="epoch", verbose=0):
        super().__init__("alpha", schedule, update=update, verbose=verbose)
