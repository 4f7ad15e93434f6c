"""The Python API: a model folder in, faces with emotions out.

    from fer_browser import Recognizer
    recognize = Recognizer()                   # the shipped model; or Recognizer("path/to/export")
    for face in recognize("photo.jpg"):        # a path, a PIL image or an RGB uint8 NumPy array
        print(face.box, face.label, face.confidence, face.probabilities)
    recognize(frame, channels="bgr")           # an OpenCV (BGR) array
    emb, log_probs = recognize.embed_faces([crop1, crop2])   # face crops -> (N, D) embeddings, (N, K)
    boxes, emb, log_probs = recognize.embed_detected("photo.jpg")  # the same for each detected face
    profile = recognize.calibrate({"happiness": [img1, img2], "wink": [img3, img4]})  # "Calibrate to me"
    recognize.profile = profile                # answers in the profile's classes; None turns it off
    Recognizer(profile="me.json")              # a saved profile (fer_browser.profile.save_profile)
    recognize.classify_faces([crop1, crop2])   # already-cropped faces, no detection -> (N, classes)

Each face is a RecognizedFace; `face.to_dict()` is exactly the object of
web/schemas/face-result.schema.json, the one the browser library's estimateFaces gives for each face
(the same names, faces left to right by box x, ties by y).

A thin layer over predict.recognition.Pipeline (the page's detector, crop and normalisation, the
model on ONNX Runtime), so Python and the page give the same answers. The folder is checked
against its manifest.json before use, its metadata.json against web/schemas/model-metadata.schema.json
(fer_browser/schema.py) and its class count against model.onnx's output size. Needs `pip install "fer-browser[predict]"`
(without it, Recognizer() raises MissingExtraError, one line naming the extra); it imports
neither Flask nor TensorFlow nor torch. Every error is a PredictError with a one-line message.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from fer_browser.paths import DEFAULT_MODEL_DIR
from fer_browser.image_input import as_profile, channel_order, to_rgb
from fer_browser.predict.errors import PredictError

__all__ = ["Recognizer", "RecognizedFace", "FaceBox", "PredictError", "MissingExtraError"]

EXTRA_HINT = 'pip install "fer-browser[predict]"'


class MissingExtraError(PredictError, ImportError):
    """Recognizer() without the 'predict' extra (NumPy, ONNX Runtime, Pillow): one line naming it."""


class FaceBox(NamedTuple):
    """A face box in image pixels: x, y (top-left corner), width, height. A tuple, so
    `x, y, w, h = face.box` keeps working; `face.box.x` names the parts as the browser library does."""
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class RecognizedFace:
    """One face, with the same names as web/schemas/face-result.schema.json and the browser library."""

    box: FaceBox
    """Where the face is, in image pixels (x, y = top-left corner, width, height)."""
    label: str
    """The most probable class."""
    confidence: float
    """The emotion model's probability of `label` (probabilities[label])."""
    probabilities: dict[str, float]
    """Every class of the model, in its metadata order."""
    detector_score: float
    """The face detector's confidence (0..1)."""
    id: int | None = field(default=None)
    """A tracked face's stable id; None for a photo (the Python API does not track)."""

    @property
    def score(self) -> float:
        """Deprecated alias of detector_score (the name before the v2 result schema)."""
        warnings.warn("RecognizedFace.score is deprecated: use detector_score (the face detector's confidence) "
                      "or confidence (the emotion's probability)", DeprecationWarning, stacklevel=2)
        return self.detector_score

    def to_dict(self) -> dict:
        """Exactly the object of web/schemas/face-result.schema.json (plain floats; "id" only when tracked)."""
        out = {"box": {"x": float(self.box.x), "y": float(self.box.y), "width": float(self.box.width),
                       "height": float(self.box.height)},
               "label": self.label, "confidence": float(self.confidence),
               "probabilities": {c: float(p) for c, p in self.probabilities.items()},
               "detector_score": float(self.detector_score)}
        if self.id is not None:
            out["id"] = int(self.id)
        return out


