"""Reverse KL and the generalized Jensen-Shannon divergence (GKD)."""

import math

import keras
from keras import ops

from keras_distill.src.losses.kd import kl_divergence
from keras_distill.src.losses.softened import SoftenedLoss
from keras_distill.src.losses.softened import kl_from_log_probs
from keras_distill.src.losses.softened import soften
from keras_distill.src.utils.validation import check_in_range


def reverse_kl_divergence(
    teacher_logits, student_logits, temperature=1.0, standardize=False, axis=-1
):
    """Per-example `T^2 * KL(softmax(s / T) || softmax(t / T))`.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        standardize: Whether to z-score each model's logits first.
        axis: The class axis.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    return kl_divergence(student_logits, teacher_logits, temperature, standardize, axis)


def generalized_jensen_shannon(
    teacher_logits, student_logits, temperature=1.0, beta=0.5, standardize=False, axis=-1
):
    """Per-example `T^2 * JSD(beta)` between teacher and student at temperature T.

    With `P = softmax(t / T)`, `Q = softmax(s / T)` and the mixture
    `M = beta * P + (1 - beta) * Q`:

        JSD(beta) = beta * KL(P || M) + (1 - beta) * KL(Q || M)

    As in GKD (Agarwal et al., ICLR 2024) and its reference implementation,
    `beta = 0` is the forward KL `KL(P || Q)` and `beta = 1` the reverse KL
    `KL(Q || P)` (the formula itself tends to 0 at both ends). `log M` is a
    `logsumexp` of log-probabilities, so values and gradients stay finite at
    low temperatures and large logits.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        beta: Python float in [0, 1], the teacher's weight in the mixture.
        standardize: Whether to z-score each model's logits first.
        axis: The class axis.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    if beta == 0.0:
        return kl_divergence(teacher_logits, student_logits, temperature, standardize, axis)
    if beta == 1.0:
        return reverse_kl_divergence(
            teacher_logits, student_logits, temperature, standardize, axis
        )
    log_p = ops.log_softmax(soften(teacher_logits, temperature, standardize, axis), axis)
    log_q = ops.log_softmax(soften(student_logits, temperature, standardize, axis), axis)
    log_m = ops.logsumexp(
        ops.stack([log_p + math.log(beta), log_q + math.log(1.0 - beta)]), axis=0
    )
    jsd = beta * kl_from_log_probs(log_p, log_m, axis) + (1.0 - beta) * kl_from_log_probs(
        log_q, log_m, axis
    )
    return jsd * ops.square(ops.cast(temperature, "float32"))


@keras.saving.register_keras_serializable(package="keras_distill")
class ReverseKLDivergence(SoftenedLoss):
    """Reverse KL: `T^2 * KL(softmax(student / T) || softmax(teacher / T))`.

    Mode-seeking: the student is pushed to put its mass where the teacher is
    confident instead of covering every teacher mode, which suits students
    too small to cover a broad teacher distribution (e.g. token-level
    language-model distillation).

    Reference: Gu et al., "MiniLLM: Knowledge Distillation of Large Language
    Models", ICLR 2024. https://arxiv.org/abs/2306.08543

    Args:
        temperature: Optional float > 0 overriding the Distiller's.
        standardize: Whether to z-score the logits first (Sun et al. 2024).
        name: Name in logs. Defaults to `"reverse_kl_divergence"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[0.5, 1.5, 0.1]])
    >>> round(float(ReverseKLDivergence()(t, s, temperature=4.0)[0]), 4)
    0.3812
    """

    def __init__(self, temperature=None, standardize=False, name=None, output=None):
        super().__init__(reverse_kl_divergence, temperature, standardize, name, output)


@keras.saving.register_keras_serializable(package="keras_distill")
class JensenShannon(SoftenedLoss):
    """Generalized Jensen-Shannon divergence, `T^2`-scaled.

    With `P = softmax(teacher / T)`, `Q = softmax(student / T)` and
    `M = beta * P + (1 - beta) * Q`, the per-example value is
    `T^2 * (beta * KL(P || M) + (1 - beta) * KL(Q || M))`. `beta = 0.5` is
    the symmetric JSD, bounded by `T^2 * log 2`. As in GKD, `beta = 0` means
    forward KL (`KLDivergence`) and `beta = 1` reverse KL
    (`ReverseKLDivergence`); values in between interpolate in behaviour, and
    the value tends to 0 near both ends (use a larger term weight there).

    Reference: Agarwal et al., "On-Policy Distillation of Language Models:
    Learning from Self-Generated Mistakes" (GKD), ICLR 2024.
    https://arxiv.org/abs/2306.13649

    Args:
        beta: Float in [0, 1], the teacher's weight in the mixture `M`.
        temperature: Optional float > 0 overriding the Distiller's.
        standardize: Whether to z-score the logits first (Sun et al. 2024).
        name: Name in logs. Defaults to `"jensen_shannon"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> from keras_distill.src.losses.kd import KLDivergence
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[0.5, 1.5, 0.1]])
    >>> round(float(JensenShannon(beta=0.5)(t, s, temperature=4.0)[0]), 4)
    0.0965
    >>> round(float(JensenShannon(beta=0.0)(t, s, temperature=4.0)[0]), 4)
    0.393
    >>> round(float(KLDivergence()(t, s, temperature=4.0)[0]), 4)
    0.393
    """

    def __init__(self, beta=0.5, temperature=None, standardize=False, name=None, output=None):
        beta = check_in_range(
            beta, "beta", 0.0, 1.0, "beta=0 is forward KL, 1 reverse KL, 0.5 the symmetric JSD."
        )
        super().__init__(
            generalized_jensen_shannon, temperature, standardize, name, output, beta=beta
        )
