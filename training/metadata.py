"""The model's metadata: the one source of truth for classes, input and preprocessing.

It travels inside every checkpoint (key "metadata") and, as metadata.json, beside every converted
artifact. Python (training, conversion, predict) and the browser (web/lib/emotion.js) read it;
nothing else hard-codes class names, input size, normalisation or the face-crop rule.

Model input = (gray / 255 - mean) / std, where gray is the face crop converted to grayscale with
`grayscale_weights` (ITU-R BT.601 luma) and resized to input.height x input.width with `resize`.
The crop is a square centred on the detector's face box, with side = scale * max(box w, box h),
its centre moved down by shift_y * side; pixels outside the image take the grey value `fill`.
Resize is "area": bilinear sampling (corner-aligned, like tf.image.cropAndResize) at k*48 with
k = round(side / 48) clamped to 1..4, then k x k averaging; web/lib/emotion.js is the reference.

Added when a checkpoint is saved (training/checkpoint.py): "weights_sha256" (digest of the
state_dict) and "probe" (the model's probabilities on the redistributable probe faces). "metrics"
may claim "val_acc": accuracy on the PublicTest split of "label_set" (flip TTA if training.tta),
which the conversion gate reproduces with ONNX Runtime when the data is present. Optional
"calibration" (training/calibration.py, `python -m training.calibrate --write`): the temperature T
that readers apply as softmax(log(p) / T), with the ECE it was measured to give. Optional "prior"
(training/prior.py, `python -m training.prior --write`): the training set's class frequencies and a
default strength tau; readers compute z = log(p) / T - tau * log(prior), probs = softmax(z)
(training.calibration.adjusted_probabilities, web/lib/emotion.js), tau = 0 being the model as trained. Nothing here may
name a path on the machine that made it: data files are recorded by name and sha256.
"""
from __future__ import annotations

import copy
import math
from pathlib import PurePath

SCHEMA = "fer-model-metadata/1"

DEFAULT_PREPROCESSING = {
    "color": "grayscale",
    "grayscale_weights": [0.299, 0.587, 0.114],
    "resize": "area",
    "pixel_scale": 255.0,
    "mean": 0.5,
    "std": 0.5,
}

# Chosen by eye so a BlazeFace box (web/lib/blazeface.js) framed this way looks like FER2013's
# registration: forehead to chin filling the frame (BlazeFace centres a little below the eyes).
# The one input every registered model takes (a model that wants more pixels resizes inside itself).
DEFAULT_INPUT = {"height": 48, "width": 48, "channels": 1, "layout": "NCHW", "dtype": "float32"}

DEFAULT_CROP = {"shape": "square", "scale": 1.1, "shift_y": -0.05, "fill": 128}


def build_metadata(model_name: str, hparams: dict, num_parameters: int, classes, label_set: str,
                   training: dict | None = None, data: dict | None = None,
                   preprocessing: dict | None = None, crop: dict | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "model": {"name": model_name, "hparams": dict(hparams), "parameters": int(num_parameters),
                  "output": "log_softmax"},
        "classes": list(classes),
        "label_set": label_set,
        "input": dict(DEFAULT_INPUT),
        "preprocessing": dict(preprocessing or DEFAULT_PREPROCESSING),
        "crop": dict(crop or DEFAULT_CROP),
        "training": dict(training or {}),
        "data": dict(data or {}),
        "metrics": {},
    }


def validate_metadata(meta: dict, where: str = "metadata") -> dict:
    """Check the fields downstream code relies on; raise ValueError naming what is missing."""
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: metadata is not a JSON object")
    if meta.get("schema") != SCHEMA:
        raise ValueError(f"{where}: unknown metadata schema {meta.get('schema')!r} (expected {SCHEMA})")
    for key in ("model", "classes", "input", "preprocessing", "crop"):
        if key not in meta:
            raise ValueError(f"{where}: metadata has no {key!r}")
    if not meta["classes"] or len(set(meta["classes"])) != len(meta["classes"]):
        raise ValueError(f"{where}: class names must be a non-empty list of unique names")
    if "calibration" in meta:
        validate_calibration(meta["calibration"], where)
    if "prior" in meta:
        validate_prior(meta["prior"], meta["classes"], where)
    return meta


