"""Base class of every distillation term."""

import re

import keras

from keras_distill.src.utils.errors import invalid_argument
from keras_distill.src.utils.validation import check_temperature

# Source name meaning "the model's final outputs" (as opposed to a layer).
OUTPUTS = "__outputs__"
# Source name of what the student model itself returns, when it differs from
# what the terms read (`OUTPUTS`: the logits before a final softmax).
PREDICTIONS = "__predictions__"


def _snake_case(name):
    """`KLDivergence` -> `kl_divergence`, `LogitMSE` -> `logit_mse`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


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
    `teacher_layer` / `student_layer` (feature terms). For multi-output
    models, `output` selects one output: a key of a dict output, or an index
    of a list output (the Distiller sets it when `distillation_loss_fn` is a
    dict or a per-output list).

    Args:
        temperature: Optional float > 0. When given, this term uses it instead
            of the Distiller's (possibly scheduled) temperature.
        name: Name under which the term is logged. Defaults to the snake-case
            class name.
        output: Optional output key (str) or index (int) of a multi-output
            model; `None` reads the whole output.
    """

    #: Whether `call` takes `sample_weight` and `mask` (terms with batch
    #: statistics, e.g. DIST, which must leave out padded positions).
    uses_sample_weight = False

    def __init__(self, temperature=None, name=None, output=None):
        if temperature is not None:
            temperature = check_temperature(temperature)
        self.temperature = temperature
        self.name = name or _snake_case(type(self).__name__)
        self.output = check_output(output)

    @property
    def teacher_source(self):
        """What this term reads from the teacher: `OUTPUTS` or a layer."""
        return getattr(self, "teacher_layer", None) or OUTPUTS

    @property
    def student_source(self):
        """What this term reads from the student: `OUTPUTS` or a layer."""
        return getattr(self, "student_layer", None) or OUTPUTS

    def __call__(self, teacher_outputs, student_outputs, temperature=1.0,
                 y_true=None, sample_weight=None, mask=None):
        if self.temperature is not None:
            temperature = self.temperature
        kwargs = {}
        if self.uses_sample_weight:
            kwargs = {"sample_weight": sample_weight, "mask": mask}
        return self.call(
            teacher_outputs, student_outputs, temperature, y_true=y_true, **kwargs
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
        config = {"temperature": self.temperature, "name": self.name}
        if self.output is not None:
            config["output"] = self.output
        return config

    @classmethod
    def from_config(cls, config):
        # `output` is set after construction, so subclasses whose constructor
        # does not take it still round-trip.
        config = dict(config)
        output = config.pop("output", None)
        term = cls(**config)
        term.output = check_output(output)
        return term

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def check_output(output):
    """Returns `output` after checking it is None, a str, or an int >= 0."""
    if output is None or isinstance(output, str):
        return output
    if isinstance(output, int) and not isinstance(output, bool) and output >= 0:
        return output
    raise invalid_argument(
        "output",
        output,
        "None, an output name (str), or an output index (int >= 0)",
        "It selects one output of a multi-output model.",
    )
