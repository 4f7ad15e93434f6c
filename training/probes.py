"""Probe faces we may redistribute: crops of the photos scikit-image ships, with seeded augmentations.

Two uses, one generator:
- at save time a checkpoint records the model's probabilities on the first PROBE_COUNT faces
  (metadata "probe"): a fingerprint of its predictions that the conversion gate checks without any
  dataset, so consistently wrong weights (not only damaged files) are caught;
- an export's published parity reference (reference_inputs.bin) is made of these faces, so no
  FER2013 image is committed or served.

Photos: skimage.data.astronaut() (Eileen Collins, NASA: public domain) and skimage.data.camera()
(CC0, Lav Varshney). Face i comes from photo i % 2 and its own generator (seed, i): flip, rotation,
shift, zoom and brightness/contrast, cropped by the metadata's crop rule and area-resized.
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np

SET = "skimage-faces/1"
ORIGIN = ("scikit-image sample photos: astronaut (Eileen Collins, NASA, public domain) and camera "
          "(Lav Varshney, CC0), cropped and augmented by training/probes.py")
# Face boxes (x, y, w, h) in the 512x512 photos: astronaut from OpenCV's frontal Haar cascade,
# camera (a profile the cascade misses) by eye.
PHOTOS = {"astronaut": (175, 66, 97, 97), "camera": (190, 100, 70, 86)}
PROBE_COUNT, PROBE_SEED = 64, 0
SUPERSAMPLE = 4  # warp at 4x the input size, then area-average: no aliasing from the 97 px faces


def _gray(name: str, weights) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        return img.astype(np.float32)
    return img[..., :3].astype(np.float32) @ np.asarray(weights, np.float32)


def probe_pixels(count: int, meta: dict, seed: int = PROBE_SEED) -> tuple[np.ndarray, list[str]]:
    """(count, H, W) uint8 faces and their names; deterministic for (count, meta's crop/input, seed)."""
    h, w = int(meta["input"]["height"]), int(meta["input"]["width"])
    crop = meta["crop"]
    photos = {name: _gray(name, meta["preprocessing"]["grayscale_weights"]) for name in PHOTOS}
    names, out = [], np.empty((count, h, w), np.uint8)
    big_h, big_w = h * SUPERSAMPLE, w * SUPERSAMPLE
    for i in range(count):
        name = list(PHOTOS)[i % len(PHOTOS)]
        x, y, bw, bh = PHOTOS[name]
        rng = np.random.default_rng([seed, i])
        angle = np.deg2rad(rng.uniform(-12, 12))
        side = crop["scale"] * max(bw, bh) * rng.uniform(0.9, 1.1)
        cx = x + bw / 2 + rng.uniform(-0.06, 0.06) * side
        cy = y + bh / 2 + crop["shift_y"] * side + rng.uniform(-0.06, 0.06) * side
        flip, gain, bias = rng.random() < 0.5, rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
        # output pixel (u, v) -> photo: centre + rotation * scale * (pixel centre - output centre)
        f = side / big_w
        cos, sin = np.cos(angle) * f, np.sin(angle) * f
        ox, oy = (big_w - 1) / 2, (big_h - 1) / 2
        m = np.array([[cos, -sin, cx - cos * ox + sin * oy], [sin, cos, cy - sin * ox - cos * oy]])
        big = cv2.warpAffine(photos[name], m, (big_w, big_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=float(crop["fill"]))
        face = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
        face = (face - 128.0) * gain + 128.0 + bias
        out[i] = np.clip(np.rint(face[:, ::-1] if flip else face), 0, 255).astype(np.uint8)
        names.append(f"{name} #{i}" + (" flipped" if flip else ""))
    return out, names


def pixels_sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels, np.uint8).tobytes()).hexdigest()
