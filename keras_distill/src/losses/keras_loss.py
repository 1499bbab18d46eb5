"""Adapter for plain Keras losses, with the keras.io example's semantics."""

import keras
from keras import ops

from keras_distill.src.losses.base import DistillationLoss


def per_example_loss(loss_fn, y_true, y_pred):
    """Per-example values of a Keras loss object or loss function.

    A `keras.losses.Loss` instance is evaluated through its `call` (its own
    reduction is not applied, so the Distiller's sample weights and masks are
    applied exactly once). A function is called as `fn(y_true, y_pred)`.
    """
    if isinstance(loss_fn, keras.losses.Loss):
        y_true = ops.convert_to_tensor(y_true, dtype="float32")
        y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
        return loss_fn.call(y_true, y_pred)
    return loss_fn(y_true, ops.cast(y_pred, "float32"))


def softened_keras_loss(teacher_logits, student_logits, temperature=1.0, loss="kl_divergence"):
    """Per-example `T^2 * loss(softmax(t / T), softmax(s / T))` of a Keras loss.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)` of teacher logits.
        student_logits: Tensor of the same shape, student logits.
        temperature: Float or scalar tensor > 0.
        loss: A `keras.losses.Loss` instance, a loss function, or its name;
            it receives the teacher's distribution as `y_true`.

    Returns:
        Tensor `(batch, ...)` of per-example values, float32.
    """
    temperature = ops.cast(temperature, "float32")
    p_teacher = ops.softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    p_student = ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    return per_example_loss(keras.losses.get(loss), p_teacher, p_student) * ops.square(
        temperature
    )


@keras.saving.register_keras_serializable(package="keras_distill")
class KerasLoss(DistillationLoss):
    """Uses a plain Keras loss as a distillation term, on softened outputs.

    Both models' logits are divided by the temperature and passed through a
    softmax; the Keras loss compares the two distributions (teacher first,
    as `y_true`) and the result is multiplied by `T^2`. This is exactly the
    keras.io "Knowledge Distillation" example's Distiller, so
    `distillation_loss_fn=keras.losses.KLDivergence()` behaves as there.
    The `Distiller` wraps plain Keras losses in this class automatically.

    Args:
        loss: A `keras.losses.Loss` instance, a loss function, or its name.
        temperature: Optional float > 0 overriding the Distiller's.
        name: Name in logs. Defaults to the Keras loss's name.
    """

    def __init__(self, loss, temperature=None, name=None):
        loss = keras.losses.get(loss)
        if not callable(loss):
            raise ValueError(
                "Invalid value for argument `loss`. "
                f"Received: loss={loss!r}. Expected a Keras loss instance, "
                "function, or name such as 'kl_divergence'."
            )
        default_name = getattr(loss, "name", None) or getattr(
            loss, "__name__", "keras_loss"
        )
        super().__init__(
            softened_keras_loss,
            temperature=temperature,
            name=name or f"keras_{default_name}",
            loss=loss,
        )
