"""Serve the in-browser emotion recogniser: the static page, one converted model, the npm JS it needs.

    python server.py [--host 127.0.0.1] [--port 5000] [--model-dir models/fer-default/export]
    fer-serve [...]          (the same, installed: pip install "fer-browser[serve]")

Runs on waitress (a production WSGI server: bounded thread pool, idle connections closed after
--timeout seconds); Werkzeug's development server only with --dev. Nothing is fetched from outside:
TF.js, its wasm binaries and the BlazeFace weights come from node_modules (a whitelist of files,
never the whole folder), and the Content-Security-Policy only allows this server. Camera frames and
photos never leave the browser.

The model folder must match its manifest.json (every file with its sha256) at start-up, or the
server refuses to start. The files the page needs are then held in memory and served from there,
so nothing changed on disk later, and nothing else in the folder, is ever served.

Big text and binary files (TF.js, its wasm, the models) go out gzipped to browsers that accept it,
compressed once (at start-up, or on first request for web/ files) from the same bytes
(compression.py). The page itself comes with a Link preload header for the files its first label
waits for (preload_header), so a slow network fetches them while TF.js is still being parsed.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import ipaddress
import mimetypes
import re
import socket
import sys
from pathlib import Path

from flask import Flask, abort, request, send_file

from .bundle import load_bundle, page_html
from .cli import command
from .compression import MIN_BYTES, accepts_gzip, compressible, gzip_bytes, send_gzip
from .model_dir import ModelDirError, load_model_dir, rel
from .paths import DEFAULT_MODEL_DIR, VENDOR, WEB_DIR, missing_vendor_files, vendor_hint  # noqa: F401
from .static import GZIP, send_from, send_vendor

# waitress settings. Idle connections (including half-sent requests) are closed after --timeout s;
# beyond CONNECTION_LIMIT open connections new ones wait in the listen backlog (poll, not select,
# so more than 1024 descriptors work). The page only GETs, so request bodies are capped small.
DEFAULT_THREADS, DEFAULT_TIMEOUT = 8, 30
CONNECTION_LIMIT = 500
MAX_BODY_BYTES = 64 * 1024

# 'wasm-unsafe-eval' lets TF.js compile its WebAssembly backend. blob: scripts and workers are TF.js's
# threaded wasm: its pthread workers are made from blob: URLs and load the backend's code from another
# (only script already running on the page can make a blob: URL). Nothing else is relaxed.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval' blob:",
    "worker-src 'self' blob:",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


def importmap_hashes(web_dir: Path) -> list[str]:
    """CSP sources for the pages' inline import maps (browsers read import maps only inline; no
    other inline script is allowed)."""
    found = {base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()
             for page in Path(web_dir).rglob("*.html")
             for m in re.findall(r'<script type="importmap">(.*?)</script>', page.read_text(encoding="utf-8"), re.S)}
    return [f"'sha256-{h}'" for h in sorted(found)]


def preload_header(model_files) -> str:
    """A Link header that starts, with the page itself, every fetch its first label waits for: the
    pipeline settings, the model's metadata, graph and weights, BlazeFace's graph and weights. The
    page would otherwise ask for them only once TF.js is parsed and its wasm compiled, a chain of
    round trips that a phone's network makes long. `crossorigin` makes each preload match the page's
    own fetch() (CORS mode, same-origin credentials), so nothing is fetched twice."""
    model = ["metadata.json", "tfjs/model.json", *sorted(n for n in model_files if n.startswith("tfjs/") and n.endswith(".bin"))]
    urls = ["/face_pipeline.json", *(f"/model/{n}" for n in model if n in model_files),
            *(f"/vendor/blazeface/{n}" for n in sorted(VENDOR["blazeface"][1]))]
    return ", ".join(f"<{u}>; rel=preload; as=fetch; crossorigin=anonymous" for u in urls)


def create_app(model_dir: Path, web_dir: Path = WEB_DIR) -> Flask:
    model_dir = Path(model_dir)
    csp = CSP.replace("'wasm-unsafe-eval'", " ".join(["'wasm-unsafe-eval'", *importmap_hashes(web_dir)]))
    meta, model_files = load_model_dir(model_dir)
    etags = {name: hashlib.sha256(data).hexdigest() for name, data in model_files.items()}
    # gzip of the checked bytes, made now; kept only where it pays
    model_gz = {name: gz for name, data in model_files.items()
                if compressible(name) and len(data) >= MIN_BYTES and len(gz := gzip_bytes(data)) < len(data)}
    GZIP.warm(folder / name for folder, names in VENDOR.values() for name in names)
    app = Flask(__name__, static_folder=None)
    app.config["MODEL_DIR"] = model_dir.resolve()
    app.config["MODEL_METADATA"] = meta

    preload = preload_header(model_files)
    # The page's modules as one file when web/dist holds a bundle of the sources on disk now: its
    # checked bytes are kept here, and index.html names it instead of the modules (fer_browser/bundle.py).
    web_dir = Path(web_dir)
    bundle, why = load_bundle(web_dir)
    app.config["PAGE_BUNDLE"] = f"{bundle.sources} sources in dist/{bundle.entry}" if bundle else None
    app.config["PAGE_BUNDLE_MISSING"] = why
    pages = {}
    if bundle:
        html = page_html((web_dir / "index.html").read_text(encoding="utf-8"), bundle).encode()
        pages = {"index.html": html, **{f"dist/{n}": data for n, data in bundle.files.items()}}
    page_etags = {name: hashlib.sha256(data).hexdigest() for name, data in pages.items()}
    page_gz = {name: gz for name, data in pages.items()
               if len(data) >= MIN_BYTES and len(gz := gzip_bytes(data)) < len(data)}

    def send_page(name: str):
        """index.html rewritten for the bundle, or one of the bundle's files, from memory."""
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name in page_gz and accepts_gzip():
            return send_gzip(page_gz[name], f"{page_etags[name]}-gz", mimetype)
        resp = send_file(io.BytesIO(pages[name]), etag=page_etags[name], last_modified=None, mimetype=mimetype)
        resp.headers["Vary"] = "Accept-Encoding"
        return resp

    @app.get("/")
    def index():
        # ?bundle=off: the modules one by one even when a bundle is current (bench/bench_bytes.py --query)
        resp = send_page("index.html") if bundle and request.args.get("bundle") != "off" else send_from(web_dir, "index.html")
        if request.args.get("preload") != "off":  # bench/bench_bytes.py's ablation: --query preload=off
            resp.headers["Link"] = preload
        return resp

    @app.get("/dist/<name>")
    def bundle_file(name):
        # only the files bundle.json lists and load_bundle checked; never whatever else is on disk there
        if f"dist/{name}" not in pages:
            abort(404)
        return send_page(f"dist/{name}")

    @app.get("/model/<path:name>")
    def model_file(name):
        if name not in model_files:
            abort(404)
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name in model_gz and accepts_gzip():
            return send_gzip(model_gz[name], f"{etags[name]}-gz", mimetype)
        # A file object, not bytes: waitress then streams it instead of copying large bodies to a temp file.
        resp = send_file(io.BytesIO(model_files[name]), etag=etags[name], last_modified=None, mimetype=mimetype)
        if name in model_gz:
            resp.headers["Vary"] = "Accept-Encoding"
        return resp

    app.add_url_rule("/vendor/<package>/<name>", "vendor", send_vendor)

    @app.get("/<path:name>")
    def static_file(name):
        return send_from(web_dir, name)

    # Every response header the server adds lives here.
    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = csp
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-cache"
        # Cross-origin isolation: TF.js's wasm backend runs its threaded binary only on an isolated page
        # (SharedArrayBuffer). Every file is this server's own, so require-corp blocks nothing.
        # bench/bench_browser.py's ablation ?isolation=off leaves the page unisolated.
        if not (request.path == "/" and request.args.get("isolation") == "off"):
            resp.headers.update(ISOLATION)
        return resp

    return app


