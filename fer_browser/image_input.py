"""What the Recognizer accepts as an image, turned into one RGB uint8 array: paths, PIL images and NumPy
arrays (RGB, or BGR when the caller says so), held to web/input_policy.json's pixel limit before any copy.
Every refusal is a PredictError with one line. NumPy and Pillow are imported on use."""
from __future__ import annotations

import os
from pathlib import Path

from fer_browser.predict.errors import PredictError


def as_profile(profile):
    """A profile argument as the pipeline takes it: None, a dict, or a path."""
    if profile is None or isinstance(profile, dict):
        return profile
    if isinstance(profile, (str, os.PathLike)):
        return Path(profile)
    raise PredictError(f"profile must be a path, a profile dict or None, got {type(profile).__name__}")


def channel_order(channels, bgr) -> str:
    if bgr is not None:
        if not isinstance(bgr, bool):
            raise PredictError(f"bgr must be True or False, got {bgr!r}")
        want = "bgr" if bgr else "rgb"
        if channels != "rgb" and channels != want:
            raise PredictError(f"channels={channels!r} and bgr={bgr} disagree; give one of them")
        return want
    if not isinstance(channels, str) or channels.lower() not in ("rgb", "bgr"):
        raise PredictError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    return channels.lower()


def to_rgb(image, order: str = "rgb"):
    import numpy as np

    if order == "bgr" and not isinstance(image, np.ndarray):
        raise PredictError(f"channels='bgr' is for NumPy arrays (OpenCV's order); a {type(image).__name__} "
                           "knows its own channel order")
    if isinstance(image, (str, os.PathLike)):
        from fer_browser.predict.images import read_rgb

        try:
            return read_rgb(Path(image))
        except PredictError as exc:
            raise PredictError(str(exc)) from None
    from fer_browser.predict.input_policy import InputRejected, check_dimensions

    try:  # web/input_policy.json's pixel limit holds for images in memory too, checked before any copy
        if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
            check_dimensions(*image.size, "the PIL image")
            return decoded_pil(image)
        if isinstance(image, np.ndarray) and image.ndim in (2, 3):
            check_dimensions(image.shape[1], image.shape[0], "the array")
    except InputRejected as exc:
        raise InputRejected(exc.reason, str(exc)) from None
    if not isinstance(image, np.ndarray):
        raise PredictError(f"expected a path, a PIL image or a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise PredictError(f"expected a uint8 RGB image (0-255), got dtype {image.dtype}")
    if image.ndim == 2:  # greyscale (the same in either order)
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise PredictError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    return np.ascontiguousarray(image[..., 2::-1] if order == "bgr" else image[..., :3])


def decoded_pil(image):
    """As a file of the same pixels is read (16-bit greyscale included); a lazily opened image
    decodes here, so a truncated file fails here, as a PredictError."""
    from fer_browser.predict.images import pil_to_rgb
    from fer_browser.predict.input_policy import InputRejected

    try:
        image.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ... for damaged data
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise InputRejected("corrupt", f"the PIL image is truncated or damaged ({reason})") from None
    return pil_to_rgb(image)
