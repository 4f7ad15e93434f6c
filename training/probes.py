"""Probe faces we may redistribute: crops of the photos scikit-image ships, with seeded augmentations.

Two uses, one generator:
- at save time a checkpoint records the model's log-probabilities on the first PROBE_COUNT faces
  (metadata "probe"): a fingerprint of its predictions that the conversion gate checks without any
  dataset, so consistently wrong weights (not only damaged files) are caught;
- an export's published parity reference (reference_inputs.bin) is made of these faces, so no
  FER2013 image is committed or served.

The faces are regenerated on whatever machine checks them, and another CPU may round a float
differently (OpenBLAS, OpenCV and torch pick kernels by CPU: AVX-512 vs AVX2), so a few pixels can
come out one grey level off. Nothing here is hashed or compared exactly: compare_fingerprint
tolerates that and still catches wrong weights (see its docstring for the measured margins).

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
    # element-wise float64, not a BLAS product: the same bits on every CPU before the one rounding
    rgb = img[..., :3].astype(np.float64)
    w = [float(v) for v in weights]
    return (rgb[..., 0] * w[0] + rgb[..., 1] * w[1] + rgb[..., 2] * w[2]).astype(np.float32)


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
    """A record of which bytes were published (reference_inputs.bin); never compared with regenerated faces."""
    return hashlib.sha256(np.ascontiguousarray(pixels, np.uint8).tobytes()).hexdigest()


# A fingerprint is format 2: log-probabilities (format 1 recorded rounded probabilities).
FINGERPRINT_VERSION = 2
# Per face, d = max over classes of |delta log p|; the gate looks at the median d over the faces and at
# top-1 agreement. Measured on fer-default (`python bench/fingerprint_margins.py`, its table is in
# MODEL_CARD.md): one grey level on 20 pixels of every face moves the median d by ~0.01, another CPU's
# kernels by ~1e-5; swapped classifier rows, a flipped or negated conv, or another model move it by 0.6-7.
MEDIAN_LOGP_TOLERANCE = 0.05
TOP1_MIN_AGREEMENT = 0.9
LEGACY_PROB_FLOOR = 1e-4  # format 1 rounded probabilities to 6 decimals: their logs mean nothing below this


def fingerprint_record(log_probs: np.ndarray) -> dict:
    """What a checkpoint stores: the probe set, and its model's log-probabilities on the faces."""
    lp = np.asarray(log_probs, np.float64)
    return {"set": SET, "version": FINGERPRINT_VERSION, "count": int(len(lp)), "seed": PROBE_SEED,
            "top1": lp.argmax(1).tolist(), "log_probs": np.round(lp, 5).tolist()}


def compare_fingerprint(log_probs: np.ndarray, probe: dict) -> dict:
    """Do `log_probs` (a model's, on probe_pixels(probe's count and seed)) reproduce the recorded ones?

    Robust statistics, not exact bytes: a few pixels one grey level off change a few faces a little,
    while wrong weights change every face. Format-1 records are compared on log(max(p, 1e-4))."""
    got = np.asarray(log_probs, np.float64)
    if probe.get("version", 1) == 1 and "probs" in probe:
        want = np.log(np.maximum(np.asarray(probe["probs"], np.float64), LEGACY_PROB_FLOOR))
        got_cmp = np.log(np.maximum(np.exp(got), LEGACY_PROB_FLOOR))
    elif probe.get("version") == FINGERPRINT_VERSION and "log_probs" in probe:
        want, got_cmp = np.asarray(probe["log_probs"], np.float64), got
    else:
        return {"passed": False, "error": f"unknown probe fingerprint format {probe.get('version')!r} "
                                          f"(this version reads 1 and {FINGERPRINT_VERSION})"}
    if got_cmp.shape != want.shape:
        return {"passed": False, "error": f"outputs of shape {list(got.shape)}, the checkpoint recorded {list(want.shape)}"}
    per_face = np.abs(got_cmp - want).max(1)
    median = float(np.median(per_face))
    top1 = float((got.argmax(1) == np.asarray(probe["top1"])).mean())
    return {"faces": int(len(got)), "median_max_abs_dlogp": median, "max_abs_dlogp": float(per_face.max()),
            "top1_agreement": top1, "tolerance": MEDIAN_LOGP_TOLERANCE, "min_top1": TOP1_MIN_AGREEMENT,
            "format": int(probe.get("version", 1)),
            "passed": median <= MEDIAN_LOGP_TOLERANCE and top1 >= TOP1_MIN_AGREEMENT}
