"""Face crops -> model input, exactly as the browser does it (web/lib/emotion.js, fer_browser/core/metadata.py).

grayscale with metadata's luma weights (on RGB) -> square crop around the detector box ->
tf.image.cropAndResize-style corner-aligned bilinear sampling at k*size (k = round(side/size), 1..4),
pixels outside the image = crop.fill -> k x k average -> (x / pixel_scale - mean) / std.
Done in numpy so the same arithmetic runs without TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np

from fer_browser.core.normalize import normalize


def grayscale(rgb: np.ndarray, meta: dict) -> np.ndarray:
    """(H, W) float32 in 0..255 from an RGB uint8 image (not BGR: convert OpenCV frames first)."""
    weights = np.asarray(meta["preprocessing"]["grayscale_weights"], np.float32)
    return rgb.astype(np.float32) @ weights


def crop_square(box, meta: dict) -> tuple[float, float, float]:
    """(x, y, side) of the square crop for a detector box with .x .y .width .height."""
    scale, shift_y = meta["crop"]["scale"], meta["crop"]["shift_y"]
    side = scale * max(box.width, box.height)
    cx = box.x + box.width / 2
    cy = box.y + box.height / 2 + shift_y * side
    return cx - side / 2, cy - side / 2, side


def crop_scale(side: float, size: int) -> int:
    """k of the crop's sampling (web/lib/geometry.js cropScale): bilinear at k * size, then k x k
    averaging; round(side / size) within 1..4, rounded as JS Math.round (not banker's rounding)."""
    return min(4, max(1, math.floor(side / size + 0.5)))


def _axis(start: float, side: float, n_out: int, n_in: int):
    """Sample positions of one axis as cropAndResize computes them, and which fall inside the image."""
    if n_out > 1:
        pos = start + np.arange(n_out, dtype=np.float64) * ((side - 1) / (n_out - 1))
    else:
        pos = np.array([start + (side - 1) / 2])
    inside = (pos >= 0) & (pos <= n_in - 1)
    lo = np.clip(np.floor(pos), 0, n_in - 1).astype(np.intp)
    hi = np.clip(np.ceil(pos), 0, n_in - 1).astype(np.intp)
    return lo, hi, (pos - np.floor(pos)).astype(np.float32), inside


def crop_resize(gray: np.ndarray, box, meta: dict) -> np.ndarray:
    """One face as (height, width) float32 grey values (before normalisation)."""
    height, width = meta["input"]["height"], meta["input"]["width"]
    x, y, side = crop_square(box, meta)
    k = crop_scale(side, height)
    y0, y1, fy, in_y = _axis(y, side, height * k, gray.shape[0])
    x0, x1, fx, in_x = _axis(x, side, width * k, gray.shape[1])
    top_l, top_r = gray[y0][:, x0], gray[y0][:, x1]
    bot_l, bot_r = gray[y1][:, x0], gray[y1][:, x1]
    top = top_l + (top_r - top_l) * fx
    bottom = bot_l + (bot_r - bot_l) * fx
    crop = top + (bottom - top) * fy[:, None]
    crop[~in_y, :] = meta["crop"]["fill"]
    crop[:, ~in_x] = meta["crop"]["fill"]
    if k > 1:
        crop = crop.reshape(height, k, width, k).mean(axis=(1, 3), dtype=np.float32)
    return crop.astype(np.float32)


def faces_to_batch(rgb: np.ndarray, boxes, meta: dict) -> np.ndarray:
    """Model batch (N, 1, H, W) float32 (metadata layout NCHW; NHWC is the same memory with 1 channel)."""
    if meta["input"]["channels"] != 1:
        raise ValueError(f"metadata: {meta['input']['channels']}-channel input is not supported")
    height, width = meta["input"]["height"], meta["input"]["width"]
    if not boxes:
        return np.zeros((0, 1, height, width), np.float32)
    gray = grayscale(rgb, meta)
    batch = normalize(np.stack([crop_resize(gray, b, meta) for b in boxes]), meta["preprocessing"])
    shape = (1, height, width) if meta["input"]["layout"] == "NCHW" else (height, width, 1)
    return batch.reshape((len(boxes),) + shape)
