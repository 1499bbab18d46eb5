"""Resume after SIGKILL with keras_distill.callbacks.BackupAndRestore."""

import json
import signal

import h5py
import numpy as np
import pytest

import keras_distill as kd
from tests.scale.scale_helpers import run_worker

KILLED = -signal.SIGKILL


def _committed(backup_dir):
    """The committed checkpoint: metadata and a readable weights file."""
    metadata = json.loads((backup_dir / "training_metadata.json").read_text())
    weights = backup_dir / metadata["weights"]
    assert h5py.is_hdf5(weights)
    with h5py.File(weights, "r") as file:
        assert "optimizer" in file and "layers" in file
    return metadata


def test_killed_twice_resumes_to_the_uninterrupted_weights(tmp_path):
    """3 epochs x 6 batches, a save every 2 batches (Adam, a temperature
    schedule and Dropout, so optimizer, step and random states all matter).

    Run 1 dies in the middle of writing its 3rd checkpoint (after batch 6),
    leaving a torn file: the committed checkpoint is still the 2nd (epoch
    0, 4 batches). Run 2 resumes there and dies after global step 9 (epoch
    1, batch 3 of 6); the last checkpoint is epoch 1 after 2 batches. Run 3
    resumes mid-epoch, finishes, and must match an uninterrupted run bit
    for bit.
    """
    backup, out = tmp_path / "backup", tmp_path / "out.npz"
    worker = "scale_worker_resume.py"

    run_worker(worker, backup, out, "--tear-save", 3, expect_returncode=KILLED)
    assert _committed(backup) | {"random_states": None} == {
        "epoch": 0,
        "batches_done": 4,
        "weights": "epoch000000-batch00000004.weights.h5",
        "random_states": None,
    }
    assert (backup / "staging.weights.h5").exists()  # The torn write.
    with pytest.raises(OSError, match="truncated"):
        h5py.File(backup / "staging.weights.h5", "r")

    run_worker(worker, backup, out, "--kill-at-step", 9, expect_returncode=KILLED)
    metadata = _committed(backup)
    assert (metadata["epoch"], metadata["batches_done"]) == (1, 2)
    assert sorted(path.name for path in backup.iterdir()) == [
        "epoch000001-batch00000002.weights.h5",
        "training_metadata.json",
    ]

    run_worker(worker, backup, out)
    result = np.load(out)
    assert (int(result["restored_epoch"]), int(result["restored_batches"])) == (1, 2)
    assert int(result["iterations"]) == 18  # Not 20: no batch ran twice.
    assert float(result["temperature"]) == float(result["reference_temperature"])
    assert not result["backup_dir_left"]
    for index in range(4):
        np.testing.assert_array_equal(
            result[f"resumed_{index}"], result[f"reference_{index}"]
        )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(backup_dir=""), "backup_dir"),
        (dict(backup_dir="gs://bucket/backup"), "local directory"),
        (dict(backup_dir="/tmp/b", save_freq=0), "save_freq"),
        (dict(backup_dir="/tmp/b", save_freq="step"), "save_freq"),
    ],
)
def test_invalid_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        kd.callbacks.BackupAndRestore(**arguments)
