"""One teacher: a Keras layer/model, a SavedModel layer, or a plain callable."""

import re

import keras
from keras import ops

from keras_distill.src.utils.errors import invalid_argument

_TEACHER_EXPECTED = (
    "a Keras model or layer (including keras.layers.TFSMLayer), a callable "
    "`inputs -> logits`, or a list of them (an ensemble)"
)
_TEACHER_FIX = (
    "Load a SavedModel with keras.layers.TFSMLayer(path, "
    "call_endpoint='serve') (or 'serving_default'), or pass a function such "
    "as `lambda x: my_model(x)`."
)


@keras.saving.register_keras_serializable(package="keras_distill")
class CallableTeacher(keras.layers.Layer):
    """Wraps a plain callable `inputs -> logits` as a frozen teacher layer.

    The Distiller wraps any teacher that is callable but not a Keras layer
    (a Python function, a `tf.Module`, a `tf.saved_model.load` object's
    signature) in this layer. The callable must be traceable by TensorFlow
    (it runs inside the training step) and is always called without
    `training`. Its variables, if it exposes them as `variables`, are
    fingerprinted for cached outputs but never trained.

    A plain callable cannot be serialized: save `distiller.student` (what you
    deploy) rather than the Distiller.

    Args:
        function: The callable.
        name: Layer name. Defaults to the callable's `__name__`.
    """

    def __init__(self, function, name=None, **kwargs):
        if not callable(function):
            raise invalid_argument("function", function, "a callable")
        default = getattr(function, "__name__", type(function).__name__)
        default = re.sub(r"[^A-Za-z0-9_.]", "", default) or "function"
        super().__init__(name=name or f"callable_teacher_{default}", **kwargs)
        self.function = function
        self.trainable = False

    def call(self, inputs, training=False):
        return self.function(inputs)

    def external_variables(self):
        """The callable's own variables (e.g. a `tf.Module`'s), or `[]`."""
        return list(getattr(self.function, "variables", None) or [])

    def get_config(self):
        raise NotImplementedError(
            f"Teacher '{self.name}' is a plain callable ({self.function!r}) and "
            "cannot be serialized. Save the student instead "
            "(`distiller.student.save(...)`), or give the Distiller a Keras "
            "model or a keras.layers.TFSMLayer as teacher."
        )


def as_single_teacher(teacher, argument="teacher"):
    """Returns `teacher` as a frozen Keras layer, wrapping plain callables."""
    if isinstance(teacher, keras.layers.Layer):
        if isinstance(teacher, keras.Model) and not teacher.built:
            raise invalid_argument(
                argument,
                teacher.name,
                "a trained teacher, whose weights exist",
                f"'{teacher.name}' ({type(teacher).__name__}) has never been "
                "built, so it has no weights and cannot have been trained. "
                "Train it, or load the trained model (keras.models."
                "load_model), or call it once on a batch of data before "
                "loading its weights.",
            )
        layer = teacher
    elif callable(teacher) and not isinstance(teacher, type):
        layer = CallableTeacher(teacher)
    else:
        raise invalid_argument(argument, teacher, _TEACHER_EXPECTED, _TEACHER_FIX)
    layer.trainable = False
    return layer


def as_logits(outputs, teacher_name="teacher"):
    """Returns the single logits tensor of a teacher's outputs.

    A SavedModel signature returns a dict such as `{"output_0": logits}`:
    a dict or list holding exactly one tensor is unwrapped.
    """
    if isinstance(outputs, dict) and len(outputs) == 1:
        outputs = next(iter(outputs.values()))
    elif isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        outputs = outputs[0]
    if isinstance(outputs, (dict, list, tuple)):
        keys = list(outputs) if isinstance(outputs, dict) else len(outputs)
        raise ValueError(
            f"Teacher '{teacher_name}' returned several outputs ({keys}); "
            "expected one logits tensor. Wrap it to pick the logits, e.g. "
            "`teacher=lambda x: saved_layer(x)['logits']`."
        )
    return ops.convert_to_tensor(outputs)
