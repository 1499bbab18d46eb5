import json

import numpy as np
import pytest

from benchmarks import speed


def test_speed_tiny_measures_every_row(tmp_path):
    out = tmp_path / "speed.json"
    speed.main(["--quick", "--tiny", "--rounds", "3", "--out", str(out)])
    report = json.loads(out.read_text())
    rows = {name for name, _ in speed.ROWS}
    # Nothing is skipped on TensorFlow.
    assert report["skipped"] == {}
    for stat in speed.STATISTICS:
        assert set(report["statistics"][stat]) == rows
    for name in rows:
        wall = report["wall_seconds_per_round"][name]
        assert len(wall) == 3 and min(wall) > 0, name
        # The first round is the warm-up: the statistics are of the others.
        measured = wall[1:]
        assert report["statistics"]["median wall"][name] == pytest.approx(np.median(measured))
        assert report["statistics"]["min wall"][name] == min(measured)
    assert report["one_off_seconds"]["cache_build_seconds"] > 0
    assert set(report["targets"]) == {target[0] for target in speed.TARGETS}


def test_targets_compare_the_right_rows():
    wall = {"ours_online": 1.0, "builtin_logits": 2.0, "ours_evaluate": 0.1,
            "builtin_evaluate": 1.0, "ours_feature": 3.0, "builtin_feature": 2.0,
            "ours_cached": 1.3, "student_plain": 1.0}
    cpu = dict(wall, ours_cached=1.1)  # Within 1.2x by CPU time only.
    stats = speed.summarize({k: [99.0, v, v + 5] for k, v in wall.items()},
                            {k: [99.0, v, v] for k, v in cpu.items()})
    assert stats["min wall"]["ours_online"] == 1.0
    assert stats["median wall"]["ours_online"] == 3.5
    _, targets = speed.report_rows(stats, {})
    status = {row[0]: row[-1] for row in targets}
    assert status == {
        "online KD <= 1.0x the built-in": "met",
        "evaluate >= 5x faster than the built-in": "mixed",
        "feature KD faster than the built-in": "NOT met",
        "cached KD <= 1.2x plain student": "mixed",
    }
