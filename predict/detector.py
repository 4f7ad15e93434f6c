"""Face detection: BlazeFace-back (the browser's detector, same weights) decoded in numpy.

A port of web/lib/blazeface.js; every number (input size, feature maps and anchors, thresholds, merge,
limits) comes from the "detector" section of web/face_pipeline.json, which the page reads too:
frame -> longer side resized to inputSize with TF.js-style bilinear sampling (tf.image.resizeBilinear's
defaults: no half-pixel offset) -> RGB scaled to inputRange -> padded right/bottom with its low end
to a square -> network -> one prediction per anchor -> sigmoid scores -> overlapping candidates
merged into their score-weighted mean (MediaPipe's "weighted NMS") -> boxes in frame pixels, not
clipped to the frame.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import blazeface
from .boxes import Box, iou  # noqa: F401  (Box is part of this module's API)
from .errors import PredictError
from .face_pipeline import load_face_pipeline


def detector_config(cfg: dict | None = None) -> dict:
    """The "detector" section: `cfg` itself when given, else read from web/face_pipeline.json."""
    return cfg if cfg is not None else load_face_pipeline()["detector"]


def anchors(cfg: dict | None = None, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Anchor centres (N, 2) as fractions of the input, in the network's output order: every cell of
    each feature map holds `anchors` anchors at its centre. The input is the inputSize square unless
    width x height is given (the page's live loop keeps the frame's aspect)."""
    cfg = detector_config(cfg)
    width, height = width or cfg["inputSize"], height or cfg["inputSize"]
    out = []
    for fmap in cfg["featureMaps"]:
        cols, rows = (-(-n // fmap["stride"]) for n in (width, height))  # ceil
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres = np.stack([(xs + 0.5) / cols, (ys + 0.5) / rows], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, fmap["anchors"], axis=1).reshape(-1, 2))
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


def letterbox(rgb: np.ndarray, cfg: dict | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """(1, size, size, 3) float32 scaled to inputRange, and frame pixels per input unit along x and y."""
    cfg = detector_config(cfg)
    size, (lo, hi) = cfg["inputSize"], cfg["inputRange"]
    h, w = rgb.shape[:2]
    rw = max(1, js_round(w * size / max(w, h)))
    rh = max(1, js_round(h * size / max(w, h)))
    square = np.full((size, size, 3), lo, np.float32)  # black after scaling
    # value / (255 / (hi - lo)) + lo: for [-1, 1] exactly the page's value / 127.5 - 1 in float32
    square[:rh, :rw] = resize_bilinear(rgb, rh, rw) / np.float32(255 / (hi - lo)) + np.float32(lo)
    return square[None], (size * w / rw, size * h / rh)


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
            # the best box always joins its own group, so a threshold of 1 (or more) merges nothing, never divides by 0
            if used[j] or (j != i and iou(best, c) <= threshold):
                continue
            used[j] = True
            sw += c.score
            x, y, w, h = x + c.score * c.x, y + c.score * c.y, w + c.score * c.width, h + c.score * c.height
        faces.append(Box(x / sw, y / sw, w / sw, h / sw, best.score))
    return faces


def decode(regs: np.ndarray, logits: np.ndarray, anchors: np.ndarray, cfg: dict,
           width: int | None = None, height: int | None = None) -> list[Box]:
    """Raw outputs -> faces in units [0, 1] of the input (x of its width, y of its height), best first
    (web/lib/blazeface.js decode()). regs: (N, 16) float32 regressions in input pixels (cx, cy, w, h,
    then keypoints); logits: (N,). width x height: the input's size, when not the inputSize square."""
    width, height = width or cfg["inputSize"], height or cfg["inputSize"]
    regs = np.asarray(regs, np.float32).reshape(-1, 16).astype(np.float64)  # JS numbers are doubles
    with np.errstate(over="ignore"):  # exp overflow -> score 0, as in JS
        scores = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float32).astype(np.float64)))
    cands = []
    for i in np.flatnonzero(scores >= cfg["scoreThreshold"]):
        cx = anchors[i, 0] + regs[i, 0] / width
        cy = anchors[i, 1] + regs[i, 1] / height
        w, h = regs[i, 2] / width, regs[i, 3] / height
        if w > 0 and h > 0:
            cands.append(Box(float(cx - w / 2), float(cy - h / 2), float(w), float(h), float(scores[i])))
    return weighted_nms(cands, cfg["iouThreshold"], cfg["maxFaces"])


class FaceDetector:
    """detect(rgb uint8 HxWx3) -> [Box], best score first. `cfg`: face_pipeline.json's "detector"
    section (default: read from the file)."""

    def __init__(self, cfg: dict | None = None, threads: int = 0):
        self.cfg = cfg = detector_config(cfg)
        # the page's cfg["weights"] (blazeface.json), as translated to ONNX: models/blazeface/blazeface.onnx
        weights = blazeface.MODEL_ONNX.with_name(Path(cfg["weights"]).stem + ".onnx")
        self.session = blazeface.session(weights, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        # per feature map, in anchor order: the box-regression output, then the score output
        self.output_names = [name for fmap in cfg["featureMaps"] for name in (fmap["boxes"], fmap["scores"])]
        missing = set(self.output_names) - {o.name for o in self.session.get_outputs()}
        if missing:
            raise PredictError(f"face detector {cfg['weights']} has no output {', '.join(sorted(missing))} "
                               "named in face_pipeline.json")
        self.size = cfg["inputSize"]
        self.anchors = anchors(cfg)

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Regressions (N, 16) and logits (N,) in anchor order, and the letterbox scales."""
        x, scale = letterbox(rgb, self.cfg)
        outs = self.session.run(self.output_names, {self.input_name: x})
        regs = np.concatenate([a[0] for a in outs[0::2]])
        logits = np.concatenate([a[0, :, 0] for a in outs[1::2]])
        return regs, logits, scale

    def decode(self, regs: np.ndarray, logits: np.ndarray) -> list[Box]:
        return decode(regs, logits, self.anchors, self.cfg)

    def detect(self, rgb: np.ndarray) -> list[Box]:
        regs, logits, (sx, sy) = self.raw(rgb)
        faces = [Box(f.x * sx, f.y * sy, f.width * sx, f.height * sy, f.score) for f in self.decode(regs, logits)]
        # not clipped: a face cut by the frame edge keeps its true centre for the crop
        min_size = self.cfg["minSize"]
        return [f for f in faces if f.width >= min_size and f.height >= min_size]
