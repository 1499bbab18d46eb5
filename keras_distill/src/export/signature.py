"""The student's serving signature: named inputs, named outputs, dynamic batch.

Every exported format (SavedModel, TFLite) is built from one `tf.function`
whose inputs are the student's inputs, flattened and named after the Keras
inputs (`keras.Input(name=...)`), and whose outputs are a dict keyed by the
student's output names. The batch dimension is always `None`.
"""

import re

import keras
import numpy as np

from keras_distill.src.utils import keras_compat
from keras_distill.src.utils.errors import invalid_argument

_INVALID_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\-]")


def tensorflow():
    """Imports TensorFlow lazily, with the install line when it is missing."""
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - TF is in the test extras
        raise ImportError(
            "Exporting to SavedModel or TFLite needs TensorFlow. Install it with "
            '`pip install "keras-distill[export]"` (or `pip install tensorflow`).'
        ) from error
    return tf


def resolve_student(distiller_or_student, argument="distiller_or_student"):
    """Returns the student model: `.student` of a Distiller, else the model.

    Any object with a `student` attribute that is a Keras model (our
    `Distiller`, `keras.distillation.Distiller`) gives its student, so the
    teacher and adapters can never reach an exported file.
    """
    student = getattr(distiller_or_student, "student", None)
    if isinstance(student, keras.Model):
        return student
    if isinstance(distiller_or_student, keras.Model):
        return distiller_or_student
    raise invalid_argument(
        argument,
        distiller_or_student,
        "a `keras_distill.Distiller` (its `.student` is exported) or a Keras model",
        "Pass the trained Distiller or `distiller.student`.",
    )


def _sanitize(name):
    return _INVALID_NAME_CHARACTERS.sub("_", str(name)) or "x"


def _unique(names):
    seen = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}_{count}")
    return unique


class StudentSignature:
    """Input and output names and specs of a built student.

    Attributes:
        student: The Keras model.
        input_names: One name per flat input, in flat order.
        input_shapes: One shape per flat input, batch dimension `None`.
        input_dtypes: One dtype string per flat input.
        output_names: One name per flat output, in flat order.
    """

    def __init__(self, student):
        if not student.built:
            raise invalid_argument(
                "student",
                student.name,
                "a built model",
                "Build the student first: create it with `keras.Input`, or call it "
                "once on a batch (e.g. `student(x[:1])`).",
            )
        try:
            self._structure = keras_compat.get_input_signature(student)
        except (TypeError, ValueError) as error:
            raise invalid_argument(
                "student",
                student.name,
                "a model whose input shapes are known",
                "Build it with `keras.Input`, or call it once on a batch before export.",
            ) from error
        self.student = student
        paths_and_specs = keras.tree.flatten_with_path(self._structure)
        specs = [spec for _, spec in paths_and_specs]
        self.input_shapes = [(None,) + tuple(spec.shape[1:]) for spec in specs]
        self.input_dtypes = [keras.backend.standardize_dtype(spec.dtype) for spec in specs]
        names = []
        for index, (path, spec) in enumerate(paths_and_specs):
            keys = [str(key) for key in path if isinstance(key, str)]
            # Dict inputs are named by their keys, others by `keras.Input(name=...)`.
            names.append("_".join(keys) or getattr(spec, "name", None) or f"input_{index}")
        self.input_names = _unique([_sanitize(name) for name in names])
        self.output_names = self._output_names(student)

    def _output_names(self, student):
        if isinstance(student, keras.Sequential):
            return [_sanitize(student.layers[-1].name)]
        if isinstance(student, keras.Model) and hasattr(student, "_outputs_struct"):
            outputs = student.output  # Functional: the symbolic output structure.
        else:  # Subclassed: one call on zeros reveals the output structure.
            outputs = self._call_structure(
                [np.zeros((1,) + shape[1:], dtype)
                 for shape, dtype in zip(self.input_shapes, self.input_dtypes)]
            )
        paths = [path for path, _ in keras.tree.flatten_with_path(outputs)]
        if isinstance(outputs, dict):
            names = ["_".join(str(key) for key in path) for path in paths]
        else:
            names = list(getattr(student, "output_names", None) or [])
            if len(names) != len(paths):
                names = [f"output_{index}" for index in range(len(paths))]
        return _unique([_sanitize(name) for name in names])

    def _call_structure(self, flat_inputs, training=False):
        arguments = keras.tree.pack_sequence_as(self._structure, list(flat_inputs))
        return self.student(*arguments, training=training)

    def call(self, flat_inputs, training=False):
        """Runs the student on flat inputs; returns its flat outputs."""
        return keras.tree.flatten(self._call_structure(flat_inputs, training))

    def serving_function(self):
        """A `tf.function`: named inputs (batch `None`) -> dict of named outputs."""
        tf = tensorflow()
        specs = [
            tf.TensorSpec(shape, dtype, name=name)
            for name, shape, dtype in zip(self.input_names, self.input_shapes, self.input_dtypes)
        ]

        @tf.function(input_signature=specs)
        def serve(*flat_inputs):
            flat_outputs = self.call(flat_inputs, training=False)
            return dict(zip(self.output_names, flat_outputs))

        return serve

    def flatten_inputs(self, x, argument="x"):
        """Returns `{input name: numpy array}` from an array, list or dict.

        Args:
            x: An array (one input), a list/tuple in the order of the
                student's inputs, or a dict keyed by input name.
            argument: Argument name used in error messages.
        """
        if isinstance(x, dict):
            missing = sorted(set(self.input_names) - set(x))
            extra = sorted(set(x) - set(self.input_names))
            if missing or extra:
                raise invalid_argument(
                    argument,
                    f"dict with keys {sorted(x)}",
                    f"a dict with exactly the keys {self.input_names}",
                    "Key the arrays by the student's input names (`keras.Input(name=...)`).",
                )
            flat = [x[name] for name in self.input_names]
        elif isinstance(x, (list, tuple)):
            flat = list(x)
        else:
            flat = [x]
        if len(flat) != len(self.input_names):
            raise invalid_argument(
                argument,
                f"{len(flat)} array(s)",
                f"{len(self.input_names)} array(s), one per input {self.input_names}",
                "Pass a list in input order or a dict keyed by input name.",
            )
        arrays = {}
        for name, value, shape, dtype in zip(
            self.input_names, flat, self.input_shapes, self.input_dtypes
        ):
            array = np.asarray(keras.ops.convert_to_numpy(value)).astype(dtype)
            if array.ndim != len(shape) or any(
                expected is not None and expected != got
                for expected, got in zip(shape[1:], array.shape[1:])
            ):
                raise invalid_argument(
                    argument,
                    f"an array of shape {tuple(array.shape)} for input '{name}'",
                    f"shape {shape} (any batch size)",
                    "Check that the data matches the student's input.",
                )
            arrays[name] = array
        return arrays
