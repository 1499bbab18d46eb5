import math

from tests.benchmarks.conftest import ROOT


def test_token_kd_smoke_runs_each_row_in_its_own_process(monkeypatch, tmp_path, capsys):
    from benchmarks import token_kd

    monkeypatch.chdir(ROOT)
    output = tmp_path / "token_kd.json"
    rows = ["student_alone", "ours", "ours_cached_top_k"]
    results = token_kd.main(
        ["--tiny", "--rows", *rows, "--repeats", "1", "--output", str(output)]
    )
    assert [r["row"] for r in results] == rows
    for result in results:
        assert result["vocab"] == 512
        assert math.isfinite(result["peak_growth_logits"]) and result["peak_growth_mib"] >= 0
        assert result["tokens_per_second"] > 0
        assert result["peak_growth_logits_runs"] == [result["peak_growth_logits"]]
    table = capsys.readouterr().out
    assert "| 512 | ours |" in table and "| 512 | ours_cached_top_k |" in table
    assert output.exists()
