"""Emotion model backends over one model directory: ONNX Runtime on model.onnx, or the PyTorch checkpoint.

Both take the batch made by preprocess.faces_to_batch and return probabilities (N, classes); their
`run(batch)` returns the raw outputs instead: (log-probabilities or logits (N, classes), the embedding
(N, D) or None for a model without one: an export made before embeddings, or an attention model).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from fer_browser.core.probabilities import adjusted_probabilities
from fer_browser.core.manifest import ManifestError, check_manifest, json_problem
from fer_browser.core.metadata import PRIOR_STRENGTH_RANGE, validate_metadata

from fer_browser.cli import command

from .errors import PredictError

BACKENDS = ("onnx", "torch")


def load_metadata(model_dir: Path) -> dict:
    path = Path(model_dir) / "metadata.json"
    if not path.is_file():
        raise PredictError(f"{model_dir}: not a model directory (no metadata.json; make one with `{command('convert')}`)")
    try:  # every file (metadata.json, model.onnx, ...) must match the export's manifest before use
        check_manifest(model_dir, runtime=True)  # build-only files (saved_model/) may be absent, as in a wheel
    except ManifestError as exc:
        raise PredictError(str(exc)) from None
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise PredictError(f"{path}: {json_problem(exc)}") from None
    try:
        return validate_metadata(meta, str(path))  # its message names the file and the field
    except ValueError as exc:
        raise PredictError(str(exc)) from None


def prior_strength(meta: dict, strength: float | None = None) -> float:
    """The prior-correction strength tau to use: `strength` if given (0 = off), else the metadata's default
    (0 for a model without a prior)."""
    prior = meta.get("prior")
    if strength is None:
        return float(prior["strength"]) if prior else 0.0
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not (
            math.isfinite(strength) and PRIOR_STRENGTH_RANGE[0] <= strength <= PRIOR_STRENGTH_RANGE[1]):
        raise PredictError(f"the prior strength (--balanced) must be a number in "
                           f"[{PRIOR_STRENGTH_RANGE[0]:g}, {PRIOR_STRENGTH_RANGE[1]:g}], got {strength!r}")
    if strength and not prior:
        raise PredictError("this model has no prior in its metadata, so it cannot be balanced; add one with "
                           "`python -m training.prior CHECKPOINT --write` and re-run "
                           f"`{command('convert')}`")
    return float(strength)


def to_probabilities(outputs: np.ndarray, meta: dict, strength: float = 0.0) -> np.ndarray:
    """Probabilities as the page shows them: z = log(p) / T - tau * log(prior), softmax(z), with the
    metadata's calibration temperature T (1 without one) and its prior (tau = `strength`; no prior, no shift).
    For logits the first term is the same as log_softmax(logits) / T up to a constant."""
    kind = meta["model"].get("output", "log_softmax")
    if kind not in ("log_softmax", "logits"):
        raise PredictError(f"metadata: unknown model output kind {kind!r}")
    prior = meta.get("prior")
    return adjusted_probabilities(outputs, meta.get("calibration", {}).get("temperature", 1.0),
                                  prior["probabilities"] if prior else None, strength)


class OnnxBackend:
    name = "onnx"
    strength = 0.0  # prior correction; set by predict.recognition.Pipeline

    def __init__(self, model_dir: Path, meta: dict, threads: int = 0):
        import onnxruntime as ort

        path = Path(model_dir) / "model.onnx"
        if not path.is_file():
            raise PredictError(f"{model_dir}: no model.onnx (re-run `{command('convert')}`)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise PredictError(f"{path}: not a loadable ONNX model ({exc})") from None
        names = [o.name for o in self.session.get_outputs()]
        emb = meta["model"].get("embedding")
        if emb and emb["output"] not in names:
            raise PredictError(f"{path}: metadata.json announces the output {emb['output']!r}, the model has {names}")
        # by name, never by position: log_probs (the converter's name), else the one output that is not the embedding
        others = [n for n in names if not emb or n != emb["output"]]
        self.output_name = "log_probs" if "log_probs" in others else others[0]
        self.embedding_name = emb["output"] if emb else None
        outputs = self.session.get_outputs()[names.index(self.output_name)].shape[-1]
        if isinstance(outputs, int) and outputs != len(meta["classes"]):  # else labels are misassigned or IndexError
            raise PredictError(f"{path}: the model gives {outputs} outputs per face but metadata.json names "
                               f"{len(meta['classes'])} classes")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = isinstance(inp.shape[0], int)  # exported without a dynamic batch axis
        self.meta = meta

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(the model's raw outputs (N, classes), its embedding (N, D) or None without one)."""
        names = [self.output_name] + ([self.embedding_name] if self.embedding_name else [])
        if len(batch) == 0:
            size = (self.meta["model"].get("embedding") or {}).get("size", 0)
            return (np.zeros((0, len(self.meta["classes"])), np.float32),
                    np.zeros((0, size), np.float32) if self.embedding_name else None)
        if self.fixed_batch:
            outs = [self.session.run(names, {self.input_name: batch[i:i + 1]}) for i in range(len(batch))]
            out = [np.concatenate([o[j] for o in outs]) for j in range(len(names))]
        else:
            out = self.session.run(names, {self.input_name: batch})
        return out[0], out[1] if len(out) > 1 else None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, len(self.meta["classes"])), np.float32)
        return to_probabilities(self.run(batch)[0], self.meta, self.strength)


class TorchBackend:
    name = "torch"
    strength = 0.0

    def __init__(self, checkpoint: Path, meta: dict):
        import torch

        from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint

        try:
            self.model, ckpt_meta = model_from_checkpoint(Path(checkpoint))
        except CheckpointError as exc:
            raise PredictError(str(exc)) from None
        if ckpt_meta["classes"] != meta["classes"] or ckpt_meta["input"] != meta["input"]:
            raise PredictError(f"{checkpoint}: classes or input differ from the model directory's metadata.json")
        self.torch, self.meta = torch, meta

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(log-probabilities (N, classes), the embedding (N, D) or None for a model without one)."""
        from fer_browser.training.models import has_embedding

        with self.torch.inference_mode():
            x = self.torch.from_numpy(np.ascontiguousarray(batch, np.float32))
            if not has_embedding(self.model):
                return self.model(x).numpy(), None
            e = self.model.embed(x)
            return self.model.classify(e).numpy(), e.numpy()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, len(self.meta["classes"])), np.float32)
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(np.ascontiguousarray(batch))).numpy()
        return to_probabilities(out, self.meta, self.strength)


def default_checkpoint(model_dir: Path) -> Path:
    """models/<name>/checkpoint.pt beside models/<name>/export/."""
    return Path(model_dir).resolve().parent / "checkpoint.pt"


def make_backend(name: str, model_dir: Path, meta: dict, checkpoint: Path | None = None, threads: int = 0):
    if name == "onnx":
        return OnnxBackend(model_dir, meta, threads)
    if name == "torch":
        ckpt = Path(checkpoint) if checkpoint else default_checkpoint(model_dir)
        if not ckpt.is_file():
            raise PredictError(f"--backend torch needs the checkpoint: {ckpt} not found (pass --checkpoint PATH)")
        return TorchBackend(ckpt, meta)
    raise PredictError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
