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
(training.calibration.adjusted_probabilities, web/lib/prior.js), tau = 0 being the model as trained. Nothing here may
name a path on the machine that made it: data files are recorded by name and sha256. Optional
"model.embedding" (written by `python -m convert` for a model with embed/classify): {"output": name of
the graph's second output, "size": D values per face}; absent in single-output exports.
"""
from __future__ import annotations

import copy
from pathlib import PurePath

from fer_browser.schema import SchemaError, cross_check, load_schema, validate

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
    """Check meta against web/schemas/model-metadata.schema.json (fer_browser/schema.py, the validator the
    server and predict use too; web/lib/schema.js is its twin); raise ValueError naming the field."""
    return validate(meta, "model-metadata", where)


_CALIBRATION = load_schema("model-metadata")["properties"]["calibration"]["properties"]
CALIBRATION_VERSION = _CALIBRATION["version"]["const"]
# training/calibration.py searches inside the schema's bounds, so every fitted T is a valid one
TEMPERATURE_RANGE = (float(_CALIBRATION["temperature"]["minimum"]), float(_CALIBRATION["temperature"]["maximum"]))


def validate_calibration(cal, where: str = "metadata") -> dict:
    """Optional "calibration": {"version": 1, "method": "temperature", "temperature": T, "fitted_on": split,
    "ece_before", "ece_after", "bins", ...}; readers apply softmax(log(p) / T). A field a reader would
    misapply (unknown version or method, T outside TEMPERATURE_RANGE) is refused, never ignored."""
    return validate(cal, "model-metadata", where, subtree="calibration")


PRIOR_VERSION = 1
_STRENGTH = load_schema("model-metadata")["properties"]["prior"]["properties"]["strength"]
PRIOR_STRENGTH_RANGE = (float(_STRENGTH["minimum"]), float(_STRENGTH["maximum"]))  # options are held to it too


def validate_prior(prior, classes, where: str = "metadata") -> dict:
    """Optional "prior": {"version": 1, "probabilities": [p_c in the order of "classes"], "strength": tau,
    "source": text}, held to the metadata schema's "prior" and its cross-field rule (one entry per class,
    summing to 1 within 1e-6): a reader would otherwise take the log of 0 or shift every answer wrongly."""
    validate(prior, "model-metadata", where, subtree="prior")
    try:
        cross_check({"classes": list(classes), "prior": prior}, "model-metadata")
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
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
