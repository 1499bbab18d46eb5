import contextlib
import io
import json

import keras
import numpy as np
import pytest
from matplotlib import image

from keras_distill.export import compare_exported
from keras_distill.src.cli.main import main
from keras_distill.src.cli.report import REPORT_SIZE

# Pinned: removing or adding a field of results.json is a deliberate diff.
RESULT_FIELDS = ["command", "argv", "versions", "dataset", "settings", "models",
                 "history", "tflite", "seconds"]
MODEL_FIELDS = ["title", "architecture", "labels", "accuracy", "params", "file",
                "file_size_bytes"]
MODELS = ["teacher", "scratch", "scratch_all_labels", "distilled", "distilled_tflite"]
TFLITE_FIELDS = ["format", "quantization", "int8_io", "runtime", "path", "file_size_bytes",
                 "num_examples", "max_abs_diff", "mean_abs_diff", "keras_accuracy",
                 "exported_accuracy", "keras_latency_ms", "exported_latency_ms"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    argv = ["demo", "--epochs", "2", "--labels", "30", "--temperature", "4:1",
            "--out", str(out), "--quiet"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    with open(out / "results.json") as file:
        return out, json.load(file), printed.getvalue()


def test_demo_writes_every_file(demo):
    out, _, _ = demo
    assert sorted(path.name for path in out.iterdir()) == [
        "report.png", "results.json", "student.keras", "student.tflite", "teacher.keras"]


def test_results_json_has_every_field(demo):
    _, results, _ = demo
    assert list(results) == RESULT_FIELDS
    assert list(results["models"]) == MODELS
    for entry in results["models"].values():
        assert list(entry) == MODEL_FIELDS
        assert 0.0 <= entry["accuracy"] <= 1.0
    assert list(results["tflite"]) == TFLITE_FIELDS
    assert results["dataset"] == {"name": "digits", "source": "scikit-learn", "num_classes": 10,
                                  "input_shape": [8, 8, 1], "num_train": 1437, "num_test": 360}
    assert results["settings"] == {"epochs": 2, "batch_size": 64, "learning_rate": 0.01,
                                   "temperature": "4:1", "alpha": 0.5, "labels": 30, "seed": 0}
    assert [results["models"][key]["labels"] for key in MODELS] == [1437, 30, 1437, 30, 30]
    assert set(results["seconds"]) == {"teacher", "scratch", "scratch_all_labels",
                                       "distilled", "save_and_export", "total"}
    assert results["argv"][0] == "demo"


def test_temperature_schedule_is_logged_per_epoch(demo):
    _, results, _ = demo
    # 23 steps per epoch; linear from 4 at step 0 to 1 at step 45.
    np.testing.assert_allclose(results["history"]["temperature"],
                               [4 - 3 * 22 / 45, 1.0], rtol=1e-5)
    assert len(results["history"]["val_accuracy"]) == 2


def test_saved_student_matches_reported_accuracy_and_tflite(demo):
    out, results, _ = demo
    from keras_distill import datasets

    student = keras.models.load_model(out / "student.keras")
    x, y = datasets.load("digits").arrays("test")
    accuracy = np.mean(np.argmax(student.predict(x, verbose=0), axis=-1) == y)
    assert accuracy == pytest.approx(results["models"]["distilled"]["accuracy"])
    assert student.count_params() == results["models"]["distilled"]["params"] == 1210
    parity = compare_exported(student, str(out / "student.tflite"), x, y, latency_examples=3)
    assert parity["max_abs_diff"] < 1e-4
    assert parity["exported_accuracy"] == pytest.approx(results["tflite"]["exported_accuracy"])
    size = (out / "student.tflite").stat().st_size
    assert results["models"]["distilled_tflite"]["file_size_bytes"] == size
    teacher = keras.models.load_model(out / "teacher.keras", compile=False)
    assert teacher.count_params() == results["models"]["teacher"]["params"]


def test_report_png_opens_at_its_size(demo):
    out, _, _ = demo
    pixels = image.imread(out / "report.png")
    width, height = REPORT_SIZE
    assert pixels.shape == (height, width, 4)
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_quiet_demo_prints_only_the_tables(demo):
    _, results, printed = demo
    lines = printed.strip().splitlines()
    assert lines[0].startswith("digits: 1,437 training / 360 test examples, 2 epochs, T=4:1")
    assert lines[1].split() == ["model", "labels", "accuracy", "params", "file"]
    distilled = results["models"]["distilled"]
    assert lines[6].startswith("student, distilled ")
    assert f"{100 * distilled['accuracy']:.1f}%" in lines[6]
    assert "student.tflite" in lines[7]
    assert lines[9].startswith("| export") and lines[11].startswith("| tflite float32")
    assert len(lines) == 12
