"""Base class of every distillation term."""

import inspect
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


# What the Distiller passes to a term at each step. A term's function
# receives those that its signature names.
_STEP_ARGUMENTS = ("temperature", "y_true", "sample_weight", "mask")


@keras.saving.register_keras_serializable(package="keras_distill")
class DistillationLoss:
    """A distillation term: a per-example function and its keyword arguments.

    The math lives in a pure `keras.ops` function `fn(teacher_outputs,
    student_outputs, **kwargs)` returning per-example values of shape
    `(batch,)` (or `(batch, time)` for sequence outputs); the `Distiller`
    reduces them with sample weights and masks and multiplies by the term's
    weight. This class is the serializable shell around it, as
    `keras.losses.LossFunctionWrapper` is for Keras losses: the keyword
    arguments are stored, saved by `get_config` and passed on each call.
    Each built-in term is a subclass that checks its arguments and names its
    function; a new term needs no subclass:

    ```python
    def logit_l1(teacher_logits, student_logits):
        return keras.ops.mean(keras.ops.abs(teacher_logits - student_logits), axis=-1)

    term = keras_distill.losses.DistillationLoss(logit_l1, name="logit_l1")
    ```

    Besides `**kwargs`, the function receives those of `temperature`,
    `y_true`, `sample_weight` and `mask` that its signature names. A
    function that takes `y_true` without a default needs labels in the
    data. A term reads the models' final outputs unless it names layers
    through `teacher_layer` / `student_layer` (feature terms). For
    multi-output models, `output` selects one output: a key of a dict
    output, or an index of a list output (the Distiller sets it when
    `distillation_loss_fn` is a dict or a per-output list).

    Args:
        fn: The per-example function. Save it with a `.keras` file by
            registering it with `keras.saving.register_keras_serializable`.
        temperature: Optional float > 0, only for functions that take a
            temperature. When given, this term uses it instead of the
            Distiller's (possibly scheduled) temperature.
        name: Name under which the term is logged. Defaults to the snake-case
            class name (the function's name for this class itself).
        output: Optional output key (str) or index (int) of a multi-output
            model; `None` reads the whole output.
        **kwargs: Keyword arguments of `fn`, saved with the term. Each is
            also readable as an attribute (`term.beta`).
    """

    #: Names of attributes saved by `get_config` besides the function's
    #: keyword arguments (configuration the Distiller reads, e.g. layers).
    config_fields = ()

    def __init__(self, fn, temperature=None, name=None, output=None, **kwargs):
        if not callable(fn):
            raise invalid_argument(
                "fn",
                fn,
                "a function fn(teacher_outputs, student_outputs, **kwargs) "
                "returning per-example values",
            )
        parameters = inspect.signature(fn).parameters
        self.fn = fn
        self.fn_kwargs = kwargs
        self._reads = tuple(name for name in _STEP_ARGUMENTS if name in parameters)
        self._needs_labels = (
            "y_true" in parameters and parameters["y_true"].default is inspect.Parameter.empty
        )
        self.name = name or _snake_case(
            fn.__name__ if type(self) is DistillationLoss else type(self).__name__
        )
        if temperature is not None:
            if "temperature" not in self._reads:
                raise invalid_argument(
                    "temperature",
                    temperature,
                    "None",
                    f"`{self.name}` does not soften its inputs, so it has no temperature.",
                )
            temperature = check_temperature(temperature)
        self.temperature = temperature
        self.output = check_output(output)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: the function's arguments.
        kwargs = self.__dict__.get("fn_kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

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
        """Per-example values of the term for one batch."""
        if self._needs_labels and y_true is None:
            raise ValueError(
                f"`{self.name}` needs the hard labels, but the batch "
                "has no `y`. Received: y=None. Expected a dataset of (x, y) "
                "pairs with class ids or one-hot labels. Use KLDivergence "
                "to distill without labels."
            )
        if self.temperature is not None:
            temperature = self.temperature
        given = {
            "temperature": temperature,
            "y_true": y_true,
            "sample_weight": sample_weight,
            "mask": mask,
        }
        step_arguments = {name: given[name] for name in self._reads}
        return self.fn(teacher_outputs, student_outputs, **step_arguments, **self.fn_kwargs)

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
        config = {"name": self.name}
        if "temperature" in self._reads:
            config["temperature"] = self.temperature
        for field in self.config_fields:
            config[field] = getattr(self, field)
        for key, value in self.fn_kwargs.items():
            config[key] = keras.saving.serialize_keras_object(value)
        if self.output is not None:
            config["output"] = self.output
        if type(self) is DistillationLoss:
            config["fn"] = keras.saving.serialize_keras_object(self.fn)
        return config

    @classmethod
    def from_config(cls, config):
        # `output` is set after construction, so subclasses whose constructor
        # does not take it (feature terms) still round-trip.
        config = {
            key: keras.saving.deserialize_keras_object(value) for key, value in config.items()
        }
        output = config.pop("output", None)
        term = cls(**config)
        term.output = check_output(output)
        return term

    def __repr__(self):
        config = self.get_config()
        config.pop("fn", None)
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        fn = f"{self.fn.__name__}, " if type(self) is DistillationLoss else ""
        return f"{type(self).__name__}({fn}{args})"


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
