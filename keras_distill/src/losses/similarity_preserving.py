"""Similarity-preserving distillation: match within-batch similarity matrices."""

import keras
from keras import ops

from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.feature_base import flatten_features
from keras_distill.src.losses.feature_base import l2_norm


def _normalized_gram(features):
    features = flatten_features(features)
    gram = ops.matmul(features, ops.transpose(features))
    return gram / l2_norm(gram)


def similarity_preserving(teacher_features, student_features):
    """Per-example similarity-preserving loss (Tung & Mori, 2019, eq. 4).

    `G = F F^T` over the batch, each row L2-normalized, for both models;
    example `i` gets `sum_j (G_t - G_s)[i, j]^2 / b`, so the batch mean is
    the paper's `||G_t - G_s||_F^2 / b^2`.

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor `(batch, ...)`; any width.

    Returns:
        Float32 tensor `(batch,)`.
    """
    difference = _normalized_gram(teacher_features) - _normalized_gram(
        student_features
    )
    return ops.mean(ops.square(difference), axis=-1)


@keras.saving.register_keras_serializable(package="keras_distill")
class SimilarityPreserving(FeatureLoss):
    """Similarity-preserving KD (SP): inputs similar for the teacher stay so.

    Compares the `batch x batch` matrices of pairwise feature similarities,
    so the layers may have any shapes (no adapter). The term relates the
    examples of a batch: a `sample_weight` of 0 removes an example's row,
    but the example still appears in the other rows. The paper weighs the
    term by `gamma = 3000`: pass such a weight in `distillation_loss_weights`.

    Reference: Tung & Mori, "Similarity-Preserving Knowledge Distillation",
    ICCV 2019. https://arxiv.org/abs/1907.09682

    Args:
        teacher_layer: Name (or path) of the teacher layer, or None.
        student_layer: Name (or path) of the student layer, or None.
        name: Name in logs. Defaults to `"similarity_preserving"`.
    """

    def __init__(self, teacher_layer=None, student_layer=None, name=None):
        super().__init__(similarity_preserving, teacher_layer, student_layer, name=name)