class Recognizer:
    """Recognizer(model_dir=None)(image) -> [RecognizedFace], faces left to right.

    model_dir: an export folder made by fer-convert (metadata.json, model.onnx, manifest.json);
    default: the shipped model. threads: CPU threads for ONNX Runtime (0 = its default).
    prior_strength: tau of the prior correction (the metadata's "prior"): None = the metadata's default,
    0 = off; larger values show rare emotions (fear, disgust) more often, at some cost in accuracy.

    Raises PredictError (one line) for a folder that is not a usable model, and MissingExtraError
    (a PredictError and an ImportError) when the 'predict' extra is not installed."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, threads: int = 0,
                 prior_strength: float | None = None, profile=None):
        """Load and check the model folder (manifest, metadata schema, class count) and the face detector."""
        try:  # NumPy and Pillow are imported here, ONNX Runtime when the model loads
            from fer_browser.predict.recognition import Pipeline

            self._pipeline = Pipeline(Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR,
                                      threads=threads, prior_strength=prior_strength, profile=as_profile(profile))
        except ModuleNotFoundError as exc:
            top = (exc.name or "").partition(".")[0]
            if not top or top == "fer_browser":
                raise
            raise MissingExtraError(f"Recognizer needs the 'predict' extra (no module named {top!r}); "
                                    f"install it with: {EXTRA_HINT}") from None
        except PredictError as exc:  # raised afresh: one line, no chain of internal frames
            raise PredictError(str(exc)) from None
        self.metadata: dict = self._pipeline.meta
        """The model's metadata.json."""

    @property
    def classes(self) -> list[str]:
        """Class names of the answers: the model's (metadata.json order), or the active profile's visible ones."""
        return list(self._pipeline.classes)

    @property
    def profile(self) -> dict | None:
        """The personal profile in use (fer_browser/profile.py), or None. Assign a path, a profile dict (as
        `calibrate` returns) or None; a profile for another model, or a damaged one, is refused with one line
        (PredictError) and the current one kept. While one is active, answers use its classes and head and
        ignore prior_strength and the calibration temperature."""
        return self._pipeline.profile

    @profile.setter
    def profile(self, profile) -> None:
        try:
            self._pipeline.set_profile(as_profile(profile))
        except PredictError as exc:
            raise PredictError(str(exc)) from None

    def calibrate(self, samples: dict, *, hidden=(), cropped: bool = False, channels: str = "rgb") -> dict:
        """Fit a personal profile on a person's own faces; returns it (activate it with `recognizer.profile =
        profile`, keep it with fer_browser.profile.save_profile).

        samples: {class name: [images]}; a name that is not a model class is a custom expression (added after
        the model's classes). Images as __call__ takes them, each holding one face (the largest detected face
        is used; an image without a face is refused, naming it); with cropped=True each image is already the
        face (no detection, as embed_faces). hidden: class names never to be shown. Deterministic: the same
        samples give the same profile (web/adaptation.json's settings; the page's fit is its twin)."""
        import numpy as np

        from fer_browser.adaptation import AdaptationError, fit_head
        from fer_browser.profile import ProfileError, make_profile

        if not isinstance(samples, dict) or not samples:
            raise PredictError("calibrate needs {class name: [images]} with at least one class")
        model_classes = list(self.metadata["classes"])
        custom = [c for c in samples if c not in model_classes]
        classes = model_classes + custom
        emb, logp, labels = [], [], []
        for name, images in samples.items():
            if isinstance(images, (str, os.PathLike)) or not hasattr(images, "__len__") or len(images) == 0:
                raise PredictError(f"calibrate: {name!r} needs a list of at least one image")
            if cropped:
                e, lp = self.embed_faces(images, channels=channels)
            else:
                rows = [self._largest_face(image, channels, f"{name!r} image {i + 1}") for i, image in enumerate(images)]
                e, lp = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])
            emb.append(e)
            logp.append(lp)
            labels += [classes.index(name)] * len(e)
        prior = (self.metadata.get("prior") or {}).get("probabilities")
        try:
            head = fit_head(np.concatenate(emb), np.concatenate(logp), np.array(labels), len(classes), prior)
            return make_profile(head, self.metadata, custom=custom, hidden=list(hidden))
        except (AdaptationError, ProfileError) as exc:
            raise PredictError(f"calibrate: {exc}") from None

    def _largest_face(self, image, channels: str, what: str):
        boxes, emb, logp = self.embed_detected(image, channels=channels)
        if not boxes:
            raise PredictError(f"calibrate: no face found in {what}")
        k = max(range(len(boxes)), key=lambda i: boxes[i].width * boxes[i].height)
        return emb[k], logp[k]

    def classify_faces(self, images, *, channels: str = "rgb"):
        """Probabilities (N, len(classes)) for face images that are already cropped (as embed_faces takes
        them), no detection: what evaluation and dataset tools need. Uses the active profile, if any."""
        return self._pipeline.probabilities(self._crops(images, channels))

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

    @property
    def embedding_size(self) -> int | None:
        """Values per face of the model's embedding (metadata model.embedding.size); None for an export
        without one (embed_faces and embed_detected refuse those)."""
        emb = self.metadata["model"].get("embedding")
        return int(emb["size"]) if emb else None

    def embed_faces(self, images, *, channels: str = "rgb") -> tuple:
        """Embeddings and raw log-probabilities of face images that are already cropped (one face each).

        images: a list of faces, each a path, a PIL image or a uint8 NumPy array (H, W[, 3]) of any size
        (48x48 is the model's own); a (N, H, W) uint8 array is N grey faces. Each whole image is the crop:
        made square around its centre (padded with the metadata's fill) and resized as the page resizes
        a detected face. Returns (embeddings (N, D) float64, log_probs (N, K) float64 in `classes` order:
        the model's own, without calibration or prior). Raises PredictError (one line) for a model exported
        without the embedding output (re-convert it) or an unusable image."""
        return self._embed(self._crops(images, channels))

    def _crops(self, images, channels: str):
        """A model batch from already-cropped faces: each whole image is the crop."""
        import numpy as np

        from fer_browser.predict.preprocess import faces_to_batch

        if isinstance(images, (str, os.PathLike)) or not hasattr(images, "__len__"):
            raise PredictError(f"expected a list of face images, got {type(images).__name__}")
        if isinstance(images, np.ndarray) and (images.ndim != 3 or images.shape[-1] in (3, 4)):
            raise PredictError(f"embed_faces takes a list of face images or an (N, H, W) grey stack, got an array "
                               f"of shape {images.shape}")
        order = channel_order(channels, None)
        meta = {**self.metadata, "crop": {**self.metadata["crop"], "scale": 1.0, "shift_y": 0.0}}
        batch = [faces_to_batch(rgb, [FaceBox(0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0]))], meta)
                 for rgb in (to_rgb(image, order) for image in images)]
        h, w = self.metadata["input"]["height"], self.metadata["input"]["width"]
        return np.concatenate(batch) if batch else np.zeros((0, 1, h, w), np.float32)

    def embed_detected(self, image, *, channels: str = "rgb", bgr: bool | None = None) -> tuple:
        """(boxes, embeddings (N, D) float64, log_probs (N, K) float64) for every face the detector finds in
        `image` (as __call__ takes it), faces left to right as __call__ lists them; crops as __call__ makes them."""
        from fer_browser.predict.preprocess import faces_to_batch

        rgb = to_rgb(image, channel_order(channels, bgr))
        boxes = sorted(self._pipeline.detector.detect(rgb), key=lambda b: (b.x, b.y))
        emb, log_probs = self._embed(faces_to_batch(rgb, boxes, self.metadata))
        return [FaceBox(float(b.x), float(b.y), float(b.width), float(b.height)) for b in boxes], emb, log_probs

    def _embed(self, batch) -> tuple:
        import numpy as np

        from fer_browser.cli import reconvert_hint
        from fer_browser.predict.backends import default_checkpoint

        out, emb = self._pipeline.backend.run(batch)
        if emb is None:
            raise PredictError(f"{self._pipeline.model_dir}: this model has no embedding output (exported before "
                               f"embeddings, or a model without one); {reconvert_hint(default_checkpoint(self._pipeline.model_dir))}")
        if self.metadata["model"].get("output", "log_softmax") == "logits":  # the raw outputs as log-probabilities
            out = out - np.logaddexp.reduce(out, axis=1, keepdims=True)
        return np.asarray(emb, np.float64), np.asarray(out, np.float64)

    def __call__(self, image, *, channels: str = "rgb", bgr: bool | None = None) -> list[RecognizedFace]:
        """Every face in `image`, left to right (box x ascending, ties by y).

        image: a file path, a PIL image, or a uint8 NumPy array (H, W, 3 or 4; or H, W greyscale).
        channels: the array's channel order, "rgb" (default) or "bgr" for OpenCV arrays
        (cv2.imread, cv2.VideoCapture frames); `bgr=True` says the same. Paths and PIL images know
        their own order. Raises PredictError (one line) for an unusable image."""
        from fer_browser.predict.recognition import left_to_right

        order = channel_order(channels, bgr)
        rgb = to_rgb(image, order)
        return [RecognizedFace(box=FaceBox(float(f.box.x), float(f.box.y), float(f.box.width), float(f.box.height)),
                               label=self.classes[f.top], confidence=float(f.probs[f.top]),
                               probabilities={c: float(p) for c, p in zip(self.classes, f.probs)},
                               detector_score=float(f.box.score))
                for f in left_to_right(self._pipeline(rgb))]
