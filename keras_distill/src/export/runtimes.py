"""Runners for exported files: each maps `{input name: array}` to `{output name: array}`.

- `.keras`: `keras.models.load_model`.
- SavedModel: `tf.saved_model.load(...).signatures["serving_default"]`.
- `.tflite`: the LiteRT interpreter from `ai_edge_litert` when installed,
  else `tf.lite.Interpreter`, through its signature runner. int8 inputs are
  quantized and int8 outputs dequantized with the file's scale/zero point.
"""

import os

import keras
import numpy as np

from keras_distill.src.export.saved_model import SERVING_SIGNATURE
from keras_distill.src.export.saved_model import find_saved_model
from keras_distill.src.export.signature import StudentSignature
from keras_distill.src.export.signature import tensorflow
from keras_distill.src.utils.errors import invalid_argument


def _size_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


class KerasRunner:
    """Runs a Keras model (in memory, or loaded from a `.keras` file)."""

    format = "keras"
    quantization = None
    int8_io = False
    runtime = "keras"

    def __init__(self, model, path=None):
        self.path = path
        self.file_size_bytes = _size_bytes(path) if path else None
        self.signature = StudentSignature(model)
        if keras.backend.backend() == "tensorflow":
            self._function = self.signature.serving_function()
        else:
            self._function = None

    def predict(self, arrays):
        flat = [arrays[name] for name in self.signature.input_names]
        if self._function is not None:
            outputs = self._function(*flat)
        else:
            outputs = dict(zip(self.signature.output_names, self.signature.call(flat)))
        return {name: keras.ops.convert_to_numpy(value) for name, value in outputs.items()}


class SavedModelRunner:
    """Runs the `serving_default` signature of a SavedModel."""

    format = "saved_model"
    quantization = None
    int8_io = False
    runtime = "tf.saved_model"

    def __init__(self, path):
        self.tf = tensorflow()
        self.path = find_saved_model(path)
        self.file_size_bytes = _size_bytes(self.path)
        self._function = self.tf.saved_model.load(self.path).signatures[SERVING_SIGNATURE]

    def predict(self, arrays):
        outputs = self._function(**{name: self.tf.constant(a) for name, a in arrays.items()})
        return {name: value.numpy() for name, value in outputs.items()}


def tflite_interpreter(path):
    """Returns `(interpreter, runtime name)`, preferring `ai_edge_litert`."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "ai_edge_litert"
    except ImportError:
        Interpreter = tensorflow().lite.Interpreter
        runtime = "tf.lite"
    return Interpreter(model_path=path), runtime


def tflite_quantization(interpreter):
    """Infers the quantization mode (`None`, "float16", "dynamic", "int8") of a model."""
    tensor_types = {np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()}
    result_types = {
        np.dtype(dtype)
        for op in interpreter._get_ops_details()
        for dtype in op.get("result_types", [])
    }
    if np.dtype("int8") in result_types:
        return "int8"  # activations are int8
    if np.dtype("int8") in tensor_types:
        return "dynamic"  # int8 weights only
    if np.dtype("float16") in tensor_types:
        return "float16"
    return None


def _scale(details):
    scale, zero_point = details["quantization"]
    return scale, zero_point


class TFLiteRunner:
    """Runs the serving signature of a `.tflite` file."""

    format = "tflite"

    def __init__(self, path):
        self.path = os.fspath(path)
        self.file_size_bytes = _size_bytes(self.path)
        self.interpreter, self.runtime = tflite_interpreter(self.path)
        self._runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        self._inputs = self._runner.get_input_details()
        self._outputs = self._runner.get_output_details()
        self.quantization = tflite_quantization(self.interpreter)
        self.int8_io = any(
            np.dtype(d["dtype"]) == np.int8 for d in {**self._inputs, **self._outputs}.values()
        )

    def _quantize(self, name, array):
        details = self._inputs[name]
        dtype = np.dtype(details["dtype"])
        scale, zero_point = _scale(details)
        if np.issubdtype(dtype, np.integer) and scale and np.issubdtype(array.dtype, np.floating):
            info = np.iinfo(dtype)
            array = np.clip(np.round(array / scale + zero_point), info.min, info.max)
        return array.astype(dtype)

    def _dequantize(self, name, array):
        scale, zero_point = _scale(self._outputs[name])
        if np.issubdtype(array.dtype, np.integer) and scale:
            return (array.astype(np.float32) - zero_point) * scale
        return array

    def predict(self, arrays):
        inputs = {name: self._quantize(name, array) for name, array in arrays.items()}
        outputs = self._runner(**inputs)
        return {name: self._dequantize(name, value) for name, value in outputs.items()}


def load_runner(path):
    """Returns the runner for an exported file, chosen from the path."""
    path = os.fspath(path)
    if path.endswith(".keras") and os.path.isfile(path):
        return KerasRunner(keras.models.load_model(path), path)
    if path.endswith(".tflite") and os.path.isfile(path):
        return TFLiteRunner(path)
    if os.path.isdir(path) and find_saved_model(path):
        return SavedModelRunner(path)
    raise invalid_argument(
        "path",
        path,
        "an existing `.keras` file, `.tflite` file or SavedModel directory "
        "(or its TF Serving base directory)",
        "Pass the path returned by `export_student`.",
    )
