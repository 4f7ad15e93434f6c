"""Tiny files in the real FER2013 / FERPlus formats, with a learnable signal, for tests."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

SPLIT_SIZES = {"Training": 280, "PublicTest": 70, "PrivateTest": 70}
FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def synthetic_faces(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """48x48 uint8 images whose class shows as a bright horizontal band at a class-specific height."""
    rng = np.random.default_rng(seed)
    imgs = rng.normal(100, 25, size=(len(labels), 48, 48))
    for i, y in enumerate(labels):
        top = 3 + 6 * int(y)
        imgs[i, top:top + 4, 6:42] += 90
    return np.clip(imgs, 0, 255).astype(np.uint8)


def make_rows(seed: int = 0, num_classes: int = 7, sizes=None):
    """(labels, usages, images) for every row, splits in the Kaggle order."""
    rng = np.random.default_rng(seed)
    sizes = sizes or SPLIT_SIZES
    usages = [u for u, n in sizes.items() for _ in range(n)]
    labels = rng.integers(0, num_classes, len(usages))
    return labels, usages, synthetic_faces(labels, seed)


def write_fer_csv(path: Path, labels, usages, images, gz: bool = False) -> Path:
    lines = ["emotion,pixels,Usage"]
    lines += [f"{y},{' '.join(map(str, img.ravel()))},{u}" for y, u, img in zip(labels, usages, images)]
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def write_votes(path: Path, usages, votes) -> Path:
    """votes: (N,10) counts in the file's column order."""
    lines = [FERPLUS_HEADER] + [f"{u},fer{i:07d}.png," + ",".join(str(int(v)) for v in row)
                                for i, (u, row) in enumerate(zip(usages, votes))]
    path.write_text("\n".join(lines) + "\n")
    return path


def votes_for(labels) -> np.ndarray:
    """FERPlus-style votes whose majority is the given FERPlus class index (8 votes + 2 noise)."""
    votes = np.zeros((len(labels), 10))
    for i, y in enumerate(labels):
        votes[i, y] = 8
        votes[i, (y + 1) % 7] = 2
    return votes
