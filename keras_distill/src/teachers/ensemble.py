"""Ensembles of teachers combined in probability space (or log space)."""

import math

import keras
from keras import ops

from keras_distill.src.teachers.callable_teacher import as_logits
from keras_distill.src.teachers.callable_teacher import as_single_teacher
from keras_distill.src.teachers.probabilities import TeacherLogits
from keras_distill.src.teachers.probabilities import check_mode
from keras_distill.src.utils.errors import invalid_argument

COMBINE_MODES = ("probabilities", "log")


def _weight_per_member(weights, index, rank):
    """Weight `index` as a scalar, or `(batch, 1, ..., 1)` for per-example."""
    weight = weights[index] if len(ops.shape(weights)) == 1 else weights[:, index]
    weight = ops.cast(weight, "float32")
    while len(weight.shape) and len(weight.shape) < rank:
        weight = ops.expand_dims(weight, axis=-1)
    return weight


def probability_mixture(member_logits, weights, temperature=1.0):
    """Logits whose softmax at `T` is the weighted mixture of the teachers'.

    Returns `T * log(sum_i w_i * softmax(t_i / T))`, so that
    `softmax(output / T) == sum_i w_i * softmax(t_i / T)` exactly: every
    distillation term (which divides teacher logits by `T`) then sees the
    mixture of the teachers' softened distributions. The result depends on
    `T`, so it must be computed at the step's temperature.

    Args:
        member_logits: List of `n` tensors of the same shape `(batch, ...,
            classes)`, one per teacher.
        weights: Tensor `(n,)` of weights summing to 1, or `(batch, n)`.
        temperature: Float or scalar tensor > 0.

    Returns:
        Float32 tensor of the members' shape.
    """
    temperature = ops.cast(temperature, "float32")
    terms = []
    for index, logits in enumerate(member_logits):
        logits = ops.cast(logits, "float32")
        weight = _weight_per_member(weights, index, len(logits.shape))
        terms.append(
            ops.log(weight) + ops.log_softmax(logits / temperature, axis=-1)
        )
    return temperature * ops.logsumexp(ops.stack(terms, axis=0), axis=0)


def log_mixture(member_logits, weights):
    """Logits of the normalized weighted geometric mean of the teachers.

    `softmax(sum_i w_i t_i / T)` is proportional to
    `prod_i softmax(t_i / T) ** w_i` at every temperature (each teacher's
    log-softmax differs from its logits by a per-example constant), so the
    log-space ensemble is the weighted mean of the logits, and does not
    depend on `T`.
    """
    total = 0.0
    for index, logits in enumerate(member_logits):
        logits = ops.cast(logits, "float32")
        total = total + _weight_per_member(weights, index, len(logits.shape)) * logits
    return total


def check_weights(weights, num_teachers):
    """Returns `weights` normalized to sum 1 (default: uniform)."""
    if weights is None:
        return [1.0 / num_teachers] * num_teachers
    expected = f"a list of {num_teachers} numbers > 0, one per teacher"
    if not isinstance(weights, (list, tuple)) or len(weights) != num_teachers:
        raise invalid_argument("weights", weights, expected)
    for weight in weights:
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise invalid_argument(
                "weights", weights, expected, "Remove a teacher instead of weighting it 0."
            )
    total = float(sum(weights))
    return [float(weight) / total for weight in weights]