CALIBRATION_VERSION = 1
TEMPERATURE_RANGE = (0.05, 20.0)  # training/calibration.py searches inside it


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_calibration(cal, where: str = "metadata") -> dict:
    """Optional "calibration": {"version": 1, "method": "temperature", "temperature": T, "fitted_on": split,
    "ece_before", "ece_after", "bins", ...}; readers apply softmax(log(p) / T). A field a reader would
    misapply (unknown version or method, T not a positive finite number) is refused, never ignored."""
    if not isinstance(cal, dict):
        raise ValueError(f"{where}: calibration must be an object")
    if cal.get("version") != CALIBRATION_VERSION:
        raise ValueError(f"{where}: unknown calibration version {cal.get('version')!r} (expected {CALIBRATION_VERSION})")
    if cal.get("method", "temperature") != "temperature":
        raise ValueError(f"{where}: unknown calibration method {cal.get('method')!r} (expected 'temperature')")
    t = cal.get("temperature")
    if not _number(t) or not TEMPERATURE_RANGE[0] <= t <= TEMPERATURE_RANGE[1]:
        raise ValueError(f"{where}: calibration temperature must be a number in "
                         f"[{TEMPERATURE_RANGE[0]}, {TEMPERATURE_RANGE[1]}], got {t!r}")
    for key in ("ece_before", "ece_after"):
        if key in cal and not (_number(cal[key]) and 0 <= cal[key] <= 1):
            raise ValueError(f"{where}: calibration {key} must be a number in [0, 1], got {cal[key]!r}")
    if "bins" in cal and not (isinstance(cal["bins"], int) and not isinstance(cal["bins"], bool) and cal["bins"] > 0):
        raise ValueError(f"{where}: calibration bins must be a positive integer, got {cal['bins']!r}")
    if "fitted_on" in cal and not isinstance(cal["fitted_on"], str):
        raise ValueError(f"{where}: calibration fitted_on must be a split name")
    return cal


PRIOR_VERSION = 1
PRIOR_STRENGTH_RANGE = (0.0, 2.0)


def validate_prior(prior, classes, where: str = "metadata") -> dict:
    """Optional "prior": {"version": 1, "probabilities": [p_c in the order of "classes"], "strength": tau,
    "source": text}. Refused (one line) unless every p_c is in (0, 1] and they sum to 1 within 1e-6, and
    tau is in [0, 2]: a reader would otherwise take the log of 0 or shift every answer by a wrong amount."""
    if not isinstance(prior, dict):
        raise ValueError(f"{where}: prior must be an object")
    if prior.get("version") != PRIOR_VERSION:
        raise ValueError(f"{where}: unknown prior version {prior.get('version')!r} (expected {PRIOR_VERSION})")
    p = prior.get("probabilities")
    if not isinstance(p, list) or len(p) != len(classes):
        raise ValueError(f"{where}: prior probabilities must be a list of {len(classes)} numbers, one per class")
    if not all(_number(v) and 0 < v <= 1 for v in p):
        raise ValueError(f"{where}: prior probabilities must each be a finite number in (0, 1], got {p!r}")
    if abs(math.fsum(p) - 1) > 1e-6:
        raise ValueError(f"{where}: prior probabilities must sum to 1 (within 1e-6), got {math.fsum(p)!r}")
    tau = prior.get("strength")
    if not _number(tau) or not PRIOR_STRENGTH_RANGE[0] <= tau <= PRIOR_STRENGTH_RANGE[1]:
        raise ValueError(f"{where}: prior strength must be a number in [0, 2], got {tau!r}")
    if not isinstance(prior.get("source", ""), str):
        raise ValueError(f"{where}: prior source must be a text")
    return prior


def copy_metadata(meta: dict) -> dict:
    return copy.deepcopy(meta)


PATH_KEYS = ("csv", "votes", "folder", "checkpoint")


def public_path(path: str) -> str:
    """A path fit to publish: kept when relative inside the working folder, else only its file name."""
    p = PurePath(path)
    return p.name if p.is_absolute() or ".." in p.parts or str(path).startswith("~") else p.as_posix()


def public_source(source: dict) -> dict:
    """A data/source record with every path made publishable (the sha256 beside it says which file)."""
    return {k: (public_path(v) if k in PATH_KEYS and isinstance(v, str) else v) for k, v in dict(source).items()}


def public_metadata(meta: dict) -> dict:
    """A copy fit to publish (checkpoints, metadata.json): no absolute path of this machine."""
    doc = copy_metadata(meta)
    if isinstance(doc.get("data"), dict):
        doc["data"] = public_source(doc["data"])
    return doc
