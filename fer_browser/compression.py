"""gzip for the page's big files, compressed once and kept in memory (issue 24: bytes before the first
label). TF.js, its wasm binary and the two models are the bulk of it; the bytes with and without gzip
are measured by bench/bench_bytes.py (README.md, Web app).

A response is compressed only when the request's Accept-Encoding takes gzip; it then carries
`Content-Encoding: gzip`, and every answer for a compressible file carries `Vary: Accept-Encoding`
so a cache never hands one representation to a client that asked for the other. The bytes compressed
are the bytes the server would send otherwise (for the model folder: the bytes checked against
manifest.json at start-up), so decompressing gives them back exactly.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading

from flask import request, send_file

# Text and binary formats that shrink; images are compressed already. Smaller files are not worth a
# Content-Encoding (the headers outweigh the saving).
COMPRESSIBLE = (".js", ".mjs", ".css", ".html", ".json", ".svg", ".wasm", ".bin")
MIN_BYTES = 1024


def compressible(name: str) -> bool:
    return name.lower().endswith(COMPRESSIBLE)


def accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no timestamp in the header): the same file always gives the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


class GzipCache:
    """gzip of files on disk, keyed by real path and re-made when the file's size or mtime changes."""

    def __init__(self):
        self._files: dict[str, tuple[tuple[int, int], bytes | None, str]] = {}
        self._lock = threading.Lock()

    def get(self, real: str) -> tuple[bytes, str] | None:
        """(gzip bytes, ETag) of the file, or None when compressing does not pay."""
        st = os.stat(real)
        key = (st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._files.get(real)
        if hit is None or hit[0] != key:
            with open(real, "rb") as fh:
                data = fh.read()
            gz = gzip_bytes(data) if len(data) >= MIN_BYTES else None
            if gz is not None and len(gz) >= len(data):
                gz = None
            hit = (key, gz, hashlib.sha256(data).hexdigest()[:32] + "-gz")
            with self._lock:
                self._files[real] = hit
        return None if hit[1] is None else (hit[1], hit[2])

    def warm(self, paths) -> None:
        """Compress these files now (server start-up), not on their first request."""
        for p in paths:
            if os.path.isfile(p) and compressible(str(p)):
                self.get(os.path.realpath(p))


def send_gzip(gz: bytes, etag: str, mimetype: str):
    resp = send_file(io.BytesIO(gz), mimetype=mimetype, etag=etag, last_modified=None)
    resp.headers["Content-Encoding"] = "gzip"
    resp.headers["Vary"] = "Accept-Encoding"
    return resp
