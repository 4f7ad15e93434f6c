"""The page in a real headless Chromium (Playwright): fake webcam fed the astronaut photo, uploads,
parity panel, camera denied or absent, backend switch, phone-sized screen, nothing leaves 127.0.0.1.

One browser is shared; every test opens its own context and checks it logged no console error and
sent no request anywhere but the test server.
"""
from __future__ import annotations

import base64
import json
import math
import shutil

import cv2
import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from web_helpers import (ASTRONAUT_FACE, ROOT, PageWatch, Server, astronaut_frame, jpeg_bytes, launch_chromium,
                         no_face_image, three_faces_frame, wait_js, write_y4m)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_FRAMES = 100  # frames between the two tensor counts of the camera run


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory):
    y4m = write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", astronaut_frame())
    b = launch_chromium(playwright, y4m)
    yield b
    b.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    files = {
        "astronaut.jpg": jpeg_bytes(astronaut_frame()),
        "rotated.jpg": jpeg_bytes(astronaut_frame(), orientation=6),  # stored on its side, EXIF says turn it
        "three.jpg": jpeg_bytes(three_faces_frame()),
        "coffee.jpg": jpeg_bytes(no_face_image()),
        "broken.jpg": np.random.default_rng(0).bytes(20000),  # not an image, despite its name
        "notes.txt": b"not a photo\n",
        # 8000x7000 flat grey: small as a PNG, 56 megapixels once decoded (over the page's limit)
        "huge.png": cv2.imencode(".png", np.full((7000, 8000), 128, np.uint8))[1].tobytes(),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


class Opened:
    def __init__(self, browser, url, camera=True, **ctx):
        self.url = url.rstrip("/").rsplit("/?", 1)[0]
        self.context = browser.new_context(permissions=["camera"] if camera else [], **ctx)
        self.page = self.context.new_page()
        self.watch = PageWatch(self.page)
        self.page.goto(url)
        assert self.page.evaluate("ferApp.ready") is True, self.page.text_content("#message")

    def clean(self):
        """No console errors and nothing requested outside the server, then close."""
        try:
            assert self.watch.errors == []
            assert self.watch.outside(self.base) == []
            assert self.watch.requests, "no request recorded at all"
        finally:
            self.context.close()

    @property
    def base(self):
        return self.url.split("/?")[0].rstrip("/")


@pytest.fixture
def open_page(browser, server):
    opened = []

    def _open(path="/", camera=True, **ctx):
        o = Opened(browser, server.url + path, camera, **ctx)
        opened.append(o)
        return o
    yield _open
    for o in opened:
        o.context.close()


def results(page):
    return page.evaluate("ferApp.results()")


def centre(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def assert_on_astronaut(box):
    """The detector box lands on the face OpenCV's Haar cascade finds in the same frame."""
    x, y, w, h = ASTRONAUT_FACE
    cx, cy = centre(box)
    assert math.dist((cx, cy), (x + w / 2, y + h / 2)) < 0.25 * w, box
    assert 0.75 < box["width"] / w < 1.33, box


def upload(page, path):
    page.evaluate("ferApp.state.results = []; ferApp.state.mode = 'idle'; "
                  "document.getElementById('message').hidden = true")
    page.set_input_files("#file", str(path))
    wait_js(page, "ferApp.state.mode === 'photo' || !document.getElementById('message').hidden")


def message(page):
    return page.evaluate("(m => m.hidden ? '' : m.textContent)(document.getElementById('message'))")


def classes(model_dir):
    return json.loads((model_dir / "metadata.json").read_text())["classes"]


# ---------- live camera ----------

@pytest.fixture(scope="module")
def camera_run(browser, server):
    """Start the camera once; record the page at frame 10 and LIVE_FRAMES frames later."""
    o = Opened(browser, server.url + "/")
    page = o.page
    page.click("#start")
    wait_js(page, "ferApp.state.frames >= 10")
    snap = lambda: page.evaluate("""() => ({frames: ferApp.state.frames, tensors: ferApp.memory().numTensors,
        bytes: ferApp.memory().numBytes, results: ferApp.results(), stats: ferApp.stats(),
        backendText: document.getElementById('backend-name').textContent,
        fpsText: document.getElementById('fps').textContent, msText: document.getElementById('model-ms').textContent,
        faces: [...document.querySelectorAll('#faces .face')].map(li => ({label: li.dataset.label,
            title: li.querySelector('h2').textContent,
            bars: [...li.querySelectorAll('.fill')].map(f => parseFloat(f.style.width))}))})""")
    first = snap()
    wait_js(page, f"ferApp.state.frames >= {first['frames'] + LIVE_FRAMES}", timeout_s=240)
    last = snap()
    yield {"opened": o, "first": first, "last": last}
    o.context.close()


def test_camera_boxes_the_face_with_a_label(camera_run, model_dir):
    for snap in (camera_run["first"], camera_run["last"]):
        assert len(snap["results"]) == 1
        face = snap["results"][0]
        assert_on_astronaut(face["box"])
        assert face["label"] in classes(model_dir)
        assert len(snap["faces"]) == 1 and snap["faces"][0]["label"] == face["label"]
        assert snap["faces"][0]["title"].startswith(f"Face 1: {face['label']}")
        bars = snap["faces"][0]["bars"]
        assert len(bars) == len(classes(model_dir)) and abs(sum(bars) - 100) < 1
        assert float(snap["fpsText"]) > 0 and float(snap["msText"]) > 0


def test_camera_runs_on_wasm(camera_run):
    last = camera_run["last"]
    assert last["stats"]["backend"] == "wasm" and last["backendText"] == "wasm"
    assert camera_run["opened"].page.evaluate("ferApp.backend()") == "wasm"


def test_camera_live_tensors_stay_flat(camera_run):
    first, last = camera_run["first"], camera_run["last"]
    assert last["frames"] - first["frames"] >= LIVE_FRAMES
    assert last["tensors"] == first["tensors"]
    assert last["bytes"] == first["bytes"]


def test_camera_timeline_chart_and_csv(camera_run, model_dir):
    """The camera session's timeline: points on the chart for the tracked face, and a CSV download
    with time, face id and one column per class of the model's metadata."""
    import csv
    import io
    page = camera_run["opened"].page
    points = page.evaluate("ferApp.timeline.points()")
    ids = {f["id"] for f in camera_run["last"]["results"]}
    assert set(map(int, points)) >= ids and all(points[str(i)] >= 5 for i in ids), points
    # the chart's canvas holds lines in the class colours
    coloured = page.evaluate("""() => { const c = document.getElementById('timeline');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && !(d[i] === d[i + 1] && d[i + 1] === d[i + 2])
            && !(d[i] === 240 && d[i + 1] === 241 && d[i + 2] === 244)) n += 1;
        return n; }""")
    assert coloured > 100
    assert page.is_enabled("#download-csv")
    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0] == ["time_s", "face_id", *classes(model_dir)]
    body = rows[1:]
    assert len(body) >= sum(points.values()) and {int(r[1]) for r in body} >= ids
    for r in body:
        probs = [float(x) for x in r[2:]]
        assert len(probs) == len(classes(model_dir)) and abs(sum(probs) - 1) < 1e-3
    times = [float(r[0]) for r in body if int(r[1]) == min(ids)]
    assert times == sorted(times) and times[-1] > times[0]


def test_camera_pause_resume_stop(camera_run):
    page = camera_run["opened"].page
    page.click("#pause")
    assert page.text_content("#pause") == "Resume"
    frozen = page.evaluate("ferApp.state.frames")
    page.wait_for_timeout(600)
    assert page.evaluate("ferApp.state.frames") == frozen
    page.click("#pause")
    wait_js(page, f"ferApp.state.frames > {frozen + 2}")
    page.click("#stop")
    assert page.evaluate("ferApp.state.mode") == "idle"
    assert page.evaluate("document.getElementById('video').srcObject") is None
    assert page.is_enabled("#start") and page.is_disabled("#stop")
    camera_run["opened"].clean()


def test_camera_denied_then_upload_still_works(open_page, photos):
    o = open_page(camera=False)
    o.page.click("#start")
    wait_js(o.page, "!document.getElementById('message').hidden")
    assert "Camera access was denied" in message(o.page)
    assert o.page.evaluate("ferApp.state.mode") == "idle"
    upload(o.page, photos / "astronaut.jpg")
    assert len(results(o.page)) == 1
    o.clean()


def test_no_camera_gives_a_clear_message(playwright, server):
    b = launch_chromium(playwright, None)  # no fake device: the machine has no camera
    try:
        o = Opened(b, server.url + "/")
        o.page.click("#start")
        wait_js(o.page, "!document.getElementById('message').hidden")
        assert "No camera was found" in message(o.page)
        o.clean()
    finally:
        b.close()


# ---------- photo upload ----------

def test_upload_photo_boxes_the_face(open_page, photos, model_dir):
    o = open_page()
    upload(o.page, photos / "astronaut.jpg")
    faces = results(o.page)
    assert len(faces) == 1
    assert_on_astronaut(faces[0]["box"])
    assert faces[0]["label"] in classes(model_dir)
    assert abs(sum(faces[0]["probs"]) - 1) < 1e-4
    assert o.page.text_content("#faces .face h2").startswith(f"Face 1: {faces[0]['label']}")
    assert message(o.page) == ""
    o.clean()


def test_upload_honours_exif_orientation(open_page, photos):
    o = open_page()
    upload(o.page, photos / "rotated.jpg")
    assert o.page.evaluate("[canvas.width, canvas.height]") == [640, 480]  # turned upright
    faces = results(o.page)
    assert len(faces) == 1
    assert_on_astronaut(faces[0]["box"])
    o.clean()


def test_drop_photo_with_three_faces(open_page, photos):
    o = open_page()
    data = base64.b64encode((photos / "three.jpg").read_bytes()).decode()
    dt = o.page.evaluate_handle(f"""() => {{
        const bytes = Uint8Array.from(atob('{data}'), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'three.jpg', {{type: 'image/jpeg'}}));
        return dt; }}""")
    o.page.dispatch_event("#stage", "drop", {"dataTransfer": dt})
    wait_js(o.page, "ferApp.state.mode === 'photo'")
    faces = sorted(results(o.page), key=lambda f: f["box"]["x"])
    assert len(faces) == 3
    for i, face in enumerate(faces):  # one face per copy of the photo (tiles at x = 15 + 205 i, 200 wide)
        cx, cy = centre(face["box"])
        assert 15 + 205 * i < cx < 15 + 205 * i + 200 and 120 < cy < 351
    assert o.page.locator("#faces .face").count() == 3
    o.clean()


def test_upload_non_image(open_page, photos):
    o = open_page()
    upload(o.page, photos / "broken.jpg")
    assert message(o.page).startswith('"broken.jpg" could not be read as an image.')
    assert results(o.page) == [] and o.page.locator("#faces .face").count() == 0
    upload(o.page, photos / "notes.txt")
    assert message(o.page).startswith('"notes.txt" is not an image (text/plain).')
    upload(o.page, photos / "huge.png")
    assert message(o.page) == '"huge.png" is 8000x7000 (56 megapixels); the limit is 50 megapixels.'
    o.clean()


def test_upload_photo_without_a_face(open_page, photos):
    o = open_page()
    upload(o.page, photos / "coffee.jpg")
    assert message(o.page) == 'No face found in "coffee.jpg".'
    assert results(o.page) == [] and o.page.locator("#faces .face").count() == 0
    o.clean()


# ---------- parity, backends, layout, offline ----------

def run_parity(page):
    page.click("#parity")
    wait_js(page, "document.getElementById('parity-result').dataset.pass", timeout_s=120)
    return page.evaluate("document.getElementById('parity-result').dataset.pass"), page.text_content("#parity-result")


def test_parity_panel_passes(open_page):
    o = open_page()
    passed, text = run_parity(o.page)
    assert passed == "true", text
    assert "PASS" in text and o.page.evaluate("ferApp.parity.agree === ferApp.parity.n")
    o.clean()


def test_parity_panel_fails_on_wrong_reference(browser, model_dir, tmp_path):
    """A model directory whose stored PyTorch outputs do not belong to its weights must FAIL.
    (Re-manifested, as a bad export would be, so the server's manifest check lets it through.)"""
    from fer_browser.core.manifest import write_manifest
    bad = tmp_path / "export"
    shutil.copytree(model_dir, bad)
    ref = json.loads((model_dir / "reference.json").read_text())
    ref["pytorch_probs"] = [p[1:] + p[:1] for p in ref["pytorch_probs"]]  # shift every class by one
    (bad / "reference.json").write_text(json.dumps(ref))
    write_manifest(bad)
    srv = Server(bad)
    try:
        o = Opened(browser, srv.url + "/")
        passed, text = run_parity(o.page)
        assert passed == "false" and "FAIL" in text
        o.clean()
    finally:
        srv.stop()


def test_parity_panel_without_a_parity_report(browser, model_dir, tmp_path):
    """An export without parity.json has no gate to apply: the panel shows the numbers and says so."""
    from fer_browser.core.manifest import write_manifest
    bare = tmp_path / "export"
    shutil.copytree(model_dir, bare)
    (bare / "parity.json").unlink()
    write_manifest(bare)
    srv = Server(bare)
    try:
        o = Opened(browser, srv.url + "/")
        passed, text = run_parity(o.page)
        assert passed == "none" and "no parity report" in text and "PASS" not in text and "FAIL" not in text
        assert "Top-1 agreement" in text
        # the one console error is the browser's note on the parity.json 404 the page asked about
        assert [u for u in o.watch.requests if "/model/parity.json" in u]
        assert len(o.watch.errors) == 1 and "404" in o.watch.errors[0], o.watch.errors
        assert o.watch.outside(o.base) == []
        o.context.close()
    finally:
        srv.stop()


def test_parity_panel_passes_on_the_shipped_model(browser):
    from fer_browser.paths import DEFAULT_MODEL_DIR
    if not (DEFAULT_MODEL_DIR / "tfjs" / "model.json").is_file():
        pytest.fail(f"the shipped model {DEFAULT_MODEL_DIR.relative_to(ROOT)} is missing; make it with "
                    f"python -m convert {DEFAULT_MODEL_DIR.parent.relative_to(ROOT)}/checkpoint.pt "
                    f"--out {DEFAULT_MODEL_DIR.relative_to(ROOT)}")
    srv = Server(None)  # server.py's default model directory
    try:
        o = Opened(browser, srv.url + "/")
        passed, text = run_parity(o.page)
        assert passed == "true", text
        o.clean()
    finally:
        srv.stop()


def test_balanced_slider_changes_the_displayed_probabilities(browser, model_dir, photos, tmp_path):
    """A model whose metadata has a prior: the slider starts at its strength (0 here); moving it to 2
    re-analyses the photo with z = log p / T - 2 log prior, and the bars and heading show the new numbers."""
    from fer_browser.core.probabilities import adjusted_probabilities
    from fer_browser.core.manifest import write_manifest
    folder = tmp_path / "export"
    shutil.copytree(model_dir, folder)
    meta = json.loads((model_dir / "metadata.json").read_text())
    srv = Server(model_dir)
    try:  # the prior makes the astronaut's top class the common one, so balancing pulls it down
        o = Opened(browser, srv.url + "/")
        upload(o.page, photos / "astronaut.jpg")
        top = int(np.argmax(results(o.page)[0]["probs"]))
        assert o.page.evaluate("document.getElementById('balance').disabled")  # this model has no prior
        o.clean()
    finally:
        srv.stop()
    n = len(meta["classes"])
    prior = [0.7 if k == top else 0.3 / (n - 1) for k in range(n)]
    meta["prior"] = {"version": 1, "probabilities": prior, "strength": 0, "source": "test"}
    (folder / "metadata.json").write_text(json.dumps(meta))
    write_manifest(folder)
    srv = Server(folder)
    try:
        o = Opened(browser, srv.url + "/")
        assert not o.page.evaluate("document.getElementById('balance').disabled")
        assert "rare ones such as fear and disgust are shown more often" in o.page.text_content("#balance-note")
        upload(o.page, photos / "astronaut.jpg")
        [before] = results(o.page)
        heading = o.page.text_content("#faces .face h2")
        o.page.evaluate("""ferApp.state.results = [];
            const s = document.getElementById('balance'); s.value = '2';
            s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));""")
        wait_js(o.page, "ferApp.state.results.length === 1")
        [after] = results(o.page)
        assert after["box"] == before["box"] and o.page.text_content("#balance-value") == "2"
        temperature = meta.get("calibration", {}).get("temperature", 1.0)
        lp = np.log(np.array(before["probs"], np.float64)) * temperature  # the model's log p, up to a constant
        expected = adjusted_probabilities(lp[None], temperature, prior, 2.0)[0]
        np.testing.assert_allclose(after["probs"], expected, atol=1e-4)
        assert after["probs"][top] < before["probs"][top] - 0.05
        shown = o.page.text_content("#faces .face h2")
        assert shown != heading and shown == f"Face 1: {after['label']} ({math.floor(100 * max(after['probs']) + 0.5)}%)"
        bar = o.page.text_content(f"#faces .face .bar:nth-of-type({top + 1}) .pct")
        assert bar == f"{100 * after['probs'][top]:.0f}%"
        o.clean()
    finally:
        srv.stop()


def test_a_model_whose_accuracy_was_not_checked_shows_a_note(browser, tmp_path):
    """metadata.json "accuracy_checked": false (convert --synthetic) puts a visible note on the page; true hides it."""
    from fer_browser.paths import DEFAULT_MODEL_DIR
    from fer_browser.core.manifest import write_manifest
    folder = tmp_path / "export"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    for checked in (False, True):
        (folder / "metadata.json").write_text(json.dumps({**meta, "accuracy_checked": checked}))
        write_manifest(folder)
        srv = Server(folder)
        try:
            o = Opened(browser, srv.url + "/")
            note = o.page.locator("#model-note")
            assert note.is_visible() is (not checked)
            assert "accuracy was not checked" in note.text_content()
            o.clean()
        finally:
            srv.stop()


def test_backend_switch_to_webgl(open_page, photos):
    o = open_page()
    o.page.select_option("#backend", "webgl")
    wait_js(o.page, "ferApp.state.ready && ferApp.state.backend === 'webgl'", timeout_s=120)
    assert o.page.evaluate("ferApp.backend()") == "webgl"
    assert o.page.text_content("#backend-name") == "webgl"
    upload(o.page, photos / "astronaut.jpg")
    faces = results(o.page)
    assert len(faces) == 1
    assert_on_astronaut(faces[0]["box"])
    o.clean()


def test_phone_sized_screen(open_page, photos):
    o = open_page(viewport={"width": 375, "height": 667}, device_scale_factor=2, has_touch=True)
    upload(o.page, photos / "astronaut.jpg")
    assert o.page.evaluate("document.documentElement.scrollWidth") <= 375
    for sel in ("#start", "label[for=file]", "#canvas", "#faces .face", "#parity"):
        box = o.page.locator(sel).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, sel
    o.clean()


def test_nothing_leaves_127_0_0_1(open_page, photos):
    """Camera, upload and parity fetch only from the server; the CSP blocks any other destination."""
    o = open_page()
    o.page.click("#start")
    wait_js(o.page, "ferApp.state.frames >= 3")
    o.page.click("#stop")
    upload(o.page, photos / "astronaut.jpg")
    run_parity(o.page)
    assert o.watch.outside(o.base) == []
    assert all(u.startswith("http://127.0.0.1:") for u in o.watch.requests)
    blocked = o.page.evaluate("fetch('http://192.0.2.1/steal').then(() => 'sent', e => 'blocked')")
    assert blocked == "blocked"
    assert any("Content Security Policy" in e for e in o.watch.errors)
    assert o.watch.outside(o.base) == []


def test_live_smoothing_is_the_pipelines_ema(open_page, photos):
    """The recognizer the page runs smooths a tracked face as face_pipeline.json says: the second
    reading, 40 ms after the first, is w * new + (1 - w) * first with w = 1 - (1 - alpha)^(40 /
    intervalMs), on the same face id; smooth: false gives the raw readings. Two frames: the photo,
    then its negative (the model reads it differently)."""
    o = open_page()
    upload(o.page, photos / "astronaut.jpg")
    out = o.page.evaluate("""async () => {
        const r = ferApp.state.recognizer, src = document.getElementById('canvas');
        const frame = (filter) => { const c = document.createElement('canvas');
            [c.width, c.height] = [src.width, src.height];
            const g = c.getContext('2d'); g.filter = filter; g.drawImage(src, 0, 0); return c; };
        const a = frame('none'), b = frame('invert(1)');
        const run = async (smooth) => { r.reset(); const out = [];
            for (const [i, f] of [a, b].entries()) out.push(await r.estimateFaces(f, { track: true, smooth, timestamp: 1000 + 40 * i }));
            return out.map((faces) => faces.map((x) => ({ id: x.id, p: r.classes.map((c) => x.probabilities[c]) }))); };
        const raw = await run(false), smooth = await run(true);
        return { raw, smooth, alpha: r.config.smoothing.alpha, intervalMs: r.config.smoothing.intervalMs };
    }""")
    (raw_a,), (raw_b,) = out["raw"]
    (sm_a,), (sm_b,) = out["smooth"]
    rule = json.loads((ROOT / "web/face_pipeline.json").read_text())["smoothing"]
    assert (out["alpha"], out["intervalMs"]) == (rule["alpha"], rule["intervalMs"])
    a = 1 - (1 - rule["alpha"]) ** (40 / rule["intervalMs"])
    assert sm_a["id"] == sm_b["id"]
    tol = 1e-6
    assert max(abs(x - y) for x, y in zip(raw_a["p"], raw_b["p"])) > 50 * tol  # the two readings differ
    assert sm_a["p"] == pytest.approx(raw_a["p"], abs=tol)  # a new face starts from its first reading
    assert sm_b["p"] == pytest.approx([a * x + (1 - a) * y for x, y in zip(raw_b["p"], raw_a["p"])], abs=tol)
    o.clean()
