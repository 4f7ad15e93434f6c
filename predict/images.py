"""Reading, finding and writing image files, with one-line errors for anything unusable."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from training.atomic import atomic_open

from .errors import PredictError

# Larger photos are refused before decoding: 50 MP is well past any camera's face photo and keeps a
# hostile file (a tiny PNG that decodes to gigabytes) from exhausting memory.
MAX_PIXELS = 50_000_000

# Formats OpenCV 4.10's wheel decodes and encodes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm")


def find_images(paths) -> list[Path]:
    """Files as given (their format is checked) and the images inside folders (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise PredictError(f"{path}: folder holds no images ({' '.join(IMAGE_SUFFIXES)})")
            found.extend(inside)
        else:
            found.append(path)  # read_rgb names what is wrong with it, file by file
    return found


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); EXIF orientation applied as a browser does."""
    path = Path(path)
    if not path.is_file():
        raise PredictError(f"{path}: no such file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise PredictError(f"{path}: unsupported image format {path.suffix or '(no extension)'!r}; "
                           f"use one of {' '.join(IMAGE_SUFFIXES)}")
    _check_size(path)
    data = np.fromfile(str(path), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise PredictError(f"{path}: cannot decode the image (corrupt, empty or not really {path.suffix})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_size(path: Path) -> None:
    """Read only the header (Pillow opens lazily) and refuse huge images with a clear message."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
    except Image.DecompressionBombError:
        raise PredictError(f"{path}: image is too large (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except Exception:  # not readable by Pillow: let OpenCV decide (and name the problem)
        return
    if width * height > MAX_PIXELS:
        raise PredictError(f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
                           f"the limit is {MAX_PIXELS // 1_000_000} megapixels: downscale it first")


def write_image(path: Path, bgr: np.ndarray) -> None:
    """Encode in memory, then write atomically: never half an image."""
    ok, buf = cv2.imencode(Path(path).suffix, bgr)
    if not ok:
        raise PredictError(f"{path}: OpenCV cannot encode {Path(path).suffix} images")
    with atomic_open(path) as fh:
        fh.write(buf.tobytes())


def write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def output_names(paths: list[Path], out_dir: Path) -> list[Path]:
    """One annotated file per input, same name in out_dir; clashing names get -2, -3... ."""
    taken: set[str] = set()
    names = []
    for p in paths:
        suffix = p.suffix.lower() if p.suffix.lower() in IMAGE_SUFFIXES else ".png"
        stem, name, n = p.stem, p.stem + suffix, 1
        if (Path(out_dir) / name).resolve() == p.resolve():
            stem = name = f"{p.stem}-annotated"  # never overwrite the photo itself
            name += suffix
        while name in taken:
            n += 1
            name = f"{stem}-{n}{suffix}"
        taken.add(name)
        names.append(Path(out_dir) / name)
    return names
