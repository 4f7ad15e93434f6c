"""Knowledge distillation: a student learns from a teacher's soft outputs mixed with the labels.

    python -m training.train --teacher models/fer-default/checkpoint.pt --distill-alpha 0.5 --out runs/student

Each teacher is a checkpoint (trust-checked like any other: weights_only load, digest verified).
Before the first epoch every teacher scores every training image once, with flip TTA, using its
own preprocessing; the teachers' probabilities are averaged. The student's target for image i is

    alpha * teacher(i) + (1 - alpha) * label(i)

where label(i) is the run's target (the vote distribution for soft label sets, else one-hot), so
the loss stays the soft cross-entropy training already uses. The teachers are named in the run's
metadata by file name and weight digest; --resume refuses a different teacher or alpha.
--init (init_weights) starts the student from a trained checkpoint's weights instead.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from .errors import OptionError
from .metrics import predict_probs


def describe_teachers(paths: list[Path], alpha: float) -> dict | None:
    """The run's record of its teachers (None without one): what --resume and the metadata compare."""
    if not paths:
        return None
    if not 0.0 < alpha <= 1.0:
        raise OptionError(f"--distill-alpha must be in (0, 1], got {alpha}")
    described = []
    for path in paths:
        meta = load_checkpoint(path)["metadata"]  # trust-checked; the model is built once, in teacher_probs
        described.append({"file": Path(path).name, "model": meta["model"]["name"],
                          "weights_sha256": meta["weights_sha256"]})
    return {"teachers": described, "alpha": alpha, "tta_flip": True}


def teacher_probs(paths: list[Path], images, classes, device: str = "cpu", progress: bool = False) -> np.ndarray:
    """Mean flip-TTA probabilities (N, C) of the teachers on uint8 faces (N, 48, 48)."""
    total = None
    for path in paths:
        model, meta = model_from_checkpoint(path)
        if tuple(meta["classes"]) != tuple(classes):
            raise CheckpointError(f"{path}: the teacher predicts {list(meta['classes'])}, this run trains "
                                  f"{list(classes)}; a teacher must have the same classes in the same order")
        if progress:
            print(f"teacher {Path(path).name}: scoring {len(images)} training images (flip TTA)", file=sys.stderr)
        with torch.inference_mode():
            p = predict_probs(model.to(device), images, meta["preprocessing"], tta_flip=True, device=device)
        total = p.astype(np.float64) if total is None else total + p
    return (total / len(paths)).astype(np.float32)


def init_weights(model: torch.nn.Module, path: Path, model_name: str, classes) -> dict:
    """Load a trained checkpoint's weights into a freshly built model (--init); returns the run's record."""
    payload = load_checkpoint(path)
    meta = payload["metadata"]
    if meta["model"]["name"] != model_name or tuple(meta["classes"]) != tuple(classes):
        raise CheckpointError(f"{path}: --init needs a {model_name} checkpoint with classes {list(classes)}; "
                              f"it holds {meta['model']['name']} with {list(meta['classes'])}")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit this run's model (check --hparams): "
                              f"{str(exc).strip().splitlines()[0]}") from None
    return {"file": Path(path).name, "model": model_name, "weights_sha256": meta["weights_sha256"]}


def mix_targets(teacher: np.ndarray, labels: np.ndarray, soft: np.ndarray | None, alpha: float) -> np.ndarray:
    """alpha * teacher + (1 - alpha) * (soft targets, or one-hot labels): rows still sum to 1."""
    base = soft if soft is not None else np.eye(teacher.shape[1], dtype=np.float32)[labels]
    return (alpha * teacher + (1.0 - alpha) * base).astype(np.float32)
