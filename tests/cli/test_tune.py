"""`keras-distill tune` on the bundled digits: a search scored on a
validation split, every trial's student measured, the Pareto front marked."""

import contextlib
import io
import json

import pytest

from keras_distill.src.cli.main import main
from keras_distill.src.cli.tune import pareto_front
from tests.tuning.helpers import objects_frozen_for_gc


def run_command(argv, results_path):
    """Runs the command line; returns `(results.json, what it printed)`."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    with open(results_path) as file:
        return json.load(file), printed.getvalue()

pytest.importorskip("keras_tuner")


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune")
    argv = ["tune", "--trials", "2", "--epochs", "1", "--widths", "4,8", "--batch-size", "256",
            "--out", str(out), "--quiet"]
    with objects_frozen_for_gc():
        return (out, *run_command(argv, out / "results.json"))


def test_every_trial_is_measured_and_scored_on_validation_data(search):
    out, results, _ = search
    num_train = results["dataset"]["num_train"]
    assert results["settings"]["validation_examples"] == round(0.2 * num_train)
    trials = results["trials"]
    assert len(trials) == 2
    assert [t["score"] for t in trials] == sorted((t["score"] for t in trials), reverse=True)
    for trial in trials:
        # The reloaded student is the one the tuner scored on validation data.
        assert trial["val_accuracy"] == pytest.approx(trial["score"], abs=1e-6)
        assert trial["hyperparameters"]["width"] in (4, 8)
        width = trial["hyperparameters"]["width"]
        assert trial["params"] == 64 * width + width + width * 10 + 10  # 8x8 digits, 10 classes.
        assert trial["tflite_bytes"] > 0 and trial["tflite_latency_ms"] > 0
        assert 0.0 <= trial["test_accuracy"] <= 1.0
    assert (out / "tune.png").stat().st_size > 0


def test_the_table_marks_the_pareto_front(search):
    _, results, printed = search
    front = pareto_front(results["trials"])
    assert front and [i for i, t in enumerate(results["trials"]) if t.get("pareto")] == front
    lines = printed.strip().splitlines()
    assert lines[0].split()[:2] == ["loss", "T"]
    assert sum(line.startswith("*  ") for line in lines) == len(front)


def test_pareto_front_keeps_the_rows_no_other_beats_on_size_and_accuracy():
    rows = [{"params": 100, "val_accuracy": 0.9}, {"params": 50, "val_accuracy": 0.8},
            {"params": 200, "val_accuracy": 0.85}, {"params": 50, "val_accuracy": 0.7}]
    assert pareto_front(rows) == [0, 1]
