"""Honest confidences: temperature scaling (Guo et al., 2017), expected calibration error, reliability diagram.

A model's calibration is one number T stored in its metadata (`calibration.temperature`, see
fer_browser/core/metadata.py); whoever turns its outputs into answers (the page, `predict`) applies
probs = softmax(log(p) / T). T > 1 softens over-confident answers, T < 1 sharpens; dividing by a
positive number never changes which class is largest, so accuracy is untouched.

Fitting and measuring; applying T (and the prior correction) is fer_browser/core/probabilities.py, which
the runtimes use. Pure numpy/scipy; matplotlib only when plotting.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fer_browser.core.metadata import CALIBRATION_VERSION as VERSION, TEMPERATURE_RANGE as T_RANGE
from fer_browser.core.probabilities import adjusted_probabilities, apply_temperature, log_softmax  # noqa: F401  (this module's users import them here too)

DEFAULT_BINS = 15


def _targets(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Hard labels (N,) become one-hot rows; soft targets (N, C) are used as given."""
    t = np.asarray(targets)
    if t.ndim == 1:
        return np.eye(n_classes)[t.astype(np.int64)]
    if t.shape[1] != n_classes:
        raise ValueError(f"targets have {t.shape[1]} classes, the outputs {n_classes}")
    return t.astype(np.float64)


def nll(log_probs: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of softmax(log_probs / T) against hard labels or soft targets."""
    lp = log_softmax(np.asarray(log_probs, dtype=np.float64) / temperature)
    return float(-(_targets(targets, lp.shape[1]) * lp).sum(axis=1).mean())


def fit_temperature(log_probs: np.ndarray, targets: np.ndarray) -> float:
    """The T in T_RANGE minimising NLL. NLL is convex in 1/T, so it is unimodal in log T and a
    bounded 1-D search (scipy's Brent) finds the minimum."""
    from scipy.optimize import minimize_scalar

    if len(log_probs) == 0:
        raise ValueError("cannot fit a temperature on zero examples")
    lo, hi = (math.log(v) for v in T_RANGE)
    res = minimize_scalar(lambda u: nll(log_probs, targets, math.exp(u)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    return float(math.exp(res.x))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> dict:
    """Equal-width confidence bins (lo, hi] over [0, 1] (0 goes to the first): count, mean confidence
    and accuracy of the top-1 answer per bin."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    conf, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=correct, minlength=bins) / count
    return {"edges": np.linspace(0, 1, bins + 1), "count": count, "confidence": mean_conf, "accuracy": acc}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """ECE = sum over bins of (n_b / N) * |accuracy_b - mean confidence_b|."""
    b = reliability_bins(probs, labels, bins)
    used = b["count"] > 0
    return float((b["count"][used] * np.abs(b["accuracy"][used] - b["confidence"][used])).sum() / b["count"].sum())


def calibration_record(temperature: float, fitted_on: str, ece_before: float, ece_after: float,
                       bins: int = DEFAULT_BINS, **extra) -> dict:
    """The metadata field (validated by fer_browser.core.metadata.validate_metadata)."""
    return {"version": VERSION, "method": "temperature", "temperature": round(float(temperature), 6),
            "fitted_on": fitted_on, "ece_before": round(float(ece_before), 6),
            "ece_after": round(float(ece_after), 6), "bins": int(bins), **extra}


def plot_reliability(panels: list[tuple[str, np.ndarray, np.ndarray]], path: Path, bins: int = DEFAULT_BINS,
                     title: str = "") -> None:
    """One column per (name, probs, labels): accuracy vs confidence per bin above, image count per bin below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(panels), figsize=(4.6 * len(panels), 6.4), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.2]}, sharex=True)
    width = 1.0 / bins
    for col, (name, probs, labels) in enumerate(panels):
        b = reliability_bins(probs, labels, bins)
        ece = expected_calibration_error(probs, labels, bins)
        left, used = b["edges"][:-1], b["count"] > 0
        top, bottom = axes[0, col], axes[1, col]
        top.bar(left[used], b["accuracy"][used], width=width, align="edge", color="tab:blue", edgecolor="white",
                label="accuracy in bin")
        gap_lo = np.minimum(b["accuracy"], b["confidence"])[used]
        top.bar(left[used], np.abs(b["accuracy"] - b["confidence"])[used], bottom=gap_lo, width=width,
                align="edge", facecolor="none", edgecolor="tab:red", hatch="///", linewidth=0.8,
                label="gap to the bin's mean confidence")
        top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"{name}\nECE {ece:.4f} ({bins} bins)")
        top.legend(loc="upper left", fontsize=8)
        bottom.bar(left, b["count"], width=width, align="edge", color="grey", edgecolor="white")
        for x, n in zip(left, b["count"]):
            if n:
                bottom.text(x + width / 2, n, str(int(n)), ha="center", va="bottom", fontsize=6, rotation=90)
        bottom.set(xlim=(0, 1), xlabel="confidence (top-1 probability)", ylabel="images per bin")
        peak = max(peak, b["count"].max()) if col else b["count"].max()
    for ax in axes[1]:  # one count scale, so the panels compare at a glance
        ax.set_ylim(0, max(1, peak) * 1.35)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    from fer_browser.core.atomic import atomic_open
    with atomic_open(path) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
