"""server.py as users run it: a real subprocess on 127.0.0.1, raw HTTP requests (no URL clean-up)."""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess

import pytest

from web_helpers import PYTHON, ROOT, Server, free_port


def get(server, path, method="GET"):
    """Send `path` exactly as written (http.client does not normalise dots or escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def run_server(*args, timeout=60):
    return subprocess.run([PYTHON, str(ROOT / "server.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_csp_admits_the_pages_import_maps_and_no_other_inline_script(server):
    """Module pages name their modules in an inline import map; the CSP carries each map's sha256."""
    import base64
    import hashlib
    import re
    csps = set()
    for page in ("/", "/examples/basic.html"):
        status, headers, body = get(server, page)
        assert status == 200
        maps = re.findall(rb'<script type="importmap">(.*?)</script>', body, re.S)
        assert len(maps) == 1 and b"<script>" not in body  # no other inline script
        digest = base64.b64encode(hashlib.sha256(maps[0]).digest()).decode()
        csp = headers["Content-Security-Policy"]
        assert f"'sha256-{digest}'" in csp and "unsafe-inline" not in csp
        csps.add(csp)
    assert len(csps) == 1  # one policy for every answer


def test_prints_its_url(server):
    assert f"http://127.0.0.1:{server.port}/" in server.output()


@pytest.mark.parametrize("path, ctype", [
    ("/", "text/html"),
    ("/js/app.js", "text/javascript"),
    ("/css/app.css", "text/css"),
    ("/favicon.svg", "image/svg+xml"),
    ("/vendor/tfjs/tf.fesm.min.js", "text/javascript"),
    ("/vendor/tfjs-backend-wasm/tf-backend-wasm.fesm.min.js", "text/javascript"),
    ("/lib/index.js", "text/javascript"),
    ("/face_pipeline.json", "application/json"),
    ("/schemas/model-metadata.schema.json", "application/json"),  # imported by web/lib/schema.js (JSON modules)
    ("/schemas/face-pipeline.schema.json", "application/json"),
    ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm", "application/wasm"),
    ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm.wasm", "application/wasm"),
    ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm", "application/wasm"),
    ("/vendor/blazeface/blazeface.json", "application/json"),
    ("/vendor/blazeface/blazeface.bin", "application/octet-stream"),
    ("/model/metadata.json", "application/json"),
    ("/model/tfjs/model.json", "application/json"),
    ("/model/reference.json", "application/json"),
    ("/model/reference_inputs.bin", "application/octet-stream"),
    ("/model/parity.json", "application/json"),
])
def test_serves_with_content_type_and_csp(server, path, ctype):
    status, headers, body = get(server, path)
    assert status == 200, path
    assert headers["Content-Type"].split(";")[0] == ctype
    assert body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")  # only wasm compilation is allowed
    assert headers["X-Content-Type-Options"] == "nosniff"
    # cross-origin isolated (TF.js's threaded wasm needs it): every answer, since every file is the server's
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_page_preloads_exactly_the_files_of_the_first_label(server):
    """The page's Link header starts the model's and the detector's fetches with the page: every listed
    file is served (200), the weights shards are those model.json names, and ?preload=off drops it."""
    import json
    import re
    _, headers, _ = get(server, "/")
    links = re.findall(r"<([^>]+)>; rel=preload; as=fetch; crossorigin=anonymous", headers["Link"])
    assert len(links) == len(headers["Link"].split(", "))  # every entry in that one form
    for url in links:
        assert get(server, url)[0] == 200, url
    _, _, graph = get(server, "/model/tfjs/model.json")
    shards = {f"/model/tfjs/{p}" for g in json.loads(graph)["weightsManifest"] for p in g["paths"]}
    assert shards and shards <= set(links)
    assert {"/model/metadata.json", "/model/tfjs/model.json", "/face_pipeline.json",
            "/vendor/blazeface/blazeface.json", "/vendor/blazeface/blazeface.bin"} <= set(links)
    assert not any(u.endswith((".onnx", "reference.json", "parity.json")) for u in links)  # only what the label needs
    assert "Link" not in get(server, "/?preload=off")[1]
    assert "Link" not in get(server, "/face_pipeline.json")[1]


