"""Validation of the scalar hyperparameters of the Distiller and the losses."""

import math

from keras import ops

from keras_distill.src.utils.errors import invalid_argument

# The Distiller's hyperparameter rules, written once: (lowest value, whether
# the lowest value itself is allowed, highest value or None). A term weight
# (and a per-output `loss_weights` entry) follows the "weight" rule. Checked
# here for given numbers, by `is_valid` for a schedule's values in a step.
_RULES = {
    "temperature": (0.0, False, None),
    "alpha": (0.0, True, 1.0),
    "weight": (0.0, True, None),
}
_FIXES = {
    "temperature": "Typical distillation temperatures are between 1 and 20.",
    "alpha": "`alpha` weighs the hard-label loss; 1 - alpha weighs distillation.",
    "weight": "A weight multiplies its loss; 0 turns the loss off.",
}


def _rule(name):
    return name if name in _RULES else "weight"


def expectation(name):
    """What a valid value of the hyperparameter `name` is, in words.

    `name` is `"temperature"`, `"alpha"`, or a weight's name (any other).
    """
    low, inclusive, high = _RULES[_rule(name)]
    if high is not None:
        return f"a finite number in [{low:g}, {high:g}]"
    return f"a finite number {'>=' if inclusive else '>'} {low:g}"


def is_valid(name, value):
    """Whether `value` (a float or a tensor) is valid for `name`, as a
    boolean tensor (usable inside a step)."""
    low, inclusive, high = _RULES[_rule(name)]
    value = ops.cast(value, "float32")
    valid = ops.logical_and(ops.isfinite(value), value >= low if inclusive else value > low)
    if high is not None:
        valid = ops.logical_and(valid, value <= high)
    return valid


def check_hyperparameter(value, name, argument=None):
    """Returns the number `value` as a float after checking the rule of
    `name` (see `expectation`); errors name `argument` (default `name`)."""
    argument = argument or name
    rule = _rule(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(
            argument, value, f"{expectation(rule)} (or a schedule, where supported)"
        )
    low, inclusive, high = _RULES[rule]
    if (
        not math.isfinite(value)
        or value < low
        or (value == low and not inclusive)
        or (high is not None and value > high)
    ):
        raise invalid_argument(argument, value, expectation(rule), _FIXES[rule])
    return float(value)


def check_temperature(value, argument="temperature"):
    """Returns `value` as a float after checking it is a finite number > 0."""
    return check_hyperparameter(value, "temperature", argument)


def check_count(value, argument, low=1, optional=False, unit=None):
    """Returns `value` after checking it is an integer >= `low` (not a
    bool), or None when `optional`. `unit` names what it counts ("bytes")."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        expected = f"an integer >= {low}" + (f" ({unit})" if unit else "")
        raise invalid_argument(argument, value, f"None or {expected}" if optional else expected)
    return value


def check_in_range(value, argument, low=None, high=None, fix=None):
    """Returns `value` as a float after checking `low <= value <= high`.

    Either bound may be `None` (unbounded). Used for loss hyperparameters
    such as DKD's `alpha`/`beta` (>= 0) or JensenShannon's `beta` (in [0, 1]).
    """
    expected = {
        (False, False): "a finite number",
        (True, False): f"a number >= {low}",
        (False, True): f"a number <= {high}",
        (True, True): f"a number in [{low}, {high}]",
    }[(low is not None, high is not None)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(argument, value, expected, fix)
    if (
        not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise invalid_argument(argument, value, expected, fix)
    return float(value)
