"""Hinton knowledge distillation: temperature-softened KL divergence."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss


def kl_divergence(teacher_logits, student_logits, temperature=1.0, axis=-1):
    """Per-example `T^2 * KL(softmax(t / T) || softmax(s / T))`.

    Computed from log-softmax in float32, so it stays finite for logits of
    any magnitude. The `T^2` factor keeps gradient magnitudes comparable
    across temperatures (Hinton et al., 2015).

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        axis: The class axis.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    temperature = ops.cast(temperature, "float32")
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    log_p_teacher = ops.log_softmax(t, axis=axis)
    log_p_student = ops.log_softmax(s, axis=axis)
    p_teacher = ops.exp(log_p_teacher)
    kl = ops.sum(p_teacher * (log_p_teacher - log_p_student), axis=axis)
    return kl * ops.square(temperature)


@keras.saving.register_keras_serializable(package="keras_distill")
class KLDivergence(DistillationLoss):
    """Hinton KD: `T^2 * KL(softmax(teacher / T) || softmax(student / T))`.

    The default distillation term of `Distiller`. Takes logits (not
    probabilities) from both models; the softmax and the `T^2` factor are
    inside the math, so they can never be skipped.

    Reference: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
    Network", 2015. https://arxiv.org/abs/1503.02531

    Args:
        temperature: Optional float > 0 overriding the Distiller's.
        name: Name in logs. Defaults to `"kl_divergence"`.

    Example:

    >>> import numpy as np
    >>> loss = KLDivergence()
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[2.0, 1.0, 0.1]])
    >>> float(loss(t, s, temperature=4.0)[0])
    0.0
    """

    def call(self, teacher_outputs, student_outputs, temperature, y_true=None):
        return kl_divergence(teacher_outputs, student_outputs, temperature)
