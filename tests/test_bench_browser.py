"""bench/bench_browser.py --cpu-throttle: the DevTools throttling reaches the page (the same model runs
clearly slower at 4x than at 1x in one run), each row says its rate, and bad rates are refused."""
from __future__ import annotations

import json

import pytest

from bench import bench_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_cpu_throttle_rates_are_checked():
    assert bench_browser.parse_args(["--cpu-throttle", "1", "4"]).cpu_throttle == [1.0, 4.0]
    assert bench_browser.parse_args([]).cpu_throttle == [1.0]
    with pytest.raises(SystemExit):
        bench_browser.parse_args(["--cpu-throttle", "0.5"])


def test_cpu_throttle_slows_the_page(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert bench_browser.main(["--frames", "20", "--warmup", "5", "--faces", "1", "--pipelines", "ours",
                               "--cpu-throttle", "1", "4", "--json", str(out)]) == 0
    rows = {r["cpu_throttle"]: r for r in json.loads(out.read_text())}
    assert sorted(rows) == [1.0, 4.0]
    assert rows[4.0]["model_ms"] > 1.5 * rows[1.0]["model_ms"], rows
    table = capsys.readouterr().out
    assert "| 1x | ours |" in table and "| 4x | ours |" in table


def test_model_parts_splits_the_model_time(tmp_path, capsys):
    """bench/model_parts.py runs the page's own model in Chromium and reports the network alone, one face's
    preprocessing alone, and both as the live loop times them (figures only: tests compare no times)."""
    from bench import model_parts

    with pytest.raises(SystemExit):
        model_parts.parse_args(["--repeat", "0"])
    out = tmp_path / "parts.json"
    assert model_parts.main(["--repeat", "10", "--json", str(out)]) == 0
    [row] = json.loads(out.read_text())
    assert row["cpu_throttle"] == 1.0
    assert all(row[k] > 0 for k in ("network", "crop", "whole", "whole3")), row
    assert "| 1x |" in capsys.readouterr().out
