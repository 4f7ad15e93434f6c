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

--distill-features BETA (FeatureHints) teaches more than the output: the one teacher runs on every
augmented batch as the student sees it (consistent teaching, so its probabilities in the target are
for that very crop, not for the plain image), and BETA times the mean over the conv blocks of
||student block - teacher block||^2 / ||teacher block||^2 (each block's activations after its ReLU) is
added to the loss. It needs a student whose blocks have the teacher's shapes: one derived from it by
training.factorize, or the same network.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from .errors import OptionError
from .metrics import predict_probs


def describe_teachers(paths: list[Path], alpha: float, features: float = 0.0) -> dict | None:
    """The run's record of its teachers (None without one): what --resume and the metadata compare."""
    if features and len(paths) != 1:
        raise OptionError(f"--distill-features needs exactly one --teacher (the blocks it matches), got {len(paths)}")
    if not features >= 0.0:
        raise OptionError(f"--distill-features must be 0 (off) or more, got {features}")
    if not paths:
        return None
    if not 0.0 < alpha <= 1.0:
        raise OptionError(f"--distill-alpha must be in (0, 1], got {alpha}")
    described = []
    for path in paths:
        meta = load_checkpoint(path)["metadata"]  # trust-checked; the model is built once, in teacher_probs
        described.append({"file": Path(path).name, "model": meta["model"]["name"],
                          "weights_sha256": meta["weights_sha256"]})
    if features:  # the teacher scores each augmented batch: no flip TTA, and the record says so
        return {"teachers": described, "alpha": alpha, "tta_flip": False, "consistent": True, "features": features}
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


class FeatureHints:
    """The teacher of --distill-features and its block-by-block hint loss. Forward hooks keep each
    conv block's output (its ReLU's) in the teacher and the student; teach(x) runs the teacher on the
    batch and returns its probabilities, loss() compares the student's blocks from its last forward."""

    def __init__(self, path: Path, student: torch.nn.Module, classes, device: str = "cpu"):
        self.teacher, meta = model_from_checkpoint(path)
        if tuple(meta["classes"]) != tuple(classes):
            raise CheckpointError(f"{path}: the teacher predicts {list(meta['classes'])}, this run trains {list(classes)}")
        self.teacher.to(device, memory_format=torch.channels_last).eval()
        self.acts: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
        self.recording = {"teacher": False, "student": False}  # only the training step's forwards, not validation's
        self.hooks = [m.register_forward_hook(lambda _m, _i, out, key=key: self._keep(key, out))
                      for key, net in (("teacher", self.teacher), ("student", student)) for m in blocks(net)]
        shape = meta["input"]  # the teacher's own input (its metadata), not a copy of 48 x 48 x 1
        probe = torch.zeros(2, shape["channels"], shape["height"], shape["width"], device=device)
        was_training = student.training
        with torch.no_grad(), self.watching():
            self.teach(probe)
            student.eval()
            student(probe)
        student.train(was_training)
        shapes = [[tuple(a.shape) for a in self.acts[key]] for key in ("teacher", "student")]
        if not shapes[0] or shapes[0] != shapes[1]:
            raise CheckpointError(f"{path}: --distill-features needs the teacher's conv blocks in the student, shape "
                                  f"for shape; the teacher's are {shapes[0]}, the student's {shapes[1]} (a student "
                                  "made by training.factorize from this teacher has them)")
        self.acts["student"].clear()

    def _keep(self, key: str, out: torch.Tensor) -> None:
        if self.recording[key]:
            self.acts[key].append(out)

    @contextlib.contextmanager
    def watching(self):
        """Keep the student's block outputs of the forward passes inside (the training step's)."""
        self.acts["student"].clear()
        self.recording["student"] = True
        try:
            yield
        finally:
            self.recording["student"] = False

    def teach(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's probabilities on the batch x (as the student sees it); keeps its blocks."""
        self.acts["teacher"].clear()
        self.recording["teacher"] = True
        try:
            with torch.no_grad():
                return self.teacher(x).exp().float()
        finally:
            self.recording["teacher"] = False

    def loss(self) -> torch.Tensor:
        """Mean over blocks of the student's squared error, relative to the teacher block's mean square."""
        pairs = list(zip(self.acts["student"], self.acts["teacher"]))
        self.acts["student"].clear()
        return sum(torch.mean((s.float() - t.float()) ** 2) / torch.mean(t.float() ** 2).clamp_min(1e-6)
                   for s, t in pairs) / len(pairs)


def blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The ReLUs that end a model's conv blocks, in order (a vgg's `features`)."""
    features = getattr(model, "features", None)
    if features is None:
        raise CheckpointError("--distill-features matches conv blocks; this model has no `features` stack")
    return [m for m in features if isinstance(m, torch.nn.ReLU)]
