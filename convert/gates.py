"""The model gate: the converted model must still be the model its checkpoint describes.

The parity gate only proves that the formats agree with each other; consistently wrong weights
pass it. So, on the exported model.onnx (ONNX Runtime, seconds, before any slow step):
- fingerprint: the log-probabilities the checkpoint recorded at save time on the redistributable probe
  faces (metadata "probe", training/probes.py) must be reproduced: faces regenerated here, compared
  with training.probes.compare_fingerprint's tolerance (another CPU may round a pixel differently);
- accuracy (when FER data is present and the checkpoint claims one): the accuracy on the split its
  metrics name (PublicTest of its label set, flip TTA if it trained with --tta) must be within
  ACCURACY_TOLERANCE of the claim.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fer_browser.training.datasets import find_default, load_dataset
from fer_browser.training.errors import DataError
from fer_browser.training.labelsets import LABEL_SETS
from fer_browser.core.metadata import public_path
from fer_browser.core.normalize import normalize
from fer_browser.training.probes import compare_fingerprint, probe_pixels

from .backends import run_onnxruntime
from .errors import ConvertError

ACCURACY_TOLERANCE = 0.005    # 0.5 points
CLAIM_SPLIT = "PublicTest"    # training.train's validation split: metrics.val_acc is measured on it


def fingerprint_check(onnx_path: Path, meta: dict) -> dict:
    probe = meta.get("probe")
    if not isinstance(probe, dict) or not ({"probs", "log_probs"} & set(probe)):
        return {"passed": False, "error": "the checkpoint records no probe fingerprint; upgrade it with "
                                          "`python -m training.checkpoint upgrade`"}
    pixels, _ = probe_pixels(int(probe["count"]), meta, int(probe["seed"]))
    return compare_fingerprint(run_onnxruntime(onnx_path, normalize(pixels, meta["preprocessing"])), probe)


def _onnx_probs(onnx_path: Path, images: np.ndarray, meta: dict, tta: bool, batch: int = 512) -> np.ndarray:
    out = []
    for start in range(0, len(images), batch):
        x = normalize(images[start:start + batch], meta["preprocessing"])
        p = np.exp(run_onnxruntime(onnx_path, x))
        if tta:  # as training.metrics.predict_probs: average with the mirror image
            p = (p + np.exp(run_onnxruntime(onnx_path, np.ascontiguousarray(x[..., ::-1])))) / 2
        out.append(p)
    return np.concatenate(out)


def accuracy_check(onnx_path: Path, meta: dict, csv: Path | None) -> dict | None:
    """None when there is nothing to check (no data, or no claim the data can test)."""
    claim = (meta.get("metrics") or {}).get("val_acc")
    label_set = meta.get("label_set")
    csv = csv or find_default("fer2013.csv")
    if csv is None or not isinstance(claim, (int, float)) or math.isnan(claim) or label_set not in LABEL_SETS:
        return None
    try:
        data = load_dataset(Path(csv), None, None, label_set, progress=False)
    except DataError as exc:
        raise ConvertError(str(exc)) from None
    if list(data.classes) != list(meta["classes"]) or CLAIM_SPLIT not in data.splits:
        return None
    split = data.splits[CLAIM_SPLIT]
    tta = bool((meta.get("training") or {}).get("tta"))
    acc = float((_onnx_probs(onnx_path, split.images, meta, tta).argmax(1) == split.labels).mean())
    return {"split": CLAIM_SPLIT, "label_set": label_set, "faces": len(split), "tta_flip": tta,
            "csv": public_path(str(csv)), "claimed": float(claim), "measured": acc, "tolerance": ACCURACY_TOLERANCE,
            "passed": abs(acc - float(claim)) <= ACCURACY_TOLERANCE}


def model_gate(onnx_path: Path, meta: dict, csv: Path | None = None, use_data: bool = True) -> dict:
    checks = {"fingerprint": fingerprint_check(onnx_path, meta)}
    accuracy = accuracy_check(onnx_path, meta, csv) if use_data else None
    if accuracy is not None:
        checks["accuracy"] = accuracy
    return {"passed": all(c["passed"] for c in checks.values()), **checks}


def failure(gate: dict) -> str:
    """One line saying why the gate failed."""
    fp, acc = gate.get("fingerprint") or {}, gate.get("accuracy") or {}
    if not fp.get("passed", True):
        return ("model gate failed: " + fp["error"] if "error" in fp else
                f"model gate failed: the converted model does not reproduce the checkpoint's recorded predictions "
                f"(median max|dlog p| {fp['median_max_abs_dlogp']:.3g}, tolerance {fp['tolerance']:g}; top-1 "
                f"agreement {fp['top1_agreement']:.1%} on {fp['faces']} probe faces)")
    return (f"model gate failed: {acc['split']} accuracy {acc['measured']:.4f}, the checkpoint claims "
            f"{acc['claimed']:.4f} (tolerance ±{acc['tolerance']:g})")
