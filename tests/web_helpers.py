"""Shared pieces for the server and browser tests.

Real parts only: a model directory made by the convert CLI, server.py started as a subprocess on a
free 127.0.0.1 port, Debian's Chromium driven by Playwright, camera frames from a y4m of a real
photo (scikit-image's astronaut). Expensive things are built once per process (memoised).
"""
from __future__ import annotations

import io
from contextlib import contextmanager
import subprocess
import sys
from pathlib import Path

import numpy as np

# Camera videos, server and Chromium helpers live in bench/ (the benchmark uses them too; it must
# not import test code); re-exported here for the tests.
from bench.browser_kit import (ASTRONAUT_FACE, CHROMIUM, CHROMIUM_FLAGS, FRAME_H, FRAME_W, PYTHON, ROOT,  # noqa: F401
                               PageWatch, Server, astronaut_frame, comings_and_goings, free_port, head_tile,
                               launch_chromium, moving_faces, six_faces_photo, three_faces_frame, wait_js,
                               write_y4m)

# ---------- images ----------

def no_face_image() -> np.ndarray:
    """A photo without a face: scikit-image's cup of coffee (400x600)."""
    from skimage import data
    return data.coffee()


def jpeg_bytes(rgb: np.ndarray, orientation: int | None = None, quality: int = 92) -> bytes:
    """JPEG of `rgb`; with `orientation`, the pixels are stored so a viewer honouring EXIF shows `rgb`."""
    from PIL import Image
    img = Image.fromarray(rgb)
    exif = None
    if orientation is not None:
        # Orientation 6: stored image must be rotated 90 degrees clockwise to display; store it CCW.
        # Orientation 8: the opposite.
        img = img.transpose({6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


# ---------- model directory ----------

def make_model_dir(out: Path) -> Path:
    """Convert a small untrained checkpoint with the real convert CLI into `out` (about half a minute)."""
    import torch
    sys.path.insert(0, str(ROOT))
    from fer_browser.training.checkpoint import save_checkpoint
    from fer_browser.training.labelsets import LABEL_SETS
    from fer_browser.core.metadata import build_metadata
    from fer_browser.training.models import build_model, count_parameters, get_spec
    torch.manual_seed(0)
    model = build_model("vgg", 7)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so outputs differ between inputs
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    meta = build_metadata("vgg", get_spec("vgg").hparams, count_parameters(model),
                          LABEL_SETS["ferplus"].classes, "ferplus")
    ckpt = out.parent / f"{out.name}-checkpoint.pt"
    save_checkpoint(ckpt, {"state_dict": model.state_dict(), "metadata": meta})
    proc = subprocess.run([PYTHON, "-m", "convert", str(ckpt), "--out", str(out), "--synthetic"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m convert failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if not (out / "manifest.json").is_file():  # server.py refuses a folder without one
        from fer_browser.core.manifest import write_manifest
        write_manifest(out)
    return out


_MODEL_DIRS: dict[str, Path] = {}


def shared_model_dir(tmp_path_factory) -> Path:
    """One converted test model per pytest session, shared by test_server.py and test_web.py."""
    if "test" not in _MODEL_DIRS:
        _MODEL_DIRS["test"] = make_model_dir(tmp_path_factory.mktemp("web-model") / "export")
    return _MODEL_DIRS["test"]




@contextmanager
def page_on_server(model_dir: Path, init_script: str | None = None):
    """A Chromium page on our server for model_dir, loaded and ready; yields (page, page errors)."""
    from playwright.sync_api import sync_playwright

    server = Server(model_dir)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            if init_script:
                page.add_init_script(init_script)
            page.goto(server.url + "/")
            assert page.evaluate("() => window.ferApp.ready") is True, errors
            yield page, errors
            browser.close()
    finally:
        server.stop()
