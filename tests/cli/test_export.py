import json

import keras
import numpy as np
import pytest

from keras_distill.src.cli.main import main


@pytest.fixture
def student_path(tmp_path):
    keras.utils.set_random_seed(0)
    # 64 x 64 weights: large enough for TFLite's dynamic-range quantization.
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)], name="student")
    path = tmp_path / "student.keras"
    model.save(path)
    return path


def test_export_tflite_dynamic_and_saved_model(tmp_path, student_path, capsys):
    out = tmp_path / "exported"
    status = main(["export", str(student_path), "--format", "tflite", "saved_model",
                   "--quantization", "dynamic", "--dataset", "digits", "--samples", "50",
                   "--out", str(out), "--quiet"])
    assert status == 0
    assert (out / "student_dynamic.tflite").is_file()
    assert (out / "student_saved_model" / "1" / "saved_model.pb").is_file()
    reports = json.loads((out / "parity.json").read_text())
    assert [(r["format"], r["quantization"]) for r in reports] == [
        ("tflite", "dynamic"), ("saved_model", None)]
    assert all(r["num_examples"] == 50 for r in reports)
    assert reports[1]["max_abs_diff"] < 1e-5  # SavedModel runs the same float32 graph
    assert 0 < reports[0]["max_abs_diff"] < 0.1  # int8 weights: close, not equal
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| export") and len(table) == 4
    assert table[2].startswith("| tflite dynamic") and table[3].startswith("| saved_model")


def test_export_on_random_inputs_without_a_dataset(tmp_path, student_path):
    out = tmp_path / "exported"
    assert main(["export", str(student_path), "--samples", "20", "--out", str(out),
                 "--quiet"]) == 0
    (report,) = json.loads((out / "parity.json").read_text())
    assert report["num_examples"] == 20 and report["keras_accuracy"] is None
    assert report["max_abs_diff"] < 1e-5
    np.testing.assert_equal(report["file_size_bytes"], (out / "student.tflite").stat().st_size)


def test_int8_needs_a_dataset(tmp_path, student_path, capsys):
    status = main(["export", str(student_path), "--quantization", "int8",
                   "--out", str(tmp_path)])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "keras-distill export: error: --quantization int8 needs --dataset: "
        "its training inputs calibrate it")
