"""`export_student`: the student alone, as a Keras file, a SavedModel or TFLite."""

import os

import keras

from keras_distill.src.export import saved_model
from keras_distill.src.export import tflite
from keras_distill.src.export.signature import resolve_student
from keras_distill.src.utils.errors import invalid_argument

FORMATS = ("keras", "saved_model", "tflite")
_SUFFIXES = {"keras": ".keras", "tflite": ".tflite"}


def _file_path(path, export_format):
    """`path` with the format's suffix added when it has none; checked otherwise."""
    path = os.fspath(path)
    suffix = _SUFFIXES[export_format]
    extension = os.path.splitext(path)[1]
    if not extension:
        path += suffix
    elif extension != suffix:
        raise invalid_argument(
            "path",
            path,
            f"a path ending in '{suffix}' for format={export_format!r}",
            f"Rename it to '{os.path.splitext(path)[0]}{suffix}'.",
        )
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return path


def _check_backend(export_format):
    if export_format != "keras" and keras.backend.backend() != "tensorflow":
        raise invalid_argument(
            "format",
            export_format,
            "'keras' with the "
            f"{keras.backend.backend()!r} backend (SavedModel and TFLite need TensorFlow)",
            "Set KERAS_BACKEND=tensorflow before importing keras to export to "
            "SavedModel or TFLite, or export format='keras' and convert it there.",
        )


def export_student(
    distiller_or_student,
    path,
    format="keras",
    quantization=None,
    representative_data=None,
    int8_io=False,
    select_tf_ops=False,
):
    """Exports the student of a distillation, never the teacher or adapters.

    Training-time machinery stays behind (the TF Model Optimization
    "wrap, train, strip, export" rule): given a `Distiller`, only
    `distiller.student` is written. Every format has a dynamic batch
    dimension and keeps the student's input and output names.

    Args:
        distiller_or_student: A `keras_distill.Distiller` (its `.student`
            is exported) or a built Keras model.
        path: Where to write. `"keras"`: a `.keras` file. `"tflite"`: a
            `.tflite` file (the suffix is added when `path` has none).
            `"saved_model"`: a TF Serving base directory; the model is
            written to the next version subdirectory (`path/1`, `path/2`,
            ...), or to `path` itself when its last part is an integer.
        format: `"keras"`, `"saved_model"` (serving signature
            `"serving_default"`, loadable with `tf.saved_model.load` and TF
            Serving) or `"tflite"`.
        quantization: TFLite only. `None` (float32), `"float16"`
            (float16 weights), `"dynamic"` (int8 weights, dynamic-range) or
            `"int8"` (full integer, calibrated on `representative_data`).
        representative_data: Required for `quantization="int8"`: real
            inputs as an array (list/dict of arrays for several inputs), a
            `tf.data.Dataset` of `x` or `(x, y)`, or a function returning
            an iterable of `x`. The first 200 examples are used.
        int8_io: With `quantization="int8"`, make the float inputs and
            outputs int8 too (integer-only hardware); else they stay float32.
        select_tf_ops: TFLite only. Allow TensorFlow ops that have no TFLite
            builtin (needs the Flex delegate at run time).

    Returns:
        The path written: the `.keras` or `.tflite` file, or the SavedModel
        version directory (pass it to `tf.saved_model.load`).

    Example:

    ```python
    kd.export_student(distiller, "digits.keras")
    kd.export_student(distiller, "serving/digits", format="saved_model")
    kd.export_student(distiller, "digits_int8.tflite", format="tflite",
                      quantization="int8", representative_data=x_train[:200])
    ```
    """
    if format not in FORMATS:
        raise invalid_argument("format", format, f"one of {list(FORMATS)}")
    tflite.check_quantization(quantization, representative_data, int8_io, format)
    if select_tf_ops and format != "tflite":
        raise invalid_argument(
            "select_tf_ops", select_tf_ops, f"False for format={format!r}",
            "It only applies to format='tflite'.",
        )
    student = resolve_student(distiller_or_student)
    _check_backend(format)
    if format == "saved_model":
        return saved_model.export_saved_model(student, path)
    path = _file_path(path, format)
    if format == "keras":
        student.save(path)
        return path
    return tflite.export_tflite(
        student,
        path,
        quantization=quantization,
        representative_data=representative_data,
        int8_io=int8_io,
        select_tf_ops=select_tf_ops,
    )
