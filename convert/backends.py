"""Running the backends on an input batch: each returns log-probabilities (N, C) as float64.

PyTorch (the reference), ONNX Runtime, the TF SavedModel, and TF.js on the wasm backend in headless
Chromium through the web app's own model code. convert/parity.py judges what they return.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .reference import INPUTS_FILE
from .to_onnx import INPUT_NAME, OUTPUT_NAME


def run_pytorch(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model.eval()(torch.from_numpy(x)).numpy().astype(np.float64)


def onnxruntime_session(onnx_path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def run_onnxruntime(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    return onnxruntime_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: x})[0].astype(np.float64)


def run_tensorflow(saved_model_dir: Path, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    from .to_savedmodel import load_signature

    return load_signature(saved_model_dir)(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy().astype(np.float64)


def run_tfjs(model_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(log-probs, probs, info); probs come from web/lib/emotion.js's predictNormalized, the page's own path."""
    from .browser import TfjsBrowser

    with TfjsBrowser(model_dir) as browser:
        out = browser.run(n, INPUTS_FILE)
        info = {**browser.info, "backend": out["backend"]}
    return np.array(out["logprobs"], np.float64), np.array(out["probs"], np.float64), info
