import json

import pytest

pytest.importorskip("keras_hub")


def test_lm_recipes_tiny_times_every_recipe_against_off_policy(tmp_path):
    from benchmarks import lm_recipes

    out = tmp_path / "lm_recipes.json"
    lm_recipes.main(["--tiny", "--out", str(out)])
    report = json.loads(out.read_text())
    ratios = report["ratio_to_off_policy"]
    assert set(ratios) == {"off-policy", "on-policy, fraction 0.5", "on-policy, fraction 1"}
    assert ratios["off-policy"] == [1.0]
    assert all(value[0] > 0 for value in report["seconds_per_step"].values())
    assert report["teacher_generation_seconds_per_sequence"] > 0
