"""bench/bench_robustness.py's shifts do what their names say, and the same seed gives the same faces."""
from __future__ import annotations

import sys

import numpy as np

from predict_helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_robustness as br  # noqa: E402


def face(seed=0):
    return np.random.default_rng(seed).integers(20, 236, (48, 48)).astype(np.uint8)


def test_each_shift_changes_the_face_as_named():
    s, im = br.shifts(), face()
    rng = np.random.default_rng(0)
    assert (s["clean"](im, rng) == im).all()
    assert (s["horizontal flip"](im, rng) == im[:, ::-1]).all()
    assert (s["low light (gamma 2)"](im, rng) == np.round(255 * (im / 255) ** 2)).all()
    grey = s["25 % occluding patch"](im, rng) != im
    assert grey.sum() <= 24 * 24 and (s["25 % occluding patch"](np.zeros_like(im), rng) == 128).sum() == 24 * 24
    assert s["contrast +40 %"](im, rng).std() > 1.3 * im.std() and s["contrast -40 %"](im, rng).std() < 0.7 * im.std()
    for name in ("Gaussian blur (sigma 1 px)", "upscaled from 24 px", "JPEG quality 30"):
        out = s[name](im, rng)
        assert out.shape == im.shape and out.dtype == np.uint8 and abs(out.mean() - im.mean()) < 2, name
        assert np.abs(out.astype(float) - im).mean() > 5, name
        if name != "JPEG quality 30":  # smoothed: neighbouring pixels closer (JPEG adds its own edges to noise)
            assert np.abs(np.diff(out.astype(float), axis=1)).mean() < 0.8 * np.abs(np.diff(im.astype(float), axis=1)).mean()
    # a one-pixel dot at the top-left quarter moves where a 15-degree turn takes it
    dot = np.zeros((48, 48), np.uint8)
    dot[12, 23] = 255
    turned = s["rotation ±15°"](dot, np.random.default_rng(1))
    y, x = np.unravel_index(turned.argmax(), turned.shape)
    assert abs(np.hypot(y - 23.5, x - 23.5) - np.hypot(12 - 23.5, 23 - 23.5)) < 1.5 and x != 23


def test_same_seed_same_shifted_faces():
    s = br.shifts()
    for name in ("rotation ±15°", "crop shift ±10 %", "crop scale ±10 %", "25 % occluding patch"):
        a = [s[name](face(i), np.random.default_rng([0, 7])) for i in range(3)]
        b = [s[name](face(i), np.random.default_rng([0, 7])) for i in range(3)]
        assert all((x == y).all() for x, y in zip(a, b)), name
        assert any((x != face(i)).any() for i, x in enumerate(a)), name


def test_help():
    import subprocess
    from predict_helpers import PYTHON
    proc = subprocess.run([PYTHON, str(ROOT / "bench/bench_robustness.py"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "JPEG quality 30" in proc.stdout
