"""predict's face crops follow the metadata rule exactly as web/lib/emotion.js does (tf.image.cropAndResize
+ k x k average pool), checked against TensorFlow's own op, which has the same semantics as TF.js's."""
from __future__ import annotations

import numpy as np
import pytest

from predict_helpers import astronaut

from fer_browser.predict.detector import Box
from fer_browser.predict.preprocess import crop_resize, crop_square, faces_to_batch, grayscale
from fer_browser.training.labelsets import LABEL_SETS
from fer_browser.core.metadata import build_metadata

META = build_metadata("vgg", {}, 1, LABEL_SETS["ferplus"].classes, "ferplus")


def tf_crop(gray: np.ndarray, box, meta) -> np.ndarray:
    """web/lib/emotion.js crop, written with TensorFlow's ops (on grey levels; the page crops grey already
    normalised, the same by linearity up to float rounding)."""
    import tensorflow as tf

    h, w = gray.shape
    size = meta["input"]["height"]
    x, y, side = crop_square(box, meta)
    k = min(4, max(1, int(np.floor(side / size + 0.5))))
    boxes = [[y / (h - 1), x / (w - 1), (y + side - 1) / (h - 1), (x + side - 1) / (w - 1)]]
    out = tf.image.crop_and_resize(gray[None, :, :, None], boxes, [0], [size * k, size * k], "bilinear",
                                   extrapolation_value=meta["crop"]["fill"])
    if k > 1:
        out = tf.nn.avg_pool2d(out, k, k, "VALID")
    return out.numpy()[0, :, :, 0]


@pytest.mark.parametrize("box", [
    Box(174.55, 75.80, 102.99, 102.99),  # her face as the detector boxes it (k = 3)
    Box(10.0, 10.0, 30.0, 30.0),  # small face, k = 1
    Box(100.5, 200.25, 37.9, 41.3),  # not square, fractional
    Box(-20.3, -10.7, 60.1, 55.0),  # partly outside (top-left): fill
    Box(480.2, 470.5, 40.0, 40.0),  # partly outside (bottom-right)
    Box(0.0, 0.0, 512.0, 512.0),  # whole photo, k capped at 4
])
def test_crop_matches_tf_crop_and_resize(box):
    gray = grayscale(astronaut(), META)
    got, want = crop_resize(gray, box, META), tf_crop(gray, box, META)
    assert got.shape == want.shape == (48, 48)
    assert np.abs(got - want).max() < 0.01  # grey levels (0..255)


def test_crop_follows_metadata_scale_shift_and_fill():
    gray = grayscale(astronaut(), META)
    box = Box(-60.0, 200.0, 100.0, 80.0)
    meta = {**META, "crop": {**META["crop"], "scale": 1.0, "shift_y": 0.1, "fill": 7}}
    x, y, side = crop_square(box, meta)
    assert (side, x, y) == (100.0, -60.0, 200.0 + 40.0 - 50.0 + 10.0)
    crop = crop_resize(gray, box, meta)
    assert np.all(crop[:, :20] == 7)  # the left 60 of 100 pixels lie outside the photo
    assert np.abs(crop - tf_crop(gray, box, meta)).max() < 0.01


def test_grayscale_uses_rgb_order_and_metadata_weights():
    pixel = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)  # red, blue (RGB)
    r, g, b = META["preprocessing"]["grayscale_weights"]
    assert grayscale(pixel, META)[0].tolist() == pytest.approx([255 * r, 255 * b], abs=1e-3)


def test_batch_is_normalised_model_input():
    boxes = [Box(174.55, 75.80, 102.99, 102.99), Box(300.0, 300.0, 60.0, 60.0)]
    batch = faces_to_batch(astronaut(), boxes, META)
    assert batch.shape == (2, 1, 48, 48) and batch.dtype == np.float32
    p = META["preprocessing"]
    raw = crop_resize(grayscale(astronaut(), META), boxes[0], META)
    assert np.allclose(batch[0, 0], (raw / p["pixel_scale"] - p["mean"]) / p["std"], atol=1e-6)
    assert batch.min() >= -1 and batch.max() <= 1
    assert faces_to_batch(astronaut(), [], META).shape == (0, 1, 48, 48)


def test_k_rounds_half_up_like_javascript():
    """side / 48 = 2.5 must give k = 3 (Math.round), not 2 (Python's round)."""
    gray = grayscale(astronaut(), META)
    box = Box(100.0, 100.0, 96.0, 96.0)  # side = 1.25 * 96 = 120 = 2.5 * 48
    assert np.abs(crop_resize(gray, box, META) - tf_crop(gray, box, META)).max() < 0.01
