"""Phone-class devices (issue 24) in a real headless Chromium: at 390 x 844 with touch a six-face photo
gets six readable labels (inside the picture, none on another), the four actions sit in reach of a
thumb, nothing is wider than the screen; the same at desktop size; a hidden page stops analysing
camera frames and picks up again when shown.

The page runs the shipped model (labels of realistic length); the label placement itself is unit
tested under Node (tests/js/label_layout.test.mjs, run by test_label_layout_node_suite).
"""
from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from fer_browser.predict.boxes import iou
from node_suite import run_node_suite
from web_helpers import (PageWatch, Server, astronaut_frame, jpeg_bytes, launch_chromium, six_faces_photo,
                         three_faces_frame, wait_js, write_y4m)

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def test_label_layout_node_suite():
    run_node_suite("label_layout.test.mjs")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """server.py on the shipped model, and a Chromium whose fake camera shows the astronaut."""
    srv = Server(None)
    try:
        with sync_playwright() as pw:
            y4m = write_y4m(tmp_path_factory.mktemp("phone-camera") / "astronaut.y4m", astronaut_frame())
            browser = launch_chromium(pw, y4m)
            yield srv, browser
            browser.close()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def six_jpg(tmp_path_factory):
    path = tmp_path_factory.mktemp("phone") / "six.jpg"
    path.write_bytes(jpeg_bytes(six_faces_photo()))
    return path


def open_page(site, **ctx):
    srv, browser = site
    context = browser.new_context(permissions=["camera"], **ctx)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(srv.url + "/")
    assert page.evaluate("ferApp.ready") is True, page.text_content("#message")
    return context, page, watch


def overlaps(a, b):
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def assert_labels_readable(page, faces):
    """One label per face, each wholly inside the picture, no two overlapping."""
    got = page.evaluate("ferApp.labels()")
    rects = got["rects"]
    assert len(rects) == faces == len(page.evaluate("ferApp.results()"))
    for i, r in enumerate(rects):
        assert r["x"] >= 0 and r["y"] >= 0, r
        assert r["x"] + r["width"] <= got["width"] and r["y"] + r["height"] <= got["height"], (r, got)
        assert r["text"].startswith(f"{i + 1}: ")
        for j in range(i):
            assert not overlaps(r, rects[j]), (rects[j], r)
    return rects


def upload_six(page, path):
    page.set_input_files("#file", str(path))
    wait_js(page, "ferApp.state.mode === 'photo'")


