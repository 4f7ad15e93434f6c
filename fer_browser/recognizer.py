"""The Python API: a model folder in, faces with emotions out.

    from fer_browser import Recognizer
    recognize = Recognizer()                   # the shipped model; or Recognizer("path/to/export")
    for face in recognize("photo.jpg"):        # a path, a PIL image or an RGB uint8 NumPy array
        print(face.box, face.label, face.probabilities)

A thin layer over predict.pipeline.Pipeline (the page's detector, crop and normalisation, the
model on ONNX Runtime), so Python and the page give the same answers. The folder is checked
against its manifest.json before use, its metadata.json against web/schemas/model-metadata.schema.json
(fer_browser/schema.py) and its class count against model.onnx's output size. Needs `pip install "fer-browser[predict]"`; it imports
neither Flask nor TensorFlow nor torch. Every error is a PredictError with a one-line message.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_browser.paths import DEFAULT_MODEL_DIR
from fer_browser.predict.errors import PredictError

__all__ = ["Recognizer", "RecognizedFace", "PredictError"]


@dataclass(frozen=True)
class RecognizedFace:
    box: tuple[float, float, float, float]  # x, y (top-left corner), width, height in image pixels
    score: float  # the face detector's confidence
    label: str  # the most probable class
    probabilities: dict[str, float]  # every class of the model, in its metadata order

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]


class Recognizer:
    """Recognizer(model_dir=None)(image) -> [RecognizedFace]; model_dir defaults to the shipped model.

    prior_strength: tau of the prior correction (the metadata's "prior"): None = the metadata's default,
    0 = off; larger values show rare emotions (fear, disgust) more often, at some cost in accuracy."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, threads: int = 0,
                 prior_strength: float | None = None):
        from fer_browser.predict.pipeline import Pipeline

        try:
            self._pipeline = Pipeline(Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR,
                                      threads=threads, prior_strength=prior_strength)
        except PredictError as exc:  # raised afresh: one line, no chain of internal frames
            raise PredictError(str(exc)) from None
        self.classes: list[str] = list(self._pipeline.classes)
        self.metadata: dict = self._pipeline.meta

    @property
    def prior_strength(self) -> float:
        """tau of the prior correction in use; assign to change the next answers (None = the metadata's)."""
        return self._pipeline.backend.strength

    @prior_strength.setter
    def prior_strength(self, tau: float | None) -> None:
        from fer_browser.predict.backends import prior_strength

        try:
            self._pipeline.backend.strength = prior_strength(self.metadata, tau)
        except PredictError as exc:
            raise PredictError(str(exc)) from None

    def __call__(self, image) -> list[RecognizedFace]:
        rgb = _to_rgb(image)
        return [RecognizedFace(box=(f.box.x, f.box.y, f.box.width, f.box.height), score=f.box.score,
                               label=self.classes[f.top],
                               probabilities={c: float(p) for c, p in zip(self.classes, f.probs)})
                for f in self._pipeline(rgb)]


def _to_rgb(image) -> np.ndarray:
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
            return _pil_to_rgb(image)
        if isinstance(image, np.ndarray) and image.ndim in (2, 3):
            check_dimensions(image.shape[1], image.shape[0], "the array")
    except InputRejected as exc:
        raise InputRejected(exc.reason, str(exc)) from None
    if not isinstance(image, np.ndarray):
        raise PredictError(f"expected a path, a PIL image or a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise PredictError(f"expected a uint8 RGB image (0-255), got dtype {image.dtype}")
    if image.ndim == 2:  # greyscale
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise PredictError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    return np.ascontiguousarray(image[..., :3])


def _pil_to_rgb(image) -> np.ndarray:
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
