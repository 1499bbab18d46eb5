import json

import keras
import numpy as np
import pytest

from keras_distill import datasets
from keras_distill.src.cli.main import main

STUDENT_MODULE = '''
import keras


def build_student(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(hidden), name="tiny_student")
'''


def save_mlp(path, input_shape=(8, 8, 1), num_classes=10, activation=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(num_classes, activation=activation),
    ], name="saved_mlp")
    model.save(path)
    return path


def test_distill_from_module_function(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_models.py").write_text(STUDENT_MODULE)
    teacher = save_mlp(tmp_path / "teacher.keras")
    status = main(["distill", "--teacher", str(teacher), "--student", "my_models:build_student",
                   "--epochs", "1", "--labels", "40", "--alpha", "0.2", "--out", "run", "--quiet"])
    assert status == 0
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == ["report.png", "results.json", "student.keras"]
    results = json.loads((out / "results.json").read_text())
    assert list(results["models"]) == ["teacher", "distilled"]
    assert results["settings"]["labels"] == 40
    assert results["settings"]["distillation_loss"] == "KLDivergence"
    assert results["history"]["alpha"] == [pytest.approx(0.2)]
    student = keras.models.load_model(out / "student.keras")
    assert student.name == "tiny_student"
    x, y = datasets.load("digits").arrays("test")
    accuracy = np.mean(np.argmax(student.predict(x, verbose=0), axis=-1) == y)
    assert accuracy == pytest.approx(results["models"]["distilled"]["accuracy"])
    assert "student, distilled" in capsys.readouterr().out


def test_distill_with_a_saved_student_and_a_keras_loss(tmp_path):
    teacher = save_mlp(tmp_path / "teacher.keras")
    student = save_mlp(tmp_path / "student.keras", seed=1)
    status = main(["distill", "--teacher", str(teacher), "--student", str(student),
                   "--distillation-loss", "kl_divergence", "--temperature", "2",
                   "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"])
    assert status == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "keras_kl_divergence" not in results["history"]  # one term: no per-term key
    assert results["history"]["temperature"] == [2.0]
    assert results["models"]["distilled"]["labels"] == 1437
