"""Normalisation of 48x48 uint8 faces into model inputs, as the metadata's preprocessing says."""
from __future__ import annotations

import numpy as np
import torch


def normalize(images, preprocessing: dict):
    """uint8/float pixels (N,48,48) -> float32 (N,1,48,48) = (x / pixel_scale - mean) / std.

    Accepts a numpy array or a torch tensor and returns the same kind.
    """
    scale, mean, std = preprocessing["pixel_scale"], preprocessing["mean"], preprocessing["std"]
    if isinstance(images, torch.Tensor):
        x = images.float().unsqueeze(1)
        return (x / scale - mean) / std
    x = np.asarray(images, dtype=np.float32)[:, None]
    return ((x / np.float32(scale) - np.float32(mean)) / np.float32(std)).astype(np.float32)
