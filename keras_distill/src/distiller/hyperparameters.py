"""Temperature, alpha and the term weights: a variable each, and its value.

Each hyperparameter is a non-trainable `keras.Variable` of the Distiller
(tracked and saved by Keras, assigned without retracing) and the float or
schedule `step -> value` it was given. What was given is kept once, in
`distiller._given` (`{"temperature": ..., "alpha": ..., "<term>_weight": ...}`);
the schedules are the values there that are callables. A schedule is
evaluated inside the step from `optimizer.iterations` and validated by the
schedule guard (`schedules/guard.py`).
"""

import keras

from keras_distill.src.distiller import replicas
from keras_distill.src.schedules import hyperparameter
from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.validation import check_hyperparameter


def new_variable(name, value=0.0):
    """A float32 hyperparameter variable, one value for every replica."""
    return keras.Variable(
        float(value),
        dtype="float32",
        trainable=False,
        name=name,
        aggregation="only_first_replica",
    )


def _start(value, name):
    """The checked float that `value`, a float or a schedule, starts from."""
    return check_hyperparameter(hyperparameter.initial_value(value, name), name)


def set_value(distiller, name, value):
    """Gives `temperature` or `alpha` a float or a schedule (checked)."""
    getattr(distiller, name).assign(_start(value, name))
    distiller._given[name] = value


def set_term_weights(distiller, terms, weights):
    """Replaces the term weight variables: one per term, named
    `<term>_weight`, starting from its float or `schedule(0)`."""
    for variable in distiller._term_weights:
        keras_compat.untrack(distiller, variable)
        distiller._given.pop(variable.name, None)
    with replicas.strategy_scope(distiller):
        variables = [
            new_variable(f"{term.name}_weight", _start(weight, f"{term.name}_weight"))
            for term, weight in zip(terms, weights)
        ]
    distiller._term_weights = variables
    for variable, weight in zip(variables, weights):
        distiller._given[variable.name] = weight


def given(distiller, name):
    """The float or schedule `name` was given."""
    return distiller._given[name]


def term_weight_values(distiller):
    """The floats or schedules the term weights were given, in order."""
    return [distiller._given[variable.name] for variable in distiller._term_weights]


def schedules(distiller):
    """`{variable name: schedule}` of the scheduled hyperparameters."""
    return {
        name: value
        for name, value in distiller._given.items()
        if hyperparameter.is_schedule(value)
    }


def variables(distiller):
    """`temperature`, `alpha` and the term weights, as variables."""
    return [distiller.temperature, distiller.alpha, *distiller._term_weights]


def variable(distiller, name):
    """The hyperparameter variable named `name`."""
    found = variables(distiller)
    for candidate in found:
        if candidate.name == name:
            return candidate
    raise invalid_argument(
        "name", name, f"one of {[candidate.name for candidate in found]}"
    )


def update_scheduled(distiller):
    """Assigns every scheduled variable its value at this step; an invalid
    value stops training (see `schedules/guard.py`)."""
    step = distiller.optimizer.iterations
    for name, schedule in schedules(distiller).items():
        target = variable(distiller, name)
        value = hyperparameter.scheduled_value(schedule, step)
        target.assign(distiller._schedule_guard.validated(name, value, step, target))


def config(distiller):
    """The given values, serialized (schedules as Keras objects)."""
    return {
        "distillation_loss_weights": [
            hyperparameter.serialize(weight) for weight in term_weight_values(distiller)
        ],
        "alpha": hyperparameter.serialize(given(distiller, "alpha")),
        "temperature": hyperparameter.serialize(given(distiller, "temperature")),
    }
