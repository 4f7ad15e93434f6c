"""Face detection: BlazeFace-back (the browser's detector, same weights) decoded in numpy.

A port of web/js/detector.js (keep the two in step; its DETECTOR object holds the constants):
frame -> longer side resized to 256 with TF.js-style bilinear sampling (tf.image.resizeBilinear's
defaults: no half-pixel offset) -> RGB scaled to [-1, 1] -> padded right/bottom with -1 to 256x256 -> network ->
512 + 384 anchor predictions -> sigmoid scores -> overlapping candidates merged into their
score-weighted mean (MediaPipe's "weighted NMS") -> boxes in frame pixels, not clipped to the frame.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import blazeface

INPUT_SIZE = 256
# (stride, anchors per cell): 16x16 cells x 2 anchors, then 8x8 cells x 6 anchors.
ANCHOR_LAYERS = ((16, 2), (32, 6))
MIN_SCORE = 0.6  # sigmoid(logit) needed to report a face
IOU_THRESHOLD = 0.3  # candidates overlapping more than this are one face
MAX_FACES = 20
MIN_SIZE = 12  # frame pixels; smaller faces are ignored


@dataclass(frozen=True)
class Box:
    """A face box in frame pixels (x, y = top-left corner), as the browser's {x, y, width, height}."""
    x: float
    y: float
    width: float
    height: float
    score: float = 1.0

    def as_dict(self) -> dict:
        return {k: round(float(v), 2 if k != "score" else 4) for k, v in asdict(self).items()}


def anchors(size: int = INPUT_SIZE) -> np.ndarray:
    """Anchor centres (N, 2) as fractions of the input, in the network's output order."""
    out = []
    for stride, per_cell in ANCHOR_LAYERS:
        grid = (size + stride - 1) // stride
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out)


def js_round(x: float) -> int:
    return math.floor(x + 0.5)  # Math.round, not Python's round-half-to-even


def _taps(n_in: int, n_out: int):
    """Source rows/columns and weights of tf.image.resizeBilinear (alignCorners=false,
    halfPixelCenters=false): source = dest * (in / out), computed in float32 as TF.js does."""
    pos = np.arange(n_out, dtype=np.float32) * np.float32(n_in / n_out)
    lo = np.floor(pos)
    return lo.astype(np.intp), np.minimum(np.ceil(pos), n_in - 1).astype(np.intp), (pos - lo).astype(np.float32)


def resize_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(out_h, out_w, C) float32; exact TF.js arithmetic (cv2.resize/remap quantise the weights)."""
    y0, y1, fy = _taps(img.shape[0], out_h)
    x0, x1, fx = _taps(img.shape[1], out_w)
    fx = fx[None, :, None]
    (tl, tr), (bl, br) = ((rows[:, x0].astype(np.float32), rows[:, x1].astype(np.float32))
                          for rows in (img[y0], img[y1]))  # gather first, convert only what is used
    top = tl + (tr - tl) * fx
    bottom = bl + (br - bl) * fx
    return top + (bottom - top) * fy[:, None, None]


def letterbox(rgb: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, tuple[float, float]]:
    """(1, size, size, 3) float32 in [-1, 1], and frame pixels per input unit along x and y."""
    h, w = rgb.shape[:2]
    rw = max(1, js_round(w * size / max(w, h)))
    rh = max(1, js_round(h * size / max(w, h)))
    square = np.full((size, size, 3), -1.0, np.float32)  # black after scaling
    square[:rh, :rw] = resize_bilinear(rgb, rh, rw) / np.float32(127.5) - np.float32(1)
    return square[None], (size * w / rw, size * h / rh)


def iou(a: Box, b: Box) -> float:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(cands: list[Box], threshold: float, limit: int) -> list[Box]:
    """Best candidate first; it and every unused candidate overlapping it merge into one
    score-weighted mean box that keeps the best score (steadier from frame to frame than plain NMS)."""
    cands = sorted(cands, key=lambda b: -b.score)
    used = [False] * len(cands)
    faces: list[Box] = []
    for i, best in enumerate(cands):
        if len(faces) >= limit:
            break
        if used[i]:
            continue
        sw = x = y = w = h = 0.0
        for j in range(i, len(cands)):
            c = cands[j]
            if used[j] or iou(best, c) <= threshold:
                continue
            used[j] = True
            sw += c.score
            x, y, w, h = x + c.score * c.x, y + c.score * c.y, w + c.score * c.width, h + c.score * c.height
        faces.append(Box(x / sw, y / sw, w / sw, h / sw, best.score))
    return faces


class FaceDetector:
    """detect(rgb uint8 HxWx3) -> [Box], best score first."""

    def __init__(self, min_score: float = MIN_SCORE, iou_threshold: float = IOU_THRESHOLD,
                 max_faces: int = MAX_FACES, min_size: float = MIN_SIZE, threads: int = 0):
        self.session = blazeface.session(threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.anchors = anchors()
        self.min_score, self.iou_threshold, self.max_faces = min_score, iou_threshold, max_faces
        self.min_size = min_size

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Regressions (896, 16) and logits (896,) in anchor order, and the letterbox scales."""
        x, scale = letterbox(rgb)
        outs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: x})))
        by_rows = lambda width: sorted((a for a in outs.values() if a.shape[-1] == width),  # noqa: E731
                                       key=lambda a: -a.shape[1])  # 512-anchor layer first
        regs = np.concatenate([a[0] for a in by_rows(16)])
        logits = np.concatenate([a[0, :, 0] for a in by_rows(1)])
        return regs, logits, scale

    def decode(self, regs: np.ndarray, logits: np.ndarray) -> list[Box]:
        """Faces in square-input units [0, 1] (web/js/detector.js decode())."""
        regs = regs.astype(np.float64)  # JS numbers are doubles; mirror its arithmetic
        with np.errstate(over="ignore"):  # exp overflow -> score 0, as in JS
            scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        cands = []
        for i in np.flatnonzero(scores >= self.min_score):
            cx = self.anchors[i, 0] + regs[i, 0] / INPUT_SIZE
            cy = self.anchors[i, 1] + regs[i, 1] / INPUT_SIZE
            w, h = regs[i, 2] / INPUT_SIZE, regs[i, 3] / INPUT_SIZE
            if w > 0 and h > 0:
                cands.append(Box(float(cx - w / 2), float(cy - h / 2), float(w), float(h), float(scores[i])))
        return weighted_nms(cands, self.iou_threshold, self.max_faces)

    def detect(self, rgb: np.ndarray) -> list[Box]:
        regs, logits, (sx, sy) = self.raw(rgb)
        faces = [Box(f.x * sx, f.y * sy, f.width * sx, f.height * sy, f.score) for f in self.decode(regs, logits)]
        # not clipped: a face cut by the frame edge keeps its true centre for the crop
        return [f for f in faces if f.width >= self.min_size and f.height >= self.min_size]
