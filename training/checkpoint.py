"""Checkpoints: weights + metadata (+ optimizer/scheduler/RNG state for --resume), written atomically."""
from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_open
from .metadata import validate_metadata
from .models import build_model


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or lacks the metadata downstream steps need."""


def save_checkpoint(path: Path, payload: dict) -> None:
    with atomic_open(path) as fh:
        torch.save(payload, fh)


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint made by training.train (no state_dict)")
    if "metadata" not in payload:
        raise CheckpointError(f"{path}: checkpoint has no metadata; re-save it with training.train")
    try:
        validate_metadata(payload["metadata"], str(path))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    return payload


def model_from_checkpoint(path_or_payload) -> tuple[torch.nn.Module, dict]:
    """Build the registered model named in the metadata, load its weights, put it in eval mode."""
    payload = path_or_payload if isinstance(path_or_payload, dict) else load_checkpoint(path_or_payload)
    meta = payload["metadata"]
    try:
        model = build_model(meta["model"]["name"], len(meta["classes"]), meta["model"].get("hparams"))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit model {meta['model']['name']!r}: {exc}") from None
    return model.eval(), meta
