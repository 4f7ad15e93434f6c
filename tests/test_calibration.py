"""Honest confidences: ECE against a hand-worked case, the temperature fit, the metadata field, and
the readers that apply it (predict's backends and pipeline; convert writes it through)."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from fer_browser.training.calibration import (apply_temperature, calibration_record, expected_calibration_error,
                                              fit_temperature, log_softmax, nll, reliability_bins)
from fer_browser.core.metadata import build_metadata, validate_metadata
from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from predict_helpers import PYTHON, ROOT

# ---- the math -------------------------------------------------------------------------------------


def test_ece_matches_a_case_worked_by_hand():
    probs = np.array([[0.90, 0.05, 0.05],   # label 0: right, confidence 0.90 -> bin 13 (0.867, 0.933]
                      [0.90, 0.10, 0.00],   # label 1: wrong, 0.90           -> bin 13
                      [0.95, 0.05, 0.00],   # label 0: right, 0.95           -> bin 14 (0.933, 1]
                      [0.20, 0.50, 0.30],   # label 2: wrong, 0.50           -> bin 7  (0.467, 0.533]
                      [0.45, 0.35, 0.20]])  # label 0: right, 0.45           -> bin 6  (0.400, 0.467]
    labels = np.array([0, 1, 0, 2, 0])
    # bin 13: 2/5 * |0.5 - 0.9| = 0.16; bin 14: 1/5 * 0.05 = 0.01; bin 7: 1/5 * 0.5 = 0.1; bin 6: 1/5 * 0.55 = 0.11
    assert expected_calibration_error(probs, labels, 15) == pytest.approx(0.38)
    b = reliability_bins(probs, labels, 15)
    assert b["count"].tolist() == [0] * 6 + [1, 1] + [0] * 5 + [2, 1]
    assert b["accuracy"][13] == 0.5 and b["confidence"][13] == pytest.approx(0.9)
    # one bin: |accuracy - mean confidence| = |3/5 - 3.7/5|
    assert expected_calibration_error(probs, labels, 1) == pytest.approx(abs(0.6 - 0.74))


def test_bin_edges_are_closed_on_the_right_and_hold_zero_and_one():
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    b = reliability_bins(probs, np.array([0, 1, 1]), 2)
    assert b["count"].tolist() == [1, 2]  # 0.5 is in (0, 0.5]; both 1.0s in (0.5, 1]


def _synthetic(t_true: float, n: int = 20000, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, 7)) + rng.normal(0, 1.0, 7)
    p_true = np.exp(log_softmax(logits / t_true))
    labels = (p_true.cumsum(1) > rng.random((n, 1))).argmax(1)  # one draw per row from p_true
    return logits, p_true, labels


@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_temperature_fit_recovers_a_known_temperature(t_true):
    logits, p_true, labels = _synthetic(t_true)
    # from the model's log-probabilities (what our models output) and from raw logits alike
    assert fit_temperature(log_softmax(logits), labels) == pytest.approx(t_true, rel=0.05)
    assert fit_temperature(logits, labels) == pytest.approx(fit_temperature(log_softmax(logits), labels), rel=1e-4)
    # soft targets that are exactly the tempered distribution: the fit is exact
    assert fit_temperature(logits, p_true) == pytest.approx(t_true, rel=1e-3)
    fitted = fit_temperature(logits, labels)
    assert nll(logits, labels, fitted) < nll(logits, labels, 1.0)
    before = expected_calibration_error(np.exp(log_softmax(logits)), labels)
    after = expected_calibration_error(apply_temperature(logits, fitted), labels)
    assert after < 0.02 < before


def test_temperature_never_changes_the_answer_and_is_softmax_of_log_p_over_t():
    logits, _, _ = _synthetic(1.0, n=5000, seed=1)
    log_p = log_softmax(logits).astype(np.float32)
    for t in (0.05, 0.3, 0.6062, 1.0, 3.0, 20.0):
        q = apply_temperature(log_p, t)
        assert q.dtype == np.float32
        assert (q.argmax(1) == log_p.argmax(1)).all(), t
        np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-6)
        z = np.exp(log_p.astype(np.float64) / t)
        np.testing.assert_allclose(q, z / z.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(apply_temperature(log_p, 1.0), np.exp(log_p), rtol=1e-5, atol=1e-7)
    assert (apply_temperature(log_p, 0.5).max(1) >= np.exp(log_p).max(1) - 1e-6).all()  # T < 1 sharpens


# ---- the metadata field ---------------------------------------------------------------------------


def _meta(**calibration):
    meta = build_metadata("vgg", {}, 1, ["a", "b"], "ferplus")
    if calibration:
        meta["calibration"] = calibration
    return meta


def test_metadata_accepts_a_calibration_record_and_no_calibration():
    validate_metadata(_meta())
    record = calibration_record(0.6062, "PublicTest", 0.095, 0.0095, 15, evaluated_on="PrivateTest")
    assert record["version"] == 1 and record["bins"] == 15
    assert validate_metadata(_meta(**record))["calibration"]["temperature"] == 0.6062


@pytest.mark.parametrize("change, message", [
    ({"version": None}, "calibration.version"), ({"version": 2}, "calibration.version"),
    ({"method": "platt"}, "calibration.method"), ({"temperature": 0}, "temperature"),
    ({"temperature": -1.0}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"temperature": True}, "temperature"), ({"temperature": "0.6"}, "temperature"),
    ({"temperature": 100.0}, "temperature"), ({"ece_after": 1.5}, "ece_after"), ({"bins": 0}, "bins"),
    ({"fitted_on": 3}, "fitted_on")])
def test_metadata_refuses_a_calibration_a_reader_would_misapply(change, message):
    record = {**calibration_record(0.6, "PublicTest", 0.1, 0.01), **change}
    with pytest.raises(ValueError, match=message):
        validate_metadata(_meta(**record), "m.json")
    meta = _meta()
    meta["calibration"] = [0.6]
    with pytest.raises(ValueError, match="calibration must be an object"):
        validate_metadata(meta)


# ---- readers: predict applies T, convert writes it through -----------------------------------------


def _model_copy(tmp_path, name: str, temperature: float | None):
    """A copy of the shipped model folder (export + checkpoint) whose metadata says T (or nothing)."""
    from fer_browser.paths import DEFAULT_MODEL_DIR
    from fer_browser.core.manifest import write_manifest

    root = tmp_path / name
    shutil.copytree(DEFAULT_MODEL_DIR, root / "export")
    shutil.copy(DEFAULT_MODEL_DIR.parent / "checkpoint.pt", root / "checkpoint.pt")
    meta = json.loads((root / "export/metadata.json").read_text())
    meta.pop("calibration", None)
    if temperature is not None:
        meta["calibration"] = calibration_record(temperature, "PublicTest", 0.1, 0.05)
    (root / "export/metadata.json").write_text(json.dumps(meta))
    write_manifest(root / "export")  # what convert does last, so the copy passes the manifest check
    return root / "export"


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_predict_backends_apply_the_metadata_temperature(tmp_path, backend):
    from fer_browser.convert.reference import read_reference
    from fer_browser.predict.backends import load_metadata, make_backend

    plain, tempered = _model_copy(tmp_path, "plain", None), _model_copy(tmp_path, "t2", 2.0)
    ref = read_reference(plain)
    p1 = make_backend(backend, plain, load_metadata(plain))(ref.inputs)
    p2 = make_backend(backend, tempered, load_metadata(tempered))(ref.inputs)
    np.testing.assert_allclose(p1, np.exp(ref.pytorch_logprobs), atol=1e-5)  # no calibration: the model's own
    z = np.exp(np.log(p1.astype(np.float64)) / 2.0)
    np.testing.assert_allclose(p2, z / z.sum(1, keepdims=True), atol=1e-6)
    assert (p2.argmax(1) == p1.argmax(1)).all() and (p2.max(1) < p1.max(1) + 1e-7).all()
    assert np.abs(p2 - p1).max() > 0.05  # T = 2 visibly softens the answers


def test_predict_pipeline_on_a_real_face_applies_the_temperature(tmp_path):
    from fer_browser.predict.recognition import Pipeline
    from predict_helpers import astronaut

    plain, tempered = _model_copy(tmp_path, "plain", None), _model_copy(tmp_path, "t05", 0.5)
    [f1], [f2] = Pipeline(plain)(astronaut()), Pipeline(tempered)(astronaut())
    assert f1.box == f2.box and f1.top == f2.top
    z = np.exp(np.log(f1.probs.astype(np.float64)) / 0.5)
    np.testing.assert_allclose(f2.probs, z / z.sum(), atol=1e-6)
    assert f2.confidence > f1.confidence


def test_convert_writes_the_calibration_into_onnx_props_and_metadata_json(tmp_path):
    import onnx
    import torch

    from fer_browser.convert.artifacts import read_metadata, write_metadata
    from fer_browser.convert.to_onnx import export_onnx
    from fer_browser.training.models import build_model

    hp = {"widths": [8, 16], "convs_per_stage": 1, "dropout": 0.0}
    torch.manual_seed(0)
    model = build_model("vgg", 7, hp).eval()
    meta = build_metadata("vgg", hp, 1, [str(i) for i in range(7)], "ferplus")
    meta["calibration"] = calibration_record(0.75, "PublicTest", 0.08, 0.01)
    export_onnx(model, meta, tmp_path / "model.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert json.loads(props["calibration"]) == meta["calibration"]
    write_metadata(tmp_path, meta, None, {"file": "checkpoint.pt"})
    assert read_metadata(tmp_path)["calibration"] == meta["calibration"]
    del meta["calibration"]
    export_onnx(model, meta, tmp_path / "plain.onnx")
    assert "calibration" not in {p.key for p in onnx.load(str(tmp_path / "plain.onnx")).metadata_props}


# ---- the CLI ----------------------------------------------------------------------------------------


def _calibrate(*args, cwd=ROOT):
    return subprocess.run([PYTHON, "-m", "training.calibrate", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_cli_fits_reports_plots_and_writes_the_checkpoint(tmp_path):
    from convert_helpers import make_checkpoint
    from fer_browser.training.checkpoint import load_checkpoint

    labels, usages, images = make_rows()
    csv = write_fer_csv(tmp_path / "fer2013.csv", labels, usages, images)
    votes = write_votes(tmp_path / "fer2013new.csv", usages, votes_for(labels))
    ckpt = make_checkpoint(tmp_path / "model.pt")
    digest = load_checkpoint(ckpt)["metadata"]["weights_sha256"]
    proc = _calibrate(ckpt, "--csv", csv, "--votes", votes, "--plot", tmp_path / "rel.png", "--json",
                      tmp_path / "cal.json", "--write")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "PrivateTest (70 faces)" in proc.stderr  # progress per split
    report = json.loads((tmp_path / "cal.json").read_text())
    cal, fit = report["calibration"], report["splits"]["PublicTest"]
    assert cal["fitted_on"] == "PublicTest" and cal["evaluated_on"] == "PrivateTest" and cal["bins"] == 15
    assert fit["after"]["nll"] <= fit["before"]["nll"]  # T = 1 is a candidate, so the fit can only help
    for split in report["splits"].values():
        assert split["after"]["accuracy"] == split["before"]["accuracy"]
    assert cal["ece_before"] == pytest.approx(report["splits"]["PrivateTest"]["before"]["ece"], abs=1e-6)
    assert sum(report["bins_on_eval_split"]["after"]["count"]) == 70
    assert f"T = {cal['temperature']:.4f}" in proc.stdout
    import matplotlib.image as mpimg
    assert mpimg.imread(tmp_path / "rel.png").shape[1] > 800
    payload = load_checkpoint(ckpt)  # still a valid checkpoint, same weights, now with the calibration
    assert payload["metadata"]["calibration"] == cal and payload["metadata"]["weights_sha256"] == digest


def test_cli_errors_are_one_line(tmp_path):
    from fer_browser.paths import DEFAULT_MODEL_DIR

    assert _calibrate("--help").returncode == 0
    for args, words in (((tmp_path / "missing.pt",), "no such checkpoint"),
                        ((DEFAULT_MODEL_DIR, "--write"), "checksummed by its manifest")):
        proc = _calibrate(*args)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
