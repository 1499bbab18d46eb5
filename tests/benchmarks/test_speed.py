import json

from benchmarks import speed


def test_speed_tiny_measures_every_row(tmp_path):
    out = tmp_path / "speed.json"
    speed.main(["--quick", "--tiny", "--out", str(out)])
    report = json.loads(out.read_text())
    measured = set(report["median_seconds"])
    assert measured | set(report["skipped"]) == {name for name, _ in speed.ROWS}
    assert {"teacher_forward", "student_plain", "builtin_logits",
            "builtin_feature", "builtin_evaluate"} <= measured
    for name, seconds in report["seconds_per_round"].items():
        assert len(seconds) == 2, name
        assert report["median_seconds"][name] == seconds[1] > 0
    assert set(report["targets"]) == {target[0] for target in speed.TARGETS}


def test_targets_compare_the_right_rows():
    medians = {"ours_online": 1.0, "builtin_logits": 2.0, "ours_evaluate": 0.1,
               "builtin_evaluate": 1.0, "ours_feature": 3.0,
               "builtin_feature": 2.0, "ours_cached": 1.3, "student_plain": 1.0}
    times = {name: [99.0, value] for name, value in medians.items()}
    _, _, targets = speed.report_rows(times, {})
    status = {row[0]: row[2] for row in targets}
    assert status == {
        "online KD <= 1.0x the built-in": "met",
        "evaluate >= 5x faster than the built-in": "met",
        "feature KD faster than the built-in": "NOT met",
        "cached KD <= 1.2x plain student": "NOT met",
    }
