"""Relational knowledge distillation: distances and angles within a batch."""

import keras
from keras import ops

from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.feature_base import flatten_features
from keras_distill.src.losses.feature_base import l2_norm
from keras_distill.src.utils.errors import invalid_argument

_EPSILON = 1e-12


def _huber(x):
    absolute = ops.abs(x)
    return ops.where(absolute < 1.0, 0.5 * ops.square(x), absolute - 0.5)


def _normalized_distances(features):
    """Pairwise Euclidean distances divided by their mean over pairs."""
    features = flatten_features(features)
    squared_norms = ops.sum(ops.square(features), axis=-1)
    squared = (
        squared_norms[:, None]
        + squared_norms[None, :]
        - 2.0 * ops.matmul(features, ops.transpose(features))
    )
    distances = ops.sqrt(ops.maximum(squared, _EPSILON))
    off_diagonal = 1.0 - ops.eye(ops.shape(features)[0], dtype="float32")
    distances = distances * off_diagonal
    positive = ops.sum(ops.cast(distances > 0, "float32"))
    mean = ops.sum(distances) / ops.maximum(positive, 1.0)
    return distances / ops.maximum(mean, _EPSILON)


def _angles(features):
    """`cos` of the angle at vertex `i` between `j` and `k`: `(b, b, b)`."""
    features = flatten_features(features)
    differences = features[None, :, :] - features[:, None, :]
    directions = differences / l2_norm(differences)
    return ops.einsum("ijd,ikd->ijk", directions, directions)


def rkd_distance(teacher_features, student_features):
    """Per-example RKD distance loss (Park et al., 2019, eq. 4 and 5).

    Huber (delta 1) distance between the two models' pairwise distances,
    each normalized by its mean; example `i` gets the mean over `j`.
    """
    difference = _normalized_distances(student_features) - _normalized_distances(
        teacher_features
    )
    return ops.mean(_huber(difference), axis=-1)


def rkd_angle(teacher_features, student_features):
    """Per-example RKD angle loss (Park et al., 2019, eq. 6 and 7).

    Huber distance between the cosines of the angles formed by every
    triplet; example `i` gets the mean over the triplets with vertex `i`.
    """
    difference = _angles(student_features) - _angles(teacher_features)
    batch_size = ops.shape(difference)[0]
    return ops.mean(ops.reshape(_huber(difference), (batch_size, -1)), axis=-1)


def rkd(teacher_features, student_features, distance_weight=1.0, angle_weight=2.0):
    """Per-example RKD loss: `distance_weight * D + angle_weight * A`.

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor `(batch, ...)`; any width.
        distance_weight: Weight of the distance loss.
        angle_weight: Weight of the angle loss.

    Returns:
        Float32 tensor `(batch,)`.
    """
    total = 0.0
    if distance_weight:
        total += distance_weight * rkd_distance(teacher_features, student_features)
    if angle_weight:
        total += angle_weight * rkd_angle(teacher_features, student_features)
    return total


@keras.saving.register_keras_serializable(package="keras_distill")
class RKD(FeatureLoss):
    """Relational KD (RKD): transfer distances and angles between examples.

    Compares the structure of the batch in feature space, so the layers may
    have any shapes (no adapter): pairwise distances normalized by their
    mean (RKD-D) and the angles of every triplet (RKD-A), each with a Huber
    loss. The angle term costs `O(batch^3 * features)` memory and time. The
    term relates the examples of a batch: a `sample_weight` of 0 removes an
    example's row, but the example still appears in the others.

    Reference: Park, Kim, Lu & Cho, "Relational Knowledge Distillation",
    CVPR 2019. https://arxiv.org/abs/1904.05068

    Args:
        teacher_layer: Name (or path) of the teacher layer, or None.
        student_layer: Name (or path) of the student layer, or None.
        distance_weight: Weight >= 0 of RKD-D (the paper: 25 with 50 for
            RKD-A, the same 1:2 ratio as the defaults).
        angle_weight: Weight >= 0 of RKD-A.
        name: Name in logs. Defaults to `"rkd"`.
    """

    def __init__(
        self,
        teacher_layer=None,
        student_layer=None,
        distance_weight=1.0,
        angle_weight=2.0,
        name=None,
    ):
        for argument, value in (
            ("distance_weight", distance_weight),
            ("angle_weight", angle_weight),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise invalid_argument(argument, value, "a number >= 0")
        if not distance_weight and not angle_weight:
            raise invalid_argument(
                "angle_weight",
                angle_weight,
                "a number > 0 when `distance_weight` is 0",
                "At least one of the two RKD losses must be on.",
            )
        super().__init__(
            rkd,
            teacher_layer,
            student_layer,
            name=name,
            distance_weight=float(distance_weight),
            angle_weight=float(angle_weight),
        )
