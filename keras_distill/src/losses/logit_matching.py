"""Matching raw outputs: MSE and Huber (logits or regression), cosine."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.validation import check_in_range

# Added to squared norms before the square root (finite gradient at 0).
_NORM_EPSILON = 1e-12
_DELTA_FIX = "Use LogitMSE for a purely quadratic loss."


def _as_float(teacher_outputs, student_outputs):
    """Both outputs in float32, `(batch,)` outputs viewed as `(batch, 1)`."""
    teacher = ops.cast(teacher_outputs, "float32")
    student = ops.cast(student_outputs, "float32")
    if len(student.shape) == 1:
        teacher, student = teacher[:, None], student[:, None]
    return teacher, student


def logit_mse(teacher_outputs, student_outputs, axis=-1):
    """Per-example `mean_k (s_k - t_k)^2` over the last axis.

    Args:
        teacher_outputs: Tensor `(batch, ..., units)`: logits or regression
            outputs of the teacher.
        student_outputs: Tensor of the same shape.
        axis: The axis averaged over.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    teacher, student = _as_float(teacher_outputs, student_outputs)
    return ops.mean(ops.square(student - teacher), axis=axis)


def logit_huber(teacher_outputs, student_outputs, delta=1.0, axis=-1):
    """Per-example mean Huber loss between raw outputs, over the last axis.

    Each element is `0.5 * d^2` if `|d| <= delta`, else
    `delta * |d| - 0.5 * delta^2`, with `d = s - t` (as `keras.losses.Huber`).

    Args:
        teacher_outputs: Tensor `(batch, ..., units)` of teacher outputs.
        student_outputs: Tensor of the same shape.
        delta: Float > 0 where the loss turns from quadratic to linear.
        axis: The axis averaged over.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    teacher, student = _as_float(teacher_outputs, student_outputs)
    error = ops.abs(student - teacher)
    quadratic = ops.minimum(error, delta)
    linear = error - quadratic
    return ops.mean(0.5 * ops.square(quadratic) + delta * linear, axis=axis)


def logit_cosine(teacher_outputs, student_outputs, axis=-1):
    """Per-example `1 - cos(t, s)` along the last axis, in [0, 2].

    Args:
        teacher_outputs: Tensor `(batch, ..., units)` of teacher outputs.
        student_outputs: Tensor of the same shape.
        axis: The axis the vectors lie along.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    teacher, student = _as_float(teacher_outputs, student_outputs)
    dot = ops.sum(teacher * student, axis=axis)
    norms = ops.sqrt(ops.sum(ops.square(teacher), axis=axis) + _NORM_EPSILON) * ops.sqrt(
        ops.sum(ops.square(student), axis=axis) + _NORM_EPSILON
    )
    return 1.0 - dot / norms


@keras.saving.register_keras_serializable(package="keras_distill")
class LogitMSE(DistillationLoss):
    """Mean squared error between raw outputs: `mean_k (s_k - t_k)^2`.

    Logit regression (Ba & Caruana): the student matches the teacher's
    logits themselves rather than softened probabilities. For zero-mean
    logits, `KLDivergence` approaches this up to a constant factor as
    `T -> infinity` (Hinton et al. 2015, section 2.1). Ignores the
    temperature. Also the term for regression teachers, whose outputs are
    not logits.

    Reference: Ba & Caruana, "Do Deep Nets Really Need to be Deep?",
    NeurIPS 2014. https://arxiv.org/abs/1312.6184

    Args:
        name: Name in logs. Defaults to `"logit_mse"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[0.5, 1.5, 0.1]])
    >>> round(float(LogitMSE()(t, s)[0]), 4)  # (1.5^2 + 0.5^2 + 0) / 3
    0.8333
    """

    def __init__(self, name=None, output=None):
        super().__init__(logit_mse, name=name, output=output)


@keras.saving.register_keras_serializable(package="keras_distill")
class LogitHuber(DistillationLoss):
    """Huber loss between raw outputs, for regression teachers.

    `mean_k h(s_k - t_k)` with `h(d) = 0.5 d^2` for `|d| <= delta` and
    `delta |d| - 0.5 delta^2` beyond: quadratic near the teacher, linear far
    from it, so a few outlying teacher predictions do not dominate. Ignores
    the temperature.

    Reference: Huber, "Robust Estimation of a Location Parameter", 1964;
    applied to outputs as in Ba & Caruana, NeurIPS 2014.

    Args:
        delta: Float > 0, where the loss turns from quadratic to linear.
        name: Name in logs. Defaults to `"logit_huber"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[0.5, 1.5, 0.1]])
    >>> float(LogitHuber(delta=1.0)(t, s)[0])  # (1.0 + 0.125 + 0) / 3
    0.375
    """

    def __init__(self, delta=1.0, name=None, output=None):
        delta = check_in_range(delta, "delta", low=0.0, fix=_DELTA_FIX)
        if delta == 0.0:
            raise invalid_argument("delta", delta, "a number > 0", _DELTA_FIX)
        super().__init__(logit_huber, name=name, output=output, delta=delta)


@keras.saving.register_keras_serializable(package="keras_distill")
class LogitCosine(DistillationLoss):
    """Cosine distance between logit vectors: `1 - <t, s> / (|t| |s|)`.

    Matches the direction of the teacher's logits and ignores their scale,
    so a student with a smaller logit range is not penalized for it.
    Ignores the temperature.

    Reference: the cosine term of DistilBERT (Sanh et al., "DistilBERT, a
    distilled version of BERT", 2019, https://arxiv.org/abs/1910.01108),
    which aligns hidden states; here applied to the output vectors.

    Args:
        name: Name in logs. Defaults to `"logit_cosine"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]])
    >>> round(float(LogitCosine()(t, 10.0 * t)[0]), 6)  # scale is ignored
    0.0
    """

    def __init__(self, name=None, output=None):
        super().__init__(logit_cosine, name=name, output=output)
