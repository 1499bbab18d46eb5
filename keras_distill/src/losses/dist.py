"""DIST: inter- and intra-class Pearson correlation of soft predictions."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.reduction import combined_weights
from keras_distill.src.losses.softened import check_classes
from keras_distill.src.losses.softened import soften
from keras_distill.src.utils.validation import check_in_range

# Lower bound of the product of norms in a correlation: the correlation is
# exact whenever it is defined and stays finite for constant vectors.
_CORRELATION_EPSILON = 1e-8
# Added to squared norms before the square root (finite gradient at 0).
_NORM_EPSILON = 1e-20


def _norm_product(a, b, axis, weights=None):
    """`max(|a|_w * |b|_w, eps)`: the denominator of a weighted correlation."""
    weights = 1.0 if weights is None else weights
    norm_a = ops.sqrt(ops.sum(weights * ops.square(a), axis=axis) + _NORM_EPSILON)
    norm_b = ops.sqrt(ops.sum(weights * ops.square(b), axis=axis) + _NORM_EPSILON)
    return ops.maximum(norm_a * norm_b, _CORRELATION_EPSILON)


def _inter_class(p_teacher, p_student):
    """Per-example `1 - pearson(p_teacher, p_student)` across classes."""
    teacher = p_teacher - ops.mean(p_teacher, axis=-1, keepdims=True)
    student = p_student - ops.mean(p_student, axis=-1, keepdims=True)
    dot = ops.sum(teacher * student, axis=-1)
    return 1.0 - dot / _norm_product(teacher, student, axis=-1)


def _intra_class(p_teacher, p_student, weights):
    """Per-position shares of `1 - mean_c pearson_c`, the correlation of each
    class's probabilities across the (weighted) batch.

    The values' weighted mean, `sum_i w_i v_i / sum_i w_i`, equals the
    batch-level intra-class loss exactly.
    """
    num_classes = p_teacher.shape[-1]
    teacher = ops.reshape(p_teacher, (-1, num_classes))
    student = ops.reshape(p_student, (-1, num_classes))
    if weights is None:
        weights = ops.ones_like(p_teacher[..., 0])
    flat_weights = ops.reshape(weights, (-1, 1))
    total = ops.sum(flat_weights)
    teacher = teacher - ops.divide_no_nan(ops.sum(flat_weights * teacher, axis=0), total)
    student = student - ops.divide_no_nan(ops.sum(flat_weights * student, axis=0), total)
    norms = _norm_product(teacher, student, axis=0, weights=flat_weights)
    shares = ops.mean(teacher * student / norms, axis=-1)
    return ops.reshape(1.0 - total * shares, ops.shape(p_teacher)[:-1])


def dist_loss(
    teacher_logits,
    student_logits,
    temperature=1.0,
    beta=1.0,
    gamma=1.0,
    sample_weight=None,
    mask=None,
):
    """Per-position DIST values: `T^2 * (beta * inter + gamma * intra)`.

    With `P = softmax(t / T)` and `Q = softmax(s / T)`, `inter` is
    `1 - pearson(P_i, Q_i)` across the classes of each example `i`, and
    `intra` is `1 - mean_c pearson(P[:, c], Q[:, c])`, where each class's
    correlation runs across the positions of the batch weighted by
    `sample_weight * mask`. The intra-class term is a batch statistic: each
    position gets a share of it, chosen so that the weighted mean of the
    returned values (what the Distiller computes) is exactly the DIST loss.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        beta: Weight of the inter-class term.
        gamma: Weight of the intra-class term.
        sample_weight: Optional weights broadcastable to `(batch, ...)`.
        mask: Optional 0/1 mask broadcastable to `(batch, ...)`.

    Returns:
        Tensor `(batch, ...)` of per-position values, float32.
    """
    p_teacher = ops.softmax(soften(teacher_logits, temperature), axis=-1)
    p_student = ops.softmax(soften(student_logits, temperature), axis=-1)
    weights = combined_weights(p_teacher[..., 0], sample_weight, mask)
    inter = _inter_class(p_teacher, p_student)
    intra = _intra_class(p_teacher, p_student, weights)
    return (beta * inter + gamma * intra) * ops.square(ops.cast(temperature, "float32"))


@keras.saving.register_keras_serializable(package="keras_distill")
class DIST(DistillationLoss):
    """DIST: match the teacher's prediction *relations*, not exact values.

    `T^2 * (beta * (1 - mean_i rho(P_i, Q_i)) + gamma * (1 - mean_c
    rho(P_c, Q_c)))`, where `P = softmax(teacher / T)`, `Q =
    softmax(student / T)`, `rho` is the Pearson correlation, `P_i` the class
    vector of example `i` (inter-class relation) and `P_c` the batch vector
    of class `c` (intra-class relation). Invariant to shifts and scales of
    the predictions, so it suits teachers much stronger than the student.

    The intra-class term is a statistic of the batch: it needs batches of
    several examples, and it leaves out positions whose `sample_weight` or
    mask is 0.

    Reference: Huang et al., "Knowledge Distillation from A Stronger
    Teacher", NeurIPS 2022. https://arxiv.org/abs/2205.10536 (the authors
    use beta = gamma = 1 and T = 1 on ImageNet).

    Args:
        beta: Float >= 0, the weight of the inter-class relation.
        gamma: Float >= 0, the weight of the intra-class relation.
        temperature: Optional float > 0 overriding the Distiller's.
        name: Name in logs. Defaults to `"dist"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1], [0.0, 3.0, 1.0]])
    >>> values = DIST()(t, t, temperature=1.0)  # shares of the batch loss
    >>> tuple(values.shape), abs(float(np.mean(values))) < 1e-6
    ((2,), True)
    """

    def __init__(self, beta=1.0, gamma=1.0, temperature=None, name=None, output=None):
        super().__init__(
            dist_loss,
            temperature=temperature,
            name=name,
            output=output,
            beta=check_in_range(beta, "beta", low=0.0),
            gamma=check_in_range(gamma, "gamma", low=0.0),
        )

    def validate_shapes(self, teacher_shape, student_shape):
        super().validate_shapes(teacher_shape, student_shape)
        check_classes(self, student_shape, 2, "a correlation across classes")
