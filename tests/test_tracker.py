"""fer-browser's pure modules under Node's test runner: the face tracker (web/lib/tracker.js) on
scripted box sequences, and the EMA smoothing, config checks and crop geometry.

The cases live in tests/js/tracker.test.mjs (appear, move, cross, miss, leave, detector cadence) and
tests/js/lib.test.mjs; both read web/face_pipeline.json, the same parameters the page uses.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("suite", ["tracker.test.mjs", "lib.test.mjs"])
def test_node_suite(suite):
    node = shutil.which("node")
    assert node, "node (20+) is needed for the tracker tests"
    proc = subprocess.run([node, "--test", "--test-reporter=tap", str(ROOT / "tests/js" / suite)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout


def test_live_config_is_versioned_json():
    cfg = json.loads((ROOT / "web/face_pipeline.json").read_text())
    assert cfg["schema"] == "fer-face-pipeline/1"
    assert {"cadence", "tracking", "smoothing"} <= cfg.keys()
    c = cfg["cadence"]
    assert 1 <= c["minEvery"] <= c["maxEvery"] and c["maxIntervalMs"] > 0 and c["targetFps"] > 0
