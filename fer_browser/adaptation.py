"""Personal adaptation: fit a small head on a person's recorded faces, and apply it (web/adaptation.json).

The math, written once here and once in web/lib/adaptation.js (tests/conformance/adaptation.json holds
vectors both reproduce to 1e-6). Inputs per recorded face: the model's embedding e (d values), its
log-probabilities l (one per model class) and a label among `classes` = the model's classes followed by
any custom ones. The head's logits for class k are

    z_k = base_k + w_k . (e - center) / scale + b_k

where base_k is l_k for a model class and log(1 / K_model) for a custom class, center is the mean recorded
embedding and scale the root mean square distance to it (so the settings need no dataset statistics).
w_k and b_k are zero for every class without recordings: with one class recorded only that class's
logit moves, so a prediction can change only to or from that class.

Fitting minimises the mean cross-entropy + weight_decay/2 |W|^2 + bias_decay/2 |b_model|^2 with
fixed-count Nesterov gradient descent from zero. The frames are recorded evenly per class, while faces in
use follow the model's prior: during fitting the logits get log(recorded share) - log(prior share) added
(logit adjustment), so the head learns what the person's faces look like, not how often each was recorded.
NumPy only.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .core.probabilities import log_softmax
from .paths import WEB_DIR

SETTINGS_PATH = WEB_DIR / "adaptation.json"  # a checkout's web/, or the wheel's copy
SCHEMA = "fer-adaptation/1"


class AdaptationError(ValueError):
    """Samples the head cannot be fitted on; one line."""


def load_settings(path: Path | None = None) -> dict:
    """web/adaptation.json (the page reads the same file)."""
    from fer_browser.schema import SchemaError, validate

    path = Path(path) if path is not None else SETTINGS_PATH
    try:
        return validate(json.loads(path.read_text()), "adaptation", str(path))
    except (OSError, ValueError) as exc:
        raise AdaptationError(f"{path}: cannot read the adaptation settings ({exc})") from None
    except SchemaError as exc:
        raise AdaptationError(str(exc)) from None


def base_logits(log_probs: np.ndarray, n_classes: int) -> np.ndarray:
    """The model's log-probabilities, with log(1 / K_model) for each custom class after them."""
    n, k_model = log_probs.shape
    base = np.full((n, n_classes), -np.log(k_model))
    base[:, :k_model] = log_probs
    return base


def _check(embeddings, log_probs, labels, n_classes: int):
    e = np.asarray(embeddings, dtype=np.float64)
    lp = np.asarray(log_probs, dtype=np.float64)
    y = np.asarray(labels)
    if e.ndim != 2 or lp.ndim != 2 or y.ndim != 1 or not len(e) == len(lp) == len(y) or len(e) == 0:
        raise AdaptationError(f"need n >= 1 faces with an embedding, log-probabilities and a label each, got shapes "
                              f"{e.shape}, {lp.shape}, {y.shape}")
    if not (np.isfinite(e).all() and np.isfinite(lp).all()):
        raise AdaptationError("embeddings and log-probabilities must be finite numbers")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_classes:
        raise AdaptationError(f"labels must be class indices in [0, {n_classes - 1}]")
    if lp.shape[1] > n_classes:
        raise AdaptationError(f"{lp.shape[1]} model classes but only {n_classes} classes in all")
    return e, lp, y.astype(np.int64)


def fit_head(embeddings, log_probs, labels, n_classes: int, prior=None, settings: dict | None = None) -> dict:
    """Fit the head. labels index classes (model classes first, then custom ones); prior: the model's class
    frequencies (metadata.prior.probabilities; None = uniform). Returns {weights (d x K), bias (K), center (d),
    scale, counts (K)} as plain lists, the part of a profile that Python and the page compute alike."""
    fit = (settings or load_settings())["fit"]
    e, lp, y = _check(embeddings, log_probs, labels, n_classes)
    n, k_model = lp.shape
    counts = np.bincount(y, minlength=n_classes)
    recorded = counts > 0
    if recorded[k_model:].any() and recorded.sum() < 2:
        raise AdaptationError("a new expression needs recordings of at least one other expression to tell it apart")
    center = e.mean(0)
    scale = float(np.sqrt(((e - center) ** 2).sum(1).mean()))
    scale = scale if scale > 1e-12 else 1.0  # identical frames: nothing to scale
    x = (e - center) / scale
    prior_all = np.full(n_classes, 1.0 / k_model)
    if prior is not None:
        prior_all[:k_model] = np.asarray(prior, dtype=np.float64)
    prior_rec = np.where(recorded, prior_all, 0.0)
    prior_rec /= prior_rec.sum()
    offset = np.zeros(n_classes)
    offset[recorded] = np.log(counts[recorded] / n) - np.log(prior_rec[recorded])
    z0 = base_logits(lp, n_classes) + offset
    onehot = np.eye(n_classes)[y]
    wd, bd = float(fit["weight_decay"]), float(fit["bias_decay"])
    bias_decay = np.where(np.arange(n_classes) < k_model, bd, 0.0)
    step = 1.0 / (0.5 * ((x * x).sum(1).max() + 1.0) + max(wd, bd))
    w = np.zeros((x.shape[1], n_classes))
    b = np.zeros(n_classes)
    w_prev, b_prev = w, b
    for t in range(int(fit["steps"])):
        m = t / (t + 3.0)
        vw, vb = w + m * (w - w_prev), b + m * (b - b_prev)
        g = (np.exp(log_softmax(z0 + x @ vw + vb)) - onehot) / n
        gw = x.T @ g + wd * vw
        gb = g.sum(0) + bias_decay * vb
        gw[:, ~recorded] = 0.0
        gb[~recorded] = 0.0
        w_prev, b_prev = w, b
        w, b = vw - step * gw, vb - step * gb
    return {"weights": w.tolist(), "bias": b.tolist(), "center": center.tolist(), "scale": scale,
            "counts": counts.tolist()}


def head_logits(head: dict, embeddings, log_probs) -> np.ndarray:
    """z = base + (e - center) / scale . W + b, for every class of the head (n x K)."""
    w = np.asarray(head["weights"], dtype=np.float64)
    x = (np.asarray(embeddings, dtype=np.float64) - np.asarray(head["center"])) / float(head["scale"])
    return base_logits(np.asarray(log_probs, dtype=np.float64), w.shape[1]) + x @ w + np.asarray(head["bias"])


def head_probabilities(head: dict, embeddings, log_probs, hidden=()) -> np.ndarray:
    """Probabilities over the head's classes; `hidden` class indices get 0 (the rest renormalised)."""
    z = head_logits(head, embeddings, log_probs)
    if len(hidden):
        z[:, list(hidden)] = -np.inf
    return np.exp(log_softmax(z))
