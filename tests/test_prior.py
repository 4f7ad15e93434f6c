"""Prior correction (metadata "prior"): one formula in Python and JS (golden vectors), the metadata check,
the readers (predict, Recognizer, convert's ONNX props), training.prior and training.evaluate's figures."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from fer_browser.training.calibration import adjusted_probabilities, apply_temperature, expected_calibration_error
from fer_browser.core.metadata import build_metadata, validate_metadata
from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from predict_helpers import PYTHON, ROOT
from node_suite import run_node_suite

GOLDEN = json.loads((ROOT / "tests/conformance/prior_correction.json").read_text())
PRIOR7 = [0.4, 0.3, 0.1, 0.1, 0.05, 0.03, 0.02]


def test_python_reproduces_the_golden_vectors():
    assert len(GOLDEN["cases"]) >= 5
    for case in GOLDEN["cases"]:
        got = adjusted_probabilities(np.array([case["log_probs"]]), case["temperature"], case["prior"],
                                     case["strength"])[0]
        np.testing.assert_allclose(got, case["expected"], rtol=0, atol=GOLDEN["tolerance"], err_msg=case["name"])


def test_javascript_reproduces_the_golden_vectors_and_checks_the_prior():
    run_node_suite("prior.test.mjs", passes=3)


def test_tau_zero_is_temperature_scaling_and_tau_one_divides_by_the_prior():
    lp = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    prior = [0.6, 0.3, 0.1]
    np.testing.assert_allclose(adjusted_probabilities(lp, 0.7, prior, 0.0), apply_temperature(lp, 0.7), atol=1e-15)
    bayes = np.exp(lp) / prior
    np.testing.assert_allclose(adjusted_probabilities(lp, 1.0, prior, 1.0), bayes / bayes.sum(1, keepdims=True),
                               atol=1e-15)


def _meta(**prior):
    meta = build_metadata("vgg", {}, 1, ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear"],
                          "ferplus")
    meta["prior"] = {"version": 1, "probabilities": PRIOR7, "strength": 0.5, "source": "test", **prior}
    return meta


@pytest.mark.parametrize("change, message", [  # the messages of the one schema validator (fer_browser/schema.py)
    ({"version": 2}, "prior.version must be 1, got 2"),
    ({"probabilities": PRIOR7[:6]}, "prior.probabilities has 6 entries, classes has 7"),
    ({"probabilities": [*PRIOR7[:6], 0.0]}, r"prior.probabilities\[6\] must be > 0"),
    ({"probabilities": [*PRIOR7[:6], float("nan")]}, r"prior.probabilities\[6\] must be a number, got NaN"),
    ({"probabilities": [*PRIOR7[:6], "0.02"]}, r"prior.probabilities\[6\] must be a number"),
    ({"probabilities": [*PRIOR7[:6], 0.021]}, "sum to 1"),
    ({"strength": 2.01}, "prior.strength must be <= 2"),
    ({"strength": -0.1}, "prior.strength must be >= 0"),
    ({"strength": True}, "prior.strength must be a number, got true"),
])
def test_metadata_refuses_a_bad_prior_in_one_line(change, message):
    assert validate_metadata(_meta())["prior"]["strength"] == 0.5
    with pytest.raises(ValueError, match=message) as err:
        validate_metadata(_meta(**change), "m.json")
    assert "\n" not in str(err.value) and str(err.value).startswith("m.json: ")


# ---- readers -----------------------------------------------------------------------------------------


def _model_copy(tmp_path, prior: dict | None):
    """The shipped export, copied, its metadata.json given `prior` (and its manifest rewritten, as convert does)."""
    from fer_browser.paths import DEFAULT_MODEL_DIR
    from fer_browser.core.manifest import write_manifest

    root = tmp_path / ("prior" if prior else "plain")
    shutil.copytree(DEFAULT_MODEL_DIR, root)
    meta = json.loads((root / "metadata.json").read_text())
    meta.pop("prior", None)
    if prior:
        meta["prior"] = prior
    (root / "metadata.json").write_text(json.dumps(meta))
    write_manifest(root)
    return root


def test_predict_and_recognizer_apply_the_prior_at_the_chosen_strength(tmp_path):
    from fer_browser import PredictError, Recognizer
    from fer_browser.predict.recognition import Pipeline
    from predict_helpers import astronaut

    # the astronaut is "happiness" (class 1): a prior that makes happiness common pulls it down
    prior = {"version": 1, "probabilities": [0.1, 0.5, 0.1, 0.1, 0.1, 0.05, 0.05], "strength": 0.5, "source": "t"}
    folder = _model_copy(tmp_path, prior)
    meta = json.loads((folder / "metadata.json").read_text())
    T = meta["calibration"]["temperature"]
    [plain] = Pipeline(folder, prior_strength=0)(astronaut())
    [default] = Pipeline(folder)(astronaut())  # the metadata's strength, 0.5
    [strong] = Pipeline(folder, prior_strength=2)(astronaut())
    for face, tau in ((default, 0.5), (strong, 2.0)):
        lp = np.log(plain.probs.astype(np.float64)) * T  # back to the model's log-probabilities, up to a constant
        np.testing.assert_allclose(face.probs, adjusted_probabilities(lp[None], T, prior["probabilities"], tau)[0],
                                   atol=1e-5)
    assert plain.probs[1] > default.probs[1] > strong.probs[1]
    recognize = Recognizer(folder, prior_strength=2)
    [face] = recognize(astronaut())
    np.testing.assert_allclose(list(face.probabilities.values()), strong.probs, atol=1e-6)
    recognize.prior_strength = 0
    [face] = recognize(astronaut())
    assert recognize.prior_strength == 0
    np.testing.assert_allclose(list(face.probabilities.values()), plain.probs, atol=1e-6)
    with pytest.raises(PredictError, match=r"\[0, 2\]"):
        recognize.prior_strength = 2.5


def test_a_strength_the_model_cannot_use_is_refused_in_one_line(tmp_path):
    from fer_browser import PredictError, Recognizer

    with pytest.raises(PredictError, match="no prior in its metadata"):
        Recognizer(_model_copy(tmp_path, None), prior_strength=0.5)
    from predict_helpers import photos, run_predict

    photo = photos()["astronaut"][0]
    for args, words in ((["--balanced", "0.5"], "no prior in its metadata"), (["--balanced", "3"], "[0, 2]")):
        proc = run_predict("image", photo, "--json", "-", "--model-dir", _model_copy(tmp_path / args[1], None), *args)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_convert_writes_the_prior_into_onnx_props_and_metadata_json(tmp_path):
    import onnx
    import torch

    from fer_browser.convert.artifacts import read_metadata, write_metadata
    from fer_browser.convert.to_onnx import export_onnx
    from fer_browser.training.models import build_model

    hp = {"widths": [8, 16], "convs_per_stage": 1, "dropout": 0.0}
    model = build_model("vgg", 7, hp).eval()
    meta = _meta()
    meta["model"]["hparams"] = hp
    export_onnx(model, meta, tmp_path / "model.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert json.loads(props["prior"]) == meta["prior"]
    write_metadata(tmp_path, meta, None, {"file": "checkpoint.pt"})
    assert read_metadata(tmp_path)["prior"] == meta["prior"]


# ---- training.prior and training.evaluate --------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prior")
    labels, usages, images = make_rows()
    labels = np.where(np.arange(len(labels)) % 3 == 0, 0, labels)  # class 0 three times as common: a real prior
    csv = write_fer_csv(tmp / "fer2013.csv", labels, usages, images)
    return csv, write_votes(tmp / "fer2013new.csv", usages, votes_for(labels)), labels, usages


@pytest.mark.slow
def test_cli_measures_chooses_on_publictest_and_writes_the_prior(tmp_path, data):
    from convert_helpers import make_checkpoint
    from fer_browser.training.checkpoint import load_checkpoint
    from fer_browser.training.prior import choose

    csv, votes, labels, usages = data
    ckpt = make_checkpoint(tmp_path / "model.pt")
    digest = load_checkpoint(ckpt)["metadata"]["weights_sha256"]
    proc = subprocess.run([PYTHON, "-m", "training.prior", str(ckpt), "--csv", str(csv), "--votes", str(votes),
                           "--label-set", "ferplus-soft", "--out", str(tmp_path / "out"), "--write"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out/prior-curve.json").read_text())
    train = np.array(usages) == "Training"
    soft = votes_for(labels[train])[:, :7]
    expected = (soft / soft.sum(1, keepdims=True)).mean(0)  # the mean of the vote distributions
    np.testing.assert_allclose(report["prior"]["probabilities"], expected, atol=1e-8)
    assert report["prior"]["source"] == f"ferplus-soft Training split, {train.sum():,} faces"
    assert set(report["splits"]["PublicTest"]) == {"0", "0.25", "0.5", "0.75", "1"}
    pub = report["splits"]["PublicTest"]
    best = max(m["f1_macro"] for m in pub.values())
    assert pub[f"{report['chosen_on_PublicTest']:g}"]["f1_macro"] == best == pub[f"{choose(report['splits']):g}"]["f1_macro"]
    assert report["prior"]["strength"] == report["chosen_on_PublicTest"]
    assert (tmp_path / "out/prior-curve.png").stat().st_size > 10_000
    meta = load_checkpoint(ckpt)["metadata"]
    assert meta["prior"] == report["prior"] and meta["weights_sha256"] == digest

    # evaluate: with the prior in the metadata, ECE at tau = 0 and at tau, after the temperature
    from fer_browser.training import evaluate as evaluate_mod
    from fer_browser.training.checkpoint import model_from_checkpoint
    from fer_browser.training.metrics import predict_probs
    from fer_files import make_rows as rows

    res = evaluate_mod.evaluate(evaluate_mod.parse_args([str(ckpt), "--csv", str(csv), "--votes", str(votes),
                                                         "--splits", "PrivateTest", "--prior-strength", "1"]))
    got = res["splits"]["PrivateTest"]["prior"]
    private = np.array(usages) == "PrivateTest"
    model, meta = model_from_checkpoint(ckpt)
    lp = np.log(predict_probs(model, rows()[2][private], meta["preprocessing"]).astype(np.float64))
    y = labels[private]
    balanced = adjusted_probabilities(lp, 1.0, meta["prior"]["probabilities"], 1.0)
    assert got["strength"] == 1.0 and got["ece_tau0"] == pytest.approx(expected_calibration_error(np.exp(lp), y))
    assert got["ece"] == pytest.approx(expected_calibration_error(balanced, y))
    assert got["accuracy"] == pytest.approx(float((balanced.argmax(1) == y).mean()))
    assert res["splits"]["PrivateTest"]["accuracy"] == pytest.approx(float((lp.argmax(1) == y).mean()))


def test_cli_errors_are_one_line(tmp_path, data):
    from convert_helpers import make_checkpoint
    from fer_browser.paths import DEFAULT_MODEL_DIR

    assert subprocess.run([PYTHON, "-m", "training.prior", "--help"], cwd=ROOT, capture_output=True).returncode == 0
    csv, votes = data[:2]
    ckpt = make_checkpoint(tmp_path / "m.pt", steps=1)
    for cmd, words in ((["training.prior", str(tmp_path / "missing.pt")], "no such checkpoint"),
                       (["training.prior", str(DEFAULT_MODEL_DIR), "--write"], "checksummed by its manifest"),
                       (["training.evaluate", str(ckpt), "--csv", str(csv), "--votes", str(votes),
                         "--splits", "PrivateTest", "--prior-strength", "0.5", "--out", str(tmp_path)],
                        "needs one model whose metadata has a prior")):
        proc = subprocess.run([PYTHON, "-m", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_choose_an_operating_point_with_an_accuracy_floor():
    from fer_browser.training.prior import choose

    rows = {"0": {"accuracy": 0.88, "balanced_accuracy": 0.77, "f1_macro": 0.78},
            "0.25": {"accuracy": 0.876, "balanced_accuracy": 0.80, "f1_macro": 0.79},
            "0.5": {"accuracy": 0.86, "balanced_accuracy": 0.83, "f1_macro": 0.77}}
    table = {"PublicTest": rows}
    assert choose(table) == 0.25                        # macro-F1
    assert choose(table, min_accuracy=0.875) == 0.25    # most balanced that keeps accuracy >= 0.875
    assert choose(table, min_accuracy=0.85) == 0.5
    with pytest.raises(ValueError, match="no measured tau keeps PublicTest accuracy >= 0.9"):
        choose(table, min_accuracy=0.9)
