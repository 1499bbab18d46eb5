"""Hinton knowledge distillation: temperature-softened KL and cross-entropy."""

import keras
from keras import ops

from keras_distill.src.losses.chunked import chunked_kl_divergence
from keras_distill.src.losses.softened import SoftenedLoss
from keras_distill.src.losses.softened import kl_from_log_probs
from keras_distill.src.losses.softened import soften
from keras_distill.src.models import lm_head
from keras_distill.src.utils.errors import invalid_argument


def kl_divergence(teacher_logits, student_logits, temperature=1.0, standardize=False, axis=-1):
    """Per-example `T^2 * KL(softmax(t / T) || softmax(s / T))`.

    Computed from log-softmax in float32, so it stays finite for logits of
    any magnitude. The `T^2` factor keeps gradient magnitudes comparable
    across temperatures (Hinton et al., 2015).

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        standardize: Whether to z-score each model's logits first (Sun et
            al., CVPR 2024; see `standardize_logits`).
        axis: The class axis.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    log_p_teacher = ops.log_softmax(soften(teacher_logits, temperature, standardize, axis), axis)
    log_p_student = ops.log_softmax(soften(student_logits, temperature, standardize, axis), axis)
    kl = kl_from_log_probs(log_p_teacher, log_p_student, axis=axis)
    return kl * ops.square(ops.cast(temperature, "float32"))


def token_kl_divergence(teacher_logits, student_logits, temperature=1.0, standardize=False,
                        chunk_size="auto"):
    """`kl_divergence`, in chunks along the time axis for sequence logits.

    `(batch, time, classes)` logits with a static `time` axis go through
    `chunked_kl_divergence` (unless `chunk_size` is None or `standardize`),
    which keeps no full-size float32 temporaries for the gradient; other
    logits through `kl_divergence`. The values are the same. The teacher's
    logits may be `DeferredLogits` (`models/lm_head.py`): chunk by chunk
    when chunked, else computed whole first.
    """
    shape = student_logits.shape
    if chunk_size is None or standardize or len(shape) != 3 or shape[1] is None:
        teacher_logits = lm_head.positions(teacher_logits)
        return kl_divergence(teacher_logits, student_logits, temperature, standardize)
    return chunked_kl_divergence(teacher_logits, student_logits, temperature, chunk_size)


# The Distiller may pass the teacher's logits deferred to this function.
token_kl_divergence.reads_deferred_logits = True


def soft_target_cross_entropy(
    teacher_logits, student_logits, temperature=1.0, standardize=False, axis=-1
):
    """Per-example `-T^2 * sum softmax(t / T) * log_softmax(s / T)`.

    Equals `kl_divergence` plus `T^2` times the teacher's entropy, which has
    no gradient with respect to the student: same gradients, different value.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        standardize: Whether to z-score each model's logits first.
        axis: The class axis.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    p_teacher = ops.softmax(soften(teacher_logits, temperature, standardize, axis), axis)
    log_p_student = ops.log_softmax(soften(student_logits, temperature, standardize, axis), axis)
    cross_entropy = -ops.sum(p_teacher * log_p_student, axis=axis)
    return cross_entropy * ops.square(ops.cast(temperature, "float32"))


@keras.saving.register_keras_serializable(package="keras_distill")
class KLDivergence(SoftenedLoss):
    """Hinton KD: `T^2 * KL(softmax(teacher / T) || softmax(student / T))`.

    The default distillation term of `Distiller`. Takes logits (not
    probabilities) from both models; the softmax and the `T^2` factor are
    inside the math, so they can never be skipped. With `standardize=True`
    each model's logits are z-scored before the softmax:
    `T^2 * KL(softmax(Z(teacher) / T) || softmax(Z(student) / T))`.

    Reference: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
    Network", 2015. https://arxiv.org/abs/1503.02531. Standardization: Sun et
    al., "Logit Standardization in Knowledge Distillation", CVPR 2024.
    https://arxiv.org/abs/2403.01427

    Args:
        temperature: Optional float > 0 overriding the Distiller's.
        standardize: Whether to z-score the logits first (Sun et al.).
        name: Name in logs. Defaults to `"kl_divergence"`.
        output: Output key or index of a multi-output model.
        chunk_size: For sequence logits `(batch, time, vocabulary)`, the
            positions computed at once (see `chunked_kl_divergence`: no
            full-size float32 softmax is kept for the gradient). `"auto"`
            (the default) takes about 2**19 logits per example and chunk;
            None computes all positions together. Other logits ignore it.

    Example:

    >>> import numpy as np
    >>> loss = KLDivergence()
    >>> t = np.array([[2.0, 1.0, 0.1]]); s = np.array([[2.0, 1.0, 0.1]])
    >>> float(loss(t, s, temperature=4.0)[0])
    0.0
    """

    def __init__(self, temperature=None, standardize=False, name=None, output=None,
                 chunk_size="auto"):
        if chunk_size not in (None, "auto") and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise invalid_argument(
                "chunk_size", chunk_size, "'auto', an int >= 1, or None",
                "It bounds the memory of sequence (batch, time, vocabulary) logits; "
                "None computes every position at once.",
            )
        super().__init__(
            token_kl_divergence, temperature, standardize, name, output, chunk_size=chunk_size
        )


@keras.saving.register_keras_serializable(package="keras_distill")
class SoftTargetCrossEntropy(SoftenedLoss):
    """Cross-entropy with the teacher's soft targets, `T^2`-scaled.

    `-T^2 * sum_k softmax(teacher / T)_k * log softmax(student / T)_k`: the
    loss of Hinton et al.'s paper as written. Its gradients equal those of
    `KLDivergence`; its value is higher by `T^2 * H(teacher)`, so it is not
    zero when the student matches the teacher. Prefer `KLDivergence` when
    you read the loss value (it reaches 0); use this one to compare with
    code that reports soft-target cross-entropy.

    Reference: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
    Network", 2015. https://arxiv.org/abs/1503.02531

    Args:
        temperature: Optional float > 0 overriding the Distiller's.
        standardize: Whether to z-score the logits first (Sun et al. 2024).
        name: Name in logs. Defaults to `"soft_target_cross_entropy"`.
        output: Output key or index of a multi-output model.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 1.0, 0.1]])
    >>> loss = SoftTargetCrossEntropy()
    >>> round(float(loss(t, t, temperature=1.0)[0]), 4)  # the teacher's entropy
    0.8467
    """

    def __init__(self, temperature=None, standardize=False, name=None, output=None):
        super().__init__(soft_target_cross_entropy, temperature, standardize, name, output)
