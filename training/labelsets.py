"""Label sets: which classes a model predicts and how each image's target is made.

- fer2013:          the 7 original FER2013 labels.
- ferplus:          FERPlus majority rule, 7 classes (contempt dropped, as in the seed).
- ferplus8:         FERPlus majority rule, 8 classes (with contempt).
- ferplus-soft:     same images as `ferplus`, targets = vote distribution over the 7 classes.
- ferplus8-soft:    same images as `ferplus8`, soft targets over 8 classes.
Soft sets keep the majority label for evaluation, so accuracies stay comparable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ferplus_votes import EMOTION_COLUMNS, majority_labels

FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# the same emotion under each dataset's name (to compare the two label sets image by image)
FER2013_TO_FERPLUS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                      "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
# either dataset's name -> the other's ("happy" <-> "happiness"): scoring a model on the other's labels
SAME_EMOTION = {**FER2013_TO_FERPLUS, **{v: k for k, v in FER2013_TO_FERPLUS.items()}}


@dataclass(frozen=True)
class LabelSet:
    name: str
    classes: tuple[str, ...]
    needs_votes: bool
    soft: bool
    description: str


LABEL_SETS = {
    "fer2013": LabelSet("fer2013", FER2013_CLASSES, False, False, "FER2013 original labels (7 classes)"),
    "ferplus": LabelSet("ferplus", EMOTION_COLUMNS[:7], True, False, "FERPlus majority vote, 7 classes (no contempt)"),
    "ferplus8": LabelSet("ferplus8", EMOTION_COLUMNS, True, False, "FERPlus majority vote, 8 classes"),
    "ferplus-soft": LabelSet("ferplus-soft", EMOTION_COLUMNS[:7], True, True,
                             "FERPlus vote distribution as soft targets, 7 classes"),
    "ferplus8-soft": LabelSet("ferplus8-soft", EMOTION_COLUMNS, True, True,
                              "FERPlus vote distribution as soft targets, 8 classes"),
}


def get_label_set(name: str) -> LabelSet:
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}") from None


def make_targets(label_set: LabelSet, emotion: np.ndarray, votes: np.ndarray | None):
    """Return (keep mask, hard labels, soft targets or None) for every CSV row."""
    if not label_set.needs_votes:
        return np.ones(len(emotion), bool), emotion.astype(np.int64), None
    assert votes is not None
    n = len(label_set.classes)
    hard = majority_labels(votes)
    keep = (hard >= 0) & (hard < n)  # 7-class sets leave out contempt-majority images
    soft = None
    if label_set.soft:
        v = votes[:, :n].astype(np.float32)
        soft = v / np.maximum(v.sum(axis=1, keepdims=True), 1e-6)
    return keep, hard.astype(np.int64), soft
