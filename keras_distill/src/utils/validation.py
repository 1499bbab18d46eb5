"""Validation of scalar hyperparameters shared by the Distiller and losses."""

import math

from keras_distill.src.utils.errors import invalid_argument


def check_temperature(value, argument="temperature"):
    """Returns `value` as a float after checking it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(
            argument, value, "a number > 0 (or a schedule, where supported)"
        )
    if not math.isfinite(value) or value <= 0:
        raise invalid_argument(
            argument,
            value,
            "a finite number > 0",
            "Typical distillation temperatures are between 1 and 20.",
        )
    return float(value)


def check_unit_interval(value, argument):
    """Returns `value` as a float after checking 0 <= value <= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(argument, value, "a number in [0, 1]")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise invalid_argument(
            argument,
            value,
            "a number in [0, 1]",
            f"`{argument}` weighs the hard-label loss; "
            f"1 - {argument} weighs distillation.",
        )
    return float(value)


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
