"""Decoupled knowledge distillation (DKD): target and non-target terms."""

import keras
from keras import ops

from keras_distill.src.losses.softened import SoftenedLoss
from keras_distill.src.losses.softened import check_classes
from keras_distill.src.losses.softened import kl_from_log_probs
from keras_distill.src.losses.softened import soften
from keras_distill.src.utils.validation import check_in_range

# A logit this far below a row's minimum has probability exactly 0 in
# float32 (exp(-1e4) underflows), without the NaN gradients of -inf.
_EXCLUDED_OFFSET = 1e4


def target_mask(y_true, logits):
    """Boolean mask of the target class, shaped like `logits`.

    Args:
        y_true: Integer class ids `(batch, ...)` or `(batch, ..., 1)`, or
            one-hot / probability targets shaped like `logits` (argmax).
            Ids outside `[0, classes)` (e.g. padding ids) are clipped; mask
            those positions out with `sample_weight` or a Keras mask.
        logits: Tensor `(batch, ..., classes)` with a static class axis.

    Returns:
        Boolean tensor shaped like `logits`.
    """
    num_classes = logits.shape[-1]
    labels = ops.convert_to_tensor(y_true)
    if len(labels.shape) == len(logits.shape):
        if labels.shape[-1] == num_classes and num_classes != 1:
            labels = ops.argmax(labels, axis=-1)
        else:
            labels = ops.squeeze(labels, axis=-1)
    labels = ops.clip(ops.cast(labels, "int32"), 0, num_classes - 1)
    return ops.one_hot(labels, num_classes, dtype="float32") > 0.5


def _exclude(logits, excluded):
    """`logits` with the `excluded` entries moved to probability 0."""
    fill = ops.stop_gradient(ops.min(logits, axis=-1, keepdims=True) - _EXCLUDED_OFFSET)
    return ops.where(excluded, fill, logits)


def _target_log_probs(logits, target):
    """`log [p_target, 1 - p_target]` along a new last axis, in log space."""
    log_normalizer = ops.logsumexp(logits, axis=-1)
    target_logit = ops.sum(ops.where(target, logits, ops.zeros_like(logits)), axis=-1)
    other_logits = ops.logsumexp(_exclude(logits, target), axis=-1)
    return ops.stack([target_logit, other_logits], axis=-1) - log_normalizer[..., None]


def _non_target_log_probs(logits, target):
    """Log-softmax over the non-target classes (0 at the target entry)."""
    log_probs = ops.log_softmax(_exclude(logits, target), axis=-1)
    return ops.where(target, ops.zeros_like(log_probs), log_probs)


def decoupled_kd(
    teacher_logits,
    student_logits,
    y_true,
    temperature=1.0,
    alpha=1.0,
    beta=8.0,
    standardize=False,
):
    """Per-example DKD: `T^2 * (alpha * TCKD + beta * NCKD)`.

    `TCKD = KL(b_teacher || b_student)` compares the binary distributions
    `b = [p_target, 1 - p_target]`; `NCKD = KL(p^_teacher || p^_student)`
    compares the softmax over the non-target classes only (all at
    temperature T). Both are computed from log-probabilities, so they stay
    finite for large logits and low temperatures.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        y_true: Class ids or one-hot targets (see `target_mask`).
        temperature: Float or scalar tensor > 0.
        alpha: Weight of the target-class term TCKD.
        beta: Weight of the non-target-class term NCKD.
        standardize: Whether to z-score each model's logits first.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    target = target_mask(y_true, student_logits)
    teacher = soften(teacher_logits, temperature, standardize)
    student = soften(student_logits, temperature, standardize)
    tckd = kl_from_log_probs(
        _target_log_probs(teacher, target), _target_log_probs(student, target)
    )
    nckd = kl_from_log_probs(
        _non_target_log_probs(teacher, target), _non_target_log_probs(student, target)
    )
    return (alpha * tckd + beta * nckd) * ops.square(ops.cast(temperature, "float32"))


@keras.saving.register_keras_serializable(package="keras_distill")
class DKD(SoftenedLoss):
    """Decoupled KD: `T^2 * (alpha * TCKD + beta * NCKD)`; needs labels.

    Splits Hinton's KL into the target-class term TCKD (binary KL between
    `[p_target, 1 - p_target]` of teacher and student) and the non-target
    term NCKD (KL between the softmax distributions over the non-target
    classes), and weighs them separately. Classic KD is
    `TCKD + (1 - p_target_teacher) * NCKD`; DKD frees NCKD from that factor,
    which helps most when the teacher is confident.

    The labels come from the dataset (`y`): integer class ids, or one-hot.
    The paper warms the term up linearly over the first epochs: pass a
    schedule as this term's entry of `distillation_loss_weights`.

    Reference: Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022.
    https://arxiv.org/abs/2203.08679 (the authors use alpha=1, beta=8,
    T=4 on CIFAR-100 and beta=0.5, T=1 on ImageNet).

    Args:
        alpha: Float >= 0, the weight of TCKD.
        beta: Float >= 0, the weight of NCKD.
        temperature: Optional float > 0 overriding the Distiller's.
        standardize: Whether to z-score the logits first (Sun et al. 2024).
        name: Name in logs. Defaults to `"dkd"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[0.5, 1.5, 0.1]])
    >>> loss = DKD(alpha=1.0, beta=8.0)
    >>> round(float(loss(t, s, temperature=4.0, y_true=np.array([0]))[0]), 4)
    0.6207
    """

    def __init__(
        self, alpha=1.0, beta=8.0, temperature=None, standardize=False, name=None, output=None
    ):
        super().__init__(
            decoupled_kd,
            temperature,
            standardize,
            name,
            output,
            alpha=check_in_range(alpha, "alpha", low=0.0, fix=_WEIGHT_FIX),
            beta=check_in_range(beta, "beta", low=0.0, fix=_WEIGHT_FIX),
        )

    def validate_shapes(self, teacher_shape, student_shape):
        super().validate_shapes(teacher_shape, student_shape)
        check_classes(self, student_shape, 2, "a target and a non-target class")


_WEIGHT_FIX = "DKD weighs its target (alpha) and non-target (beta) terms; the paper uses 1 and 8."
