"""Base class of feature (intermediate-layer) distillation terms."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.utils.errors import invalid_argument


def check_layer_name(value, argument):
    """Returns `value` after checking it is None or a non-empty layer path."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value
        or any(not part for part in value.split("/"))
    ):
        raise invalid_argument(
            argument,
            value,
            "a layer name such as 'conv3', a path into a sub-model such as "
            "'backbone/conv3', or None for the model's final outputs",
            "A term compares one teacher layer with one student layer; for "
            "several pairs pass several terms, each with its own `name=`.",
        )
    return value


def flatten_features(features):
    """`(batch, ...)` features as float32 `(batch, features)`."""
    features = ops.cast(features, "float32")
    return ops.reshape(features, (ops.shape(features)[0], -1))


def l2_norm(x, axis=-1):
    """`max(||x||_2, 1e-12)` along `axis` (kept), with finite gradients at 0."""
    return ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-24))


def shape_text(shape):
    return tuple(shape) if shape is not None else None


@keras.saving.register_keras_serializable(package="keras_distill")
class FeatureLoss(DistillationLoss):
    """A distillation term that compares intermediate layers.

    Each term compares one teacher layer with one student layer, named by
    `teacher_layer` and `student_layer` (None reads the model's final
    outputs). The Distiller taps these layers in the same forward pass that
    computes the outputs: one pass per model per step. For several layer
    pairs, pass several terms with distinct `name=`s; each then has its own
    weight in `distillation_loss_weights` and its own key in the logs.

    Layers are named as in `model.get_layer(name)`; a layer inside a nested
    Functional or Sequential sub-model is named by path, e.g.
    `"backbone/conv3"`.

    Feature terms ignore the temperature.

    Args:
        fn: The per-example function `fn(teacher_features, student_features,
            **kwargs)`.
        teacher_layer: Name (or path) of the teacher layer, or None.
        student_layer: Name (or path) of the student layer, or None.
        name: Name in logs. Defaults to the snake-case class name.
        **kwargs: Keyword arguments of `fn`, saved with the term.
    """

    #: Smallest rank `(batch, ...)` the term accepts.
    min_rank = 2
    config_fields = ("teacher_layer", "student_layer")

    def __init__(self, fn, teacher_layer=None, student_layer=None, name=None, **kwargs):
        super().__init__(fn, name=name, **kwargs)
        self.teacher_layer = check_layer_name(teacher_layer, "teacher_layer")
        self.student_layer = check_layer_name(student_layer, "student_layer")

    def _describe(self, teacher_shape, student_shape):
        return (
            f"`{self.name}` compares teacher layer "
            f"'{self.teacher_layer or 'outputs'}' {shape_text(teacher_shape)} "
            f"with student layer '{self.student_layer or 'outputs'}' "
            f"{shape_text(student_shape)}"
        )

    def validate_shapes(self, teacher_shape, student_shape):
        """Checks both ranks; subclasses add what their math needs."""
        for shape in (teacher_shape, student_shape):
            if shape is not None and len(shape) < self.min_rank:
                raise ValueError(
                    f"{self._describe(teacher_shape, student_shape)}. "
                    f"Expected features of rank >= {self.min_rank} "
                    "(batch first). Choose layers with such outputs."
                )
