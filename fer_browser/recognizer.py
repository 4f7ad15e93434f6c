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
    """Recognizer(model_dir=None)(image) -> [RecognizedFace]; model_dir defaults to the shipped model."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, threads: int = 0):
        from fer_browser.predict.pipeline import Pipeline

        try:
            self._pipeline = Pipeline(Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR,
                                      threads=threads)
        except PredictError as exc:  # raised afresh: one line, no chain of internal frames
            raise PredictError(str(exc)) from None
        self.classes: list[str] = list(self._pipeline.classes)
        self.metadata: dict = self._pipeline.meta

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
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise PredictError(f"expected a path, a PIL image or a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise PredictError(f"expected a uint8 RGB image (0-255), got dtype {image.dtype}")
    if image.ndim == 2:  # greyscale
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise PredictError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    return np.ascontiguousarray(image[..., :3])
