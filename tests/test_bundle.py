"""The page's modules as one file (npm/bundle.mjs -> web/dist, served by fer_browser/bundle.py): built
from every module the page imports, carrying no path of this machine, served only while every
source and every output still matches its sha256, and the page works from it in Chromium without
fetching a module of its own one by one."""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fer_browser.bundle import BEGIN, END, load_bundle
from fer_browser.paths import DEFAULT_MODEL_DIR, ROOT, WEB_DIR
from fer_browser.server import create_app
from test_phone import static_module_graph


def build(web: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(ROOT / "npm" / "bundle.mjs"), "--web", str(web)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def web(tmp_path):
    """A copy of web/ (without its dist/) with a bundle built into it."""
    copy = tmp_path / "web"
    shutil.copytree(WEB_DIR, copy, ignore=shutil.ignore_patterns("dist", ".dist-*"))
    done = build(copy)
    assert done.returncode == 0, done.stderr
    return copy


def test_bundle_holds_every_module_and_no_path_of_this_machine(web):
    bundle, why = load_bundle(web)
    assert bundle is not None, why
    import json
    manifest = json.loads((web / "dist" / "bundle.json").read_text())
    # every module app.js imports, plus what it imports on first use (parity check, photo policy)
    graph = {p for p in static_module_graph(web) if not p.startswith("vendor/")}
    lazy = {"js/parity.js", "js/input_policy.js"}
    assert set(manifest["inputs"]) == graph | lazy | {"js/app.js", "index.html"}
    assert set(bundle.files) == {"app.js", "app.js.map"}
    for name, data in bundle.files.items():
        assert str(web).encode() not in data and str(ROOT).encode() not in data, name
        # offline: no outside address, not even the schemas' "$schema" dialect names (dropped when bundled)
        assert not re.search(rb"https?://", data), (name, re.search(rb".{40}https?://.{40}", data))
    # TF.js stays in its own files, imported by the names the import map resolves
    app = bundle.files["app.js"].decode()
    assert 'from"@tensorflow/tfjs-core"' in app.replace(" ", "") and "tf-core.fesm" not in app


def test_server_serves_the_bundle_only_while_every_file_matches(web):
    client = create_app(DEFAULT_MODEL_DIR, web).test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<script type="module" src="dist/app.js"></script>' in page
    # no module of the page's own is named any more (lib/empty-module.js stands in for TF.js's Node imports)
    assert not re.search(r'"(js|lib|schemas)/(?!empty-module\.js|camera_early\.js)', page) and BEGIN not in page and END not in page
    assert "vendor/tfjs-core/tf-core.fesm.min.js" in page and '<script type="importmap">' in page
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.get_data()).decode() == page
    resp = client.get("/dist/app.js", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.get_data()) == (web / "dist" / "app.js").read_bytes()
    assert client.get("/dist/bundle.json").status_code == 404  # only the files the page loads
    # the ablation: the modules one by one on request
    assert '<script type="module" src="js/app.js">' in client.get("/?bundle=off").get_data(as_text=True)

    # a source edited after the build: the modules one by one, and the reason names the file
    draw = web / "js" / "draw.js"
    draw.write_text(draw.read_text() + "\n// edited\n")
    assert load_bundle(web) == (None, "js/draw.js changed since it was built")
    client = create_app(DEFAULT_MODEL_DIR, web).test_client()
    assert '<script type="module" src="js/app.js">' in client.get("/").get_data(as_text=True)
    assert client.get("/dist/app.js").status_code == 404  # never a stale bundle, even asked by name

    # rebuilt: current again; then an output altered on disk is refused
    assert build(web).returncode == 0 and load_bundle(web)[0] is not None
    out = web / "dist" / "app.js"
    out.write_bytes(out.read_bytes() + b"\n")
    assert load_bundle(web) == (None, "dist/app.js does not match its sha256 in bundle.json")
    shutil.rmtree(web / "dist")
    assert load_bundle(web) == (None, "not built")


def test_bundle_cli_refuses_a_folder_without_the_page(tmp_path):
    done = build(tmp_path)
    assert done.returncode == 2 and "app.js not found" in done.stderr
    assert not (tmp_path / "dist").exists()


def test_checkout_bundle_is_current():
    """`make setup` / `make run` build web/dist; a source edited since makes the server fall back to the
    slower one-by-one modules, so the suite says so rather than testing a page users do not get."""
    bundle, why = load_bundle(WEB_DIR)
    assert bundle is not None, f"web/dist: {why}; run `npm run build` (make does it)"
