"""Probabilistic knowledge transfer: match within-batch similarity distributions."""

import keras
from keras import ops

from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.feature_base import flatten_features
from keras_distill.src.losses.feature_base import l2_norm

_EPSILON = 1e-7


def _conditional_probabilities(features):
    features = flatten_features(features)
    features = features / (l2_norm(features) + _EPSILON)
    similarity = (ops.matmul(features, ops.transpose(features)) + 1.0) / 2.0
    return similarity / ops.sum(similarity, axis=-1, keepdims=True)


def pkt(teacher_features, student_features):
    """Per-example PKT loss with the cosine-similarity kernel.

    Cosine similarities within the batch, mapped to [0, 1] and normalized
    per row into conditional probabilities `p(j | i)`, for both models;
    example `i` gets `mean_j p_t log((p_t + eps) / (p_s + eps))`, so the
    batch mean equals the authors' reference code.

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor `(batch, ...)`; any width.

    Returns:
        Float32 tensor `(batch,)`.
    """
    p_teacher = _conditional_probabilities(teacher_features)
    p_student = _conditional_probabilities(student_features)
    divergence = p_teacher * ops.log(
        (p_teacher + _EPSILON) / (p_student + _EPSILON)
    )
    return ops.mean(divergence, axis=-1)


@keras.saving.register_keras_serializable(package="keras_distill")
class PKT(FeatureLoss):
    """Probabilistic knowledge transfer (PKT): match similarity distributions.

    Models the teacher's and the student's features as conditional
    probability distributions over the other examples of the batch (cosine
    kernel) and minimizes their KL divergence. Layers may have any shapes (no
    adapter). The term relates the examples of a batch: a `sample_weight` of
    0 removes an example's row, but the example still appears in the other
    rows.

    Reference: Passalis & Tefas, "Learning Deep Representations with
    Probabilistic Knowledge Transfer", ECCV 2018.
    https://arxiv.org/abs/1803.10837

    Args:
        teacher_layer: Name (or path) of the teacher layer, or None.
        student_layer: Name (or path) of the student layer, or None.
        name: Name in logs. Defaults to `"pkt"`.
    """

    def __init__(self, teacher_layer=None, student_layer=None, name=None):
        super().__init__(pkt, teacher_layer, student_layer, name=name)
