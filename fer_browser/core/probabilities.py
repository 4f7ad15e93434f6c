"""Turning a model's log-probabilities into the answers people see: the calibration temperature and the
prior correction, in the one order every reader follows (web/lib/prior.js is the browser's copy;
tests/conformance/prior_correction.json holds vectors both reproduce). NumPy only.
"""
from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def apply_temperature(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) for log-probabilities (or logits: the same result) of shape (N, C)."""
    return adjusted_probabilities(log_probs, temperature)


def adjusted_probabilities(log_probs: np.ndarray, temperature: float = 1.0, prior=None,
                           strength: float = 0.0) -> np.ndarray:
    """The one order every reader follows (web/lib/prior.js is the other copy):
    z = log(p) / T - tau * log(prior), probs = softmax(z). tau = 0 (or no prior) is plain temperature
    scaling; tau = 1 divides out the training set's class frequencies (Bayes' rule for a uniform prior)."""
    lp = np.asarray(log_probs)
    z = np.asarray(lp, dtype=np.float64) / float(temperature)
    if prior is not None and strength:
        z = z - float(strength) * np.log(np.asarray(prior, dtype=np.float64))
    out = np.exp(log_softmax(z))
    return out.astype(lp.dtype) if lp.dtype.kind == "f" else out
