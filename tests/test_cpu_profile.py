"""The second CPU profile (tests/generic_cpu.env) is real: it forces other kernels, and they change
float results in the last bits, which is what the numerics-sensitive tests must then tolerate."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (imported before torch, as the product does)
import torch

from fer_browser.training.checkpoint import load_checkpoint, probe_log_probs

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "tests" / "generic_cpu.env"

REPORT = """
import json, sys, cv2, numpy as np, threadpoolctl, torch
from fer_browser.training.checkpoint import load_checkpoint, probe_log_probs
p = load_checkpoint(sys.argv[1])
np.save(sys.argv[2], probe_log_probs(p["state_dict"], p["metadata"]))
print(json.dumps({"torch": torch.backends.cpu.get_cpu_capability(), "cv2": cv2.getCPUFeaturesLine(),
                  "openblas": [d.get("architecture") for d in threadpoolctl.threadpool_info()
                               if d["internal_api"] == "openblas"]}))
"""


def profile_env() -> dict[str, str]:
    pairs = [ln.split("=", 1) for ln in PROFILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def test_the_generic_profile_is_in_force_and_changes_float_results(tmp_path):
    forced = profile_env()
    assert set(forced) == {"OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OPENCV_CPU_DISABLE"}
    env = {**{k: v for k, v in os.environ.items() if k not in forced}, **forced, "PYTHONPATH": str(ROOT)}
    checkpoint = ROOT / "models" / "fer-default" / "checkpoint.pt"
    proc = subprocess.run([sys.executable, "-c", REPORT, str(checkpoint), str(tmp_path / "generic.npy")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["torch"] == "DEFAULT"
    assert seen["openblas"] and "Prescott" in seen["openblas"], seen
    # OpenCV marks a dispatched feature it was told not to use with '?'
    assert "AVX2?" in seen["cv2"] or "AVX2" not in seen["cv2"], seen["cv2"]
    payload = load_checkpoint(checkpoint)
    here = probe_log_probs(payload["state_dict"], payload["metadata"])
    generic = np.load(tmp_path / "generic.npy")
    np.testing.assert_allclose(generic, here, atol=1e-4)  # the same answers ...
    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        assert (generic != here).any(), "the forced kernels gave bit-identical results: the profile proves nothing"
