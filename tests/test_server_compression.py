"""The server's gzip (fer_browser/compression.py): the big files go out compressed when the request's
Accept-Encoding allows it, come back byte-identical once decompressed (the model's against its
manifest.json), keep apart in caches (Vary, distinct ETags) and are never compressed for a client
that did not ask. Flask's test client on the shipped model, then server.py itself over HTTP."""
from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import shutil

import pytest

from fer_browser.paths import DEFAULT_MODEL_DIR, VENDOR, WEB_DIR
from fer_browser.server import create_app
from web_helpers import Server

VENDOR_FILES = [("tfjs", "tf.fesm.min.js"), ("tfjs-core", "tf-core.fesm.min.js"),
                ("tfjs-converter", "tf-converter.fesm.min.js"), ("tfjs-backend-wasm", "tfjs-backend-wasm-simd.wasm"),
                ("tfjs-backend-wasm", "tf-backend-wasm.fesm.min.js"), ("blazeface", "blazeface.bin"),
                ("blazeface", "blazeface.json")]
BIG = {  # URL -> the file whose bytes it serves
    **{f"/vendor/{package}/{name}": VENDOR[package][0] / name for package, name in VENDOR_FILES},
    "/model/tfjs/group1-shard1of1.bin": DEFAULT_MODEL_DIR / "tfjs/group1-shard1of1.bin",
    "/model/tfjs/model.json": DEFAULT_MODEL_DIR / "tfjs/model.json",
    "/model/metadata.json": DEFAULT_MODEL_DIR / "metadata.json",
    "/lib/recognizer.js": WEB_DIR / "lib/recognizer.js",
    "/?bundle=off": WEB_DIR / "index.html",  # as on disk; with the bundle current "/" names it (test_bundle.py)
}


@pytest.fixture(scope="module")
def client():
    return create_app(DEFAULT_MODEL_DIR).test_client()


@pytest.mark.parametrize("url", sorted(BIG))
def test_big_files_are_gzipped_and_identical_after_decompression(client, url):
    raw = BIG[url].read_bytes()
    resp = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert resp.status_code == 200
    assert resp.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in resp.headers["Vary"]
    assert len(resp.data) < len(raw) and int(resp.headers["Content-Length"]) == len(resp.data)
    assert gzip.decompress(resp.data) == raw
    plain = client.get(url)  # no Accept-Encoding: the file as it is
    assert "Content-Encoding" not in plain.headers and plain.data == raw
    assert "Accept-Encoding" in plain.headers["Vary"]
    assert plain.headers["ETag"] != resp.headers["ETag"]  # two representations, two validators


def test_the_model_decompresses_to_its_manifest(client):
    listed = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())["files"]
    for name in ("tfjs/group1-shard1of1.bin", "tfjs/model.json", "metadata.json"):
        body = client.get(f"/model/{name}", headers={"Accept-Encoding": "gzip"}).data
        assert hashlib.sha256(gzip.decompress(body)).hexdigest() == listed[name]["sha256"], name


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0", "br", "deflate"])
def test_no_gzip_unless_accepted(client, accept):
    resp = client.get("/vendor/tfjs/tf.fesm.min.js", headers={"Accept-Encoding": accept})
    assert "Content-Encoding" not in resp.headers
    assert resp.data == BIG["/vendor/tfjs/tf.fesm.min.js"].read_bytes()


def test_files_under_the_size_floor_are_sent_as_they_are(client):
    for url in ("/lib/empty-module.js", "/favicon.svg"):  # about 250 bytes each
        resp = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200 and "Content-Encoding" not in resp.headers, url
        assert resp.data == (WEB_DIR / url.lstrip("/")).read_bytes()


def test_gzip_answers_conditional_requests(client):
    first = client.get("/model/tfjs/group1-shard1of1.bin", headers={"Accept-Encoding": "gzip"})
    again = client.get("/model/tfjs/group1-shard1of1.bin",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_changed_web_file_is_compressed_afresh(tmp_path):
    web = tmp_path / "web"
    shutil.copytree(WEB_DIR, web)
    client = create_app(DEFAULT_MODEL_DIR, web).test_client()
    get = lambda: gzip.decompress(client.get("/js/app.js", headers={"Accept-Encoding": "gzip"}).data)  # noqa: E731
    assert get() == (web / "js/app.js").read_bytes()
    (web / "js/app.js").write_text((web / "js/app.js").read_text() + "\n// changed\n")
    assert get() == (web / "js/app.js").read_bytes()


def test_server_py_sends_gzip_over_http():
    """Through waitress, as a browser gets it."""
    srv = Server(None)
    try:
        for url in ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm", "/model/tfjs/group1-shard1of1.bin"):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            conn.request("GET", url, headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
            assert resp.getheader("Content-Type") in ("application/wasm", "application/octet-stream")
            assert gzip.decompress(body) == BIG[url].read_bytes()
    finally:
        srv.stop()
