"""Static files over HTTP with the page's path checks: no traversal, no symlink leading out of its
folder, only the whitelisted npm files under /vendor/, gzip for those browsers that accept it.

The server's app (server.py) uses it for web/ and node_modules; static_app() is the same for local
tools that need files over HTTP (convert's TF.js harness, the benchmark's pages).
"""
from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from flask import Flask, abort, send_file
from werkzeug.security import safe_join

from .compression import GzipCache, accepts_gzip, compressible, send_gzip
from .paths import VENDOR

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("image/svg+xml", ".svg")


def _inside(folder: Path, name: str) -> str | None:
    """The real path of folder/name if it is a file that stays inside folder once every symlink is
    resolved; None for traversal, missing files and links that lead out."""
    path = safe_join(str(folder), name)
    if path is None or "\0" in path:  # a NUL (/%00) makes os.path raise ValueError: a 500 and a traceback
        return None
    real, top = os.path.realpath(path), os.path.realpath(folder)
    if not real.startswith(top + os.sep) or not os.path.isfile(real):
        return None
    return real


GZIP = GzipCache()  # web/ and vendor files, compressed once per version on disk


def send_from(folder: Path, name: str):
    """folder/name (404 unless _inside allows it), gzipped when the browser accepts it and it pays."""
    real = _inside(folder, name)
    if real is None:
        abort(404)
    # The type follows the requested name, not a link target's.
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if not compressible(name):
        return send_file(real, mimetype=mimetype)
    gz = GZIP.get(real) if accepts_gzip() else None
    resp = send_gzip(*gz, mimetype) if gz else send_file(real, mimetype=mimetype)
    resp.headers["Vary"] = "Accept-Encoding"
    return resp


def send_vendor(package: str, name: str):
    """/vendor/PACKAGE/NAME: only the whitelisted npm files (paths.VENDOR)."""
    folder, allowed = VENDOR.get(package, (None, ()))
    if name not in allowed:
        abort(404)
    return send_from(folder, name)


def static_app(mounts: dict[str, Path], headers: dict[str, str] | None = None) -> Flask:
    """A bare app for local tools that need files over HTTP (convert's TF.js harness, the benchmark's
    pages): /PREFIX/<path> from each mounted folder, with the page's path checks (no traversal, no
    links leading out), plus /vendor/ from the same whitelist as the page; never cached; `headers`
    are added to every answer."""
    app = Flask(__name__, static_folder=None)
    app.add_url_rule("/vendor/<package>/<name>", "vendor", send_vendor)
    for prefix, folder in mounts.items():
        app.add_url_rule(f"/{prefix.strip('/')}/<path:name>", prefix,
                         lambda name, folder=Path(folder): send_from(folder, name))

    @app.after_request
    def add_headers(resp):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"  # a re-run must never see stale weights
        resp.headers.update(headers or {})
        return resp

    return app


def serve_in_background(app: Flask):
    """Serve app on a free port of 127.0.0.1 from a daemon thread; returns (server, base URL).
    Stop it with server.shutdown()."""
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):  # a tool's console is not the place for one line per request
        def log(self, *args) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"
