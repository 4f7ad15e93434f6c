"""Serve the in-browser emotion recogniser: the static page, one converted model, the npm JS it needs.

    python server.py [--host 127.0.0.1] [--port 5000] [--model-dir models/fer-default/export]

Nothing is fetched from outside: TF.js, its wasm binaries and the BlazeFace face-detector weights come
from node_modules (a whitelist of files, never the whole folder), and the Content-Security-Policy
only allows this server. Camera frames and photos never leave the browser.
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import socket
import sys
from pathlib import Path

from flask import Flask, abort, send_from_directory

ROOT = Path(__file__).resolve().parent
WEB_DIR = ROOT / "web"
NODE_MODULES = ROOT / "node_modules"
DEFAULT_MODEL_DIR = ROOT / "models" / "fer-default" / "export"

# URL prefix under /vendor/ -> (folder, files allowed from it). Only what the page loads.
VENDOR = {
    "tfjs": (NODE_MODULES / "@tensorflow/tfjs/dist", {"tf.min.js"}),
    "tfjs-backend-wasm": (NODE_MODULES / "@tensorflow/tfjs-backend-wasm/dist", {
        "tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
        "tfjs-backend-wasm-threaded-simd.wasm"}),
    "blazeface": (NODE_MODULES / "@vladmandic/human/models", {"blazeface.json", "blazeface.bin"}),
}

# Files of the model directory the page may read (never the checkpoint, ONNX or SavedModel).
MODEL_FILES = {"metadata.json", "reference.json", "parity.json"}

# 'wasm-unsafe-eval' lets TF.js compile its WebAssembly backend; nothing else is relaxed.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("image/svg+xml", ".svg")


class ModelDirError(ValueError):
    """The model directory is missing or lacks a file the page needs."""


def convert_hint(model_dir: Path) -> str:
    ckpt = model_dir.parent / "checkpoint.pt" if model_dir.name == "export" else "CHECKPOINT.pt"
    return f"make it with: python -m convert {_rel(ckpt)} --out {_rel(model_dir)}"


def _rel(p) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def check_model_dir(model_dir: Path) -> dict:
    """Return the parsed metadata.json if the directory holds everything the page loads."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelDirError(f"model directory {_rel(model_dir)} does not exist; {convert_hint(model_dir)}")
    needed = ["metadata.json", "tfjs/model.json", "reference.json"]
    missing = [f for f in needed if not (model_dir / f).is_file()]
    if missing:
        raise ModelDirError(f"model directory {_rel(model_dir)} is incomplete (missing {', '.join(missing)}); "
                            f"{convert_hint(model_dir)}")
    meta, manifest, reference = (_read_json(model_dir, f) for f in needed)
    try:
        missing = [f"tfjs/{p}" for group in manifest["weightsManifest"] for p in group["paths"]
                   if not (model_dir / "tfjs" / p).is_file()]
        if not (model_dir / reference["inputs_file"]).is_file():
            missing.append(reference["inputs_file"])
    except (KeyError, TypeError) as exc:
        raise ModelDirError(f"model directory {_rel(model_dir)} has a malformed tfjs/model.json or reference.json "
                            f"(no {exc}); {convert_hint(model_dir)}") from None
    if missing:
        raise ModelDirError(f"model directory {_rel(model_dir)} is incomplete (missing {', '.join(missing)}); "
                            f"{convert_hint(model_dir)}")
    for key in ("classes", "input", "preprocessing", "crop"):
        if not isinstance(meta, dict) or key not in meta:
            raise ModelDirError(f"{_rel(model_dir)}/metadata.json has no {key!r}; {convert_hint(model_dir)}")
    return meta


def _read_json(model_dir: Path, name: str):
    try:
        return json.loads((model_dir / name).read_text())
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"{_rel(model_dir / name)} is unreadable ({exc}); {convert_hint(model_dir)}") from None


def create_app(model_dir: Path) -> Flask:
    model_dir = Path(model_dir).resolve()
    meta = check_model_dir(model_dir)
    reference_inputs = json.loads((model_dir / "reference.json").read_text())["inputs_file"]
    model_files = MODEL_FILES | {reference_inputs}
    app = Flask(__name__, static_folder=None)
    app.config["MODEL_DIR"] = model_dir
    app.config["MODEL_METADATA"] = meta

    # send_from_directory refuses paths that leave its folder (404); the whitelists narrow it further.
    @app.get("/")
    def index():
        return send_from_directory(WEB_DIR, "index.html")

    @app.get("/model/<path:name>")
    def model_file(name):
        if name in model_files or (name.startswith("tfjs/") and name.count("/") == 1):
            return send_from_directory(model_dir, name)
        abort(404)

    @app.get("/vendor/<package>/<name>")
    def vendor(package, name):
        folder, allowed = VENDOR.get(package, (None, ()))
        if name not in allowed:
            abort(404)
        return send_from_directory(folder, name)

    @app.get("/<path:name>")
    def static_file(name):
        return send_from_directory(WEB_DIR, name)

    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    return app


def _check_bind(host: str, port: int) -> None:
    from werkzeug.serving import get_sockaddr, select_address_family
    family = select_address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(get_sockaddr(host, port, family))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Serve the in-browser facial-expression recogniser "
                                 "(webcam and photo upload; frames never leave the browser).")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=5000, help="port (default: 5000; 0 picks a free one)")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                    help=f"converted model directory made by `python -m convert` (default: {_rel(DEFAULT_MODEL_DIR)})")
    args = ap.parse_args(argv)
    try:
        app = create_app(args.model_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from werkzeug.serving import make_server
    try:
        _check_bind(args.host, args.port)  # werkzeug would print its own two lines and exit(1)
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        hint = "check --host" if isinstance(exc, socket.gaierror) else "choose another with --port"
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); {hint}", file=sys.stderr)
        return 2
    host = f"[{args.host}]" if ":" in args.host else args.host
    name = app.config["MODEL_METADATA"].get("model", {}).get("name", "?")
    print(f"Serving the emotion recogniser (model {name!r} from {_rel(args.model_dir)}) on "
          f"http://{host}:{server.server_port}/  (Ctrl+C to stop)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("note: browsers only allow the camera on https or localhost; upload works anywhere", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