def test_phone_six_faces_labels_controls_and_width(site, six_jpg):
    context, page, watch = open_page(site, **PHONE)
    try:
        upload_six(page, six_jpg)
        rects = assert_labels_readable(page, 6)
        assert page.evaluate("ferApp.labels().width") == 600  # the photo, not scaled down
        # the labels stay legible: about 15 CSS px of text however far the photo is scaled down
        css_px = page.evaluate("document.getElementById('canvas').clientWidth") / 600
        assert all(r["height"] * css_px >= 15 for r in rects)
        width = PHONE["viewport"]["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # the four actions: in the bottom fifth of the screen (a thumb's reach) without scrolling,
        # each at least 44 CSS px tall, side by side within the screen
        for sel in ("#start", "#pause", "#stop", "label[for=file]"):
            box = page.locator(sel).bounding_box()
            assert box["y"] >= 0.8 * PHONE["viewport"]["height"] and box["y"] + box["height"] <= 844, (sel, box)
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
        page.mouse.wheel(0, 3000)  # still there after scrolling to the cards
        assert page.locator("#start").bounding_box()["y"] >= 0.8 * 844
        for sel in ("#canvas", "#faces .face", ".bar .pct", "#timeline", "#parity"):
            for box in (page.locator(sel).nth(k).bounding_box() for k in range(page.locator(sel).count())):
                assert box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
        # the bottom bar never hides the page's last control
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        parity, bar = page.locator("#parity").bounding_box(), page.locator(".primary").bounding_box()
        assert parity["y"] + parity["height"] <= bar["y"]
        page.tap("#start")
        wait_js(page, "ferApp.state.frames >= 3")
        assert_labels_readable(page, 1)
        assert watch.errors == []
    finally:
        context.close()


def test_desktop_six_faces_labels(site, six_jpg):
    context, page, watch = open_page(site, **DESKTOP)
    try:
        upload_six(page, six_jpg)
        rects = assert_labels_readable(page, 6)
        faces = page.evaluate("ferApp.results()")
        # room above every face at this size: each label is its box's caption, right on top of it
        for f, r in zip(faces, rects):
            assert abs(r["y"] + r["height"] - f["box"]["y"]) < 1 and abs(r["x"] - f["box"]["x"]) < 1, (f, r)
        start = page.locator("#start").bounding_box()
        assert start["y"] < 200  # the controls stay in the page's header on a large screen
        assert watch.errors == []
    finally:
        context.close()


def test_hidden_page_stops_analysing_frames(site):
    """Chromium headless never hides a page by itself, so the test overrides document.visibilityState
    and fires visibilitychange as a browser does; the recognizer's calls are counted."""
    context, page, watch = open_page(site)
    set_visibility = """(v) => { Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => v});
        document.dispatchEvent(new Event('visibilitychange')); }"""
    count = "ferApp.state.recognizer.calls"
    try:
        page.evaluate("""() => { const r = ferApp.state.recognizer, f = r.estimateFaces.bind(r); r.calls = 0;
            r.estimateFaces = (...a) => { r.calls += 1; return f(...a); }; }""")
        page.click("#start")
        wait_js(page, f"{count} >= 5")
        page.evaluate(set_visibility, "hidden")
        page.wait_for_timeout(300)  # a frame already in the recognizer may finish
        hidden_at = page.evaluate(count)
        page.wait_for_timeout(1500)
        assert page.evaluate(count) == hidden_at
        page.evaluate(set_visibility, "visible")
        wait_js(page, f"{count} >= {hidden_at + 5}", timeout_s=30)
        # paused by hand, hidden, shown: stays paused
        page.click("#pause")
        page.wait_for_timeout(300)
        paused_at = page.evaluate(count)
        page.evaluate(set_visibility, "hidden")
        page.evaluate(set_visibility, "visible")
        page.wait_for_timeout(1000)
        assert page.evaluate(count) == paused_at
        assert page.text_content("#pause") == "Resume"
        assert watch.errors == []
    finally:
        context.close()


def test_first_label_fetches_only_what_it_needs(site, six_jpg):
    """Up to the first camera label: one wasm binary (the variant TF.js picked), TF.js core + converter
    only (no full bundle, no webgl), the page's own code in one file (web/dist, none of its modules
    one by one), nothing the upload or the parity check reads, the big files gzipped.
    The rest comes when used."""
    context, page, watch = open_page(site)
    try:
        page.evaluate("ferApp.state.frameLog = []")
        page.click("#start")
        wait_js(page, "ferApp.state.frameLog.length >= 1 && ferApp.labels().rects.length >= 1")
        entries = page.evaluate("""() => { const t = ferApp.state.frameLog[0].t;
            return performance.getEntriesByType('resource').filter((e) => e.responseEnd <= t)
                .map((e) => ({url: new URL(e.name).pathname, wire: e.transferSize, body: e.decodedBodySize})); }""")
        names = [e["url"] for e in entries]
        assert len(names) == len(set(names)), names  # the page's preloads are used, not fetched again
        # the server's Link preloads are all files the first label needed, so none was fetched in vain
        preloaded = re.findall(r"<([^>]+)>", page.request.get(site[0].url + "/").headers["link"])
        assert preloaded and set(preloaded) <= set(names), (preloaded, names)
        wasm = [n.rsplit("/", 1)[1] for n in names if n.endswith(".wasm")]
        # threads need an isolated page and 4 cores (fewer: a pool of one, slower); SIMD is in every Chromium here
        threads = page.evaluate("self.crossOriginIsolated && navigator.hardwareConcurrency >= 4")
        assert wasm == ["tfjs-backend-wasm-threaded-simd.wasm" if threads else "tfjs-backend-wasm-simd.wasm"]
        for needed in ("/vendor/tfjs-core/tf-core.fesm.min.js", "/vendor/tfjs-converter/tf-converter.fesm.min.js"):
            assert needed in names
        # (lib/empty-module.js is what the wasm backend's Node imports map to, not the page's code)
        own = [n for n in names if n.startswith(("/js/", "/lib/", "/schemas/")) and n != "/lib/empty-module.js"]
        assert "/dist/app.js" in names and own == ["/js/camera_early.js"], names
        for lazy in ("/vendor/tfjs/tf.fesm.min.js", "/vendor/tfjs-backend-webgl/tf-backend-webgl.fesm.min.js",
                     "/input_policy.json", "/model/reference.json", "/model/reference_inputs.bin", "/model/parity.json"):
            assert lazy not in names, lazy
        big = [e for e in entries if e["body"] > 50_000]
        assert len(big) >= 5 and all(e["wire"] < 0.9 * e["body"] for e in big), big
        page.click("#stop")
        page.set_input_files("#file", str(six_jpg))
        wait_js(page, "ferApp.state.mode === 'photo'")
        assert any(u.endswith("/input_policy.json") for u in watch.requests)
        assert len(page.evaluate("ferApp.results()")) == 6
        assert watch.errors == []
    finally:
        context.close()


def test_long_session_timeline_draws_at_most_a_point_per_pixel_column(site):
    """Thirty minutes of three faces (54,000 samples): the chart draws at most one point per pixel column
    per face, the last sample included, so drawing it four times a second does not grow with the session;
    the CSV keeps every sample."""
    context, page, watch = open_page(site)
    try:
        out = page.evaluate("""async () => {
            const timeline = ferApp.timeline.chart;  // the page's own instance
            const classes = ferApp.state.recognizer.classes;
            timeline.start(0, classes);
            for (let t = 0; t < 30 * 60000; t += 100) {
              for (const id of [1, 2, 3]) timeline.push({ t: t / 1000, id, probs: classes.map((_, k) => ((t / 100 + k + id) % 7) / 7) });
            }
            timeline.draw();
            const c = document.getElementById('timeline');
            return { drawn: ferApp.timeline.drawn(), width: c.width, lines: ferApp.timeline.csv().trim().split('\\n').length };
        }""")
    finally:
        context.close()
    assert sorted(out["drawn"]) == ["1", "2", "3"], out
    assert all(out["width"] / 2 < n <= out["width"] for n in out["drawn"].values()), out
    assert out["lines"] == 1 + 3 * 18000  # header + every sample
    assert watch.errors == []


def test_timeline_keeps_each_faces_samples_when_a_full_session_halves(site):
    """The chart reads each face's own list of samples (no pass over the whole session per draw); when
    the session passes its 100,000 samples and every other sample of each face is dropped (its first
    kept), those lists follow: a face seen once keeps its one sample, the faces drawn are the four
    first seen last, and each face's points match its rows in the CSV."""
    context, page, watch = open_page(site)
    try:
        out = page.evaluate("""async () => {
            const timeline = ferApp.timeline.chart, classes = ferApp.state.recognizer.classes;
            timeline.start(0, classes);
            let t = 0;
            for (; timeline.rows.length < 99999; t += 100) {
              for (const id of [1, 2, 3]) timeline.push({ t: t / 1000, id, probs: classes.map(() => 0.5) });
            }
            const probabilities = Object.fromEntries(classes.map((c) => [c, 0.25]));
            timeline.add(t, [4, 5, 6].map((id) => ({ id, probabilities })));  // passes 100,000: halves
            const kept = timeline.rows.length;
            timeline.add(t + 200, [4, 5, 6, 7].map((id) => ({ id, probabilities })));
            timeline.draw();
            const perId = {};
            for (const line of ferApp.timeline.csv().trim().split('\\n').slice(1)) {
              const id = line.split(',')[1]; perId[id] = (perId[id] ?? 0) + 1;
            }
            return { kept, rows: timeline.rows.length, points: timeline.points(), perId,
                     drawn: Object.keys(ferApp.timeline.drawn()) };
        }""")
    finally:
        context.close()
    # 100,002 samples: 33,333 of each of faces 1-3 keep 16,667 each, faces 4-6 their one; then 4 more
    assert out["kept"] == 3 * 16667 + 3 and out["rows"] == out["kept"] + 4
    assert out["points"] == out["perId"] and sum(out["perId"].values()) == out["rows"]
    # faces 4-6 get their second sample 200 ms on (the gap doubled too), 7 its first: the four faces
    # first seen last are 4, 5, 6, 7
    assert [out["perId"][k] for k in "4567"] == [2, 2, 2, 1] and sorted(out["drawn"]) == ["4", "5", "6", "7"], out
    assert watch.errors == []


def test_page_is_cross_origin_isolated_and_wasm_runs_threads_where_cores_allow(site):
    """COOP/COEP make the page cross-origin isolated, so TF.js's wasm may load its threaded binary (its
    workers come from blob: URLs, which the CSP admits), which sizes its pool at half the cores, at
    most 4. Below 4 cores (a pool of one) the page keeps the plain SIMD binary, one thread."""
    srv, browser = site
    for cores, threads in ((2, 1), (4, 2), (8, 4)):
        context = browser.new_context()
        try:
            page = context.new_page()
            context.new_cdp_session(page).send("Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": cores})
            watch = PageWatch(page)
            page.goto(srv.url + "/")
            assert page.evaluate("ferApp.ready") is True
            assert page.evaluate("self.crossOriginIsolated") is True
            binary = "threaded-simd" if threads > 1 else "simd"
            assert [u.rsplit("/", 1)[1] for u in watch.requests if u.endswith(".wasm")] == [f"tfjs-backend-wasm-{binary}.wasm"]
            assert page.evaluate("ferApp.live().threads") == threads
            assert watch.errors == []
        finally:
            context.close()


