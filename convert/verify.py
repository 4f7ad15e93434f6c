"""`python -m convert verify DIR`: re-check a published model directory at any time.

First the manifest (fer_browser/core/manifest.py): every file, metadata.json included, must match its sha256
in manifest.json, and no file may be missing or extra. A manifest rewritten after an edit passes that,
so the contract fields of metadata.json (CONTRACT_FIELDS: what readers act on) must also equal model.onnx's
own copy in its metadata_props and, given --checkpoint, the checkpoint's: a swapped pair of class names
fails here, naming the field, before anything runs. Then the stored reference inputs run through
ONNX Runtime, the TF SavedModel and TF.js (wasm, headless Chromium) and are compared with the stored
PyTorch outputs (and with PyTorch run live, given --checkpoint), so altered numbers are caught even
with a rewritten manifest. Read-only: DIR is never written.
"""
from __future__ import annotations

import json
from pathlib import Path

from fer_browser.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from fer_browser.core.manifest import ManifestError, check_manifest, manifest_report

from .artifacts import read_metadata
from .cleanup import private_tmp
from .errors import ConvertError, GateFailed
from .parity import run_parity
from .reference import read_reference


def verify(model_dir: Path, checkpoint: Path | None = None) -> dict:
    """The parity report plus "manifest" (manifest_report) and "manifest_error" (one line, or None);
    GateFailed (one line naming the field) when the copies of the metadata disagree."""
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    try:
        manifest = manifest_report(model_dir)
    except ManifestError as exc:
        raise ConvertError(str(exc)) from None
    manifest_error = None
    try:
        check_manifest(model_dir)
    except ManifestError as exc:
        manifest_error = str(exc)
    torch_model = ckpt_meta = None
    if checkpoint is not None:
        try:
            torch_model, ckpt_meta = model_from_checkpoint(load_checkpoint(Path(checkpoint)))
        except CheckpointError as exc:
            raise ConvertError(str(exc)) from None
    if manifest_error is None:  # a changed or missing file is already named by the manifest check
        copies = {"model.onnx's metadata_props": onnx_contract(model_dir / "model.onnx"),
                  **({"the checkpoint's metadata": ckpt_meta} if ckpt_meta is not None else {})}
        for what, other in copies.items():
            differs = contract_difference(meta, other, what)
            if differs:
                raise GateFailed(None, differs)
    with private_tmp():
        report = run_parity(model_dir, read_reference(model_dir), meta.get("quantization"), torch_model,
                            embedding=meta["model"].get("embedding"))
    report["manifest"], report["manifest_error"] = manifest, manifest_error
    report["passed"] = report["passed"] and manifest_error is None
    return report


# What readers act on: every copy of the metadata (metadata.json, model.onnx, the checkpoint) must agree on these.
CONTRACT_FIELDS = ("classes", "input", "preprocessing", "crop", "calibration", "prior")


def onnx_contract(path: Path) -> dict:
    """The contract fields model.onnx carries in its metadata_props (convert/to_onnx.py model_props)."""
    import onnx

    try:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return {key: json.loads(props[key]) for key in CONTRACT_FIELDS if key in props}
    except Exception as exc:  # onnx raises its own types for a damaged file
        raise ConvertError(f"{path}: cannot read its metadata_props ({type(exc).__name__}: {exc})") from None


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if value is not None else "absent"
    return text if len(text) <= 120 else text[:117] + "..."


def contract_difference(meta: dict, other: dict, what: str) -> str | None:
    """One line naming the first contract field on which metadata.json and `what` disagree, or None."""
    for key in CONTRACT_FIELDS:
        if meta.get(key) != other.get(key):
            return f"metadata.json and {what} disagree on {key!r}: {_short(meta.get(key))} vs {_short(other.get(key))}"
    return None
