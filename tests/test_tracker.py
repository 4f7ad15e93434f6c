"""fer-browser's pure modules under Node's test runner: the face tracker (web/lib/tracker.js) on
scripted box sequences, and the EMA smoothing, config checks and crop geometry.

The cases live in tests/js/tracker.test.mjs (appear, move, cross, miss, leave, detector cadence) and
tests/js/lib.test.mjs; both read web/face_pipeline.json, the same parameters the page uses.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from node_suite import run_node_suite

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("suite", ["tracker.test.mjs", "lib.test.mjs"])
def test_node_suite(suite):
    run_node_suite(suite)


def test_live_config_is_versioned_json():
    cfg = json.loads((ROOT / "web/face_pipeline.json").read_text())
    assert cfg["schema"] == "fer-face-pipeline/1"
    assert {"cadence", "tracking", "smoothing"} <= cfg.keys()
    c = cfg["cadence"]
    assert 1 <= c["minEvery"] <= c["maxEvery"] and c["maxIntervalMs"] > 0 and c["targetFps"] > 0
