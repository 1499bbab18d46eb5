import json

import pytest

from benchmarks import tuned

pytest.importorskip("keras_tuner")


def test_tuned_tiny_searches_on_validation_and_scores_every_row(tiny_fashion_mnist, tmp_path):
    paths = {"--data-dir": tiny_fashion_mnist[0], "--cache-dir": tmp_path / "cache",
             "--out": tmp_path / "tuned.json"}
    tuned.main(["--quick", "--tiny"] + [str(part) for item in paths.items() for part in item])
    report = json.loads(paths["--out"].read_text())
    # The teacher never saw the validation images.
    assert report["teacher"]["train_size"] == 640 - 128
    assert list((tmp_path / "cache").glob("teacher_w8_e1_n512.keras"))
    scores = [trial["val_accuracy"] for trial in report["trials"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert report["best"] == report["trials"][0]["values"]
    assert report["best"]["distillation_loss"] in tuned.candidate_losses()
    assert report["best"]["learning_rate"] in tuned.LEARNING_RATES
    # The scratch student's own search tried every learning rate.
    scratch = report["scratch_trials"]
    assert sorted(t["values"]["learning_rate"] for t in scratch) == sorted(tuned.LEARNING_RATES)
    assert [t["val_accuracy"] for t in scratch] == sorted(
        (t["val_accuracy"] for t in scratch), reverse=True)
    assert set(report["results"]) == set(tuned.ROWS)
    for row in tuned.ROWS:
        value = report["results"][row]["accuracies"]["0"]
        assert value * 256 == pytest.approx(round(value * 256)), row
    assert report["best_distilling"]["alpha"] < 1.0
    assert not set(tuned.SEARCHED) & set(tuned.accuracy.METHODS)
    # A row again on the same trials: the same result (fixed seeds), the
    # other rows kept from the file.
    # Marks: the row trained again must replace its own, and the others and
    # the trials must come from the file.
    marked = json.loads(json.dumps(report))
    marked["results"]["ours_tuned"] = {"accuracies": {"0": -1, "7": -1}}
    marked["results"]["scratch"] = {"accuracies": {"0": -2}}
    marked["trials"][-1]["val_accuracy"] = -3
    paths["--out"].write_text(json.dumps(marked))
    arguments = [str(part) for item in paths.items() for part in item]
    again = tuned.main(["--quick", "--tiny", "--reuse-search", "--rows", "ours_tuned"]
                       + arguments)
    assert again["trials"] == marked["trials"]
    assert again["results"] == dict(marked["results"], ours_tuned=report["results"]["ours_tuned"])
    assert json.loads(paths["--out"].read_text())["results"] == again["results"]
    paths["--out"].write_text(json.dumps(dict(marked, epochs=5)))  # Runs of other settings.
    with pytest.raises(SystemExit, match=r"epochs: 5 in the file, 1 now"):
        tuned.main(["--quick", "--tiny", "--reuse-search"] + arguments)
