"""From source files to splits: uint8 images streamed from disk (or numpy arrays) + targets, ready to batch.

Sources: the FER2013 CSV (+ FERPlus votes for the ferplus label sets), and/or folder layouts
`<root>/<split>/<class>/*.png|jpg` for users' own data, combined with a class-name mapping. Both
are decoded once into an on-disk cache (csvcache.py, imagecache.py) and training reads each
batch's rows from it (rowstore.py), so a dataset may be larger than memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache, csvcache, imagecache
from .errors import DataError
from .fer_csv import IMAGE_SIZE, SPLITS
from .ferplus_votes import read_votes
from .labelsets import LabelSet, get_label_set, make_targets
from .rowstore import ConcatRows, RowFile, take_rows

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dirs() -> list[Path]:
    """Where data is looked for when no path is given: $FER_DATA_DIR, ./data (the working folder's,
    which is all an installed fer-train has), then the checkout's data/ and ../shared/data."""
    found = [Path(p) for p in (os.environ.get("FER_DATA_DIR", ""), Path.cwd() / "data", PROJECT_ROOT / "data",
                               PROJECT_ROOT.parent / "shared" / "data") if str(p)]
    return list(dict.fromkeys(p.resolve() for p in found))


FOLDER_SPLIT_NAMES = {"Training": ("Training", "train"), "PublicTest": ("PublicTest", "val", "valid"),
                      "PrivateTest": ("PrivateTest", "test")}


@dataclass
class Split:
    images: np.ndarray          # (N, 48, 48) uint8: an array in RAM, or rows on disk (rowstore.py)
    labels: np.ndarray          # (N,) int64 hard labels (for metrics)
    soft: np.ndarray | None     # (N, C) float32 soft targets, or None

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        """The first n images (--limit), without reading them."""
        return Split(take_rows(self.images, slice(0, n)), self.labels[:n], None if self.soft is None else self.soft[:n])


@dataclass
class Dataset:
    splits: dict[str, Split]
    classes: tuple[str, ...]
    label_set: str
    source: dict  # paths and content checksum: recorded in the checkpoint's metadata


def find_default(name: str) -> Path | None:
    for folder in data_dirs():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def decoded_csv(csv_path: Path, progress: bool) -> tuple[dict, str]:
    """Every CSV row: images (a RowFile on the on-disk cache), emotion and usage arrays; plus the
    file's sha256, which keys the cache (csvcache.py decodes on the first use)."""
    if not Path(csv_path).is_file():
        raise DataError(f"{csv_path}: no such file")
    digest = cache.file_sha256(csv_path)
    folder = csvcache.decode_csv(Path(csv_path), digest, progress=progress)
    return {"images": RowFile(folder / "images.npy"), "emotion": np.load(folder / "emotion.npy"),
            "usage": np.load(folder / "usage.npy")}, digest


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
        splits[name] = Split(take_rows(arrays["images"], rows), hard[rows], None if soft is None else soft[rows])
    return Dataset(splits, ls.classes, label_set, source)


def load_folder_dataset(root: Path, progress: bool = False) -> Dataset:
    """`<root>/<split>/<class>/*`: classes are the Training split's sub-folders, sorted by name.
    Decoded once into the on-disk cache (imagecache.py); the images stay there, read per batch."""
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
    for split, folder in split_dirs.items():
        for c in sorted(d.name for d in folder.iterdir() if d.is_dir()):
            if c not in classes:
                raise DataError(f"{folder / c}: class {c!r} does not exist in the Training split")
    info = imagecache.decode_folder(root, split_dirs, progress=progress)
    splits = {}
    for split, entry in info["splits"].items():
        to_run = np.array([classes.index(c) for c in entry["classes"]], dtype=np.int64)
        labels = to_run[np.load(info["dir"] / f"{split}.labels.npy")]
        splits[split] = Split(RowFile(info["dir"] / f"{split}.npy"), labels, None)
    return Dataset(splits, classes, "folder", {"folder": str(root), "images_sha256": info["sha256"]})


def map_classes(data: Dataset, classes: tuple[str, ...], class_map: dict, where: str) -> Dataset:
    """Relabel a source's classes into the run's classes (class_map: source name -> run name or None)."""
    lut = np.full(len(data.classes), -1, dtype=np.int64)
    for i, c in enumerate(data.classes):
        target = class_map.get(c, c)
        if target is None:
            continue  # dropped on purpose
        if target not in classes:
            raise DataError(f"{where}: class {c!r} does not map to any of this run's classes "
                            f"({', '.join(classes)}); add it to --class-map (null drops it)")
        lut[i] = classes.index(target)
    splits = {}
    for name, split in data.splits.items():
        new = lut[split.labels]
        keep = np.flatnonzero(new >= 0)
        if len(keep) == len(new):
            splits[name] = Split(split.images, new, split.soft)
        else:
            splits[name] = Split(take_rows(split.images, keep), new[keep], None)
    return Dataset(splits, classes, data.label_set, data.source)


def combine(parts: list[Dataset]) -> Dataset:
    """One dataset from several with the same classes: splits concatenated (images stay where they are)."""
    if len(parts) == 1:
        return parts[0]
    n_classes = len(parts[0].classes)
    splits = {}
    for name in SPLITS:
        have = [d.splits[name] for d in parts if name in d.splits]
        if not have:
            continue
        soft = None
        if any(s.soft is not None for s in have):  # sources with hard labels count as one-hot votes
            soft = np.concatenate([s.soft if s.soft is not None else np.eye(n_classes, dtype=np.float32)[s.labels]
                                   for s in have])
        splits[name] = Split(ConcatRows([s.images for s in have]), np.concatenate([s.labels for s in have]), soft)
    return Dataset(splits, parts[0].classes, parts[0].label_set, {"sources": [d.source for d in parts]})


def load_dataset(csv: Path | None = None, votes: Path | None = None, folder=None,
                 label_set: str = "ferplus", progress: bool = True, class_map: dict | None = None) -> Dataset:
    """Entry point used by the CLIs; fills in default paths from data_dirs().

    folder: one path or a list. Folders alone: the first one's classes are the run's. With --csv
    (or --votes) the CSV comes first and its label set's classes are the run's; every folder's
    classes must be among them, by name or through class_map."""
    folders = [] if folder is None else [folder] if isinstance(folder, (str, Path)) else list(folder)
    class_map = class_map or {}
    parts = []
    if csv is not None or votes is not None or not folders:
        csv = csv or find_default("fer2013.csv")
        if csv is None:
            raise DataError(f"no FER2013 CSV found in {', '.join(map(str, data_dirs()))}; pass --csv PATH "
                            "(see README: Getting the data)")
        if get_label_set(label_set).needs_votes and votes is None:
            votes = find_default("fer2013new.csv")
        parts.append(load_csv_dataset(Path(csv), label_set, votes, progress))
    for f in folders:
        part = load_folder_dataset(Path(f), progress)
        classes = parts[0].classes if parts else tuple(dict.fromkeys(
            class_map.get(c, c) for c in part.classes if class_map.get(c, c) is not None))
        parts.append(map_classes(part, classes, class_map, str(f)))
    return combine(parts)
