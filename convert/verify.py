"""`python -m convert verify DIR`: re-check a published model directory at any time.

First the manifest (training/manifest.py): every file, metadata.json included, must match its sha256
in manifest.json, and no file may be missing or extra. Then the stored reference inputs run through
ONNX Runtime, the TF SavedModel and TF.js (wasm, headless Chromium) and are compared with the stored
PyTorch outputs (and with PyTorch run live, given --checkpoint), so altered numbers are caught even
with a rewritten manifest. Read-only: DIR is never written.
"""
from __future__ import annotations

from pathlib import Path

from fer_browser.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from fer_browser.training.manifest import ManifestError, check_manifest, manifest_report

from .artifacts import read_metadata
from .cleanup import private_tmp
from .errors import ConvertError
from .parity import run_parity
from .reference import read_reference


def verify(model_dir: Path, checkpoint: Path | None = None) -> dict:
    """The parity report plus "manifest" (manifest_report) and "manifest_error" (one line, or None)."""
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
    torch_model = None
    if checkpoint is not None:
        try:
            torch_model, _ = model_from_checkpoint(load_checkpoint(Path(checkpoint)))
        except CheckpointError as exc:
            raise ConvertError(str(exc)) from None
    with private_tmp():
        report = run_parity(model_dir, read_reference(model_dir), meta.get("quantization"), torch_model)
    report["manifest"], report["manifest_error"] = manifest, manifest_error
    report["passed"] = report["passed"] and manifest_error is None
    return report
