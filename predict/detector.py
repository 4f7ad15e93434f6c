"""Face detection: BlazeFace-back (the browser's detector, same weights) decoded in numpy.

Frame -> square letterbox (black padding right/bottom) -> 256x256 with TF.js-style bilinear resize
(no half-pixel offset, as tf.image.resizeBilinear's defaults) -> RGB scaled to [-1, 1] -> network ->
512 + 384 anchor predictions -> boxes in frame pixels, sigmoid scores, greedy non-maximum suppression.
Constants mirror web/js/detector.js so a photo gives the same boxes here and in the page.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from . import blazeface

INPUT_SIZE = 256
# (stride, anchors per cell): 16x16 cells x 2 anchors, then 8x8 cells x 6 anchors.
ANCHOR_LAYERS = ((16, 2), (32, 6))
MIN_SCORE = 0.5
IOU_THRESHOLD = 0.3
MAX_FACES = 20


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
    return np.concatenate(out).astype(np.float32)


def letterbox(rgb: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """(1, size, size, 3) float32 in [-1, 1] and the frame pixels per input pixel."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.float32)
    square[:h, :w] = rgb
    scale = side / size
    # tf.image.resizeBilinear (alignCorners=false, halfPixelCenters=false): source = dest * scale
    coords = (np.arange(size, dtype=np.float32) * scale)
    map_x, map_y = np.meshgrid(coords, coords)
    resized = cv2.remap(square, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (resized / 127.5 - 1.0)[None].astype(np.float32), scale


def iou(a: Box, b: Box) -> float:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes: list[Box], threshold: float, limit: int) -> list[Box]:
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(iou(box, k) <= threshold for k in kept):
            kept.append(box)
            if len(kept) == limit:
                break
    return kept


class FaceDetector:
    """detect(rgb uint8 HxWx3) -> [Box], best score first."""

    def __init__(self, min_score: float = MIN_SCORE, iou_threshold: float = IOU_THRESHOLD,
                 max_faces: int = MAX_FACES, threads: int = 0):
        self.session = blazeface.session(threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.anchors = anchors()
        self.min_score, self.iou_threshold, self.max_faces = min_score, iou_threshold, max_faces

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Regressions (896, 16) and logits (896,) in anchor order, and the letterbox scale."""
        x, scale = letterbox(rgb)
        outs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: x})))
        by_rows = lambda width: sorted((a for a in outs.values() if a.shape[-1] == width),  # noqa: E731
                                       key=lambda a: -a.shape[1])  # 512-anchor layer first
        regs = np.concatenate([a[0] for a in by_rows(16)])
        logits = np.concatenate([a[0, :, 0] for a in by_rows(1)])
        return regs, logits, scale

    def detect(self, rgb: np.ndarray) -> list[Box]:
        regs, logits, scale = self.raw(rgb)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
        h, w = rgb.shape[:2]
        px = INPUT_SIZE * scale  # letterboxed square side in frame pixels
        boxes = []
        for i in np.flatnonzero(scores >= self.min_score):
            cx = (self.anchors[i, 0] + regs[i, 0] / INPUT_SIZE) * px
            cy = (self.anchors[i, 1] + regs[i, 1] / INPUT_SIZE) * px
            bw, bh = regs[i, 2] / INPUT_SIZE * px, regs[i, 3] / INPUT_SIZE * px
            x0, y0 = max(0.0, cx - bw / 2), max(0.0, cy - bh / 2)
            x1, y1 = min(float(w), cx + bw / 2), min(float(h), cy + bh / 2)
            if x1 > x0 and y1 > y0:
                boxes.append(Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0), float(scores[i])))
        return non_max_suppression(boxes, self.iou_threshold, self.max_faces)
