"""Attention transfer: match where the teacher's feature maps are active."""

import keras
from keras import ops

from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.losses.feature_base import l2_norm
from keras_distill.src.utils.errors import invalid_argument


def attention_map(features, p=2.0):
    """Spatial attention map of channels-last features, L2-normalized.

    `mean_c |features[..., c]|^p`, flattened over the spatial axes and
    divided by its L2 norm (Zagoruyko & Komodakis, 2017, eq. 2 and 3).

    Args:
        features: Tensor `(batch, ..., channels)`, e.g. `(batch, h, w, c)`.
        p: Exponent > 0, 2 in the paper.

    Returns:
        Float32 tensor `(batch, positions)`.
    """
    features = ops.cast(features, "float32")
    attention = ops.mean(ops.power(ops.abs(features), p), axis=-1)
    attention = ops.reshape(attention, (ops.shape(attention)[0], -1))
    return attention / l2_norm(attention)


def attention_transfer(teacher_features, student_features, p=2.0):
    """Per-example attention-transfer loss.

    The mean over spatial positions of the squared difference between the
    two normalized attention maps, as in the authors' code
    (`(at(x) - at(y)).pow(2).mean()`). Channels may differ; spatial sizes
    must agree.

    Args:
        teacher_features: Tensor `(batch, ..., teacher_channels)`.
        student_features: Tensor `(batch, ..., student_channels)` with the
            same spatial size.
        p: Exponent of the attention map.

    Returns:
        Float32 tensor `(batch,)`.
    """
    difference = attention_map(teacher_features, p) - attention_map(
        student_features, p
    )
    return ops.mean(ops.square(difference), axis=-1)


@keras.saving.register_keras_serializable(package="keras_distill")
class AttentionTransfer(FeatureLoss):
    """Attention transfer (AT): match spatial attention maps of two layers.

    Each map is `mean_c |f_c|^p` over channels (channels last), flattened
    and L2-normalized, so the teacher and student may have different widths
    and no adapter is needed; their spatial sizes must agree. The paper
    weighs the term by `beta / 2 = 500` (per layer pair): pass such a weight
    in `distillation_loss_weights`.

    Reference: Zagoruyko & Komodakis, "Paying More Attention to Attention",
    ICLR 2017. https://arxiv.org/abs/1612.03928

    Args:
        teacher_layer: Name (or path) of the teacher layer.
        student_layer: Name (or path) of the student layer.
        p: Exponent > 0 of the attention map (2 in the paper).
        name: Name in logs. Defaults to `"attention_transfer"`.
    """

    min_rank = 3

    def __init__(self, teacher_layer=None, student_layer=None, p=2.0, name=None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0:
            raise invalid_argument("p", p, "a number > 0 (2 in the paper)")
        super().__init__(attention_transfer, teacher_layer, student_layer, name=name, p=float(p))

    def validate_shapes(self, teacher_shape, student_shape):
        super().validate_shapes(teacher_shape, student_shape)
        if teacher_shape is None or student_shape is None:
            return
        t, s = tuple(teacher_shape)[1:-1], tuple(student_shape)[1:-1]
        if None not in t + s and t != s:
            raise ValueError(
                f"{self._describe(teacher_shape, student_shape)}. Expected "
                "equal spatial sizes (all axes but batch and channels). "
                "Choose layers with equal spatial sizes, or use `Hint`, whose "
                "adapter resizes."
            )
