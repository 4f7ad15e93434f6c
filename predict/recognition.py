"""Frame -> faces -> emotions: the detector, the browser's preprocessing and a backend, in one object."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import load_metadata, make_backend, prior_strength as prior_strength_of
from .detector import Box, FaceDetector
from .errors import ModelFault, PredictError
from .preprocess import faces_to_batch

from fer_browser.paths import DEFAULT_MODEL_DIR  # noqa: F401  (the shipped model: the one the page serves)


@dataclass
class Face:
    box: Box
    probs: np.ndarray  # probabilities in metadata class order

    @property
    def top(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(self.probs[self.top])

    def as_dict(self, classes: list[str]) -> dict:
        """The face as web/schemas/face-result.schema.json says (rounded for files: box 0.01 px,
        probabilities 1e-5, so confidence is exactly probabilities[label])."""
        b = self.box
        probs = {c: round(float(p), 5) for c, p in zip(classes, self.probs)}
        label = classes[self.top]
        return {"box": {"x": round(float(b.x), 2), "y": round(float(b.y), 2), "width": round(float(b.width), 2),
                        "height": round(float(b.height), 2)},
                "label": label, "confidence": probs[label], "probabilities": probs,
                "detector_score": round(float(b.score), 4)}


def left_to_right(faces: list) -> list:
    """Faces in the order both libraries list them: box x ascending, ties by y (web/lib/recognizer.js)."""
    return sorted(faces, key=lambda f: (f.box.x, f.box.y))


class Pipeline:
    """Pipeline(model_dir)(rgb) -> [Face]; rgb is an RGB uint8 (H, W, 3) array.

    prior_strength: tau of the prior correction (metadata "prior"); None = the metadata's default, 0 = off.
    profile: a personal profile (fer_browser/profile.py; a path or a checked dict), or None. With one,
    `classes` are the profile's visible classes and probabilities come from its head on the model's
    embedding and raw log-probabilities (no temperature, no prior correction: the head was fitted on those)."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, backend: str = "onnx",
                 checkpoint: Path | None = None, detector: FaceDetector | None = None, threads: int = 0,
                 prior_strength: float | None = None, profile=None):
        self.model_dir = Path(model_dir)
        self.meta = load_metadata(self.model_dir)
        self.classes = list(self.meta["classes"])
        strength = prior_strength_of(self.meta, prior_strength)  # refused before any model loads
        self.backend = make_backend(backend, self.model_dir, self.meta, checkpoint, threads)
        self.backend.strength = strength
        self.profile: dict | None = None
        self.set_profile(profile)
        self.detector = detector or FaceDetector(threads=threads)

    def set_profile(self, profile) -> None:
        """Use a profile (a path, a dict, or None for the model's own classes); a bad one is refused
        (PredictError, one line) and the current one kept."""
        from fer_browser.profile import ProfileError, check_profile, load_profile

        if profile is not None:
            if not self.meta["model"].get("embedding"):
                raise PredictError(f"{self.model_dir}: this model has no embedding output, so a profile cannot be "
                                   "used with it; re-convert it with the current converter")
            try:
                profile = (check_profile(profile, self.meta, "the profile") if isinstance(profile, dict)
                           else load_profile(profile, self.meta))
            except ProfileError as exc:
                raise PredictError(str(exc)) from None
            self._visible = [k for k, c in enumerate(profile["classes"]) if c not in profile["hidden"]]
            self.classes = [profile["classes"][k] for k in self._visible]
        else:
            self.classes = list(self.meta["classes"])
        self.profile = profile

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities over `classes` for a batch from faces_to_batch (N, 1, H, W)."""
        if self.profile is None:
            return self.backend(batch)
        from fer_browser.profile import profile_probabilities

        out, emb = self.backend.run(batch)
        if emb is None:
            raise PredictError(f"the {self.backend.name} backend gives no embedding, so the profile cannot be used")
        if self.meta["model"].get("output", "log_softmax") == "logits":
            out = out - np.logaddexp.reduce(out, axis=1, keepdims=True)
        return profile_probabilities(self.profile, emb, out)[:, self._visible]

    def classify(self, rgb: np.ndarray, boxes: list[Box]) -> list[Face]:
        if not boxes:
            return []
        probs = self.probabilities(faces_to_batch(rgb, boxes, self.meta))
        if not np.isfinite(probs).all():  # damaged weights (NaN, inf) must not reach users as "neutral nan"
            raise ModelFault(f"the model ({self.backend.name} backend) gave non-finite probabilities (NaN or "
                             "infinity): its weights are damaged; re-export or retrain it")
        return [Face(b, p) for b, p in zip(boxes, probs)]

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        return self.classify(rgb, self.detector.detect(rgb))
