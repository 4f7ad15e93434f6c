"""Decode an image-folder tree once, in parallel, into an on-disk uint8 cache that training streams.

`ROOT/<split>/<class>/*.png|jpg` becomes, per split, `<split>.npy` (N,48,48 uint8; a plain .npy
that np.load(mmap_mode="r") maps, written block by block as workers finish so RAM stays flat; a
writable np.memmap would keep every written page resident) and `<split>.labels.npy`, plus
info.json, under $FER_CACHE_DIR (default ~/.cache/fer) in a folder named by the cache key.

The key hashes every image's relative path, size and modification time (nanoseconds), not the
bytes: hashing 200,000 files' contents would read the whole dataset on every start, which is most
of what a decode costs; adding, removing, renaming or editing a file changes the key. (A file
rewritten with the same size and a restored mtime is not noticed: delete the cache folder.) The
decoded pixels' SHA-256 is computed once while decoding and goes into the checkpoint's metadata.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer_browser.core.atomic import staged_folder
from .cache import cache_dir
from .errors import DataError
from .fer_csv import IMAGE_SIZE

FORMAT = "fer-folder-cache/1"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
CHUNK = 256            # images per task sent to a worker
PARALLEL_FROM = 2000   # below this many images, spawning workers costs more than it saves


def read_image(path: str) -> np.ndarray:
    import cv2
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"{path}: not a readable image")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return img


def _decode_chunk(paths: list[str]) -> np.ndarray:
    import cv2
    cv2.setNumThreads(1)  # one worker per core already
    return np.stack([read_image(p) for p in paths])


def list_split(folder: Path) -> tuple[list[str], list[Path]]:
    """(class names sorted, image files sorted by class then name)."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files = [f for c in classes for f in sorted((folder / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return classes, files


def cache_key(root: Path, listing: dict[str, list[Path]]) -> str:
    h = hashlib.sha256(f"{FORMAT} {IMAGE_SIZE}\n".encode())
    for split, files in listing.items():
        for f in files:
            st = f.stat()
            h.update(f"{split}/{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_folder(root: Path, split_dirs: dict[str, Path], progress: bool = True, workers: int | None = None,
                  parallel_from: int = PARALLEL_FROM) -> dict:
    """Decode (or find in the cache) every split; returns info with 'dir', 'classes', 'splits' and 'sha256'."""
    listing, split_classes = {}, {}
    for split, folder in split_dirs.items():
        split_classes[split], listing[split] = list_split(folder)
    key = cache_key(root, listing)
    final = cache_dir() / f"folder-{key[:24]}"
    if (final / "info.json").is_file():
        return {**json.loads((final / "info.json").read_text()), "dir": final}
    total = sum(map(len, listing.values()))
    workers = workers or min(os.cpu_count() or 1, 8)
    pool = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"))  # spawn: safe under torch's threads
            if total >= parallel_from and workers > 1 else None)
    digest = hashlib.sha256()
    info = {"format": FORMAT, "root": str(root), "splits": {}}
    try:
        with staged_folder(final) as tmp:
            with tqdm(total=total, desc=f"decoding {root.name}", unit=" img", disable=not progress,
                      mininterval=1.0) as bar:
                for split, files in listing.items():
                    if not files:
                        raise DataError(f"{split_dirs[split]}: no images (.png, .jpg, .bmp) found")
                    chunks = [[str(f) for f in files[i:i + CHUNK]] for i in range(0, len(files), CHUNK)]
                    decoded = pool.map(_decode_chunk, chunks) if pool else map(_decode_chunk, chunks)
                    with open(tmp / f"{split}.npy", "wb") as fh:
                        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False,
                                                                  "shape": (len(files), IMAGE_SIZE, IMAGE_SIZE)})
                        for block in decoded:  # in order: rows line up with the sorted file list
                            fh.write(block.tobytes())
                            digest.update(block.tobytes())
                            bar.update(len(block))
                    names = [f.parent.name for f in files]
                    np.save(tmp / f"{split}.labels.npy", np.array([split_classes[split].index(n) for n in names], np.int64))
                    info["splits"][split] = {"classes": split_classes[split], "count": len(files)}
            info["sha256"] = digest.hexdigest()
            (tmp / "info.json").write_text(json.dumps(info))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return {**info, "dir": final}
