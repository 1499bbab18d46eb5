"""FitNets hints: L2 between a teacher layer and an adapted student layer."""

import keras
from keras import ops

from keras_distill.src.losses.feature_base import FeatureLoss
from keras_distill.src.utils.errors import invalid_argument

_ADAPTERS = ("auto", "always", None)


def hint_loss(teacher_features, student_features):
    """Per-example mean squared error between two feature tensors.

    `student_features` are the student's features after the adapter (the
    FitNets regressor), so both tensors have the same shape.

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor of the same shape.

    Returns:
        Tensor `(batch,)`: the mean over all non-batch axes of the squared
        difference, float32.
    """
    teacher = ops.cast(teacher_features, "float32")
    student = ops.cast(student_features, "float32")
    squared = ops.square(teacher - student)
    return ops.mean(ops.reshape(squared, (ops.shape(squared)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="keras_distill")
class Hint(FeatureLoss):
    """FitNets hint: the student layer, projected, regresses the teacher layer.

    `mean((teacher_layer - adapter(student_layer))^2)` per example. When the
    two layers' shapes differ, the Distiller creates the adapter: a `Dense`
    projection for vectors, a 1x1 `Conv2D` for feature maps `(batch, height,
    width, channels)` (channels last), after a bilinear resize when the
    spatial sizes differ. The adapter is trained with the student and lives
    in the Distiller, never in the student. FitNets trains the hint in a
    separate first stage; here it is one term among the others, trained
    jointly, as most later work does.

    Reference: Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015.
    https://arxiv.org/abs/1412.6550

    Args:
        teacher_layer: Name (or path such as `"backbone/conv3"`) of the
            teacher layer, or None for the final outputs.
        student_layer: Name (or path) of the student layer, or None.
        adapter: `"auto"` (an adapter only when the shapes differ),
            `"always"` (a learned projection even when they agree, as in
            FitNets), or None (no adapter: the shapes must agree).
        resize: Whether an adapter may resize feature maps whose spatial
            sizes differ. When False, such layers are an error.
        interpolation: Resize interpolation, `"bilinear"` by default.
        name: Name in logs. Defaults to `"hint"`.

    Example:

    ```python
    distiller = keras_distill.Distiller(
        teacher=teacher,
        student=student,
        distillation_loss_fn=[
            keras_distill.losses.KLDivergence(),
            keras_distill.losses.Hint(teacher_layer="conv3",
                                      student_layer="conv2"),
        ],
        distillation_loss_weights=[1.0, 0.5],
    )
    ```
    """

    config_fields = (*FeatureLoss.config_fields, "adapter", "resize", "interpolation")

    def __init__(
        self,
        teacher_layer=None,
        student_layer=None,
        adapter="auto",
        resize=True,
        interpolation="bilinear",
        name=None,
    ):
        super().__init__(hint_loss, teacher_layer, student_layer, name=name)
        if adapter not in _ADAPTERS:
            raise invalid_argument(
                "adapter", adapter, "one of 'auto', 'always' or None"
            )
        if not isinstance(resize, bool):
            raise invalid_argument("resize", resize, "True or False")
        self.adapter = adapter
        self.resize = resize
        self.interpolation = interpolation

    def validate_shapes(self, teacher_shape, student_shape):
        super().validate_shapes(teacher_shape, student_shape)
        if teacher_shape is None or student_shape is None:
            return
        t, s = tuple(teacher_shape)[1:], tuple(student_shape)[1:]
        where = self._describe(teacher_shape, student_shape)
        if self.adapter is None and t != s:
            raise ValueError(
                f"{where}, and `adapter=None`. Expected equal shapes. Pass "
                "`adapter='auto'` to learn a projection, or choose layers "
                "with equal shapes."
            )
        if len(t) != len(s):
            raise ValueError(
                f"{where}. Expected layers of the same rank. Choose layers "
                "of equal rank, or add a Flatten / GlobalAveragePooling "
                "layer to the model and tap it."
            )
        if t[-1] is None:
            raise ValueError(
                f"{where}. Expected a known number of teacher channels (last "
                "axis) to size the adapter. Build the teacher with fixed "
                "channels."
            )
        known = None not in t[:-1] + s[:-1]
        spatial_differs = known and t[:-1] != s[:-1]
        if spatial_differs and (len(t) != 3 or not self.resize):
            fix = (
                "Pass `resize=True` to resize the student's maps to the "
                "teacher's, or choose layers with equal spatial sizes."
                if len(t) == 3
                else "Choose layers with equal sizes on all but the last axis."
            )
            raise ValueError(f"{where}. Expected equal sizes. {fix}")


