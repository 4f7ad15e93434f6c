"""web/face_pipeline.json, read for Python: the detector, tracking and smoothing settings the page uses too.

The file is the one source of truth (schema fer-face-pipeline/1); predict/detector.py and
predict/tracking.py hold no numbers of their own. It is checked against web/schemas/face-pipeline.schema.json
by fer_browser/schema.py, the check the page makes with web/lib/schema.js: a file of another schema, a
missing key or a number out of bounds is refused with one line.
"""
from __future__ import annotations

import json
from pathlib import Path

from fer_browser.schema import SchemaError, validate

from .errors import PredictError

SCHEMA = "fer-face-pipeline/1"


def face_pipeline_path() -> Path:
    """Where the file lives: web/ of this checkout. The one place that knows it (re-point it here
    when the package moves its data files)."""
    return Path(__file__).resolve().parents[1] / "web" / "face_pipeline.json"


def load_face_pipeline(path: Path | None = None) -> dict:
    """The whole file as a dict, checked against its schema: every key present, every number in bounds."""
    path = Path(path) if path is not None else face_pipeline_path()
    try:
        cfg = json.loads(path.read_text())
    except OSError as exc:
        raise PredictError(f"{path}: cannot read the face pipeline settings ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise PredictError(f"{path}: not valid JSON ({exc})") from None
    try:  # the one validator of this contract (web/schemas/face-pipeline.schema.json); the page's is its twin
        return validate(cfg, "face-pipeline", str(path))
    except SchemaError as exc:
        raise PredictError(str(exc)) from None
