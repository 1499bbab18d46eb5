"""KD for sigmoid outputs: Bernoulli KL per label (binary, multi-label)."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.losses.softened import soften


def bernoulli_kl_divergence(teacher_logits, student_logits, temperature=1.0, axis=-1):
    """Per-example `T^2 * mean_k KL(Bern(sigmoid(t_k / T)) || Bern(sigmoid(s_k / T)))`.

    Each label `k` is its own binary distribution `[p_k, 1 - p_k]`. The logs
    are `log sigmoid(x) = -softplus(-x)` and `log(1 - sigmoid(x)) =
    -softplus(x)`, so values and gradients stay finite for large logits.

    Args:
        teacher_logits: Tensor `(batch, ..., labels)` of teacher logits (one
            per label, before the sigmoid), or `(batch,)`.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        axis: The label axis, averaged over.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    teacher = soften(teacher_logits, temperature)
    student = soften(student_logits, temperature)
    if len(student.shape) == 1:
        teacher, student = teacher[:, None], student[:, None]
    log_p, log_not_p = -ops.softplus(-teacher), -ops.softplus(teacher)
    log_q, log_not_q = -ops.softplus(-student), -ops.softplus(student)
    kl = ops.exp(log_p) * (log_p - log_q) + ops.exp(log_not_p) * (log_not_p - log_not_q)
    return ops.mean(kl, axis=axis) * ops.square(ops.cast(temperature, "float32"))


@keras.saving.register_keras_serializable(package="keras_distill")
class BernoulliKLDivergence(DistillationLoss):
    """KD for sigmoid students: `T^2 * mean_k KL(Bern(p_k) || Bern(q_k))`.

    For binary and multi-label models (one logit per label, sigmoid
    activation), where a softmax across labels would be wrong. With
    `p_k = sigmoid(teacher_k / T)` and `q_k = sigmoid(student_k / T)`, each
    label contributes `p log(p / q) + (1 - p) log((1 - p) / (1 - q))`;
    the per-example value is the mean over labels, times `T^2`. Takes
    logits, not probabilities.

    Reference: Hinton, Vinyals & Dean, "Distilling the Knowledge in a
    Neural Network", 2015 (https://arxiv.org/abs/1503.02531), applied to
    each label's independent Bernoulli distribution.

    Args:
        temperature: Optional float > 0 overriding the Distiller's.
        name: Name in logs. Defaults to `"bernoulli_kl_divergence"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[3.0, -2.0]]); s = np.array([[1.0, -1.0]])  # 2 labels
    >>> round(float(BernoulliKLDivergence()(t, s, temperature=1.0)[0]), 4)
    0.1185
    """

    def __init__(self, temperature=None, name=None, output=None):
        super().__init__(bernoulli_kl_divergence, temperature=temperature, name=name, output=output)