def test_detector_runs_at_another_input_size(site):
    """bench_browser's ours-det192 (?detector-size=192): BlazeFace's graph, saved for 256, runs at
    another size (detector.js frees its input and reshapes) and still finds the camera's face."""
    srv, browser = site
    context = browser.new_context(permissions=["camera"])
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(srv.url + "/?detector-size=192")
        assert page.evaluate("ferApp.ready") is True, page.text_content("#message")
        assert page.evaluate("ferApp.state.recognizer.config.detector.inputSize") == 192
        page.evaluate("ferApp.state.frameLog = []")
        page.click("#start")
        wait_js(page, "ferApp.state.frameLog.filter((f) => f.detMs !== null).length >= 2")
        assert [f["faces"] for f in page.evaluate("ferApp.state.frameLog")][-1] == 1
        assert watch.errors == []
    finally:
        context.close()


# both inputs of the page's detector on one picture: the live loop's (the frame's aspect) and the square
ASPECT_VS_SQUARE = """async (url) => {
  const r = ferApp.state.recognizer, im = new Image(); im.src = url; await im.decode();
  const b = await createImageBitmap(im);
  const { pixels, scale } = r.frames.downscaled(b, b.width, b.height, r.config.detector.inputSize);
  const { outs, width, height } = r.detector.run(pixels, false); outs.forEach((t) => t.dispose());
  const out = { size: [b.width, b.height], input: [width, height],
    aspect: await r.detector.detect(pixels, scale, { letterbox: false }), square: await r.detector.detect(pixels, scale) };
  b.close(); return out; }"""


