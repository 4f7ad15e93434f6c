"""`python -m convert verify DIR`: re-check a published model directory at any time.

Checks every file against the checksums in metadata.json, then runs the stored reference inputs
through ONNX Runtime, the TF SavedModel and TF.js (wasm, headless Chromium) and compares them with
the stored PyTorch outputs (and with PyTorch run live, given --checkpoint). Read-only: DIR is never
written.
"""
from __future__ import annotations

from pathlib import Path

from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

from .artifacts import check_artifacts, read_metadata
from .errors import ConvertError
from .parity import run_parity
from .reference import read_reference


def verify(model_dir: Path, checkpoint: Path | None = None) -> dict:
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    if not meta.get("artifacts"):
        raise ConvertError(f"{model_dir}: metadata.json lists no artifacts; was it written by `python -m convert`?")
    torch_model = None
    if checkpoint is not None:
        try:
            torch_model, _ = model_from_checkpoint(load_checkpoint(Path(checkpoint)))
        except CheckpointError as exc:
            raise ConvertError(str(exc)) from None
    artifacts = check_artifacts(model_dir, meta["artifacts"])
    report = run_parity(model_dir, read_reference(model_dir), meta.get("quantization"), torch_model)
    report["artifacts"] = artifacts
    report["passed"] = report["passed"] and artifacts["passed"]
    return report
