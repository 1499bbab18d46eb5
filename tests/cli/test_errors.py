import os
import subprocess
import sys

import keras
import pytest

from keras_distill.src.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_main(argv, capsys):
    status = main(argv)
    err = capsys.readouterr().err.strip()
    return status, err


def assert_one_line_error(status, err, command, *fragments):
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"keras-distill {command}: error: ")
    for fragment in fragments:
        assert fragment in err


def test_unknown_dataset(capsys, tmp_path):
    status, err = run_main(["demo", "--dataset", "cifar", "--out", str(tmp_path)], capsys)
    assert_one_line_error(status, err, "demo", "dataset='cifar'", "tfds:NAME")


def test_missing_teacher_file(capsys, tmp_path):
    missing = str(tmp_path / "nope.keras")
    status, err = run_main(["distill", "--teacher", missing, "--student", "x.keras"], capsys)
    assert_one_line_error(status, err, "distill", f"--teacher: no such file: {missing}")


def _save(path, input_shape, units, activation=None):
    keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                      keras.layers.Dense(units, activation=activation)]).save(path)
    return str(path)


@pytest.mark.parametrize(
    "input_shape, units, activation, fragment",
    [
        ((4,), 10, None, "takes inputs of shape (4,) but the dataset's are (8, 8, 1)"),
        ((8, 8, 1), 3, None, "outputs (None, 3) but the dataset has 10 classes"),
        ((8, 8, 1), 10, "softmax", "ends in a softmax; distillation needs logits"),
    ],
)
def test_teacher_that_does_not_fit_the_dataset(capsys, tmp_path, input_shape, units,
                                                activation, fragment):
    teacher = _save(tmp_path / "teacher.keras", input_shape, units, activation)
    student = _save(tmp_path / "student.keras", (8, 8, 1), 10)
    status, err = run_main(["distill", "--teacher", teacher, "--student", student,
                            "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(status, err, "distill", "--teacher: ", fragment)
    assert not (tmp_path / "run").exists()


def test_unknown_distillation_loss(capsys, tmp_path):
    model = _save(tmp_path / "m.keras", (8, 8, 1), 10)
    status, err = run_main(["distill", "--teacher", model, "--student", model,
                            "--distillation-loss", "nope"], capsys)
    assert_one_line_error(status, err, "distill", "unknown loss 'nope'", "KLDivergence")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["demo", "--temperature", "0"], "argument --temperature: expected values > 0"),
        (["demo", "--alpha", "1.5"], "argument --alpha: expected values >= 0 and <= 1"),
        (["demo", "--epochs", "zero"], "argument --epochs: expected an integer"),
        (["export"], "the following arguments are required: model"),
    ],
)
def test_bad_options_exit_with_one_line(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"keras-distill {argv[0]}: error: ") and fragment in err


def test_label_budget_larger_than_the_dataset(capsys, tmp_path):
    status, err = run_main(["demo", "--labels", "5000", "--out", str(tmp_path)], capsys)
    assert_one_line_error(status, err, "demo", "--labels 5000 is more than the 1,437")


@pytest.mark.parametrize("command", ["demo", "distill", "export"])
def test_help_shows_an_example(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  keras-distill {command} " in out


def test_top_level_help_shows_one_example_per_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "distill", "export"):
        assert f"\n  keras-distill {command}" in out


def test_python_dash_m_exits_non_zero_with_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    missing = str(tmp_path / "missing.keras")
    process = subprocess.run(
        [sys.executable, "-m", "keras_distill", "export", missing],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert process.returncode == 2
    ours = [line for line in process.stderr.splitlines() if line.startswith("keras-distill")]
    assert ours == [f"keras-distill export: error: model: no such file: {missing}"]
