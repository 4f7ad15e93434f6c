"""Normalisation of 48x48 faces into model inputs, as the metadata's preprocessing says.

Shared by training (torch tensors), conversion (reference inputs) and predict (numpy crops).
torch is not imported here, so the ONNX-only deployment path stays light.
"""
from __future__ import annotations

import numpy as np


def normalize(images, preprocessing: dict):
    """Pixels (N,H,W) -> float32 (N,1,H,W) = (x / pixel_scale - mean) / std.

    Accepts a numpy array or a torch tensor and returns the same kind.
    """
    scale, mean, std = preprocessing["pixel_scale"], preprocessing["mean"], preprocessing["std"]
    if not isinstance(images, np.ndarray) and hasattr(images, "unsqueeze"):  # a torch tensor
        x = images.float().unsqueeze(1)
        return (x / scale - mean) / std
    x = np.asarray(images, dtype=np.float32)[:, None]
    return ((x / np.float32(scale) - np.float32(mean)) / np.float32(std)).astype(np.float32)
