"""TFLite (LiteRT) export: float32, float16, dynamic-range int8 and full int8.

The student is written as a SavedModel with one serving signature (named
inputs, dynamic batch) and converted with `tf.lite.TFLiteConverter`, so the
`.tflite` file keeps the same input and output names
(`interpreter.get_signature_runner()(image=x)["logits"]`).

Quantization (https://ai.google.dev/edge/litert/models/post_training_quantization):

- `None`: float32 weights and activations; outputs match Keras to ~1e-6.
- `"float16"`: float16 weights, float32 compute; ~2x smaller.
- `"dynamic"`: int8 weights, activations quantized on the fly; ~4x smaller.
- `"int8"`: int8 weights and activations, calibrated on `representative_data`;
  `int8_io=True` also makes the inputs and outputs int8 (for integer-only
  accelerators such as the Edge TPU), else they stay float32.
"""

import tempfile
import warnings

import keras
import numpy as np

from keras_distill.src.export.conversion_error import conversion_error
from keras_distill.src.export.conversion_error import unsupported_ops
from keras_distill.src.export.saved_model import SERVING_SIGNATURE
from keras_distill.src.export.saved_model import write_saved_model
from keras_distill.src.export.signature import StudentSignature
from keras_distill.src.export.signature import tensorflow
from keras_distill.src.utils.errors import invalid_argument

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
# Examples used to calibrate full-integer quantization (LiteRT suggests 100-500).
CALIBRATION_EXAMPLES = 200


def _leaves_as_batch(element, signature):
    """Numpy leaves of `element`, with a batch axis added to unbatched data."""
    element = keras.tree.map_structure(
        lambda leaf: np.asarray(keras.ops.convert_to_numpy(leaf)), element
    )
    first = keras.tree.flatten(element)[0]
    if first.ndim == len(signature.input_shapes[0]) - 1:
        element = keras.tree.map_structure(lambda leaf: leaf[None], element)
    if isinstance(element, tuple):
        element = list(element)
    return element


def _batches(representative_data):
    """Yields input structures (batches of x) from any supported source."""
    tf = tensorflow()
    if isinstance(representative_data, tf.data.Dataset):
        for element in representative_data:
            if isinstance(element, tuple):
                element = keras.utils.unpack_x_y_sample_weight(element)[0]
            yield element
    elif callable(representative_data):
        yield from representative_data()
    else:
        yield representative_data


def calibration_examples(signature, representative_data, limit=CALIBRATION_EXAMPLES):
    """Returns up to `limit` examples as `{input name: array of batch 1}` dicts.

    Args:
        signature: The student's `StudentSignature`.
        representative_data: An array (or list/dict of arrays, one per
            input) of examples; a `tf.data.Dataset` of `x` or `(x, y)`,
            batched or not; or a function returning an iterable of `x`.
        limit: Maximum number of examples.
    """
    examples = []
    for batch in _batches(representative_data):
        arrays = signature.flatten_inputs(
            _leaves_as_batch(batch, signature), argument="representative_data"
        )
        size = len(next(iter(arrays.values())))
        for index in range(size):
            examples.append({name: array[index : index + 1] for name, array in arrays.items()})
            if len(examples) >= limit:
                return examples
    if not examples:
        raise invalid_argument(
            "representative_data",
            representative_data,
            "at least one example",
            "Pass a few hundred real training inputs, e.g. `representative_data=x_train[:200]`.",
        )
    return examples


def _configure(converter, tf, quantization, calibration, int8_io, select_tf_ops):
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        converter.representative_dataset = lambda: iter(calibration)
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    ops = [builtins]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops


def convert_to_tflite(
    student,
    quantization=None,
    representative_data=None,
    int8_io=False,
    select_tf_ops=False,
):
    """Converts a built student to TFLite flatbuffer bytes.

    Arguments are checked by `export_student`, which calls this function.
    """
    tf = tensorflow()
    signature = StudentSignature(student)
    calibration = None
    if quantization == "int8":
        calibration = calibration_examples(signature, representative_data)
    with tempfile.TemporaryDirectory() as directory:
        write_saved_model(signature, directory)

        def convert(with_select_tf_ops):
            converter = tf.lite.TFLiteConverter.from_saved_model(
                directory, signature_keys=[SERVING_SIGNATURE]
            )
            _configure(converter, tf, quantization, calibration, int8_io, with_select_tf_ops)
            with warnings.catch_warnings():
                # The converter's own calibrator still uses tf.lite.Interpreter.
                warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter is deprecated")
                return converter.convert()

        try:
            return convert(select_tf_ops)
        except Exception as error:  # ConverterError and its MLIR diagnostics
            without_kernel = None
            if unsupported_ops(str(error)) and not select_tf_ops:
                # Retry with TensorFlow Select to tell which ops it would run.
                try:
                    convert(True)
                    without_kernel = []
                except Exception as select_error:
                    without_kernel = unsupported_ops(str(select_error)) or None
            raise conversion_error(str(error), student.name, without_kernel) from error


def export_tflite(student, path, **options):
    """Writes the converted student to `path`; returns `path`."""
    content = convert_to_tflite(student, **options)
    with open(path, "wb") as file:
        file.write(content)
    return path


def check_quantization(quantization, representative_data, int8_io, export_format):
    """Validates the quantization arguments before any conversion starts."""
    if quantization not in QUANTIZATIONS:
        raise invalid_argument(
            "quantization", quantization, f"one of {list(QUANTIZATIONS)}"
        )
    if quantization is not None and export_format != "tflite":
        raise invalid_argument(
            "quantization",
            quantization,
            f"None for format={export_format!r}",
            "Quantization applies to TFLite: pass format='tflite'.",
        )
    if quantization == "int8" and representative_data is None:
        raise invalid_argument(
            "representative_data",
            None,
            "real input examples when quantization='int8'",
            "Full-integer quantization calibrates activation ranges on real inputs: "
            "pass e.g. `representative_data=x_train[:200]` (an array, a tf.data.Dataset "
            "or a generator function), or use quantization='dynamic', which needs no data.",
        )
    if quantization != "int8" and representative_data is not None:
        raise invalid_argument(
            "representative_data",
            type(representative_data).__name__,
            f"None with quantization={quantization!r}",
            "It is only used to calibrate quantization='int8'.",
        )
    if int8_io and quantization != "int8":
        raise invalid_argument(
            "int8_io",
            int8_io,
            f"False with quantization={quantization!r}",
            "int8 inputs and outputs need full-integer quantization: quantization='int8'.",
        )
