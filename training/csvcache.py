"""Decode a FER2013-style CSV once, in parallel, into an on-disk uint8 cache that training streams.

The cache is a folder under $FER_CACHE_DIR (default ~/.cache/fer) named by the CSV's SHA-256 (the
key of the .npz cache it replaces): `images.npy` (N,48,48 uint8, every data row in file order; a
plain .npy that rowstore.RowFile reads batch by batch), `emotion.npy` and `usage.npy` (N,) int64,
`info.json`, and `manifest.json` (size and sha256 of each, fer_browser/core/manifest.py) written last.
It is built in a temp folder beside it and renamed into place when complete. Every load checks the
folder against its manifest (cheap next to decoding: bench/bench_epoch.py), so a truncated or
altered cache is noticed, removed and decoded again instead of being used.

The main process reads the CSV (csv module; header, labels and Usage checked as in fer_csv.py)
and sends blocks of rows' pixel text to worker processes, which parse them and send back uint8
blocks; blocks are written in order as they arrive, with a bounded number in flight, so memory
stays flat however long the file. Pixel errors keep fer_csv.py's messages (file, row, column) and
the first bad row in file order is the one reported.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from array import array
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer_browser.core.atomic import process_alive, staged_folder
from .cache import cache_dir
from .errors import DataError
from .fer_csv import IMAGE_SIZE, NUM_PIXELS, iter_records, parse_pixels
from fer_browser.core.manifest import MANIFEST_FILE, ManifestError, manifest_report, read_manifest, write_manifest

FORMAT = "fer-csv-cache/1"
FILES = ("images.npy", "emotion.npy", "usage.npy", "info.json")
CHUNK = 256                   # rows per task sent to a worker (about 2 MB of text)
PARALLEL_FROM = 8 << 20       # bytes of CSV below which spawning workers costs more than it saves
# The common spelling of a row: 2,304 numbers of 1-3 ASCII digits, one space apart. Rows that match
# are parsed in one np.fromstring call per block; any other row takes fer_csv.parse_pixels (which
# gives the same values, or the error message).
_PLAIN = re.compile(r"[0-9]{1,3}(?: [0-9]{1,3}){%d}" % (NUM_PIXELS - 1))


def _npy_header(rows: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                               "shape": (rows, IMAGE_SIZE, IMAGE_SIZE)})
    return buf.getvalue()


HEADER_BYTES = len(_npy_header(10**15))  # reserved before the row count is known (128 bytes)


def parse_block(path: str, lines: list[int], texts: list[str]) -> np.ndarray:
    """Pixel texts -> (n,48,48) uint8; raises fer_csv's DataError for the first bad row."""
    if all(_PLAIN.fullmatch(t) for t in texts):
        values = np.fromstring(" ".join(texts), dtype=np.int32, sep=" ")
        if values.max(initial=0) <= 255:
            return values.astype(np.uint8).reshape(len(texts), IMAGE_SIZE, IMAGE_SIZE)
    return np.stack([parse_pixels(t, Path(path), line) for line, t in zip(lines, texts)])


def cache_folder(csv_sha256: str) -> Path:
    return cache_dir() / f"fer2013-csv-{csv_sha256[:24]}"


def problem(folder: Path) -> str | None:
    """Why a cache folder cannot be used (None when it is complete and unaltered)."""
    if not (folder / MANIFEST_FILE).is_file():
        return f"no {MANIFEST_FILE}"
    try:
        listed = set(read_manifest(folder)["files"])
        report = manifest_report(folder)
        info = json.loads((folder / "info.json").read_text())
    except (ManifestError, OSError, ValueError) as exc:
        return str(exc)
    for key, what in (("changed", "does not match its sha256"), ("missing", "is missing"),
                      ("extra", "is not in the manifest"), ("symlinks", "is a symbolic link")):
        if report[key]:
            return f"{report[key][0]} {what}"
    if listed != set(FILES) or not isinstance(info, dict) or info.get("format") != FORMAT:
        return f"not a {FORMAT} folder"
    return None


def decode_csv(csv_path: Path, csv_sha256: str, progress: bool = True, workers: int | None = None,
               parallel_from: int = PARALLEL_FROM) -> Path:
    """The cache folder for this CSV, decoding it first when it is missing or damaged."""
    final = cache_folder(csv_sha256)
    if final.exists():
        why = problem(final)
        if why is None:
            return final
        print(f"note: {final}: damaged or incomplete cache ({why}); decoding {Path(csv_path).name} again",
              file=sys.stderr)
        shutil.rmtree(final, ignore_errors=True)
    workers = workers or min(os.cpu_count() or 1, 8)
    pool = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"))  # spawn: safe under torch's threads
            if workers > 1 and Path(csv_path).stat().st_size >= parallel_from else None)
    try:
        _remove_abandoned(final)
        with staged_folder(final) as tmp:
            rows = _write_rows(Path(csv_path), tmp, pool, workers, progress)
            (tmp / "info.json").write_text(json.dumps({"format": FORMAT, "csv_sha256": csv_sha256, "rows": rows}))
            write_manifest(tmp)
    except OSError as exc:  # training reads from the cache, so it cannot be skipped
        raise DataError(f"{final.parent}: cannot write the decoded-data cache ({exc.strerror or exc}); "
                        "set FER_CACHE_DIR to a writable folder with room for it") from None
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return final


def _write_rows(path: Path, out: Path, pool, workers: int, progress: bool) -> int:
    """Parse every row into out/images.npy (+ emotion.npy, usage.npy); returns the row count."""
    emotion, usage = array("q"), array("q")
    pending = deque()  # blocks being parsed, in file order
    lines, texts = [], []
    with open(out / "images.npy", "wb") as fh, tqdm(desc=f"decoding {path.name}", unit=" rows",
                                                     disable=not progress, mininterval=1.0) as bar:
        fh.write(b"\0" * HEADER_BYTES)

        def send():
            args = (str(path), lines.copy(), texts.copy())
            pending.append(pool.submit(parse_block, *args) if pool else args)
            lines.clear()
            texts.clear()

        def write_oldest():
            job = pending.popleft()
            block = job.result() if pool else parse_block(*job)
            fh.write(block.tobytes())
            bar.update(len(block))

        try:
            for line, label, split, pixels in iter_records(path):
                lines.append(line)
                texts.append(pixels)
                emotion.append(label)
                usage.append(split)
                if len(texts) == CHUNK:
                    send()
                    while len(pending) > 2 * workers:  # bounded: the reader never runs far ahead
                        write_oldest()
        except DataError:
            if texts:  # rows before the bad one may hold an earlier error: that one is reported
                send()
            while pending:
                write_oldest()
            raise
        if texts:
            send()
        while pending:
            write_oldest()
        rows = len(emotion)
        header = _npy_header(rows)
        assert len(header) == HEADER_BYTES, "npy header size changed"
        fh.seek(0)
        fh.write(header)
    np.save(out / "emotion.npy", np.frombuffer(emotion, dtype=np.int64))
    np.save(out / "usage.npy", np.frombuffer(usage, dtype=np.int64))
    return rows


def _remove_abandoned(final: Path) -> None:
    """Temp folders of this key left by a killed decode (their process is gone)."""
    for tmp in final.parent.glob(f"{final.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)

