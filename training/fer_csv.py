"""Read FER2013 in the Kaggle layout (`emotion,pixels,Usage`), plain or gzip'd.

Decoding 35,887 rows of 2,304 numbers takes a while, so training decodes once into an on-disk
cache (csvcache.py) with the same rules: iter_records() and parse_pixels() below are shared.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import DataError

IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_FER_CLASSES = 7
SPLITS = ("Training", "PublicTest", "PrivateTest")
REQUIRED_COLUMNS = ("emotion", "pixels", "Usage")
_INT = re.compile(r"-?[0-9]+")


@dataclass
class FerTable:
    """The whole CSV decoded: images (N,48,48) uint8, emotion (N,) int64, usage (N,) index into SPLITS."""

    images: np.ndarray
    emotion: np.ndarray
    usage: np.ndarray


def open_text(path: Path):
    """Open a CSV that may be gzip'd (detected by magic bytes, not by name)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def csv_rows(fh, path: Path):
    """csv.reader over an open text file, where undecodable bytes, a truncated gzip or broken CSV
    quoting anywhere in the file end in one DataError naming it, not a traceback."""
    try:
        yield from csv.reader(fh)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable CSV ({exc})") from None


def read_header(rows, path: Path, required, hint: str) -> list[str]:
    """The header row of `rows` (csv_rows), stripped; a DataError naming the file if it is empty or
    lacks a required column (`hint` says what was expected)."""
    header = next(rows, None)
    if header is None:
        raise DataError(f"{path}: file is empty")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; {hint}")
    return header


def parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    tokens = text.split()
    if len(tokens) != NUM_PIXELS:
        raise DataError(f"{path}: row {line}: expected {NUM_PIXELS} pixels (48x48), got {len(tokens)} (column pixels)")
    # ASCII digits only: int() and numpy also take digits of other scripts ('٣'), and superscripts
    # ('²') pass str.isdigit() yet fail int(); either would slip through or end in a traceback.
    bad = None if text.isascii() else next(t for t in tokens if not t.isascii())
    if bad is None:
        try:
            values = np.array(tokens, dtype=np.int32)
        except ValueError:
            bad = next((t for t in tokens if not _INT.fullmatch(t)), tokens[0])
    if bad is not None:
        raise DataError(f"{path}: row {line}: non-numeric pixel value {bad!r} (column pixels)")
    if values.min() < 0 or values.max() > 255:
        raise DataError(f"{path}: row {line}: pixel values must lie in 0..255 (column pixels)")
    return values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def iter_records(path: Path, progress: bool = False):
    """Yield (line, emotion, usage index, pixels text) per data row, checking everything but the pixels.

    Errors name the file and the 1-based line number; a file without data rows is an error too."""
    path = Path(path)
    with open_text(path) as fh:
        reader = csv_rows(fh, path)
        header = read_header(reader, path, REQUIRED_COLUMNS, "expected header emotion,pixels,Usage")
        col = {name: header.index(name) for name in REQUIRED_COLUMNS}
        rows = tqdm(reader, desc=f"parsing {path.name}", unit=" rows", disable=not progress, mininterval=1.0)
        count = 0
        for line, row in enumerate(rows, start=2):
            if not row:  # blank line (e.g. a trailing newline)
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: row {line}: expected {len(header)} fields, got {len(row)}")
            label = row[col["emotion"]].strip()
            if not (label.isascii() and label.isdigit()) or int(label) >= NUM_FER_CLASSES:
                raise DataError(f"{path}: row {line}: emotion label {label!r} is not in "
                                f"0..{NUM_FER_CLASSES - 1} (column emotion)")
            usage = row[col["Usage"]].strip()
            if usage not in SPLITS:
                raise DataError(f"{path}: row {line}: Usage {usage!r} is not one of {', '.join(SPLITS)} (column Usage)")
            count += 1
            yield line, int(label), SPLITS.index(usage), row[col["pixels"]]
    if not count:
        raise DataError(f"{path}: no data rows")


def read_fer_csv(path: Path, progress: bool = True) -> FerTable:
    """Parse and validate every row into RAM (training streams from csvcache.py instead)."""
    images, emotions, usages = [], [], []
    for line, label, usage, pixels in iter_records(Path(path), progress):
        images.append(parse_pixels(pixels, Path(path), line))
        emotions.append(label)
        usages.append(usage)
    return FerTable(np.stack(images), np.array(emotions, dtype=np.int64), np.array(usages, dtype=np.int64))
