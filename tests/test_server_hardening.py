"""server.py as something fit to run: it refuses an altered model folder at start-up, serves only what
the manifest lists and the page needs, never follows a symlink out of its folders, validates --port,
warns when reachable beyond loopback, and cuts off half-open connections after --timeout.

Each test runs the real server.py as a subprocess on 127.0.0.1 (port 0: it prints the port it got).
"""
from __future__ import annotations

import http.client
import json
import re
import selectors
import shutil
import socket
import subprocess
import time

import pytest

from web_helpers import PYTHON, ROOT

START_S = 60  # bound on waiting for the URL line (the machine is shared and may be slow)


class Running:
    """`server.py --port 0 ARGS` until it prints its URL; .port is the port it really listens on."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([PYTHON, str(ROOT / "server.py"), "--port", "0", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_line = self._line(START_S)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", self.first_line)
        if not found:
            self.stop()
            raise RuntimeError(f"server.py printed no URL: {self.first_line!r} {self.proc.stderr.read()!r}")
        self.port = int(found.group(1))

    def _line(self, timeout: float) -> str:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return ""
        return self.proc.stdout.readline()

    def get(self, path, method="GET", body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def stop(self) -> str:
        """Stop it; return what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_server(*args, timeout=60):
    return subprocess.run([PYTHON, str(ROOT / "server.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Serving" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def first_shard(folder) -> str:
    graph = json.loads((folder / "tfjs/model.json").read_text())
    return "tfjs/" + graph["weightsManifest"][0]["paths"][0]


# ---------- the model folder must match its manifest ----------

def swap_labels(folder):
    """Swap the first two class names everywhere in metadata.json (same size, wrong answers)."""
    path = folder / "metadata.json"
    text = path.read_text()
    a, b = json.loads(text)["classes"][:2]
    swapped = text.replace(f'"{a}"', "\0").replace(f'"{b}"', f'"{a}"').replace("\0", f'"{b}"')
    assert swapped != text and len(swapped) == len(text)
    path.write_text(swapped)
    return "metadata.json"


def flip_shard_byte(folder):
    """Change one byte in the middle of a weight shard; the size stays the same."""
    rel = first_shard(folder)
    data = bytearray((folder / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / rel).write_bytes(bytes(data))
    return rel


def extra_tfjs_file(folder):
    (folder / "tfjs/extra.bin").write_bytes(b"\0" * 64)
    return "tfjs/extra.bin"


def shard_symlink(folder):
    """The shard replaced by a link to an identical copy outside the folder: same bytes, still refused."""
    rel = first_shard(folder)
    outside = folder.parent / "outside.bin"
    shutil.copyfile(folder / rel, outside)
    (folder / rel).unlink()
    (folder / rel).symlink_to(outside)
    return rel


def no_manifest(folder):
    (folder / "manifest.json").unlink()
    return "manifest.json"


@pytest.mark.parametrize("alter, says", [
    (swap_labels, "does not match its sha256"),
    (flip_shard_byte, "does not match its sha256"),
    (extra_tfjs_file, "is not in the manifest"),
    (shard_symlink, "is a symbolic link"),
    (no_manifest, "no manifest.json"),
])
def test_altered_model_folder_is_refused_at_start(tmp_path, model_dir, alter, says):
    copy = tmp_path / "export"
    shutil.copytree(model_dir, copy)
    Running("--model-dir", str(copy)).stop()  # the unaltered copy starts
    named = alter(copy)
    line = one_line_error(run_server("--model-dir", str(copy), "--port", "0"))
    assert named in line and says in line, line
    assert "python -m convert" in line


def test_serves_only_what_the_manifest_lists_and_the_page_needs(tmp_path, model_dir):
    from fer_browser.core.manifest import write_manifest
    copy = tmp_path / "export"
    shutil.copytree(model_dir, copy)
    (copy / "tfjs/notes.bin").write_bytes(b"listed in the manifest, but not in model.json")
    write_manifest(copy)
    shard = first_shard(copy)
    original = (copy / shard).read_bytes()
    with Running("--model-dir", str(copy)) as srv:
        assert srv.get("/model/tfjs/notes.bin")[0] == 404  # in the manifest but not a shard model.json lists
        for path in ("manifest.json", "model.onnx", "saved_model/saved_model.pb"):
            assert srv.get(f"/model/{path}")[0] == 404, path
        # Files changed or added on disk after the check are never served: the checked bytes are.
        flip_shard_byte(copy)
        (copy / "tfjs/late.bin").write_bytes(b"x")
        status, _, body = srv.get(f"/model/{shard}")
        assert status == 200 and body == original
        assert srv.get("/model/tfjs/late.bin")[0] == 404


def test_model_files_answer_conditional_requests(server, model_dir):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/model/metadata.json")
        resp = conn.getresponse()
        etag = resp.getheader("ETag")
        resp.read()
        conn.request("GET", "/model/metadata.json", headers={"If-None-Match": etag})
        resp = conn.getresponse()
        assert resp.status == 304 and resp.read() == b""
    finally:
        conn.close()


# ---------- symlinks never lead out of the served folders ----------

def test_symlinks_out_of_web_are_refused(tmp_path):
    web = tmp_path / "web"
    shutil.copytree(ROOT / "web", web, symlinks=True)
    (web / "etc").symlink_to("/etc")
    (web / "passwd.txt").symlink_to("/etc/passwd")
    (web / "up").symlink_to(ROOT)
    (web / "js" / "alias.js").symlink_to(web / "js" / "app.js")  # a link that stays inside is fine
    with Running("--web-dir", str(web)) as srv:
        for path in ("/etc/passwd", "/passwd.txt", "/up/server.py", "/up/web/index.html", "/etc/hostname"):
            status, _, body = srv.get(path)
            assert status == 404, path
            assert b"root:" not in body
        status, headers, body = srv.get("/js/alias.js")
        assert status == 200 and body == (web / "js" / "app.js").read_bytes()
        assert headers["Content-Type"].startswith("text/javascript")
        assert srv.get("/")[0] == 200


# ---------- command line ----------

@pytest.mark.parametrize("value", ["70000", "65536", "-1", "abc", " 80", "1_0", ""])
def test_bad_port_is_one_line(value):
    line = one_line_error(run_server("--port", value))
    assert "--port" in line and "0 for a free one" in line


@pytest.mark.parametrize("option, value", [("--threads", "0"), ("--threads", "1000"), ("--timeout", "0"),
                                           ("--timeout", "1.5")])
def test_bad_threads_or_timeout_is_one_line(option, value):
    assert option in one_line_error(run_server(option, value))


def test_port_zero_listens_on_the_port_it_prints(model_dir):
    with Running("--model-dir", str(model_dir)) as srv:
        assert srv.port > 0
        status, headers, _ = srv.get("/")
        assert status == 200 and headers["Server"] == "waitress"
    assert "warning" not in srv.stop()  # loopback: no exposure warning


def test_busy_port_is_one_line(model_dir):
    with Running("--model-dir", str(model_dir)) as srv:
        line = one_line_error(run_server("--model-dir", str(model_dir), "--port", str(srv.port)))
        assert str(srv.port) in line and "--port" in line


def test_help_names_every_option():
    proc = run_server("--help")
    assert proc.returncode == 0
    for opt in ("--host", "--port", "--model-dir", "--web-dir", "--threads", "--timeout", "--dev", "waitress"):
        assert opt in proc.stdout, opt


@pytest.mark.parametrize("address, warns", [("0.0.0.0", True), ("::", True), ("192.168.1.20", True),
                                            ("10.0.0.5", True), ("127.0.0.1", False), ("127.0.0.2", False),
                                            ("::1", False)])
def test_warns_when_reachable_beyond_loopback(address, warns):
    # Called on the address the socket is bound to; tests only ever bind 127.0.0.1 themselves.
    from fer_browser.server import exposure_warning
    text = exposure_warning(address)
    assert (text is not None) == warns
    if warns:
        assert text.startswith("warning:") and "https" in text and "camera" in text and "\n" not in text


def test_dev_server_only_behind_the_flag(model_dir):
    with Running("--model-dir", str(model_dir), "--dev") as srv:
        assert "development server" in srv.first_line
        status, headers, _ = srv.get("/")
        assert status == 200 and headers["Server"].startswith("Werkzeug")


def test_request_bodies_are_capped(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/", body=b"x" * (1 << 20))
        assert conn.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the whole body was sent: also capped
    finally:
        conn.close()


# ---------- the half-open-connection flood ----------

FLOOD = 120  # more than waitress's default connection limit (100); server.py allows 500
CUT_OFF_WITHIN_S = 60  # a bound on the wait, not a speed claim: the timeout is 2 s


def test_half_open_flood_is_cut_off_by_the_timeout(model_dir):
    with Running("--model-dir", str(model_dir), "--timeout", "2") as srv:
        socks = []
        try:
            for _ in range(FLOOD):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                s.sendall(b"GET /index.ht")  # half a request line, then silence
                socks.append(s)
            status, _, body = srv.get("/")  # a real visitor is still served meanwhile
            assert status == 200 and b"<html" in body.lower()
            deadline = time.monotonic() + CUT_OFF_WITHIN_S
            closed = 0
            for s in socks:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    closed += s.recv(1) == b""
                except ConnectionResetError:
                    closed += 1
                except TimeoutError:
                    break
            assert closed == FLOOD
            assert srv.get("/")[0] == 200
        finally:
            for s in socks:
                s.close()

