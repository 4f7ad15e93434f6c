"""Personal adaptation's math (fer_browser/adaptation.py) and its browser twin (web/lib/adaptation.js),
held to the same golden vectors (tests/conformance/adaptation.json)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_browser.adaptation import AdaptationError, fit_head, head_probabilities, load_settings
from node_suite import run_node_suite

ROOT = Path(__file__).resolve().parent.parent
DOC = json.loads((ROOT / "tests/conformance/adaptation.json").read_text())


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["name"] for c in DOC["cases"]])
def test_python_reproduces_the_vectors(case):
    args = (np.array(case["embeddings"]), np.array(case["log_probs"]), np.array(case["labels"]),
            case["n_classes"], case["prior"])
    if "error" in case:
        with pytest.raises(AdaptationError, match="^" + case["error"].replace("[", r"\[").replace("]", r"\]") + "$"):
            fit_head(*args)
        return
    head = fit_head(*args)
    for key in ("weights", "bias", "center", "scale"):
        np.testing.assert_allclose(head[key], case["head"][key], atol=DOC["tolerance"], rtol=0)
    assert head["counts"] == case["head"]["counts"]
    got = head_probabilities(head, case["test_embeddings"], case["test_log_probs"], case["hidden"])
    np.testing.assert_allclose(got, case["test_probabilities"], atol=DOC["tolerance"], rtol=0)


def test_javascript_reproduces_the_vectors():
    run_node_suite("adaptation.test.mjs", passes=len(DOC["cases"]) + 1)


def test_the_vectors_use_the_shipped_settings():
    assert DOC["settings"] == load_settings()["fit"]


def _faces(rng, n, k=7, d=32):
    e = np.maximum(rng.normal(0.5, 1.0, (n, d)), 0)
    z = rng.normal(0, 2, (n, k))
    return e, z - np.log(np.exp(z).sum(1, keepdims=True))


def test_one_recorded_class_moves_only_that_class():
    rng = np.random.default_rng(0)
    e, lp = _faces(rng, 30)
    head = fit_head(e, lp, np.full(30, 4), 7, None)
    w, b = np.array(head["weights"]), np.array(head["bias"])
    assert np.abs(w[:, 4]).max() > 0 and np.abs(b[4]) > 0
    assert not np.delete(w, 4, axis=1).any() and not np.delete(b, 4).any()
    te, tlp = _faces(rng, 500)
    before, after = tlp.argmax(1), head_probabilities(head, te, tlp).argmax(1)
    changed = before != after
    assert changed.any()  # the class did move
    assert np.all((before[changed] == 4) | (after[changed] == 4))


def test_the_fit_learns_a_persons_look():
    """Two expressions the model confuses (same log-probabilities), told apart by the embedding."""
    rng = np.random.default_rng(1)
    e, _ = _faces(rng, 40, d=16)
    y = np.repeat([0, 1], 20)
    e[y == 1, 3] += 3.0  # what this person's expression 1 looks like
    lp = np.log(np.full((40, 7), 1 / 7))
    head = fit_head(e, lp, y, 7, None)
    te, _ = _faces(rng, 200, d=16)
    ty = rng.integers(0, 2, 200)
    te[ty == 1, 3] += 3.0
    pred = head_probabilities(head, te, np.log(np.full((200, 7), 1 / 7))).argmax(1)
    assert (pred == ty).mean() > 0.9


def test_hidden_classes_get_zero_and_the_rest_sum_to_one():
    rng = np.random.default_rng(2)
    e, lp = _faces(rng, 10)
    head = fit_head(e, lp, np.repeat([0, 1], 5), 7, None)
    p = head_probabilities(head, e, lp, hidden=[0, 6])
    assert np.all(p[:, [0, 6]] == 0) and np.allclose(p.sum(1), 1)


@pytest.mark.parametrize("change, message", [
    ({"steps": 0}, "steps"), ({"weight_decay": 0}, "weight_decay"), ({"bias_decay": -1}, "bias_decay"),
    ({"momentum": 0.9}, "momentum")])
def test_bad_settings_are_refused_with_one_line(tmp_path, change, message):
    cfg = json.loads((ROOT / "web/adaptation.json").read_text())
    cfg["fit"].update(change)
    (tmp_path / "a.json").write_text(json.dumps(cfg))
    with pytest.raises(AdaptationError, match=message) as info:
        load_settings(tmp_path / "a.json")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad, message", [
    (lambda e, lp, y: (e[:, :0][:0], lp[:0], y[:0]), "need n >= 1"),
    (lambda e, lp, y: (np.where(e > 1, np.nan, e), lp, y), "finite"),
    (lambda e, lp, y: (e, lp, y.astype(float)), "class indices")])
def test_bad_samples_are_refused(bad, message):
    rng = np.random.default_rng(3)
    e, lp = _faces(rng, 6)
    with pytest.raises(AdaptationError, match=message):
        fit_head(*bad(e, lp, np.repeat([0, 1], 3)), 7, None)
