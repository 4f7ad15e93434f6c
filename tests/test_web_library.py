"""fer-browser, the browser library in web/lib, as a web developer meets it: the npm tarball's
contents, the ~30-line example page (web/examples/basic.html) and the README's snippet, run as
written in real headless Chromium against server.py with the shipped model.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tarfile

import cv2
import pytest
from playwright.sync_api import sync_playwright

from web_helpers import ASTRONAUT_FACE, ROOT, PageWatch, Server, astronaut_frame, launch_chromium, wait_js

LIB = ROOT / "web" / "lib"
MODEL = ROOT / "models" / "fer-default" / "export"


# ---------- the npm tarball ----------

@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """`npm pack` into a temp folder: (the tarball's files by path, its package.json)."""
    npm = shutil.which("npm")
    assert npm, "npm is needed to pack the browser library"
    out = tmp_path_factory.mktemp("pack")
    proc = subprocess.run([npm, "pack", "--json", "--pack-destination", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    name = json.loads(proc.stdout)[0]["filename"]
    with tarfile.open(out / name) as tar:
        files = {m.name.removeprefix("package/"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return files, json.loads(files["package.json"])


def test_tarball_holds_the_library_the_model_and_nothing_else(packed):
    files, _ = packed
    graph = json.loads((MODEL / "tfjs/model.json").read_text())
    shards = [f"models/fer-default/export/tfjs/{p}" for g in graph["weightsManifest"] for p in g["paths"]]
    expected = ({f"web/lib/{p.name}" for p in LIB.iterdir() if p.is_file()}
                | {f"web/schemas/{p.name}" for p in (ROOT / "web/schemas").glob("*.schema.json")}  # schema.js imports them
                | {"web/face_pipeline.json", "models/fer-default/export/metadata.json",
                   "models/fer-default/export/tfjs/model.json", *shards, "package.json", "README.md", "LICENSE",
                   # BlazeFace with its licences, so no second package is needed; the example page
                   "models/blazeface/blazeface.json", "models/blazeface/blazeface.bin", "models/blazeface/NOTICE.md",
                   "LICENSES/Apache-2.0.txt", "web/examples/installed.html", "web/examples/basic.js",
                   "web/adaptation.json"})
    assert set(files) == expected
    assert "web/lib/index.d.ts" in files and "web/lib/index.js" in files
    for name in ("models/fer-default/export/metadata.json", "web/face_pipeline.json", *shards,
                 "models/blazeface/blazeface.json", "models/blazeface/blazeface.bin"):
        assert files[name] == (ROOT / name).read_bytes(), name  # the files as they are in the repo
    # the package's own short README (npm/README.md, put in place by prepack), not the project's;
    # the project's README is back in place after packing
    assert files["README.md"] == (ROOT / "npm/README.md").read_bytes()
    assert (ROOT / "README.md").read_text().startswith("# FER in the browser")


def test_tarball_package_json_is_publishable(packed):
    files, pkg = packed
    assert pkg["name"] == "fer-browser" and not pkg.get("private") and pkg["type"] == "module"
    assert "@tensorflow/tfjs" in pkg["peerDependencies"] and "dependencies" not in pkg
    targets = [pkg["types"], pkg["main"], *(t for v in pkg["exports"].values()
                                            for t in (v.values() if isinstance(v, dict) else [v]))]
    for target in targets:
        path = target.removeprefix("./")
        if "*" in path:  # a folder export: at least the model's metadata behind it
            assert any(f.startswith(path.split("*")[0]) for f in files), target
        else:
            assert path in files, target


def test_tarball_modules_import_only_each_other_and_the_peers(packed):
    files, pkg = packed
    peers = set(pkg["peerDependencies"])
    for name, data in files.items():
        if not (name.startswith("web/lib/") and name.endswith(".js")):
            continue
        for spec in re.findall(r"""(?:from|import)\s*\(?\s*['"]([^'"]+)['"]""", data.decode()):
            if spec.startswith("."):
                target = str((ROOT / name).parent.joinpath(spec).resolve().relative_to(ROOT))
                assert target in files, (name, spec)
            else:
                assert spec in peers, (name, spec)


def test_types_declare_every_export(packed):
    files, _ = packed
    index = files["web/lib/index.js"].decode()
    exported = {n.strip() for group in re.findall(r"export \{([^}]*)\}", index) for n in group.split(",")}
    dts = files["web/lib/index.d.ts"].decode()
    declared = set(re.findall(r"^export (?:declare )?(?:function|class|const|interface|type) (\w+)", dts, re.M))
    assert exported and exported <= declared, exported - declared
    assert {"Face", "RecognizerOptions", "EstimateOptions"} <= declared


# ---------- in the browser ----------

@pytest.fixture(scope="module")
def site():
    srv = Server(None)  # server.py with the shipped model
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = launch_chromium(pw, None)
        yield b
        b.close()


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut_frame(), cv2.COLOR_RGB2BGR))
    return path


def classes():
    return json.loads((MODEL / "metadata.json").read_text())["classes"]


# createRecognizer's options for the shipped files as server.py serves them, seen from /examples/
OPTIONS_JS = ("{ modelUrl: '../model/', detectorUrl: '../face_pipeline.json', "
              "detectorWeightsUrl: '../vendor/blazeface/blazeface.json', wasmPaths: '../vendor/tfjs-backend-wasm/' }")


def example_page(browser, site, photo, at):
    """The example page, ready, with `photo` served at the path `at` (a PNG)."""
    page = browser.new_page()
    page.route(f"**{at}", lambda route: route.fulfill(status=200, body=photo.read_bytes(), content_type="image/png"))
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
    return page


def on_astronaut(box):
    x, y, w, h = ASTRONAUT_FACE
    return (math.dist((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2), (x + w / 2, y + h / 2)) < 0.25 * w
            and 0.75 < box["width"] / w < 1.33)


def test_example_page_labels_the_face_in_a_real_photo(browser, site, astronaut_png, tmp_path):
    page = browser.new_page()
    watch = PageWatch(page)
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
    page.set_input_files("#photo", str(astronaut_png))
    wait_js(page, "document.getElementById('status').textContent.includes('face')")
    assert page.text_content("#status") == "1 face(s)"
    label, pct = page.text_content("#faces li").rsplit(" ", 1)
    assert label in classes() and re.fullmatch(r"\d+%", pct)
    # the box is drawn where the face is: lime pixels on the box's edges, none far from it
    lime = page.evaluate("""() => { const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const xs = [], ys = [];
        for (let i = 0; i < d.length; i += 4) if (d[i] === 0 && d[i + 1] === 255 && d[i + 2] === 0) {
            xs.push((i / 4) % c.width); ys.push(Math.floor(i / 4 / c.width)); }
        return {n: xs.length, x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys)}; }""")
    assert lime["n"] > 100
    assert on_astronaut({"x": lime["x0"], "y": lime["y0"], "width": lime["x1"] - lime["x0"], "height": lime["y1"] - lime["y0"]})
    bad = tmp_path / "notes.png"
    bad.write_text("not a photo")
    page.set_input_files("#photo", str(bad))
    wait_js(page, "document.getElementById('status').textContent === 'That file is not an image.'")
    assert watch.errors == [] and watch.outside(site.url) == []
    page.close()


def readme_snippet() -> str:
    section = (ROOT / "README.md").read_text().split("## The browser library", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```js\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's browser-library section should hold one js block"
    return blocks[0]


def test_readme_snippet_is_the_package_readmes():
    """The project README shows the package README's snippet; tests/test_npm_package.py runs that one
    from an installed tarball, where its defaults hold."""
    package = re.search(r"```js\n(.*?)```", (ROOT / "npm/README.md").read_text(), re.S).group(1)
    assert readme_snippet() == package
    assert "createRecognizer()" in package and len(package.splitlines()) <= 6


def test_readme_snippet_runs_as_written(browser, site, astronaut_png):
    """The snippet is served as a module, its one zero-config call given the project server's URLs
    (its defaults are the installed package's: tests/test_npm_package.py); a loader puts a photo in
    the page first and records what the snippet logs. The example page only lends its import map."""
    snippet = readme_snippet().replace("createRecognizer()", "createRecognizer(JSON.parse(document.getElementById('options').textContent))")
    assert "from 'fer-browser'" in snippet and len(snippet.splitlines()) <= 12
    loader = """const img = new Image(); img.src = '/readme/astronaut.png'; document.body.append(img); await img.decode();
        window.logged = []; const log = console.log; console.log = (...a) => { window.logged.push(a); log(...a); };
        await import('/readme/snippet.js'); window.snippetDone = true;"""
    bodies = {"basic.js": (loader, "text/javascript"), "snippet.js": (snippet, "text/javascript"),
              "astronaut.png": (astronaut_png.read_bytes(), "image/png"),
              "photo.jpg": (astronaut_png.read_bytes(), "image/png")}  # the snippet's URL, beside the page
    page = browser.new_page()
    watch = PageWatch(page)
    def serve(body, ctype):
        return lambda route: route.fulfill(status=200, body=body, content_type=ctype)
    for name, (body, ctype) in bodies.items():
        page.route(f"**/{name}", serve(body, ctype))
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "window.snippetDone === true", timeout_s=120)
    logged = page.evaluate("window.logged")
    assert len(logged) == 1, logged
    label, score, box = logged[0]
    assert label in classes() and 0 < float(score) <= 1 and on_astronaut(box)
    assert watch.errors == [] and watch.outside(site.url) == []
    page.close()


def test_library_memory_and_errors(browser, site, astronaut_png):
    """Through the public API: photos and tracked frames leave no tensor behind, dispose() frees
    what the recognizer held, and a wrong URL fails in one line naming it."""
    page = example_page(browser, site, astronaut_png, "/mem/astronaut.png")
    out = page.evaluate("""async () => {
        const { createRecognizer } = await import('fer-browser');
        const tf = await import('@tensorflow/tfjs');
        const opts = """ + OPTIONS_JS + """;
        const before = tf.memory().numTensors;
        const r = await createRecognizer(opts);
        const held = tf.memory().numTensors;
        const img = new Image(); img.src = '/mem/astronaut.png'; await img.decode();
        const found = [];
        for (let i = 0; i < 3; i++) found.push((await r.estimateFaces(img)).length);
        for (let i = 0; i < 5; i++) found.push((await r.estimateFaces(img, { track: true, timestamp: 40 * i })).length);
        const afterUse = tf.memory().numTensors;
        r.dispose();
        const errors = [];
        for (const bad of [{ ...opts, modelUrl: '../no-model/' }, { ...opts, detectorUrl: '../missing.json' }, {}]) {
            try { await createRecognizer(bad); errors.push('no error'); } catch (e) { errors.push(e.message); }
        }
        let disposed = '';
        try { await r.estimateFaces(img); } catch (e) { disposed = e.message; }
        return { before, held, afterUse, after: tf.memory().numTensors, errors, disposed, backend: r.backend, found };
    }""")
    assert out["backend"] == "wasm" and out["found"] == [1] * 8
    assert out["held"] > out["before"] and out["afterUse"] == out["held"] and out["after"] == out["before"], out
    model_err, pipeline_err, missing = out["errors"]
    assert re.search(r"model metadata not found at http://\S+/no-model/metadata\.json \(HTTP 404\)", model_err), model_err
    assert "face pipeline settings not found" in pipeline_err and "missing.json" in pipeline_err, pipeline_err
    # no URL: the defaults, which on this server (not an installed package) are not there
    assert re.fullmatch(r"face pipeline settings not found at http://\S+/examples/fer-browser/web/face_pipeline\.json "
                        r"\(HTTP 404\)", missing), missing
    assert "disposed" in out["disposed"]
    assert all("\n" not in e for e in out["errors"])
    page.close()


def test_image_urls_and_backends_that_fail(browser, site, astronaut_png):
    """estimateFaces and detectFaces take an image's URL; a URL that is no image fails in one line
    naming it. A backend that does not start rejects createRecognizer, naming it (and, for wasm,
    where its .wasm files were looked for), instead of running on another one; an import map that
    lacks a module the wasm backend imports names that module."""
    page = browser.new_page()
    page.route("**/urls/astronaut.png", lambda route: route.fulfill(status=200, body=astronaut_png.read_bytes(),
                                                                     content_type="image/png"))
    page.route("**/examples/basic.js", lambda route: route.fulfill(status=200, body="", content_type="text/javascript"))
    # basic.html's import map without @tensorflow/tfjs-core, as the README once showed it
    html = (ROOT / "web/examples/basic.html").read_text()
    page.route("**/examples/no-core.html", lambda route: route.fulfill(
        status=200, content_type="text/html", body=re.sub(r'\n\s*"@tensorflow/tfjs-core": [^\n]*', "", html)))
    page.goto(site.url + "/examples/basic.html")  # basic.js stubbed: no backend started yet
    out = page.evaluate("""async () => {
        const { createRecognizer } = await import('fer-browser');
        const opts = JSON.parse(document.getElementById('options').textContent);
        const errors = [];
        for (const bad of [{ ...opts, wasmPaths: '../nowhere/' }, { ...opts, backend: 'nope' }]) {
            try { await createRecognizer(bad); errors.push('no error'); } catch (e) { errors.push(e.message); }
        }
        const r = await createRecognizer({ ...opts, backend: 'cpu' });
        const faces = await r.estimateFaces('/urls/astronaut.png');
        const boxes = await r.detectFaces(new URL('/urls/astronaut.png', location.href));
        try { await r.estimateFaces('/urls/missing.png'); errors.push('no error'); } catch (e) { errors.push(e.message); }
        r.dispose();
        return { faces, boxes, errors, backend: r.backend };
    }""")
    wasm, unknown, missing = out["errors"]
    assert re.fullmatch(r'TF\.js backend "wasm" failed to initialise here \(its \.wasm files were looked for in '
                        r'http://\S+/nowhere/; pass wasmPaths: .*\)', wasm), wasm
    assert unknown.startswith('TF.js backend "nope" failed to initialise here') and "backend: 'wasm'" in unknown, unknown
    assert re.fullmatch(r"the image at http://\S+/urls/missing\.png could not be loaded \(HTTP 404\)", missing), missing
    assert out["backend"] == "cpu" and len(out["faces"]) == 1 and on_astronaut(out["faces"][0]["box"])
    assert len(out["boxes"]) == 1 and on_astronaut(out["boxes"][0])
    page.goto(site.url + "/examples/no-core.html")
    error = page.evaluate("""async () => {
        const { createRecognizer } = await import('fer-browser');
        try { await createRecognizer(JSON.parse(document.getElementById('options').textContent)); return 'no error'; }
        catch (e) { return e.message; } }""")
    assert error.startswith('the wasm backend could not be loaded: module "@tensorflow/tfjs-core" did not resolve'), error
    assert "\n" not in error and all("\n" not in e for e in out["errors"])
    page.close()


def test_calibration_temperature_is_applied(browser, site, astronaut_png):
    """A model whose metadata.json carries calibration.temperature T gives softmax(log(p) / T) of
    the probabilities the same model gives without it (the metadata is served with the field added)."""
    meta = json.loads((MODEL / "metadata.json").read_text())
    page = browser.new_page()
    page.route("**/cal/astronaut.png", lambda route: route.fulfill(status=200, body=astronaut_png.read_bytes(),
                                                                    content_type="image/png"))
    page.route("**/calibrated/metadata.json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps({**meta, "calibration": {**meta["calibration"], "temperature": 2.5}})))
    page.route("**/calibrated/tfjs/**", lambda route: route.continue_(url=route.request.url.replace("/calibrated/", "/model/")))
    # the shipped model carries its own temperature: "raw" is the same model with the field removed
    uncalibrated = {k: v for k, v in meta.items() if k != "calibration"}
    page.route("**/raw/metadata.json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(uncalibrated)))
    page.route("**/raw/tfjs/**", lambda route: route.continue_(url=route.request.url.replace("/raw/", "/model/")))
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
    out = page.evaluate("""async () => {
        const { createRecognizer } = await import('fer-browser');
        const img = new Image(); img.src = '/cal/astronaut.png'; await img.decode();
        const common = { detectorUrl: '../face_pipeline.json', detectorWeightsUrl: '../vendor/blazeface/blazeface.json',
                         wasmPaths: '../vendor/tfjs-backend-wasm/' };
        const read = async (modelUrl) => { const r = await createRecognizer({ ...common, modelUrl });
            const [face] = await r.estimateFaces(img); const p = r.classes.map((c) => face.probabilities[c]);
            const t = r.model.temperature; r.dispose(); return { p, t, label: face.label, score: face.confidence }; };
        return { raw: await read('../raw/'), cal: await read('../calibrated/') };
    }""")
    import numpy as np
    raw, cal = np.array(out["raw"]["p"], np.float64), np.array(out["cal"]["p"], np.float64)
    assert out["raw"]["t"] == 1 and out["cal"]["t"] == 2.5
    expected = np.exp(np.log(raw) / 2.5)
    expected /= expected.sum()
    assert np.abs(cal - expected).max() < 1e-5, (cal, expected)
    assert np.abs(cal - raw).max() > 1e-3  # the temperature changed something
    assert out["cal"]["score"] == pytest.approx(cal.max(), abs=1e-7)
    page.close()


def test_metadata_that_breaks_its_contract_is_refused_in_one_line(browser, site):
    """checkMetadata applies web/schemas/model-metadata.schema.json in the browser too (the schema arrives as a
    JSON module), and a class count other than the TF.js model's output size is refused where the model loads."""
    meta = json.loads((MODEL / "metadata.json").read_text())
    two = {k: v for k, v in meta.items() if k != "prior"}  # a 7-class prior would be refused before the model loads
    served = {"two-classes": {**two, "classes": ["a", "b"]}, "big-crop": {**meta, "crop": {**meta["crop"], "scale": 1e9}}}
    page = browser.new_page()

    def serve(name, doc):  # Playwright calls a handler with (route, request): bind name and doc here
        page.route(f"**/{name}/metadata.json", lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(doc)))
        page.route(f"**/{name}/tfjs/**", lambda route: route.continue_(
            url=route.request.url.replace(f"/{name}/", "/model/")))
    for name, doc in served.items():
        serve(name, doc)
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
    errors = page.evaluate("""async (names) => {
        const { EmotionModel } = await import('fer-browser');
        const out = [];
        for (const name of names) {
            try { await EmotionModel.load(`../${name}/`); out.push('loaded'); } catch (e) { out.push(e.message); }
        }
        return out;
    }""", list(served))
    two, big = errors
    assert re.fullmatch(r"http://\S+/two-classes/tfjs/model\.json: the model gives 7 outputs per face but "
                        r"metadata\.json names 2 classes", two), two
    assert re.fullmatch(r"http://\S+/big-crop/metadata\.json: crop\.scale must be <= 4, got 1000000000", big), big
    page.close()


def test_detector_that_disagrees_with_its_settings_is_refused_at_load(browser, site):
    """FaceDetector.load warms BlazeFace up on a small blank input (two coarsest strides square, not a
    camera frame: bench/bench_bytes.py's first label) and that run still checks the graph against
    face_pipeline.json: one score per anchor, or a one-line error naming the weights."""
    page = browser.new_page()
    page.goto(site.url + "/examples/basic.html")
    wait_js(page, "document.getElementById('status').textContent === 'ready'", timeout_s=120)
    out = page.evaluate("""async () => {
        const { FaceDetector, checkPipelineConfig } = await import('fer-browser');
        const cfg = checkPipelineConfig(await (await fetch('../face_pipeline.json')).json()).detector;
        const url = '../vendor/blazeface/blazeface.json';
        const good = await FaceDetector.load(url, cfg);
        const blank = document.createElement('canvas'); blank.width = 320; blank.height = 240;
        const faces = await good.detect(blank, 1, { letterbox: false });
        good.dispose();
        const wrong = { ...cfg, featureMaps: cfg.featureMaps.map((f, i) => (i === 0 ? { ...f, anchors: f.anchors + 1 } : f)) };
        try { await FaceDetector.load(url, wrong); return { faces: faces.length, error: 'no error' }; }
        catch (e) { return { faces: faces.length, error: e.message }; }
    }""")
    assert out["faces"] == 0  # a blank canvas: the warmed detector runs and finds nobody
    assert re.fullmatch(r"\.\./vendor/blazeface/blazeface\.json does not run as the BlazeFace model "
                        r"face_pipeline\.json describes \(the face detector gave 56 scores for a 64x64 input, "
                        r"not one per anchor \(72\)\)", out["error"]), out["error"]
    page.close()


def test_recognizer_profile(browser, site, astronaut_png):
    """"Calibrate to me" through the public API: faces' features (not in the face's JSON), a head fitted on
    them made into a profile, setProfile: the profile's classes (custom one included, hidden one left out),
    the recorded face read as its recorded class, another model's profile refused in one line with the
    current one kept, null back to the model; no tensor left behind."""
    page = example_page(browser, site, astronaut_png, "/prof/astronaut.png")
    out = page.evaluate("""async () => {
        const lib = await import('fer-browser');
        const tf = await import('@tensorflow/tfjs');
        const r = await lib.createRecognizer(""" + OPTIONS_JS + """);
        const start = tf.memory().numTensors;
        const img = new Image(); img.src = '/prof/astronaut.png'; await img.decode();
        // two looks of the same face: as shot ('wink'), mirrored ('neutral'); three brightnesses each
        const look = (mirror, b) => { const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.filter = `brightness(${b})`;
            if (mirror) { g.translate(c.width, 0); g.scale(-1, 1); } g.drawImage(img, 0, 0); return c; };
        const E = [], L = [], y = [];
        for (const [mirror, label] of [[false, 7], [true, 0]]) for (const b of [0.9, 1, 1.1]) {
            const [f] = await r.estimateFaces(look(mirror, b), { features: true });
            E.push(f.embedding); L.push(f.logProbs); y.push(label);
        }
        const [plain] = await r.estimateFaces(img);
        const [tracked] = await r.estimateFaces(img, { track: true, features: true, timestamp: 0 });
        const head = lib.fitHead(E, L, y, 8, r.metadata.prior?.probabilities ?? null);
        const profile = lib.makeProfile(head, r.metadata, ['wink'], ['fear']);
        r.setProfile(profile);
        const [mine] = await r.estimateFaces(img);
        const withProfile = { classes: r.classes, label: mine.label, keys: Object.keys(mine.probabilities),
            sum: Object.values(mine.probabilities).reduce((a, b) => a + b, 0), valid: !!lib.validate(mine, 'face-result', 'face') };
        const other = { ...profile, model: { ...profile.model, weights_sha256: 'f'.repeat(64) } };
        let refused = '';
        try { r.setProfile(other); } catch (e) { refused = `${e.constructor.name}: ${e.message}`; }
        const kept = r.profile === profile;
        for (let i = 0; i < 3; i++) await r.estimateFaces(img, { track: true, timestamp: 40 * (i + 1) });
        const [trackedMine] = await r.estimateFaces(img, { track: true, timestamp: 200 });
        r.setProfile(null);
        const [back] = await r.estimateFaces(img);
        const end = tf.memory().numTensors;
        r.dispose();
        return { start, end, withProfile, refused, kept, trackedLabel: trackedMine.label,
            plainKeys: Object.keys(plain), plainJson: JSON.stringify(plain).includes('embedding'),
            featureKeys: Object.keys(tracked), embLen: tracked.embedding.length, lpLen: tracked.logProbs.length,
            trackedValid: !!lib.validate(tracked, 'face-result', 'face'), trackedJson: JSON.stringify(tracked).includes('logProbs'),
            plainEmb: plain.embedding === undefined, backClasses: r.classes, backLabel: back.label, profileAfter: r.profile };
    }""")
    names = classes()
    visible = [c for c in names if c != "fear"] + ["wink"]
    assert out["withProfile"]["classes"] == visible and out["withProfile"]["keys"] == visible
    assert out["withProfile"]["label"] == "wink" and out["trackedLabel"] == "wink", out
    assert out["withProfile"]["sum"] == pytest.approx(1, abs=1e-6) and out["withProfile"]["valid"]
    assert out["refused"].startswith("ProfileError: setProfile: made for model ffffffffffff") and "\n" not in out["refused"]
    assert out["kept"] and out["profileAfter"] is None
    assert out["embLen"] == 192 and out["lpLen"] == len(names) and out["trackedValid"] and out["plainEmb"]
    assert "embedding" not in out["featureKeys"] and not out["trackedJson"] and not out["plainJson"]
    assert out["backClasses"] == names and out["backLabel"] in names
    assert out["end"] == out["start"], out
    page.close()


def test_page_work_counts_in_the_frame_budget(browser, site, astronaut_png):
    """estimateFaces(..., {track: true, pageMs}): the page's own work on a frame shares the frame budget
    (1000 / targetFps). On a fast machine with no page work the model reads the face on every frame; a
    page whose drawing alone fills the budget makes the model read it only every labelMaxAgeMs (its label
    carried in between) and the detector run less often. A pageMs that is no time is refused in one line.
    The budget is 100 ms (targetFps 10), so the recognizer's own work fits it even on a loaded CI machine
    (at 30 frames/s, 33 ms, one frame of 40 went unread in one CI run with no page work at all)."""
    page = example_page(browser, site, astronaut_png, "/mem/astronaut.png")
    options = OPTIONS_JS[:-1] + ", pipeline: { cadence: { targetFps: 10 } } }"
    out = page.evaluate("""async () => {
        const { createRecognizer } = await import('fer-browser');
        const r = await createRecognizer(""" + options + """);
        const img = new Image(); img.src = '/mem/astronaut.png'; await img.decode();
        const run = async (pageMs) => {
          r.reset();
          const read = [], detected = [];
          for (let i = 0; i < 60; i++) {  // 30 frames/s of a still face, by the frames' own clock
            const faces = await r.estimateFaces(img, { track: true, timestamp: 1000 + 33.3 * i, pageMs });
            if (faces.length !== 1) return { error: `frame ${i}: ${faces.length} faces` };
            read.push(r.lastTimings.facesRead);
            detected.push(r.lastTimings.detectorMs !== null);
          }
          // from frame 20 on: the averages have settled
          return { read: read.slice(20).reduce((a, b) => a + b), detected: detected.slice(20).filter(Boolean).length };
        };
        const idle = await run(0), busy = await run(1000 / r.config.cadence.targetFps);
        const errors = [];
        for (const bad of [-1, NaN, 'x']) {
          try { await r.estimateFaces(img, { track: true, pageMs: bad }); errors.push('no error'); } catch (e) { errors.push(e.message); }
        }
        const labelMaxAgeMs = r.config.cadence.labelMaxAgeMs;
        r.dispose();
        return { idle, busy, errors, labelMaxAgeMs };
    }""")
    assert "error" not in out["idle"] and "error" not in out["busy"], out
    assert out["idle"]["read"] == 40, out  # every frame
    # every labelMaxAgeMs (200 ms: every 7th frame at 30 frames/s), not every frame
    assert out["labelMaxAgeMs"] == 200 and 40 / 8 <= out["busy"]["read"] <= 40 / 5, out
    assert out["busy"]["detected"] < out["idle"]["detected"], out
    assert all(re.fullmatch(r"estimateFaces: pageMs must be a number of ms >= 0, not \S+", e) for e in out["errors"]), out
    page.close()
