"""Libraries v2 (issue 26): the same photos through the Python API (fer_browser.Recognizer) and the
browser library (fer-browser's estimateFaces, headless Chromium, TF.js wasm) give the same faces,
described the same way: each face validates against web/schemas/face-result.schema.json with the
validator of its own language (fer_browser/schema.py, web/lib/schema.js), the faces come in the
same order (left to right), with the same labels, boxes within 1 px and probabilities within the
tolerance of tests/test_predict_browser.py (1e-3 for PNG, whose pixels decode identically; 0.05
for the JPEG).
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import sync_playwright

from predict_helpers import model_dir, photos
from web_helpers import PageWatch, Server, launch_chromium, wait_js

from fer_browser.schema import validate

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FIELDS = {"box", "label", "confidence", "probabilities", "detector_score"}


@pytest.fixture(scope="module")
def python_faces():
    from fer_browser import Recognizer
    recognize = Recognizer(model_dir())
    out = {}
    for name, (path, _) in photos().items():
        faces = [f.to_dict() for f in recognize(path)]
        for i, face in enumerate(faces):
            validate(face, "face-result", f"Python {name} face {i}")  # the Python validator
        out[name] = faces
    return out


@pytest.fixture(scope="module")
def browser_faces():
    server = Server(model_dir())
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw, None)
            page = browser.new_page()
            watch = PageWatch(page)

            def serve(path):  # Playwright calls a handler with (route, request): bind the file here
                body, ctype = path.read_bytes(), "image/png" if path.suffix == ".png" else "image/jpeg"
                page.route(f"**/agree/{path.name}", lambda route: route.fulfill(status=200, body=body, content_type=ctype))
            for path, _ in photos().values():
                serve(path)
            page.goto(server.url + "/examples/basic.html")
            wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
            out = page.evaluate("""async (files) => {
                const { createRecognizer, validate } = await import('fer-browser');
                const r = await createRecognizer({ modelUrl: '../model/', detectorUrl: '../face_pipeline.json',
                    detectorWeightsUrl: '../vendor/blazeface/blazeface.json', wasmPaths: '../vendor/tfjs-backend-wasm/' });
                const result = { backend: r.backend, photos: {}, keys: {}, aliases: null, tracked: null };
                for (const [name, file] of Object.entries(files)) {
                    const img = new Image(); img.src = `/agree/${file}`; await img.decode();
                    const faces = await r.estimateFaces(img);
                    faces.forEach((f, i) => validate(f, 'face-result', `JS ${name} face ${i}`));  // the JS validator
                    result.photos[name] = JSON.parse(JSON.stringify(faces));
                    result.keys[name] = faces.map((f) => Object.keys(f).sort());
                    if (!result.aliases && faces.length) {
                        const f = faces[0];
                        result.aliases = { score: f.score === f.confidence, faceScore: f.faceScore === f.detector_score };
                    }
                }
                const img = new Image(); img.src = `/agree/${files.three_faces}`; await img.decode();
                const tracked = await r.estimateFaces(img, { track: true, timestamp: 0 });
                tracked.forEach((f, i) => validate(f, 'face-result', `tracked face ${i}`));
                result.tracked = JSON.parse(JSON.stringify(tracked));
                r.dispose();
                return result;
            }""", {name: path.name for name, (path, _) in photos().items()})
            assert watch.errors == [], watch.errors
            browser.close()
    finally:
        server.stop()
    return out


def test_same_photo_same_faces_in_both_libraries(python_faces, browser_faces):
    assert browser_faces["backend"] == "wasm"
    classes = json.loads((model_dir() / "metadata.json").read_text())["classes"]
    for name, (path, expected) in photos().items():
        py, js = python_faces[name], browser_faces["photos"][name]
        assert len(py) == len(js) == len(expected), name
        assert browser_faces["keys"][name] == [sorted(FIELDS)] * len(js), name  # exactly the schema's names
        for i, (a, b) in enumerate(zip(py, js)):  # the same order: left to right
            validate(b, "face-result", f"JS {name} face {i}")  # and the JS objects pass the Python validator
            assert set(a) == set(b) == FIELDS
            assert a["label"] == b["label"], (name, i, a, b)
            for k in ("x", "y", "width", "height"):
                assert abs(a["box"][k] - b["box"][k]) <= 1, (name, i, k, a["box"], b["box"])
            assert list(a["probabilities"]) == list(b["probabilities"]) == classes
            tolerance = 1e-3 if path.suffix == ".png" else 0.05
            diff = max(abs(a["probabilities"][c] - b["probabilities"][c]) for c in classes)
            assert diff < tolerance, (name, i, diff)
            assert abs(a["confidence"] - b["confidence"]) < tolerance
            assert abs(a["detector_score"] - b["detector_score"]) < (1e-3 if path.suffix == ".png" else 0.02)
        xs = [f["box"]["x"] for f in js]
        assert xs == sorted(xs), name


def test_deprecated_aliases_and_tracking_ids(browser_faces):
    assert browser_faces["aliases"] == {"score": True, "faceScore": True}  # readable, not in the JSON
    tracked = browser_faces["tracked"]
    assert len(tracked) == 3 and all(set(f) == FIELDS | {"id"} for f in tracked)
    assert [f["box"]["x"] for f in tracked] == sorted(f["box"]["x"] for f in tracked)
