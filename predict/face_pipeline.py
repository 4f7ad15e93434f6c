"""web/face_pipeline.json, read for Python: the detector, tracking and smoothing settings the page uses too.

The file is the one source of truth (schema fer-face-pipeline/1); predict/detector.py and
predict/tracking.py hold no numbers of their own. A file of another schema, or one missing a key
Python needs, is refused with one line.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import PredictError

SCHEMA = "fer-face-pipeline/1"
# the keys Python reads, per section (the page reads more, e.g. "cadence")
REQUIRED = {
    "detector": ("weights", "inputSize", "inputRange", "featureMaps", "scoreThreshold", "iouThreshold", "merge",
                 "maxFaces", "minSize"),
    "tracking": ("matchIou", "maxMissed"),
    "smoothing": ("method", "alpha"),
}
MERGES = ("weighted",)  # MediaPipe's weighted NMS: overlapping candidates become their score-weighted mean
METHODS = ("ema",)


def face_pipeline_path() -> Path:
    """Where the file lives: web/ of this checkout. The one place that knows it (re-point it here
    when the package moves its data files)."""
    return Path(__file__).resolve().parents[1] / "web" / "face_pipeline.json"


def load_face_pipeline(path: Path | None = None) -> dict:
    """The whole file as a dict, checked: schema, the keys Python reads, and the merge/method names."""
    path = Path(path) if path is not None else face_pipeline_path()
    try:
        cfg = json.loads(path.read_text())
    except OSError as exc:
        raise PredictError(f"{path}: cannot read the face pipeline settings ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise PredictError(f"{path}: not valid JSON ({exc})") from None
    schema = cfg.get("schema") if isinstance(cfg, dict) else None
    if schema != SCHEMA:
        raise PredictError(f"{path}: schema {schema!r} is not {SCHEMA!r}; this version of predict cannot read it")
    for section, keys in REQUIRED.items():
        missing = [k for k in keys if k not in (cfg.get(section) or {})]
        if missing:
            raise PredictError(f"{path}: \"{section}\" lacks {', '.join(missing)}")
    if cfg["detector"]["merge"] not in MERGES:
        raise PredictError(f"{path}: detector merge {cfg['detector']['merge']!r} unknown (known: {', '.join(MERGES)})")
    if cfg["smoothing"]["method"] not in METHODS:
        raise PredictError(f"{path}: smoothing method {cfg['smoothing']['method']!r} unknown "
                           f"(known: {', '.join(METHODS)})")
    return cfg
