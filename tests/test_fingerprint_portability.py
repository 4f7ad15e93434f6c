"""Same answers on any machine (issue 21): the probe fingerprint survives another CPU's rounding and
still catches wrong weights; re-saving a checkpoint never records this machine's fingerprint over
the one it carries; weights that cannot give an answer are refused.

Another CPU (AVX-512 vs AVX2 kernels in OpenBLAS, OpenCV or torch) may regenerate a probe face with a
pixel one grey level off and compute log-probabilities that differ in the last bits. The tests
below make those changes on purpose, larger than any kernel makes them, and the gate must pass;
then they make the changes a bug makes, and the gate must fail.
"""
from __future__ import annotations

import copy
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  (imported before torch, as the product does)
import pytest
import torch

import fer_browser.convert.gates as gates
from fer_browser.training.checkpoint import (CheckpointError, load_checkpoint, model_from_checkpoint,
                                             probe_log_probs, weights_digest)
from fer_browser.training.models import build_model
from fer_browser.training.probes import (FINGERPRINT_VERSION, PROBE_COUNT, compare_fingerprint,
                                         probe_pixels)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "fer-default"
PYTHON = sys.executable


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED / "checkpoint.pt")


def _cli(module: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([PYTHON, "-m", module, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _one_line_refusal(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-3000:]


def _nudge(pixels: np.ndarray, per_face: int, seed: int) -> np.ndarray:
    """`per_face` random pixels of every face one grey level up or down."""
    rng = np.random.default_rng(seed)
    out = pixels.astype(np.int16)
    for face in out:
        idx = rng.choice(face.size, per_face, replace=False)
        face.flat[idx] += rng.choice(np.array([-1, 1], np.int16), per_face)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_the_shipped_checkpoint_records_the_portable_fingerprint(shipped):
    probe = shipped["metadata"]["probe"]
    assert probe["version"] == FINGERPRINT_VERSION and probe["count"] == PROBE_COUNT
    assert np.asarray(probe["log_probs"]).shape == (PROBE_COUNT, len(shipped["metadata"]["classes"]))
    assert "pixels_sha256" not in probe  # nothing float-derived is compared by hash


@pytest.mark.parametrize("per_face", [1, 5, 20])
def test_the_onnx_gate_passes_faces_regenerated_a_grey_level_off(shipped, monkeypatch, per_face):
    meta = shipped["metadata"]
    real = gates.probe_pixels
    nudged = {}

    def regenerated_elsewhere(count, meta_, seed=0):
        pixels, names = real(count, meta_, seed)
        nudged["pixels"] = _nudge(pixels, per_face, seed=per_face)
        nudged["changed"] = int((nudged["pixels"] != pixels).sum())
        return nudged["pixels"], names

    monkeypatch.setattr(gates, "probe_pixels", regenerated_elsewhere)
    result = gates.fingerprint_check(SHIPPED / "export" / "model.onnx", meta)
    assert nudged["changed"] >= PROBE_COUNT * per_face * 0.9  # the perturbation really happened (a few hit 0/255)
    assert result["passed"], result


def test_the_onnx_gate_passes_float_noise_in_the_grayscale_weights(shipped):
    meta = shipped["metadata"]
    base, _ = probe_pixels(PROBE_COUNT, meta)
    for factor in (1 + 1e-7, 1 - 1e-7):
        noisy = copy.deepcopy(meta)
        noisy["preprocessing"]["grayscale_weights"] = [w * factor for w in meta["preprocessing"]["grayscale_weights"]]
        pixels, _ = probe_pixels(PROBE_COUNT, noisy)
        assert np.abs(pixels.astype(int) - base).max() <= 1  # float noise moves a rounding, never more
        result = gates.fingerprint_check(SHIPPED / "export" / "model.onnx", noisy)
        assert result["passed"], result


def _changed(shipped, change) -> np.ndarray:
    state = {k: v.clone() for k, v in shipped["state_dict"].items()}
    change(state)
    return probe_log_probs(state, shipped["metadata"])


def _swap_rows(classes, a, b):
    def change(state):
        last = [k for k in state if state[k].ndim == 2][-1].rsplit(".", 1)[0]
        i, j = classes.index(a), classes.index(b)
        for key in (f"{last}.weight", f"{last}.bias"):
            state[key][[i, j]] = state[key][[j, i]].clone()
    return change


def _first_conv(fn):
    def change(state):
        conv = [k for k in state if state[k].ndim == 4][0]
        state[conv] = fn(state[conv])
    return change


@pytest.mark.parametrize("case", ["rare rows swapped", "neutral/happiness swapped", "first conv flipped",
                                  "first conv negated", "another model"])
def test_wrong_weights_still_fail_the_fingerprint(shipped, case):
    meta = shipped["metadata"]
    classes = meta["classes"]
    if case == "another model":
        torch.manual_seed(0)
        model = build_model(meta["model"]["name"], len(classes), meta["model"].get("hparams")).eval()
        pixels, _ = probe_pixels(PROBE_COUNT, meta)
        from fer_browser.core.normalize import normalize
        with torch.inference_mode():
            lp = model(torch.from_numpy(normalize(pixels, meta["preprocessing"]))).double().numpy()
    else:
        change = {"rare rows swapped": _swap_rows(classes, "disgust", "fear"),
                  "neutral/happiness swapped": _swap_rows(classes, "neutral", "happiness"),
                  "first conv flipped": _first_conv(lambda w: w.flip(-1)),
                  "first conv negated": _first_conv(lambda w: -w)}[case]
        lp = _changed(shipped, change)
    result = compare_fingerprint(lp, meta["probe"])
    assert not result["passed"], result
    # and by a wide margin, so no CPU's rounding can bring it back under the tolerance
    assert result["median_max_abs_dlogp"] > 5 * result["tolerance"] or result["top1_agreement"] < 0.5, result
    # the unchanged weights pass, computed here (on whatever CPU this runs)
    assert compare_fingerprint(_changed(shipped, lambda s: None), meta["probe"])["passed"]


def _save_raw(path: Path, payload: dict) -> Path:
    torch.save(payload, path)
    return path


def test_release_keeps_a_fingerprint_recorded_on_another_machine(shipped, tmp_path):
    """The record a checkpoint carries is the saving machine's; a re-save checks it and keeps it."""
    meta = copy.deepcopy(shipped["metadata"])
    lp = np.asarray(meta["probe"]["log_probs"])
    meta["probe"]["log_probs"] = np.round(lp + np.random.default_rng(0).uniform(-0.005, 0.005, lp.shape), 5).tolist()
    src = _save_raw(tmp_path / "elsewhere.pt", {"format": "fer-checkpoint/2", "state_dict": shipped["state_dict"],
                                                "metadata": meta})
    proc = _cli("training.checkpoint", "release", src, tmp_path / "release.pt")
    assert proc.returncode == 0, proc.stderr
    assert torch.load(tmp_path / "release.pt", weights_only=True)["metadata"]["probe"] == meta["probe"]

    # a record these weights do not reproduce is refused, not replaced by this machine's
    meta["probe"]["log_probs"] = (lp + 1.0 * (np.arange(lp.shape[1]) % 2)).tolist()
    _save_raw(src, {"format": "fer-checkpoint/2", "state_dict": shipped["state_dict"], "metadata": meta})
    proc = _cli("training.checkpoint", "release", src, tmp_path / "bad-release.pt")
    _one_line_refusal(proc, "do not reproduce the checkpoint's recorded fingerprint")
    assert not (tmp_path / "bad-release.pt").exists()


def test_a_format_1_fingerprint_is_checked_and_upgraded(shipped, tmp_path):
    """Checkpoints saved before this version recorded rounded probabilities and a pixel hash."""
    meta = copy.deepcopy(shipped["metadata"])
    probs = np.exp(np.asarray(meta["probe"]["log_probs"]))
    meta["probe"] = {"set": meta["probe"]["set"], "count": PROBE_COUNT, "seed": 0, "pixels_sha256": "0" * 64,
                     "top1": meta["probe"]["top1"], "probs": np.round(probs, 6).tolist()}
    old = _save_raw(tmp_path / "v1.pt", {"format": "fer-checkpoint/2", "state_dict": shipped["state_dict"],
                                         "metadata": meta})
    model, _ = model_from_checkpoint(load_checkpoint(old))
    assert compare_fingerprint(probe_log_probs(shipped["state_dict"], meta), meta["probe"])["passed"]
    proc = _cli("training.checkpoint", "upgrade", old, tmp_path / "v2.pt")
    assert proc.returncode == 0, proc.stderr
    probe = load_checkpoint(tmp_path / "v2.pt")["metadata"]["probe"]
    assert probe["version"] == FINGERPRINT_VERSION and probe["top1"] == meta["probe"]["top1"]
    np.testing.assert_allclose(np.exp(probe["log_probs"]), probs, atol=2e-5)


def test_nan_weights_are_refused_with_one_line(shipped, tmp_path):
    state = {k: v.clone() for k, v in shipped["state_dict"].items()}
    name = [k for k in state if state[k].is_floating_point()][3]
    state[name][0] = float("nan")
    meta = {**shipped["metadata"], "weights_sha256": weights_digest(state)}
    path = _save_raw(tmp_path / "nan.pt", {"format": "fer-checkpoint/2", "state_dict": state, "metadata": meta})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(path)
    _one_line_refusal(_cli("training.checkpoint", "check", path), "NaN or infinite values")


def _as_unprivileged_user(fn) -> str:
    """fn() in a forked child that dropped root (root reads any file), returning what it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            fn()
            message = "no error"
        except BaseException as exc:  # noqa: BLE001  (reported to the parent as text)
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        message = fh.read()
    os.waitpid(pid, 0)
    return message


def test_an_unreadable_checkpoint_is_called_unreadable_not_damaged(tmp_path):
    locked = tmp_path / "locked.pt"
    locked.write_bytes((SHIPPED / "checkpoint.pt").read_bytes())
    locked.chmod(0)
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:  # let the unprivileged user reach the file (not read it)
        if parent.stat().st_uid == os.getuid() and not parent.stat().st_mode & stat.S_IXOTH:
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    message = _as_unprivileged_user(lambda: load_checkpoint(locked))
    assert message.startswith("CheckpointError") and "cannot be read (Permission denied)" in message, message
