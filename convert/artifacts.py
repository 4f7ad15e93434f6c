"""metadata.json beside the artifacts: the checkpoint's metadata + checksums, tool versions, parity.

Every file in the directory except metadata.json itself is listed under "artifacts" with its
sha256, so `python -m convert verify DIR` can tell a changed or missing file from a good one.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path

from training.metadata import copy_metadata

from .to_onnx import INPUT_NAME, OPSET, OUTPUT_NAME

METADATA_FILE = "metadata.json"
PACKAGES = {"torch": "torch", "onnx": "onnx", "onnx_tf": "onnx-tf", "tensorflow": "tensorflow",
            "tensorflowjs": "tensorflowjs", "onnxruntime": "onnxruntime"}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() != METADATA_FILE}


def check_artifacts(folder: Path, expected: dict[str, str]) -> dict:
    found = checksums(folder)
    changed = sorted(p for p, h in expected.items() if p in found and found[p] != h)
    missing = sorted(p for p in expected if p not in found)
    return {"passed": bool(expected) and not changed and not missing, "checked": len(expected),
            "changed": changed, "missing": missing}


def tool_versions(extra: dict | None = None) -> dict:
    versions = {key: importlib_metadata.version(dist) for key, dist in PACKAGES.items()}
    versions["python"] = platform.python_version()
    return {**versions, **(extra or {})}


def write_metadata(folder: Path, meta: dict, quantization: str | None, checkpoint: dict,
                   report: dict | None = None, parity_summary: dict | None = None) -> dict:
    """Preliminary (before the gate: the page's model code needs it) or final (with checksums)."""
    doc = copy_metadata(meta)
    extra = {name: report[k] for name, k in (("tfjs", "tfjs_version"), ("chromium", "chromium"))
             if report and report.get(k)}
    doc.update({"quantization": quantization, "versions": tool_versions(extra), "source_checkpoint": checkpoint,
                "conversion": {"onnx_opset": OPSET, "input_name": INPUT_NAME, "output_name": OUTPUT_NAME,
                               "output": "log_softmax", "tfjs_backend": (report or {}).get("tfjs_backend")}})
    if parity_summary is not None:
        doc["parity"] = parity_summary
        doc["artifacts"] = checksums(folder)
    (Path(folder) / METADATA_FILE).write_text(json.dumps(doc, indent=2))
    return doc


def read_metadata(folder: Path) -> dict:
    from training.metadata import validate_metadata

    from .errors import ConvertError

    path = Path(folder) / METADATA_FILE
    if not Path(folder).is_dir():
        raise ConvertError(f"{folder}: no such model directory")
    if not path.is_file():
        raise ConvertError(f"{folder}: not a converted model directory (no {METADATA_FILE})")
    try:
        return validate_metadata(json.loads(path.read_text()), str(path))
    except (ValueError, OSError) as exc:
        raise ConvertError(f"{path}: unreadable metadata ({exc})") from None
