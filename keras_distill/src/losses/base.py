"""Base class of every distillation term."""

import re

import keras

from keras_distill.src.utils.validation import check_temperature

# Source name meaning "the model's final outputs" (as opposed to a layer).
OUTPUTS = "__outputs__"


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


@keras.saving.register_keras_serializable(package="keras_distill")
class DistillationLoss:
    """A distillation term: compares teacher and student outputs per example.

    Subclasses implement `call(teacher_outputs, student_outputs, temperature,
    y_true=None)` and return per-example values of shape `(batch,)` (or
    `(batch, time)` for sequence outputs); the `Distiller` reduces them with
    sample weights and masks and multiplies by the term's weight. The math
    lives in a pure `keras.ops` function; the class is a thin, serializable
    shell around it.

    A term reads the models' final outputs unless it names layers through
    `teacher_layer` / `student_layer` (feature terms).

    Args:
        temperature: Optional float > 0. When given, this term uses it instead
            of the Distiller's (possibly scheduled) temperature.
        name: Name under which the term is logged. Defaults to the snake-case
            class name.
    """

    #: Whether `call` needs the hard labels `y_true` (e.g. DKD).
    requires_labels = False
    #: Whether `call` uses the temperature at all (the Distiller logs it).
    uses_temperature = True

    def __init__(self, temperature=None, name=None):
        if temperature is not None:
            temperature = check_temperature(temperature)
        self.temperature = temperature
        self.name = name or _snake_case(type(self).__name__)

    @property
    def teacher_source(self):
        """What this term reads from the teacher: `OUTPUTS` or a layer."""
        return getattr(self, "teacher_layer", None) or OUTPUTS

    @property
    def student_source(self):
        """What this term reads from the student: `OUTPUTS` or a layer."""
        return getattr(self, "student_layer", None) or OUTPUTS

    def __call__(self, teacher_outputs, student_outputs, temperature=1.0,
                 y_true=None):
        if self.temperature is not None:
            temperature = self.temperature
        return self.call(
            teacher_outputs, student_outputs, temperature, y_true=y_true
        )

    def call(self, teacher_outputs, student_outputs, temperature, y_true=None):
        """Returns per-example loss values. Implemented by subclasses."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `call(teacher_outputs, "
            "student_outputs, temperature, y_true=None)`."
        )

    def validate_shapes(self, teacher_shape, student_shape):
        """Raises when the two output shapes cannot be compared.

        Called by the Distiller at construction/compile time with the static
        shapes of what this term reads. Logit terms need equal class axes.
        """
        if teacher_shape is None or student_shape is None:
            return
        t, s = tuple(teacher_shape), tuple(student_shape)
        if len(t) != len(s) or (
            t[-1] is not None and s[-1] is not None and t[-1] != s[-1]
        ):
            raise ValueError(
                f"Teacher and student outputs do not match for `{self.name}`. "
                f"Received: teacher output shape={t}, student output "
                f"shape={s}. Expected the same rank and the same last "
                "(class) axis. Give the student the teacher's number of "
                "classes, or distill features with an adapter instead."
            )

    def get_config(self):
        return {"temperature": self.temperature, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
