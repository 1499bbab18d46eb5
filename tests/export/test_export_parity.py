"""`compare_exported` reports what the exported file computes; the table shows it."""

import os

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import keras_distill as kd
from keras_distill.src.export.compare import accuracy
from keras_distill.src.export.runtimes import TFLiteRunner
from keras_distill.src.export.runtimes import tflite_quantization


@pytest.fixture(scope="module")
def reports(distiller, digits, exported):
    _, _, x_test, y_test = digits
    return {
        name: kd.compare_exported(distiller, path, x_test, y_test, latency_examples=20)
        for name, path in exported.items()
    }


def test_report_matches_a_numpy_reference(distiller, digits, exported, reports, tflite_predict):
    _, _, x_test, y_test = digits
    report = reports["tflite_float16"]
    keras_logits = keras.ops.convert_to_numpy(distiller.student(x_test))
    tflite_logits = tflite_predict(exported["tflite_float16"], pixels=x_test)["logits"]
    difference = np.abs(tflite_logits.astype("float64") - keras_logits)
    assert report["max_abs_diff"] == pytest.approx(difference.max(), rel=1e-6)
    assert report["mean_abs_diff"] == pytest.approx(difference.mean(), rel=1e-6)
    assert report["keras_accuracy"] == np.mean(np.argmax(keras_logits, -1) == y_test)
    assert report["exported_accuracy"] == np.mean(np.argmax(tflite_logits, -1) == y_test)
    assert report["num_examples"] == len(x_test)
    assert report["runtime"] == "ai_edge_litert"
    assert report["file_size_bytes"] == os.path.getsize(exported["tflite_float16"])
    assert report["keras_latency_ms"] > 0 and report["exported_latency_ms"] > 0


def test_reports_identify_format_and_quantization(reports):
    found = {
        name: (r["format"], r["quantization"], r["int8_io"]) for name, r in reports.items()
    }
    assert found == {
        "keras": ("keras", None, False),
        "saved_model": ("saved_model", None, False),
        "tflite": ("tflite", None, False),
        "tflite_float16": ("tflite", "float16", False),
        "tflite_dynamic": ("tflite", "dynamic", False),
        "tflite_int8": ("tflite", "int8", False),
        "tflite_int8_io": ("tflite", "int8", True),
    }
    assert reports["keras"]["max_abs_diff"] == 0.0
    assert reports["saved_model"]["max_abs_diff"] < 1e-5
    assert reports["tflite"]["max_abs_diff"] < 1e-5


def test_int8_io_runner_quantizes_inputs_and_dequantizes_outputs(digits, exported):
    x_test = digits[2][:4]
    runner = TFLiteRunner(exported["tflite_int8_io"])
    interpreter = Interpreter(model_path=exported["tflite_int8_io"])
    signature = interpreter.get_signature_runner("serving_default")
    (input_details,) = signature.get_input_details().values()
    (output_details,) = signature.get_output_details().values()
    scale, zero_point = input_details["quantization"]
    quantized = np.clip(np.round(x_test / scale + zero_point), -128, 127).astype(np.int8)
    raw = signature(pixels=quantized)["logits"]
    out_scale, out_zero_point = output_details["quantization"]
    expected = (raw.astype("float32") - out_zero_point) * out_scale
    np.testing.assert_allclose(runner.predict({"pixels": x_test})["logits"], expected)
    assert tflite_quantization(interpreter) == "int8"


def test_saved_model_base_directory_is_accepted(distiller, digits, exported):
    base = os.path.dirname(exported["saved_model"])
    report = kd.compare_exported(distiller, base, digits[2][:10], latency_examples=2)
    assert report["path"] == exported["saved_model"]
    assert report["keras_accuracy"] is None and report["exported_accuracy"] is None


def test_parity_table(reports):
    table = kd.format_parity_table(list(reports.values()))
    lines = table.splitlines()
    assert lines[0].startswith("| export") and "max abs diff" in lines[0]
    assert set(lines[1]) == {"|", "-"}
    assert len(lines) == 2 + len(reports)
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "keras", "saved_model", "tflite float32", "tflite float16", "tflite dynamic",
        "tflite int8", "tflite int8 (int8 io)",
    ]
    assert len({len(line) for line in lines}) == 1  # aligned columns
    report = reports["tflite_int8"]
    assert f"{report['exported_accuracy']:.4f}" in lines[-2]
    single = kd.format_parity_table(report).splitlines()[2]
    assert single.split("|") != lines[-2].split("|")  # narrower columns
    assert [c.strip() for c in single.split("|")] == [c.strip() for c in lines[-2].split("|")]


def test_accuracy_reference():
    assert accuracy(np.array([[0.1, 0.9], [2.0, -1.0]]), np.array([1, 1])) == 0.5
    assert accuracy(np.array([[0.1, 0.9], [2.0, -1.0]]), np.array([[0, 1], [1, 0]])) == 1.0
    assert accuracy(np.array([[0.7], [0.2]]), np.array([1, 0])) == 1.0  # probabilities
    assert accuracy(np.array([[-0.7], [3.0]]), np.array([[0], [1]])) == 1.0  # logits
