"""Turning what users pass as `distillation_loss_fn` into distillation terms."""

import keras

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.kd import KLDivergence
from keras_distill.src.losses.keras_loss import KerasLoss
from keras_distill.src.utils.errors import invalid_argument


def as_term(loss):
    """Returns a `DistillationLoss` for one user-given loss.

    Our own terms pass through. Plain Keras losses (instances, functions or
    names) are wrapped in `KerasLoss`, which applies the keras.io example's
    semantics: softmax at temperature T on both sides, result times T^2.
    """
    if isinstance(loss, DistillationLoss):
        return loss
    if isinstance(loss, (keras.losses.Loss, str)) or callable(loss):
        return KerasLoss(loss)
    raise invalid_argument(
        "distillation_loss_fn",
        loss,
        "a keras_distill.losses term, a Keras loss, or a list of them",
        "For example: distillation_loss_fn=keras_distill.losses.KLDivergence().",
    )


def as_terms(distillation_loss_fn):
    """Normalizes `distillation_loss_fn` into a non-empty list of terms."""
    if distillation_loss_fn is None:
        return [KLDivergence()]
    if isinstance(distillation_loss_fn, (list, tuple)):
        if not distillation_loss_fn:
            raise invalid_argument(
                "distillation_loss_fn",
                distillation_loss_fn,
                "at least one loss",
                "Pass None to use keras_distill.losses.KLDivergence().",
            )
        terms = [as_term(loss) for loss in distillation_loss_fn]
    else:
        terms = [as_term(distillation_loss_fn)]
    names = [term.name for term in terms]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise invalid_argument(
            "distillation_loss_fn",
            names,
            "terms with distinct names (each is logged under its name)",
            f"Give the repeated terms {duplicates} a `name=` of their own.",
        )
    return terms


def as_weights(distillation_loss_weights, terms):
    """Returns one float weight per term (default 1.0 each)."""
    if distillation_loss_weights is None:
        return [1.0] * len(terms)
    weights = distillation_loss_weights
    if isinstance(weights, (int, float)) and not isinstance(weights, bool):
        weights = [weights]
    if not isinstance(weights, (list, tuple)) or len(weights) != len(terms):
        raise invalid_argument(
            "distillation_loss_weights",
            distillation_loss_weights,
            f"a list of {len(terms)} numbers, one per distillation term "
            f"({[term.name for term in terms]})",
        )
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            if callable(weight):
                continue  # A schedule; validated by the schedules module.
            raise invalid_argument(
                "distillation_loss_weights",
                distillation_loss_weights,
                "numbers >= 0 (or schedules)",
            )
        if weight < 0:
            raise invalid_argument(
                "distillation_loss_weights",
                distillation_loss_weights,
                "numbers >= 0 (or schedules)",
            )
    return list(weights)
