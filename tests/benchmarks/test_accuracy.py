import json

import keras
import numpy as np
import pytest

from benchmarks import accuracy
from benchmarks import common
from benchmarks import cross_fit


def test_read_idx_round_trips_plain_and_gzip(tiny_fashion_mnist):
    directory, (x, y), (x_test, y_test) = tiny_fashion_mnist
    (x_read, y_read), (x_test_read, y_test_read) = common.load_fashion_mnist(
        str(directory))
    np.testing.assert_allclose(x_read[..., 0], x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_read, y)
    np.testing.assert_allclose(x_test_read[..., 0], x_test / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_test_read, y_test)
    assert x_read.shape == (640, 28, 28, 1) and x_read.dtype == np.float32


def test_read_idx_rejects_other_files(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="Invalid IDX file"):
        common.read_idx(str(path))


def test_labeled_split_is_balanced_and_disjoint():
    y = np.arange(1000) % 10
    labeled, unlabeled = accuracy.labeled_split(y, 100)
    np.testing.assert_array_equal(np.bincount(y[labeled]), [10] * 10)
    assert len(np.intersect1d(labeled, unlabeled)) == 0
    assert len(labeled) + len(unlabeled) == 1000


def test_validation_split_is_disjoint_and_fixed():
    train, val = accuracy.validation_split(100, 10)
    assert len(val) == 10 and len(train) == 90
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(accuracy.validation_split(100, 10)[1], val)


def test_validation_mode_scores_on_held_out_training_images(tiny_fashion_mnist):
    directory, (x, y), _ = tiny_fashion_mnist
    args = accuracy.parse_args(["--quick", "--tiny", "--validation", "--data-dir", str(directory)])
    x_train, y_train, x_val, y_val = accuracy.load_data(args)
    train, val = accuracy.validation_split(640, 128)
    np.testing.assert_allclose(x_val[..., 0], x[val] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_val, y[val])
    np.testing.assert_array_equal(y_train, y[train])
    assert len(x_train) == 512


def test_accuracy_tiny_runs_every_setting(tiny_fashion_mnist, tmp_path):
    directory = tiny_fashion_mnist[0]
    out = tmp_path / "accuracy.json"
    accuracy.main(["--quick", "--tiny", "--data-dir", str(directory),
                   "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"a", "c"}
    for setting in ("a", "c"):
        results = report["results"][setting]
        assert set(results) == set(accuracy.METHODS)
        for method, entry in results.items():
            if (setting, method) == ("c", "ours_dkd"):
                # DKD needs a label per example; c is mostly unlabeled.
                assert "hard label" in entry["skipped"]
                continue
            assert "skipped" not in entry, (method, entry.get("skipped"))
            accuracy_value = entry["accuracies"]["0"]
            # A fraction of the 256 test images; with every label, the plain
            # recipes learn the bright row that marks each class in one epoch
            # (chance is 0.1).
            assert accuracy_value * 256 == pytest.approx(round(accuracy_value * 256)), method
            if setting == "a" and method in ("scratch", "ours_kl", "builtin_kl"):
                assert accuracy_value > 0.5, (method, accuracy_value)
        # The built-in given a KLDivergence instance and our KL compute the
        # same loss from the same initial weights and batches.
        assert results["builtin_kl"]["accuracies"]["0"] == pytest.approx(
            results["ours_kl"]["accuracies"]["0"], abs=0.02)


def test_fold_indices_partition_the_training_images():
    folds = cross_fit.fold_indices(10, 3)
    assert [len(fold) for fold in folds] == [4, 3, 3]
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(10))
    with pytest.raises(ValueError, match="folds=1"):
        cross_fit.fold_indices(10, 1)


def test_out_of_fold_logits_come_from_the_teacher_that_did_not_train_on_them(
        tiny_fashion_mnist, tmp_path, monkeypatch):
    directory = tiny_fashion_mnist[0]
    args = accuracy.parse_args(["--quick", "--tiny", "--validation", "--data-dir", str(directory),
                                "--cache-dir", str(tmp_path)])
    x, y, x_val, _ = accuracy.load_data(args)
    trained_on = []
    get_teacher = accuracy.get_teacher

    def spy(args, x_train, *rest, **kwargs):
        trained_on.append({row.tobytes() for row in x_train})
        return get_teacher(args, x_train, *rest, **kwargs)

    monkeypatch.setattr(accuracy, "get_teacher", spy)
    logits, (val_logits,) = cross_fit.out_of_fold_logits(args, x, y, 2, others=[x_val])
    for k, held_out in enumerate(cross_fit.fold_indices(len(x), 2)):
        seen = {row.tobytes() for row in x[held_out]}
        assert not seen & trained_on[k] and len(trained_on[k]) == len(x) - len(held_out)
    teachers = [keras.models.load_model(tmp_path / f"teacher_w8_e1_n256_fold{k}of2.keras")
                for k in range(2)]
    for k, held_out in enumerate(cross_fit.fold_indices(len(x), 2)):
        np.testing.assert_allclose(logits[held_out], teachers[k].predict(x[held_out], verbose=0),
                                   rtol=1e-5, atol=1e-5)
    mean = sum(teacher.predict(x_val, verbose=0) for teacher in teachers) / 2
    np.testing.assert_allclose(val_logits, mean, rtol=1e-5, atol=1e-5)


def test_resume_refuses_a_file_of_other_settings(tmp_path):
    path = tmp_path / "runs.json"
    earlier = {"epochs": 10, "teacher": {"epochs": 20}, "results": {"a": {}}}  # No "folds".
    common.write_json(str(path), earlier)
    keys, defaults = ("epochs", "teacher.epochs", "teacher.folds"), {"teacher.folds": 1}
    same = {"epochs": 10, "teacher": {"epochs": 20, "folds": 1}}
    assert common.resumed(str(path), same, keys, defaults) == earlier
    with pytest.raises(SystemExit, match=r"teacher.folds: 1 in the file, 2 now"):
        common.resumed(str(path), {"epochs": 10, "teacher": {"epochs": 20, "folds": 2}}, keys,
                       defaults)
    assert common.resumed(str(tmp_path / "none.json"), same, keys, defaults) == {}
    # Without a default, a key the file lacks differs from any value.
    with pytest.raises(SystemExit, match=r"teacher.folds: None in the file, 1 now"):
        common.resumed(str(path), same, keys)
