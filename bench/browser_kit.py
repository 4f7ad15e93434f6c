"""Browser pieces shared by bench/bench_browser.py and the browser tests (tests/web_helpers.py
re-exports them): camera videos made from a real photo, server.py as a subprocess, Debian's Chromium.

Camera videos are y4m files for Chromium's fake camera (--use-file-for-fake-video-capture), made from
scikit-image's astronaut photo: still frames, and scenes where faces move, appear and leave.
"""
from __future__ import annotations

import math
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
# Flags measured in ../shared/notes/browser.md: no background traffic, software rendering.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter"]
FRAME_W, FRAME_H = 640, 480
GREY = 128


# ---------- still frames ----------

def astronaut_frame() -> np.ndarray:
    """640x480 RGB: the astronaut photo resized to 480x480, centred on grey (her face near x=245,y=61,w=91)."""
    import cv2
    from skimage import data
    face = cv2.resize(data.astronaut(), (FRAME_H, FRAME_H), interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)
    left = (FRAME_W - FRAME_H) // 2
    frame[:, left:left + FRAME_H] = face
    return frame


# Where the face is in astronaut_frame(), from OpenCV's Haar cascade (x, y, w, h).
ASTRONAUT_FACE = (245, 61, 91, 91)


def head_tile(width: int = 200, mirror: bool = False) -> np.ndarray:
    """The astronaut's head and shoulders (crop 260x300 of the photo) resized to `width` wide."""
    import cv2
    from skimage import data
    img = data.astronaut()[0:300, 100:360]
    tile = cv2.resize(img, (width, round(width * 300 / 260)), interpolation=cv2.INTER_AREA)
    return tile[:, ::-1].copy() if mirror else tile


def three_faces_frame() -> np.ndarray:
    """640x480 RGB with three copies of the astronaut's head and shoulders side by side."""
    tile = head_tile(200)
    frame = np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)
    for i in range(3):
        x = 15 + i * 205
        frame[120:120 + tile.shape[0], x:x + 200] = tile
    return frame


def six_faces_photo(width: int = 200) -> np.ndarray:
    """RGB photo of six copies of the astronaut's head and shoulders in a 3 x 2 grid, edge to edge (the
    right column's faces sit near the photo's right edge: where labels used to be cut off)."""
    row = np.concatenate([head_tile(width)] * 3, axis=1)
    return np.concatenate([row, row], axis=0)


def paste(frame: np.ndarray, tile: np.ndarray, x: float, y: float) -> None:
    """Paste `tile` with its top-left at (x, y), clipped by the frame's edges."""
    h, w = tile.shape[:2]
    x, y = round(x), round(y)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, frame.shape[1]), min(y + h, frame.shape[0])
    if x0 < x1 and y0 < y1:
        frame[y0:y1, x0:x1] = tile[y0 - y:y1 - y, x0 - x:x1 - x]


# ---------- moving scenes ----------

def moving_faces(n: int, fps: int = 60, seconds: float = 2.0) -> Iterable[np.ndarray]:
    """`n` (1 or 3) heads drifting on grey along closed paths (the clip loops without a jump):
    each moves about 40 px each way per `seconds`, like a person in front of a webcam."""
    tile = head_tile(200 if n == 1 else 180)
    frames = round(fps * seconds)
    starts = [(220, 100)] if n == 1 else [(20 + 205 * i, 120) for i in range(3)]
    for k in range(frames):
        ph = 2 * math.pi * k / frames
        frame = np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)
        for i, (x, y) in enumerate(starts):
            a = 40 if n == 1 else 15  # three heads side by side have less room
            paste(frame, tile, x + a * math.sin(ph + i), y + 0.5 * a * math.sin(2 * ph + i))
        yield frame


def comings_and_goings(fps: int = 30):
    """A 6-second scene where faces move, appear and leave. Returns (frames, truth): truth[k] lists the
    head tiles' boxes (x, y, w, h) on frame k, clipped to the frame, for tiles at least half inside.

    0-6 s: head A crosses from left to right (about 90 px/s), 1.5-4 s: head B (mirrored) pops in at
    the top right and pops out, 3-6 s: head C slides in from the bottom left edge and stays."""
    a, b, c = head_tile(180), head_tile(160, mirror=True), head_tile(170)
    frames, truth = [], []
    for k in range(round(6 * fps)):
        t = k / fps
        frame = np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)
        placed = [(a, 20 + 75 * t, 200)]
        if 1.5 <= t < 4:
            placed.append((b, 440, 10 + 10 * math.sin(3 * t)))
        if t >= 3:
            placed.append((c, -170 + min(1.0, (t - 3) / 1.5) * 320, 260))
        boxes = []
        for tile, x, y in placed:
            paste(frame, tile, x, y)
            h, w = tile.shape[:2]
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, FRAME_W), min(y + h, FRAME_H)
            if (x1 - x0) * (y1 - y0) >= 0.5 * w * h:
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        frames.append(frame)
        truth.append(boxes)
    return frames, truth


def write_y4m(path: Path, frames, fps: int = 30, repeat: int = 1) -> Path:
    """Y4M (4:2:0) for Chromium's fake camera: one RGB frame (`repeat` times) or an iterable of frames.
    The file loops forever; a camera never delivers more frames per second than `fps`."""
    import cv2
    frames = [frames] * repeat if isinstance(frames, np.ndarray) else frames
    tmp = Path(f"{path}.tmp")
    with open(tmp, "wb") as fh:
        for i, frame in enumerate(frames):
            if i == 0:
                h, w = frame.shape[:2]
                fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            fh.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    tmp.replace(path)
    return path


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


class StaticServer:
    """The server's static app (fer_browser.static.static_app) on a free 127.0.0.1 port, for pages
    that are not the app (bench/human/): `routes` maps a URL prefix to a folder; `headers` are added
    to every answer."""

    def __init__(self, routes: dict[str, Path], headers: dict[str, str] | None = None):
        from fer_browser.static import serve_in_background, static_app

        self.httpd, self.url = serve_in_background(static_app(routes, headers))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