class TeacherGroup(keras.layers.Layer):
    """Several frozen teachers in one layer (`Ensemble`, `MultiTask`): the
    config of `teachers` (a list or a dict), `teacher_outputs` and the
    subclass's `settings()`."""

    def settings(self):
        return {}

    def get_config(self):
        config = super().get_config()
        config.update({
            "teachers": serialize_teachers(self.teachers),
            **self.settings(),
            "teacher_outputs": self.teacher_outputs,
        })
        config.pop("trainable", None)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["teachers"] = deserialize_teachers(config["teachers"], custom_objects)
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_distill")
class Ensemble(TeacherGroup):
    """Several frozen teachers whose softened distributions are averaged.

    With `combine="probabilities"` (the default) the ensemble's target is the
    weighted mixture `sum_i w_i softmax(t_i / T)` at the Distiller's current
    temperature `T`, as in Hinton et al. (2015) section 2 and "ensemble
    distillation" generally; averaging logits instead would give a sharper,
    different distribution. The layer returns `T * log(mixture)`, i.e. logits
    whose `softmax(. / T)` is exactly the mixture, so every distillation term
    applies unchanged. The Distiller passes its temperature variable at each
    step, so scheduled or assigned temperatures are honoured.

    With `combine="log"` the target is the normalized weighted geometric mean
    `prod_i softmax(t_i / T) ** w_i`, a "product of experts" that only keeps
    classes all teachers agree on. Mathematically this equals the softmax of
    the weighted mean of the logits, which is what the layer returns; it does
    not depend on `T`.

    Teachers may have different architectures; their outputs must have the
    same shape. All are frozen. A term that sets its own `temperature` sees
    the mixture built at the Distiller's temperature, re-softened at its own.

    Members that end in a softmax are read before it, each as the
    Distiller reads a single teacher (`teacher_outputs`, see
    `keras_distill.Distiller`).

    Args:
        teachers: List of teachers: Keras models, `keras.layers.TFSMLayer`s or
            plain callables `inputs -> logits`.
        weights: Optional list of positive weights, one per teacher
            (normalized to sum 1). Defaults to uniform.
        combine: `"probabilities"` or `"log"`.
        teacher_outputs: What the members output: `"auto"`, `"logits"` or
            `"probabilities"` (as the Distiller's argument of that name).
        **kwargs: Passed to `keras.layers.Layer` (e.g. `name`).

    Example:

    ```python
    teacher = keras_distill.teachers.Ensemble([resnet, vit], weights=[2, 1])
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    # `teacher=[resnet, vit]` is the same with uniform weights.
    ```
    """

    def __init__(
        self, teachers, weights=None, combine="probabilities", teacher_outputs="auto",
        **kwargs,
    ):
        kwargs.setdefault("name", "ensemble")
        super().__init__(**kwargs)
        if not isinstance(teachers, (list, tuple)) or not teachers:
            raise invalid_argument("teachers", teachers, "a non-empty list of teachers")
        if combine not in COMBINE_MODES:
            raise invalid_argument(
                "combine", combine, f"one of {COMBINE_MODES}",
                "'probabilities' averages softmax(t_i / T); 'log' averages log-probabilities.",
            )
        self.teachers = [
            as_single_teacher(teacher, argument="teachers") for teacher in teachers
        ]
        self.mixture_weights = check_weights(weights, len(self.teachers))
        self.combine = combine
        self.teacher_outputs = check_mode(teacher_outputs)
        # Plain objects, which Keras neither tracks nor saves: the members'
        # weights are not listed twice.
        self.member_logits_readers = tuple(
            TeacherLogits(teacher, teacher_outputs, argument="teachers")
            for teacher in self.teachers
        )
        self.trainable = False
        self._check_member_shapes()

    def _check_member_shapes(self):
        shapes = [member_output_shape(teacher) for teacher in self.teachers]
        known = [(t.name, s) for t, s in zip(self.teachers, shapes) if s is not None]
        if len({shape[1:] for _, shape in known}) > 1:
            raise ValueError(
                f"The teachers of Ensemble '{self.name}' have different output "
                f"shapes: {dict(known)}. Expected the same shape (same classes) "
                "for every teacher, so their distributions can be averaged."
            )

    @property
    def output_shape_hint(self):
        """Static output shape of the first teacher that has one, or None."""
        for teacher in self.teachers:
            shape = member_output_shape(teacher)
            if shape is not None:
                return shape
        return None

    def member_logits(self, inputs):
        """Each teacher's logits, in inference mode."""
        return [
            as_logits(reader(inputs), reader.teacher.name)
            for reader in self.member_logits_readers
        ]

    def combine_logits(self, member_logits, temperature=1.0):
        """Combines member logits (see the class docstring)."""
        weights = ops.convert_to_tensor(self.mixture_weights, dtype="float32")
        if self.combine == "log":
            return log_mixture(member_logits, weights)
        return probability_mixture(member_logits, weights, temperature)

    def call(self, inputs, training=False, temperature=1.0):
        return self.combine_logits(self.member_logits(inputs), temperature)

    def check_outputs(self, inputs):
        """Each member's check that its outputs are not probabilities."""
        for member in self.member_logits_readers:
            member.check_outputs(inputs)

    def settings(self):
        return {"weights": list(self.mixture_weights), "combine": self.combine}


def serialize_teachers(teachers):
    """A list or dict of teachers, each serialized (for `get_config`)."""
    if isinstance(teachers, dict):
        return {name: keras.saving.serialize_keras_object(t) for name, t in teachers.items()}
    return [keras.saving.serialize_keras_object(t) for t in teachers]


def deserialize_teachers(configs, custom_objects=None):
    """The teachers of `serialize_teachers(teachers)`."""
    def load(config):
        return keras.saving.deserialize_keras_object(config, custom_objects=custom_objects)

    if isinstance(configs, dict):
        return {name: load(config) for name, config in configs.items()}
    return [load(config) for config in configs]


class CombinedLogits:
    """Reads the logits of an `Ensemble` (or a `MultiTask`) at the step's
    temperature (a plain object, as `TeacherLogits`: neither tracked nor
    saved)."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, inputs, temperature=1.0):
        return self.layer(inputs, training=False, temperature=temperature)

    def check_outputs(self, inputs):
        self.layer.check_outputs(inputs)


def member_output_shape(model):
    """Static output shape of a single-output Keras model, else None."""
    outputs = getattr(model, "outputs", None)
    if outputs and len(outputs) == 1:
        return tuple(outputs[0].shape)
    return None