def test_live_detector_input_keeps_the_frames_aspect(site):
    """The live loop's detector input is the frame's aspect, not padded to BlazeFace's square (a 4:3 frame
    costs 3/4 of it): 256 x 192 for 640 x 480, sides rounded up to the coarsest stride (32) for 16:9, and
    it finds the same faces as the square, boxes within IoU 0.9."""
    srv, browser = site
    frame = three_faces_frame()
    wide = np.full((360, 640, 3), 128, np.uint8)
    wide[:, :] = frame[60:420]  # 16:9, the three faces kept
    context, page, watch = open_page(site)
    try:
        for rgb, want in ((frame, [256, 192]), (wide, [256, 160])):
            url = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(rgb)).decode()
            got = page.evaluate(ASPECT_VS_SQUARE, url)
            assert got["size"] == [rgb.shape[1], rgb.shape[0]] and got["input"] == want
            assert len(got["square"]) == 3 and len(got["aspect"]) == 3, got
            for a in got["aspect"]:
                assert max(iou(a, s) for s in got["square"]) >= 0.9, got
        page.evaluate("ferApp.state.recognizer.detector.anchorsBySize.clear(); ferApp.state.frameLog = []")
        page.click("#start")  # the camera's 640 x 480 frames: the loop's detector reads 256 x 192
        wait_js(page, "ferApp.state.frameLog.filter((f) => f.detMs !== null).length >= 2")
        assert page.evaluate("[...ferApp.state.recognizer.detector.anchorsBySize.keys()]") == ["256x192"]
        assert page.evaluate("ferApp.state.frameLog.at(-1).faces") == 1
        assert watch.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("stop_first", [False, True])
