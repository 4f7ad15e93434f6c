"""Predictions over a split and the seed's metrics (scikit-learn), plus the confusion-matrix plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from fer_browser.core.normalize import normalize


@torch.no_grad()
def predict_probs(model: torch.nn.Module, images: np.ndarray, preprocessing: dict, batch_size: int = 256,
                  tta_flip: bool = False, device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, C) for uint8 faces (N,48,48); tta_flip averages with the mirror image."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = normalize(torch.from_numpy(images[start:start + batch_size]), preprocessing).to(device)
        p = model(x).exp()
        if tta_flip:
            p = (p + model(torch.flip(x, dims=[3])).exp()) / 2
        out.append(p.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes) -> dict:
    """Accuracy, weighted precision/recall/F1 (the seed's table), balanced accuracy (mean per-class recall) and
    macro-F1 (which see a rare class as much as a frequent one), per-class figures, confusion matrix."""
    labels = list(range(len(classes)))
    present = sorted(set(np.asarray(y_true).tolist()))  # a class absent from y_true has no recall to average
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    pc, rc, fc, sc = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_weighted": float(p),
        "recall_weighted": float(r),
        "f1_weighted": float(f),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
        "f1_macro": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class": {c: {"precision": float(pc[i]), "recall": float(rc[i]), "f1": float(fc[i]),
                          "support": int(sc[i])} for i, c in enumerate(classes)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def plot_confusion(cm, classes, path: Path, title: str) -> None:
    """Row-normalised confusion matrix with counts, saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2, 1.0 * len(classes) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: list[dict], path: Path) -> None:
    """Training curves: loss and accuracy per epoch, validation beside training, best epoch marked.

    Called after every epoch, so an interrupted run still has an up-to-date picture.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    best = max(history, key=lambda h: h.get("val_acc", float("-inf")))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, [h["train_loss"] for h in history], marker=".", label="training loss (augmented)")
    if any("val_loss" in h for h in history):  # runs resumed from before it was recorded: a gap at the start
        a1.plot(epochs, [h.get("val_loss", float("nan")) for h in history], marker=".", label="PublicTest loss")
    a1.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    a2.plot(epochs, [h["train_acc"] for h in history], marker=".", label="training accuracy (augmented)")
    a2.plot(epochs, [h["val_acc"] for h in history], marker=".", label="PublicTest accuracy")
    a2.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (a1, a2):
        ax.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1,
                   label=f"best epoch {best['epoch']} (PublicTest {best['val_acc']:.4f})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    from fer_browser.core.atomic import atomic_open  # a reader never sees half a PNG while training redraws it
    with atomic_open(path) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
