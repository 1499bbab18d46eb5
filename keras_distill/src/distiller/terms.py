"""Turning what users pass as `distillation_loss_fn` into distillation terms."""

import keras

from keras_distill.src.distiller import outputs as outputs_lib
from keras_distill.src.distiller import replicas
from keras_distill.src.losses.base import OUTPUTS
from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.kd import KLDivergence
from keras_distill.src.losses.keras_loss import KerasLoss
from keras_distill.src.schedules.hyperparameter import is_schedule
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.keras_compat import get_keras_mask
from keras_distill.src.utils.validation import check_hyperparameter


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


def as_terms(distillation_loss_fn, student=None, teacher=None):
    """Normalizes `distillation_loss_fn` into a non-empty list of terms.

    A dict `{output: loss}`, or a list with one loss (or `None`) per output
    of a multi-output `student`, gives one term per output (see
    `outputs.per_output_terms`); any other list is several terms. For a
    multi-output student, the default (`None`, the KL term) and a single
    logit term apply to every output that teacher and student share by name.
    """
    student_outputs = outputs_lib.model_outputs(student)
    single = distillation_loss_fn is None or not isinstance(
        distillation_loss_fn, (dict, list, tuple)
    )
    if single and student_outputs is not None:
        term = KLDivergence() if distillation_loss_fn is None else as_term(distillation_loss_fn)
        if term.output is None and OUTPUTS == term.teacher_source == term.student_source:
            shared = outputs_lib.shared_outputs(teacher, student)
            distillation_loss_fn = {name: term for name in shared}
    if distillation_loss_fn is None:
        return [KLDivergence()]
    terms = outputs_lib.per_output_terms(
        distillation_loss_fn, student_outputs, as_term
    ) or _listed_terms(distillation_loss_fn)
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


def _listed_terms(distillation_loss_fn):
    """One term, or a list of terms all reading the same outputs."""
    if not isinstance(distillation_loss_fn, (list, tuple)):
        return [as_term(distillation_loss_fn)]
    if not distillation_loss_fn:
        raise invalid_argument(
            "distillation_loss_fn",
            distillation_loss_fn,
            "at least one loss",
            "Pass None to use keras_distill.losses.KLDivergence().",
        )
    return [as_term(loss) for loss in distillation_loss_fn]


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
    return [
        weight if is_schedule(weight)
        else check_hyperparameter(weight, "weight", f"distillation_loss_weights[{index}]")
        for index, weight in enumerate(weights)
    ]


def _static_shape(model, key, role):
    """Static shape of the `role` model's output `key`, or None if unknown."""
    structure = outputs_lib.output_structure(model)
    if structure is None:
        return None  # A subclassed model: outputs are known at the first step.
    if key is None:
        return tuple(structure.shape) if hasattr(structure, "shape") else None
    try:
        return tuple(outputs_lib.select(structure, key).shape)
    except (KeyError, IndexError, TypeError, AttributeError):
        raise invalid_argument(
            "output",
            key,
            f"an output of the {role} model '{model.name}'",
            "Give the teacher and the student the same output names.",
        ) from None


def term_shapes(term, teacher, student):
    """Static (teacher, student) shapes of what `term` reads, for validation.

    Raises when a term reads the whole output of a multi-output student.
    """
    if term.teacher_source != OUTPUTS or term.student_source != OUTPUTS:
        return None, None
    outputs = outputs_lib.model_outputs(student)
    if outputs is not None and term.output is None:
        raise invalid_argument(
            "distillation_loss_fn",
            term,
            f"one loss per output, since the student has several outputs "
            f"{[name for _, name in outputs]}",
            "Pass a dict {output_name: loss or None}, or a list with one "
            "loss (or None) per output.",
        )
    return (
        _static_shape(teacher, term.output, "teacher"),
        _static_shape(student, term.output, "student"),
    )


def term_value(term, teacher_outputs, student_outputs, temperature, y=None,
               sample_weight=None, mask=None, adapter=None):
    """The weighted mean of `term` over a batch: what the Distiller weighs.

    `teacher_outputs` / `student_outputs` map sources to outputs. A term with
    an `output` reads that output, the matching entry of structured `y` and
    `sample_weight`, and that output's Keras mask. An `adapter` (feature
    terms) projects the student's features before the comparison.
    """
    teacher = teacher_outputs[term.teacher_source]
    student = student_outputs[term.student_source]
    if adapter is not None:
        student = adapter(student)
    if term.output is not None:
        teacher = outputs_lib.select(teacher, term.output)
        student = outputs_lib.select(student, term.output)
        y = outputs_lib.select(y, term.output)
        sample_weight = outputs_lib.select(sample_weight, term.output)
        mask = get_keras_mask(student)
    values = term(
        teacher,
        student,
        temperature=temperature,
        y_true=y,
        sample_weight=sample_weight,
        mask=mask,
    )
    return replicas.weighted_mean(values, sample_weight, mask)