def test_camera_opens_while_the_model_loads(site, stop_first):
    """Start camera works before the model is ready: the camera opens at once, the first label follows the
    model. The model's graph is held back until the camera is on, so the order is certain. Stopped while
    the model loads, the camera stays stopped when it arrives."""
    srv, browser = site
    context = browser.new_context(permissions=["camera"])
    page = context.new_page()
    watch = PageWatch(page)
    held = []
    page.route("**/model/tfjs/model.json", lambda route: held.append(route))
    try:
        page.goto(srv.url + "/")
        wait_js(page, "document.getElementById('start') && !document.getElementById('start').disabled")
        page.click("#start")
        wait_js(page, "ferApp.state.mode === 'camera' && document.getElementById('video').readyState >= 2")
        assert page.evaluate("ferApp.state.ready") is False  # the model is still held back
        assert page.text_content("#status") == "camera on, loading model…"
        assert page.is_disabled("#start") and page.is_enabled("#stop")
        if stop_first:
            page.click("#stop")
        for route in held:
            route.continue_()
        page.unroute("**/model/tfjs/model.json")
        assert page.evaluate("ferApp.ready") is True, page.text_content("#message")
        if stop_first:
            page.wait_for_timeout(300)
            assert page.evaluate("[ferApp.state.running, ferApp.state.frames, ferApp.state.stream]") == [False, 0, None]
        else:
            wait_js(page, "ferApp.labels().rects.length >= 1")
            assert page.evaluate("ferApp.state.running") is True
            page.click("#stop")
        assert page.evaluate("ferApp.state.mode") == "idle" and page.is_enabled("#start")
        assert watch.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("allowed", [True, False], ids=["camera", "denied"])
