"""Shared pieces for tests/test_predict*.py: real face photos, a short video, a model directory.

Photos come from scikit-image (the astronaut, a real smiling face that ships in the package) and
composites made from it; the video is written with OpenCV from those. Expensive things are built
once per test process (memoised) and shared by all predict test modules.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fer_browser.predict.boxes import iou

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GREY = 128


@functools.lru_cache(maxsize=None)
def work_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fer-predict-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def astronaut() -> np.ndarray:
    from skimage import data
    return data.astronaut()  # 512x512 RGB


@functools.lru_cache(maxsize=None)
def astronaut_face() -> tuple[float, float, float, float]:
    """Her face (x, y, w, h) in the 512x512 photo, from OpenCV's Haar cascade: an independent detector."""
    gray = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
    assert len(found) == 1, f"Haar should find exactly one face in the astronaut photo, found {found}"
    return tuple(float(v) for v in found[0])


HEAD = (100, 20, 280)  # a square (x, y, side) of the photo around her head


def place(canvas: np.ndarray, x: int, y: int, size: int, flip: bool = False, region=None):
    """Paste a square region of the photo (default: all of it) scaled to size x size at (x, y);
    return where her face lands (x, y, w, h)."""
    rx, ry, side = region or (0, 0, astronaut().shape[1])
    tile = cv2.resize(astronaut()[ry:ry + side, rx:rx + side], (size, size), interpolation=cv2.INTER_AREA)
    canvas[y:y + size, x:x + size] = tile[:, ::-1] if flip else tile
    fx, fy, fw, fh = astronaut_face()
    s = size / side
    left = (side - (fx - rx) - fw) if flip else (fx - rx)
    return (x + left * s, y + (fy - ry) * s, fw * s, fh * s)


def composite(width: int, height: int, tiles) -> tuple[np.ndarray, list[tuple]]:
    """Grey canvas with astronaut copies: tiles = [(x, y, size, flip, region)]; returns image and face boxes."""
    canvas = np.full((height, width, 3), GREY, np.uint8)
    faces = [place(canvas, *tile) for tile in tiles]
    return canvas, faces


# Distinct sizes (none 640x480, the page's empty canvas) so a test can tell when the page has drawn each.
COMPOSITES = {
    "two_faces": (1000, 440, [(20, 10, 420, False, None), (540, 10, 420, True, None)]),
    "three_faces": (960, 360, [(10, 40, 300, False, HEAD), (330, 10, 300, True, HEAD), (650, 50, 300, False, HEAD)]),
}


@functools.lru_cache(maxsize=None)
def photos() -> dict[str, tuple[Path, list[tuple]]]:
    """name -> (PNG or JPEG path, expected face boxes)."""
    folder = work_dir() / "photos"
    folder.mkdir()
    out = {}
    cv2.imwrite(str(folder / "astronaut.png"), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    out["astronaut"] = (folder / "astronaut.png", [astronaut_face()])
    for name, (w, h, tiles) in COMPOSITES.items():
        img, faces = composite(w, h, tiles)
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        out[name] = (folder / f"{name}.png", faces)
    # a JPEG too, as most photos are: decoders may differ slightly between OpenCV and the browser
    img, faces = composite(720, 540, [(100, 10, 520, False, None)])
    cv2.imwrite(str(folder / "photo.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    out["photo"] = (folder / "photo.jpg", faces)
    return out


@functools.lru_cache(maxsize=None)
def video() -> tuple[Path, list[int]]:
    """A 640x480 mp4 (mp4v, 10 fps, 24 frames): one face drifting right, then two faces.
    Returns the path and the number of faces in each frame."""
    path = work_dir() / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    assert writer.isOpened()
    counts = []
    for i in range(24):
        if i < 12:
            frame, faces = composite(640, 480, [(40 + 8 * i, 20, 440, False, None)])
        else:
            frame, faces = composite(640, 480, [(10, 80, 300, False, HEAD), (330, 80, 300, True, HEAD)])
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        counts.append(len(faces))
    writer.release()
    return path, counts


@functools.lru_cache(maxsize=None)
def model_dir() -> Path:
    """The shipped model (models/fer-default/export + checkpoint.pt beside it) when present; else a
    small checkpoint converted with the real convert CLI (about 45 s, once per test process)."""
    from fer_browser.paths import DEFAULT_MODEL_DIR
    shipped = Path(DEFAULT_MODEL_DIR)
    needed = ["metadata.json", "model.onnx", "tfjs/model.json", "reference.json", "../checkpoint.pt"]
    if all((shipped / n).is_file() for n in needed):
        return shipped
    from convert_helpers import make_checkpoint
    folder = work_dir() / "model"
    ckpt = make_checkpoint(folder / "checkpoint.pt")
    out = folder / "export"
    proc = subprocess.run([PYTHON, "-m", "convert", str(ckpt), "--out", str(out), "--synthetic", "--faces", "32"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, f"python -m convert failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def run_predict(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m predict ...` as a user runs it, from the repository root; never with a display
    (so `live` runs headless here even on a desktop)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([PYTHON, "-m", "predict", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**env, "PYTHONPATH": str(ROOT)})


def match(expected, found) -> list[tuple[int, float]]:
    """For each expected box, (index of the best-overlapping found box, its IoU)."""
    return [max(((j, iou(e, f)) for j, f in enumerate(found)), key=lambda t: t[1], default=(-1, 0.0))
            for e in expected]
