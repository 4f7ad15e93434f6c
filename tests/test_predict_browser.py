"""The same photo gives the same faces and top emotion in `python -m predict image` and in the page.

The browser side is the real product: server.py serving web/ and the model directory, the page's
own photo upload (createImageBitmap -> canvas -> fer-browser estimateFaces, web/lib) in headless
Debian Chromium on the TF.js wasm backend. PNG pixels decode identically on both sides, so there the
probabilities agree to float precision; the JPEG may decode a little differently.
"""
from __future__ import annotations

import json

import pytest

from predict_helpers import model_dir, photos, run_predict

from fer_browser.predict.boxes import iou
from web_helpers import page_on_server, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def python_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("annotated")
    paths = [p for p, _ in photos().values()]
    proc = run_predict("image", *paths, "--model-dir", model_dir(), "--out", out, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {entry["path"]: entry for entry in report["images"]}


@pytest.fixture(scope="module")
def browser_results():
    with page_on_server(model_dir()) as (page, errors):
        results = {}
        for path, _ in photos().values():
            page.evaluate("() => { window.__before = window.ferApp.state.results; }")
            page.set_input_files("#file", str(path))
            wait_js(page, "window.ferApp.state.mode === 'photo' && window.ferApp.state.results !== window.__before")
            canvas = page.evaluate("() => [document.getElementById('canvas').width, "
                                   "document.getElementById('canvas').height]")
            results[str(path)] = {"canvas": canvas, "faces": page.evaluate("() => window.ferApp.results()"),
                                  "backend": page.evaluate("() => ferApp.backend()")}
        assert not errors, errors
    return results


def test_same_faces_and_top_emotion_as_the_browser(python_results, browser_results):
    classes = json.loads((model_dir() / "metadata.json").read_text())["classes"]
    for path, (_, expected) in zip(browser_results, photos().values()):
        py, js = python_results[path], browser_results[path]
        assert js["backend"] == "wasm"
        assert js["canvas"] == [py["width"], py["height"]]  # the page analysed the photo at full size
        assert len(py["faces"]) == len(js["faces"]) == len(expected), path
        for face in py["faces"]:
            twin = max(js["faces"], key=lambda f: iou(face["box"], f["box"]))
            assert iou(face["box"], twin["box"]) >= 0.5, (path, face["box"], twin["box"])
            assert face["label"] == twin["label"], (path, face, twin)
            probs = [face["probabilities"][c] for c in classes]
            tolerance = 1e-3 if path.endswith(".png") else 0.05
            assert max(abs(a - b) for a, b in zip(probs, twin["probs"])) < tolerance, (path, probs, twin["probs"])


def test_boxes_agree_closely(python_results, browser_results):
    """Same detector, same decoding, same pixels: boxes agree far beyond the IoU >= 0.5 asked for."""
    ious = []
    for path in (p for p in browser_results if p.endswith(".png")):
        for face in python_results[path]["faces"]:
            ious.append(max(iou(face["box"], f["box"]) for f in browser_results[path]["faces"]))
    assert len(ious) == sum(len(e) for p, e in photos().values() if p.suffix == ".png")
    assert min(ious) > 0.99, ious