def test_start_takes_a_click_before_the_page_code_arrives(site, allowed):
    """Start camera clicked while the page's code is still on its way (held back here): the camera opens
    at once (web/js/camera_early.js), and once the code arrives the page takes the stream over and labels
    the face; a camera refused that early is reported as a refusal then."""
    srv, browser = site
    context = browser.new_context(permissions=["camera"] if allowed else [])
    page = context.new_page()
    watch = PageWatch(page)
    held = []
    page.route("**/dist/app.js", lambda route: held.append(route))
    page.route("**/js/app.js", lambda route: held.append(route))  # the modules one by one (no bundle built)
    try:
        page.goto(srv.url + "/", wait_until="commit")
        wait_js(page, "window.ferCamera && !document.getElementById('start').disabled")
        box = page.evaluate("(() => { const r = document.getElementById('start').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        page.mouse.click(*box)
        assert held and page.evaluate("window.ferApp === undefined")  # the page's code has not run
        assert page.is_disabled("#start")  # the camera is opening: no second click
        for route in held:
            route.continue_()
        wait_js(page, "window.ferApp")
        assert page.evaluate("ferApp.ready") is True, page.text_content("#message")
        if allowed:
            wait_js(page, "ferApp.labels().rects.length >= 1")
            assert page.evaluate("ferApp.state.mode") == "camera" and page.is_enabled("#stop")
            page.click("#stop")
            assert page.evaluate("ferApp.state.mode") == "idle" and page.is_enabled("#start")
        else:
            wait_js(page, "!document.getElementById('message').hidden")
            assert "Camera access was denied" in page.text_content("#message")
            assert page.evaluate("ferApp.state.mode") == "idle" and page.is_enabled("#start")
        assert watch.errors == []
    finally:
        context.close()


def static_module_graph(web, entry="js/app.js"):
    """Every module `entry` imports statically (import/export ... from), as paths under web/, resolved
    through index.html's import map; TF.js's own files (vendor/) are leaves. JSON modules are leaves too."""
    import json
    from urllib.parse import urljoin
    html = (web / "index.html").read_text()
    imap = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1))["imports"]
    static = re.compile(r"""(?:^|[;\n])\s*(?:import|export)\s+(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]""", re.S)
    base = "http://page/"
    seen, todo = set(), [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.startswith("vendor/") or not path.endswith(".js"):
            continue
        # line comments first: one may hold "/*" ("web/schemas/*.schema.json"), which is no block comment
        src = re.sub(r"^\s*//.*$", "", (web / path).read_text(), flags=re.M)
        src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
        for spec in static.findall(src):
            todo.append(urljoin(base, imap[spec]).removeprefix(base) if spec in imap
                        else urljoin(base + path, spec).removeprefix(base))
    return seen - {entry}


def test_modulepreload_lists_every_module_of_the_first_label():
    """index.html names every statically imported module, JSON modules included (plus the wasm backend
    the default backend imports at once, and the empty module its Node imports map to) so the browser
    fetches them in one go; a module added or dropped without updating the list fails here."""
    from pathlib import Path
    web = Path(__file__).resolve().parent.parent / "web"
    html = (web / "index.html").read_text()
    listed = set(re.findall(r'<link rel="modulepreload" href="([^"]+\.js)">', html))
    listed_json = set(re.findall(r'<link rel="modulepreload" href="([^"]+\.json)" as="json">', html))
    graph = static_module_graph(web)
    assert "vendor/tfjs-core/tf-core.fesm.min.js" in graph and "lib/recognizer.js" in graph  # the walk works
    assert "schemas/model-metadata.schema.json" in graph  # and finds the JSON modules
    assert listed == {p for p in graph if p.endswith(".js")} | {"vendor/tfjs-backend-wasm/tf-backend-wasm.fesm.min.js",
                                                               "lib/empty-module.js"}
    # JSON modules need as="json": without it the preload is a script module, which the HTML spec's module
    # map (keyed by URL and module type) does not hand to a JSON import
    assert listed_json == {p for p in graph if p.endswith(".json")}
    assert len(re.findall(r'rel="modulepreload"', html)) == len(listed) + len(listed_json)
    assert all((web / p).is_file() for p in listed | listed_json if not p.startswith("vendor/"))
