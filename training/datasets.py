"""From source files to in-memory splits: uint8 images + targets, ready to batch as tensors.

Sources: the FER2013 CSV (+ FERPlus votes for the ferplus label sets), or a folder layout
`<root>/<split>/<class>/*.png|jpg` for users' own data.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import cache
from .errors import DataError
from .fer_csv import IMAGE_SIZE, SPLITS, read_fer_csv
from .ferplus_votes import read_votes
from .labelsets import LabelSet, get_label_set, make_targets

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Where data is looked for when no path is given: $FER_DATA_DIR, ./data, then ../shared/data.
DATA_DIRS = [Path(p) for p in [os.environ.get("FER_DATA_DIR", ""), PROJECT_ROOT / "data",
                               PROJECT_ROOT.parent / "shared" / "data"] if str(p)]
FOLDER_SPLIT_NAMES = {"Training": ("Training", "train"), "PublicTest": ("PublicTest", "val", "valid"),
                      "PrivateTest": ("PrivateTest", "test")}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


@dataclass
class Split:
    images: np.ndarray          # (N, 48, 48) uint8
    labels: np.ndarray          # (N,) int64 hard labels (for metrics)
    soft: np.ndarray | None     # (N, C) float32 soft targets, or None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Dataset:
    splits: dict[str, Split]
    classes: tuple[str, ...]
    label_set: str
    source: dict  # paths and content checksum: recorded in the checkpoint's metadata


def find_default(name: str) -> Path | None:
    for folder in DATA_DIRS:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def decoded_csv(csv_path: Path, progress: bool) -> tuple[dict[str, np.ndarray], str]:
    """Every CSV row as arrays (images, emotion, usage) plus the file's sha256; cached by that hash."""
    digest = cache.file_sha256(csv_path)
    arrays = cache.load(f"fer2013-{digest[:16]}")
    if arrays is None:
        table = read_fer_csv(csv_path, progress=progress)
        arrays = {"images": table.images, "emotion": table.emotion, "usage": table.usage}
        cache.save(f"fer2013-{digest[:16]}", arrays)
    return arrays, digest


def load_csv_dataset(csv_path: Path, label_set: str = "ferplus", votes_path: Path | None = None,
                     progress: bool = True) -> Dataset:
    ls: LabelSet = get_label_set(label_set)
    arrays, digest = decoded_csv(Path(csv_path), progress)
    source = {"csv": str(csv_path), "csv_sha256": digest}
    votes = None
    if ls.needs_votes:
        if votes_path is None:
            raise DataError(f"label set {label_set!r} needs the FERPlus votes file (fer2013new.csv); pass --votes")
        votes = read_votes(Path(votes_path), expected_usage=arrays["usage"])
        source.update(votes=str(votes_path), votes_sha256=cache.file_sha256(Path(votes_path)))
    keep, hard, soft = make_targets(ls, arrays["emotion"], votes)
    splits = {}
    for i, name in enumerate(SPLITS):
        rows = np.flatnonzero(keep & (arrays["usage"] == i))
        splits[name] = Split(arrays["images"][rows], hard[rows], None if soft is None else soft[rows])
    return Dataset(splits, ls.classes, label_set, source)


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"{path}: not a readable image")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return img


def load_folder_dataset(root: Path) -> Dataset:
    """`<root>/<split>/<class>/*`: classes are the Training split's sub-folders, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    split_dirs = {}
    for split, names in FOLDER_SPLIT_NAMES.items():
        found = [root / n for n in names if (root / n).is_dir()]
        if found:
            split_dirs[split] = found[0]
    if "Training" not in split_dirs:
        raise DataError(f"{root}: expected a Training/ (or train/) folder with one sub-folder per class")
    classes = tuple(sorted(d.name for d in split_dirs["Training"].iterdir() if d.is_dir()))
    if len(classes) < 2:
        raise DataError(f"{split_dirs['Training']}: needs at least two class folders")
    h = hashlib.sha256()
    splits = {}
    for split, folder in split_dirs.items():
        images, labels = [], []
        for c in sorted(d.name for d in folder.iterdir() if d.is_dir()):
            if c not in classes:
                raise DataError(f"{folder / c}: class {c!r} does not exist in the Training split")
            for f in sorted((folder / c).iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    img = _read_image(f)
                    h.update(img.tobytes())
                    images.append(img)
                    labels.append(classes.index(c))
        if not images:
            raise DataError(f"{folder}: no images (.png, .jpg, .bmp) found")
        splits[split] = Split(np.stack(images), np.array(labels, dtype=np.int64), None)
    return Dataset(splits, classes, "folder", {"folder": str(root), "images_sha256": h.hexdigest()})


def load_dataset(csv: Path | None = None, votes: Path | None = None, folder: Path | None = None,
                 label_set: str = "ferplus", progress: bool = True) -> Dataset:
    """Entry point used by the CLIs; fills in default paths from DATA_DIRS."""
    if folder is not None:
        return load_folder_dataset(folder)
    csv = csv or find_default("fer2013.csv")
    if csv is None:
        raise DataError("no FER2013 CSV found; pass --csv PATH (see README: Getting the data)")
    if get_label_set(label_set).needs_votes and votes is None:
        votes = find_default("fer2013new.csv")
    return load_csv_dataset(Path(csv), label_set, votes, progress)
