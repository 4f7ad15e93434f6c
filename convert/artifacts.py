"""metadata.json beside the artifacts: the checkpoint's metadata, tool versions, parity summary.

Checksums are not here (a file cannot list its own): manifest.json (fer_browser/core/manifest.py), written
last, lists every file of the folder with its sha256, metadata.json included.
"""
from __future__ import annotations

import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path

from fer_browser.core.metadata import public_metadata

from .to_onnx import INPUT_NAME, OPSET, OUTPUT_NAME

METADATA_FILE = "metadata.json"
PACKAGES = {"torch": "torch", "onnx": "onnx", "onnx_tf": "onnx-tf", "tensorflow": "tensorflow",
            "tensorflowjs": "tensorflowjs", "onnxruntime": "onnxruntime"}


def tool_versions(extra: dict | None = None) -> dict:
    versions = {key: importlib_metadata.version(dist) for key, dist in PACKAGES.items()}
    versions["python"] = platform.python_version()
    return {**versions, **(extra or {})}


def write_metadata(folder: Path, meta: dict, quantization: str | None, checkpoint: dict,
                   report: dict | None = None, parity_summary: dict | None = None) -> dict:
    """Preliminary (before the gate: the page's model code needs it) or final (with the parity summary)."""
    doc = public_metadata(meta)
    extra = {name: report[k] for name, k in (("tfjs", "tfjs_version"), ("chromium", "chromium"))
             if report and report.get(k)}
    doc.update({"quantization": quantization, "versions": tool_versions(extra), "source_checkpoint": checkpoint,
                "conversion": {"onnx_opset": OPSET, "input_name": INPUT_NAME, "output_name": OUTPUT_NAME,
                               **({"embedding_name": meta["model"]["embedding"]["output"]}
                                  if meta["model"].get("embedding") else {}),
                               "output": "log_softmax", "tfjs_backend": (report or {}).get("tfjs_backend")}})
    if parity_summary is not None:
        doc["parity"] = parity_summary
    (Path(folder) / METADATA_FILE).write_text(json.dumps(doc, indent=2))
    return doc


def read_metadata(folder: Path) -> dict:
    from fer_browser.core.metadata import validate_metadata

    from .errors import ConvertError

    path = Path(folder) / METADATA_FILE
    if not Path(folder).is_dir():
        raise ConvertError(f"{folder}: no such model directory")
    if not path.is_file():
        raise ConvertError(f"{folder}: not a converted model directory (no {METADATA_FILE})")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ConvertError(f"{path}: unreadable metadata ({exc})") from None
    try:
        return validate_metadata(meta, str(path))  # its message names the file and the field
    except ValueError as exc:
        raise ConvertError(str(exc)) from None
