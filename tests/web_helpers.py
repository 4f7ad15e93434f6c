"""Shared pieces for the server and browser tests and bench/bench_browser.py.

Real parts only: a model directory made by the convert CLI, server.py started as a subprocess on a
free 127.0.0.1 port, Debian's Chromium driven by Playwright, camera frames from a y4m of a real
photo (scikit-image's astronaut). Expensive things are built once per process (memoised).
"""
from __future__ import annotations

import io
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
# Flags measured in ../shared/notes/browser.md: no background traffic, software rendering.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter"]
FRAME_W, FRAME_H = 640, 480


# ---------- images ----------

def astronaut_frame() -> np.ndarray:
    """640x480 RGB: the astronaut photo resized to 480x480, centred on grey (her face near x=245,y=61,w=91)."""
    import cv2
    from skimage import data
    face = cv2.resize(data.astronaut(), (FRAME_H, FRAME_H), interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    left = (FRAME_W - FRAME_H) // 2
    frame[:, left:left + FRAME_H] = face
    return frame


# Where the face is in astronaut_frame(), from OpenCV's Haar cascade (x, y, w, h).
ASTRONAUT_FACE = (245, 61, 91, 91)


def three_faces_frame() -> np.ndarray:
    """640x480 RGB with three copies of the astronaut's head and shoulders side by side."""
    import cv2
    from skimage import data
    img = data.astronaut()[0:300, 100:360]  # head and shoulders, 260x300
    tile = cv2.resize(img, (200, 231), interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    for i in range(3):
        x = 15 + i * 205
        frame[120:120 + 231, x:x + 200] = tile
    return frame


def no_face_image() -> np.ndarray:
    """A photo without a face: scikit-image's cup of coffee (400x600)."""
    from skimage import data
    return data.coffee()


def write_y4m(path: Path, frame_rgb: np.ndarray, fps: int = 30, frames: int = 1) -> Path:
    """Y4M (4:2:0) for Chromium's fake camera; a one-frame file loops forever."""
    import cv2
    h, w = frame_rgb.shape[:2]
    yuv = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + yuv)
    return path


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
    from training.checkpoint import save_checkpoint
    from training.labelsets import LABEL_SETS
    from training.metadata import build_metadata
    from training.models import build_model, count_parameters, get_spec
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
        from training.manifest import write_manifest
        write_manifest(out)
    return out


_MODEL_DIRS: dict[str, Path] = {}


def shared_model_dir(tmp_path_factory) -> Path:
    """One converted test model per pytest session, shared by test_server.py and test_web.py."""
    if "test" not in _MODEL_DIRS:
        _MODEL_DIRS["test"] = make_model_dir(tmp_path_factory.mktemp("web-model") / "export")
    return _MODEL_DIRS["test"]


# ---------- server ----------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """server.py as a subprocess on a free 127.0.0.1 port."""

    def __init__(self, model_dir: Path | None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [PYTHON, str(ROOT / "server.py"), "--port", str(self.port)]
        if model_dir is not None:
            args += ["--model-dir", str(model_dir)]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server.py exited ({self.proc.returncode}): {self.output()}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server.py did not answer within 30 s: {self.output()}")
                time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------- browser ----------

def launch_chromium(playwright, y4m: Path | None, extra_args=()):
    """Headless Debian Chromium whose fake camera plays `y4m` (None: no camera at all).
    Contexts get the camera only when created with permissions=["camera"]; without, getUserMedia
    is denied as if the user had said no."""
    camera = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"] if y4m else []
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_FLAGS + camera + list(extra_args))


class PageWatch:
    """Records every request URL and every console error / page error of a page."""

    def __init__(self, page):
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def outside(self, base: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(base + "/")]


def wait_js(page, condition: str, timeout_s: float = 60):
    """Wait until the JS expression `condition` is truthy. (page.wait_for_function evaluates strings
    with eval, which the page's CSP forbids; page.evaluate goes through DevTools and is allowed.)"""
    page.evaluate(f"""async () => {{
        const t0 = performance.now();
        while (!({condition})) {{
            if (performance.now() - t0 > {timeout_s * 1000}) throw new Error({condition!r} + ': timed out');
            await new Promise((r) => setTimeout(r, 50));
        }}
    }}""")
