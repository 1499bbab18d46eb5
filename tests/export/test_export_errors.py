"""Export arguments are checked before any conversion; converter failures name the op."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.export import ConversionError


@pytest.fixture(scope="module")
def student():
    return keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(3)], name="tiny")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"format": "onnx"}, "Received: format='onnx'. Expected one of"),
        ({"format": "tflite", "quantization": "int4"}, "Received: quantization='int4'"),
        ({"format": "saved_model", "quantization": "float16"}, "pass format='tflite'"),
        ({"format": "tflite", "quantization": "int8"}, "representative_data=x_train"),
        (
            {"format": "tflite", "quantization": "dynamic", "representative_data": [[0.0] * 4]},
            "only used to calibrate quantization='int8'",
        ),
        ({"format": "tflite", "int8_io": True}, "need full-integer quantization"),
        ({"format": "keras", "select_tf_ops": True}, "only applies to format='tflite'"),
    ],
)
def test_invalid_arguments_are_named(student, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kd.export_student(student, tmp_path / "model", **kwargs)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="Received: distiller_or_student='teacher'"):
        kd.export_student("teacher", tmp_path / "model.keras")


def test_wrong_suffix_names_the_fix(student, tmp_path):
    with pytest.raises(ValueError, match=r"Rename it to '.*model\.tflite'"):
        kd.export_student(student, tmp_path / "model.keras", format="tflite")


def test_unbuilt_student_is_rejected(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(3)], name="unbuilt")
    with pytest.raises(ValueError, match="Build the student first"):
        kd.export_student(unbuilt, tmp_path / "model", format="tflite")


def test_representative_data_with_wrong_shape(student, tmp_path):
    with pytest.raises(ValueError, match=r"shape \(None, 4\)"):
        kd.export_student(
            student, tmp_path / "model", format="tflite", quantization="int8",
            representative_data=np.zeros((8, 5), "float32"),
        )


def test_empty_representative_data(student, tmp_path):
    with pytest.raises(ValueError, match="at least one example"):
        kd.export_student(
            student, tmp_path / "model", format="tflite", quantization="int8",
            representative_data=lambda: iter([]),
        )


def _lambda_model(function):
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, keras.layers.Lambda(function, name="special")(inputs))


def test_op_that_tensorflow_select_runs_suggests_select_tf_ops(tmp_path):
    model = _lambda_model(keras.ops.erf)  # no TFLite builtin, but a Select kernel
    with pytest.raises(ConversionError) as error:
        kd.export_student(model, tmp_path / "model", format="tflite")
    message = str(error.value)
    assert "op(s) Erf (at " in message and "special" in message.split("(at ")[1]
    assert "pass `select_tf_ops=True`" in message and "neither" not in message
    assert not (tmp_path / "model.tflite").exists()
    path = kd.export_student(model, tmp_path / "model", format="tflite", select_tf_ops=True)
    assert path.endswith("model.tflite") and (tmp_path / "model.tflite").stat().st_size > 0


def test_op_without_any_kernel_says_replace_the_layer(tmp_path):
    model = _lambda_model(keras.ops.erfinv)  # neither a builtin nor a Select kernel
    with pytest.raises(ConversionError, match=r"op\(s\) Erfinv \(at .*special.*\) have neither"):
        kd.export_student(model, tmp_path / "model", format="tflite")
    with pytest.raises(ConversionError, match="replace the layers that use them"):
        kd.export_student(model, tmp_path / "model", format="tflite", select_tf_ops=True)


def test_compare_rejects_inputs_that_do_not_match(student, tmp_path):
    path = kd.export_student(student, tmp_path / "model", format="keras")
    with pytest.raises(ValueError, match=r"exactly the keys \['x'\]"):
        kd.compare_exported(student, path, {"y": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="an existing `.keras` file"):
        kd.compare_exported(student, tmp_path / "missing.tflite", np.zeros((2, 4)))
