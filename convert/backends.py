"""Running the backends on an input batch: each returns log-probabilities (N, C) and the embedding (N, D)
as float64, the embedding None when the artifact has no such output (a single-output export).

PyTorch (the reference), ONNX Runtime, the TF SavedModel, and TF.js on the wasm backend in headless
Chromium through the web app's own model code. convert/parity.py judges what they return.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .reference import INPUTS_FILE
from .to_onnx import EMBEDDING_NAME, INPUT_NAME, OUTPUT_NAME


def _f64(x) -> np.ndarray | None:
    return None if x is None else np.asarray(x).astype(np.float64)


def pytorch_outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    import torch

    from fer_browser.training.models import has_embedding

    with torch.inference_mode():
        t = torch.from_numpy(x)
        model = model.eval()
        if not has_embedding(model):
            return _f64(model(t).numpy()), None
        e = model.embed(t)
        return _f64(model.classify(e).numpy()), _f64(e.numpy())


def run_pytorch(model, x: np.ndarray) -> np.ndarray:
    return pytorch_outputs(model, x)[0]


def onnxruntime_session(onnx_path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def onnxruntime_outputs(onnx_path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    session = onnxruntime_session(onnx_path)
    names = [OUTPUT_NAME] + [o.name for o in session.get_outputs() if o.name == EMBEDDING_NAME]
    out = session.run(names, {INPUT_NAME: x})
    return _f64(out[0]), _f64(out[1]) if len(out) > 1 else None


def run_onnxruntime(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    return onnxruntime_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: x})[0].astype(np.float64)


def tensorflow_outputs(saved_model_dir: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    import tensorflow as tf

    from .to_savedmodel import load_signature

    out = load_signature(saved_model_dir)(**{INPUT_NAME: tf.constant(x)})
    emb = out.get(EMBEDDING_NAME)
    return _f64(out[OUTPUT_NAME].numpy()), None if emb is None else _f64(emb.numpy())


def run_tensorflow(saved_model_dir: Path, x: np.ndarray) -> np.ndarray:
    return tensorflow_outputs(saved_model_dir, x)[0]


def run_tfjs(model_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """(log-probs, probs, embedding or None, info); probs come from web/lib/emotion.js's predictNormalized, the
    page's own path, log-probs and embedding from its rawOutputsNormalized (the graph's outputs read by name)."""
    from .browser import TfjsBrowser

    with TfjsBrowser(model_dir) as browser:
        out = browser.run(n, INPUTS_FILE)
        info = {**browser.info, "backend": out["backend"]}
    emb = out.get("embeddings")
    return (np.array(out["logprobs"], np.float64), np.array(out["probs"], np.float64),
            None if emb is None else np.array(emb, np.float64), info)