# ---------- command line ----------

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_in(lo: int, hi: int, what: str):
    def parse(text: str) -> int:
        value = int(text) if re.fullmatch(r"[0-9]{1,6}", text) else None  # no sign, spaces or '1_0'
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the first address `host` resolves to, listening (raises OSError)."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def exposure_warning(address: str) -> str | None:
    """A plain warning when the bound address is reachable from beyond this machine."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_loopback:
        return None
    where = "every network interface" if ip.is_unspecified else address
    return (f"warning: listening on {where}, beyond this machine: anyone who can reach it gets the page and "
            f"the model. Browsers allow the camera only on https or localhost and this server speaks plain "
            f"http, so put an https reverse proxy in front for the camera (photo upload works either way).")


def main(argv=None) -> int:
    ap = _Parser(description="Serve the in-browser facial-expression recogniser "
                 "(webcam and photo upload; frames never leave the browser) on waitress, a production "
                 "WSGI server. Refuses a model folder that does not match its manifest.json.")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default: 127.0.0.1; anything else is reachable from other "
                         "machines and the camera then needs https)")
    ap.add_argument("--port", type=_int_in(0, 65535, "a port (1-65535, or 0 for a free one)"), default=5000,
                    help="port, 1-65535 (default: 5000; 0 picks a free one, printed at start)")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                    help=f"converted model directory made by `{command('convert')}` (default: {rel(DEFAULT_MODEL_DIR)})")
    ap.add_argument("--web-dir", type=Path, default=WEB_DIR,
                    help=f"folder holding the page (default: {rel(WEB_DIR)})")
    ap.add_argument("--threads", type=_int_in(1, 64, "a thread count (1-64)"), default=DEFAULT_THREADS,
                    help=f"worker threads answering requests (default: {DEFAULT_THREADS})")
    ap.add_argument("--timeout", type=_int_in(1, 3600, "a timeout in whole seconds (1-3600)"),
                    default=DEFAULT_TIMEOUT,
                    help=f"close a connection idle this many seconds, half-sent requests included "
                         f"(default: {DEFAULT_TIMEOUT})")
    ap.add_argument("--dev", action="store_true",
                    help="use Werkzeug's development server instead (no idle timeout, no thread cap: "
                         "for local development only)")
    args = ap.parse_args(argv)
    if not args.web_dir.is_dir() or not (args.web_dir / "index.html").is_file():
        print(f"error: --web-dir {rel(args.web_dir)} holds no index.html", file=sys.stderr)
        return 2
    missing = missing_vendor_files()
    if missing:
        print(f"error: the page's npm files are missing ({rel(missing[0])}); {vendor_hint()}", file=sys.stderr)
        return 2
    try:
        app = create_app(args.model_dir, args.web_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        hint = "check --host" if isinstance(exc, socket.gaierror) else "choose another with --port"
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); {hint}", file=sys.stderr)
        return 2
    address, port = sock.getsockname()[:2]
    if args.dev:
        from werkzeug.serving import make_server
        server = make_server(address, port, app, threaded=True, fd=sock.fileno())  # address: the family bound
        kind = "Werkzeug's development server (--dev: no idle timeout, no thread cap; not for real use)"
    else:
        from waitress import create_server
        server = create_server(app, sockets=[sock], threads=args.threads, channel_timeout=args.timeout,
                               cleanup_interval=max(1, args.timeout // 2), connection_limit=CONNECTION_LIMIT,
                               max_request_body_size=MAX_BODY_BYTES, asyncore_use_poll=True)
        kind = f"waitress ({args.threads} threads, idle timeout {args.timeout} s)"
    host = f"[{args.host}]" if ":" in args.host else args.host
    name = app.config["MODEL_METADATA"].get("model", {}).get("name", "?")
    # The socket already listens: connections made from now on are queued and answered.
    print(f"Serving the emotion recogniser (model {name!r} from {rel(args.model_dir)}) with {kind} on "
          f"http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    if app.config["PAGE_BUNDLE"]:
        print(f"The page: {app.config['PAGE_BUNDLE']} (web/dist, current).", flush=True)
    else:
        print(f"The page: its modules one by one (web/dist: {app.config['PAGE_BUNDLE_MISSING']}); "
              f"`npm run build` in a checkout bundles them for a faster first load.", flush=True)
    warning = exposure_warning(address)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        if args.dev:
            server.serve_forever()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