def test_isolation_off_is_only_the_pages_benchmark_switch(server):
    """bench_browser.py's ours-nothreads row: ?isolation=off serves the page alone without COOP/COEP."""
    _, headers, _ = get(server, "/?isolation=off")
    assert "Cross-Origin-Opener-Policy" not in headers and "Cross-Origin-Embedder-Policy" not in headers
    _, headers, _ = get(server, "/face_pipeline.json?isolation=off")
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_serves_the_model_metadata_and_every_shard(server, model_dir):
    status, _, body = get(server, "/model/metadata.json")
    assert json.loads(body) == json.loads((model_dir / "metadata.json").read_text())
    manifest = json.loads(get(server, "/model/tfjs/model.json")[2])
    for path in (p for group in manifest["weightsManifest"] for p in group["paths"]):
        status, _, body = get(server, f"/model/tfjs/{path}")
        assert status == 200 and body == (model_dir / "tfjs" / path).read_bytes()


@pytest.mark.parametrize("path", [
    "/../server.py", "/js/../../server.py", "/%2e%2e/server.py", "/js/%2e%2e/%2e%2e/server.py",
    "/..%2fserver.py", "/js/..%2f..%2fserver.py", "/%2fetc%2fpasswd", "//etc/passwd", "/css/../../../../etc/passwd",
    "/vendor/tfjs/../package.json", "/vendor/tfjs/..%2f..%2fpackage.json", "/vendor/../package.json",
    "/vendor/tfjs/..%2f..%2f..%2f..%2fserver.py", "/vendor/blazeface/..%2fpackage.json",
    "/model/../server.py", "/model/%2e%2e/server.py", "/model/tfjs/../model.onnx", "/model/tfjs/..%2fmodel.onnx",
    "/model/tfjs/%2e%2e/%2e%2e/server.py", "/model/..%2f..%2fserver.py",
])
def test_path_traversal_is_refused(server, path):
    status, _, body = get(server, path)
    assert status == 404, (path, status)
    assert b"DEFAULT_MODEL_DIR" not in body and b"root:" not in body


@pytest.mark.parametrize("path", [
    "/nope", "/js/nope.js", "/index.htm", "/model/nope.json", "/model/model.onnx",
    "/model/saved_model/saved_model.pb", "/model/tfjs", "/model/", "/vendor/tfjs/tf.js", "/vendor/tfjs/tf.min.js.map",
    "/vendor/tfjs/package.json", "/vendor/nope/tf.min.js", "/vendor/blazeface/antispoof.json",
    "/vendor/tfjs-backend-wasm/", "/vendor/", "/js/", "/server.py", "/node_modules/@tensorflow/tfjs/package.json",
])
def test_unknown_and_unlisted_paths_are_404(server, path):
    status, headers, _ = get(server, path)
    assert status == 404, (path, status)
    assert "Content-Security-Policy" in headers


def test_only_get(server):
    assert get(server, "/", method="POST")[0] == 405


def test_help():
    proc = run_server("--help")
    assert proc.returncode == 0
    for opt in ("--host", "--port", "--model-dir"):
        assert opt in proc.stdout


def test_missing_model_dir_names_the_command(tmp_path):
    missing = tmp_path / "models" / "mine" / "export"
    proc = run_server("--model-dir", str(missing), "--port", str(free_port()))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "does not exist" in lines[0] and str(missing) in lines[0]
    assert "python -m convert" in lines[0] and "checkpoint.pt" in lines[0]


@pytest.mark.parametrize("remove", ["tfjs/model.json", "metadata.json", "reference.json", "shard"])
def test_incomplete_model_dir_names_what_is_missing(tmp_path, model_dir, remove):
    broken = tmp_path / "export"
    shutil.copytree(model_dir, broken)
    if remove == "shard":
        manifest = json.loads((broken / "tfjs/model.json").read_text())
        remove = "tfjs/" + manifest["weightsManifest"][0]["paths"][0]
    (broken / remove).unlink()
    proc = run_server("--model-dir", str(broken), "--port", str(free_port()))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "incomplete" in proc.stderr and remove in proc.stderr and "python -m convert" in proc.stderr


def test_unreadable_metadata_is_one_line(tmp_path, model_dir):
    broken = tmp_path / "export"
    shutil.copytree(model_dir, broken)
    (broken / "metadata.json").write_text("{not json")
    proc = run_server("--model-dir", str(broken), "--port", str(free_port()))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "metadata.json" in proc.stderr


def test_busy_port_is_one_line(server, model_dir):
    proc = run_server("--model-dir", str(model_dir), "--port", str(server.port))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--port" in proc.stderr and str(server.port) in proc.stderr
