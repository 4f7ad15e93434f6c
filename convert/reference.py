"""Reference inputs for the parity gate: the same normalised tensors go to every backend.

Real faces: a fixed, seeded sample of FER2013 PrivateTest images (the test split) when the CSV is
given or found (training.datasets.find_default). Without data, seeded synthetic face-like images
stand in, and reference.json / parity.json say so. Edge inputs are always added: all black, all
white, mid grey and uniform noise. Pixels are normalised by training.preprocess.normalize, the one
implementation of the metadata's preprocessing.

On disk (beside the artifacts): reference_inputs.bin = raw little-endian float32 [N,C,H,W] model
inputs; reference.json = shape, dtype, names, kinds ("face"|"edge") and PyTorch's outputs for them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.datasets import find_default, load_csv_dataset
from training.errors import DataError
from training.preprocess import normalize

from .errors import ConvertError

INPUTS_FILE, REFERENCE_FILE = "reference_inputs.bin", "reference.json"
DEFAULT_FACES, DEFAULT_SEED = 256, 0
SPLIT = "PrivateTest"


@dataclass
class Reference:
    inputs: np.ndarray          # (N, C, H, W) float32, normalised model inputs
    names: list[str]
    kinds: list[str]            # "face" (real or synthetic stand-in) | "edge"
    source: dict                # where the faces came from (real data or synthetic), seed
    pytorch_logprobs: np.ndarray | None = None

    @property
    def face_mask(self) -> np.ndarray:
        return np.array([k == "face" for k in self.kinds])


def edge_pixels(height: int, width: int, seed: int) -> tuple[np.ndarray, list[str]]:
    noise = np.random.default_rng(seed + 1).integers(0, 256, (height, width), dtype=np.uint8)
    full = [np.full((height, width), v, np.uint8) for v in (0, 255, 128)]
    return np.stack([*full, noise]), ["black", "white", "mid grey", "noise"]


def synthetic_faces(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """Blurry face-like drawings (head oval, eyes, brows, mouth) with seeded variation and noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, height, width), np.uint8)
    for i in range(n):
        img = np.full((height, width), rng.integers(20, 90), np.uint8)
        cx, cy = width / 2 + rng.normal(0, 2), height / 2 + rng.normal(0, 2)
        cv2.ellipse(img, (int(cx), int(cy)), (int(width * rng.uniform(0.3, 0.4)), int(height * 0.45)), 0, 0, 360,
                    int(rng.integers(130, 220)), -1)
        eye_y, gap = int(cy - height * 0.1), int(width * rng.uniform(0.14, 0.2))
        for side in (-1, 1):
            cv2.circle(img, (int(cx + side * gap), eye_y), int(rng.integers(2, 5)), int(rng.integers(10, 70)), -1)
            cv2.line(img, (int(cx + side * gap) - 4, eye_y - 6 - int(rng.integers(0, 3))),
                     (int(cx + side * gap) + 4, eye_y - 6 + int(rng.integers(-2, 3))), 40, 2)
        mouth = int(rng.integers(-60, 60))  # smile / frown / open
        cv2.ellipse(img, (int(cx), int(cy + height * 0.2)), (int(width * 0.15), 1 + abs(mouth) // 12),
                    0, 0 if mouth > 0 else 180, 180 if mouth > 0 else 360, 30, 2)
        img = cv2.GaussianBlur(img, (5, 5), rng.uniform(0.5, 1.5))
        out[i] = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    return out


def real_faces(csv: Path, n: int, seed: int) -> tuple[np.ndarray, list[str], dict]:
    try:
        data = load_csv_dataset(Path(csv), label_set="fer2013", progress=True)
    except DataError as exc:
        raise ConvertError(str(exc)) from None
    split = data.splits[SPLIT]
    rows = np.sort(np.random.default_rng(seed).choice(len(split), size=min(n, len(split)), replace=False))
    names = [f"{SPLIT} row {r}" for r in rows]  # index within the split (CSV order)
    return split.images[rows], names, {"faces": "real", "csv": str(csv), "csv_sha256": data.source["csv_sha256"],
                                       "split": SPLIT, "seed": seed, "count": len(rows)}


def build_reference(meta: dict, csv: Path | None = None, faces: int = DEFAULT_FACES, seed: int = DEFAULT_SEED,
                    synthetic: bool = False) -> Reference:
    """Faces (real when data is available and not `synthetic`) + the four edge inputs, normalised."""
    h, w = int(meta["input"]["height"]), int(meta["input"]["width"])
    if csv is not None and not Path(csv).is_file():
        raise ConvertError(f"{csv}: no such FER2013 CSV")
    csv = None if synthetic else (csv or find_default("fer2013.csv"))
    if csv is not None:
        pixels, names, source = real_faces(csv, faces, seed)
        if pixels.shape[1:] != (h, w):
            raise ConvertError(f"{csv}: images are {pixels.shape[1:]}, the model takes {h}x{w}")
    else:
        pixels = synthetic_faces(faces, h, w, seed)
        names = [f"synthetic face {i}" for i in range(faces)]
        source = {"faces": "synthetic", "seed": seed, "count": faces,
                  "note": "no FER2013 data given or found: seeded synthetic face-like images stand in"}
    edges, edge_names = edge_pixels(h, w, seed)
    inputs = normalize(np.concatenate([pixels, edges]), meta["preprocessing"])
    return Reference(np.ascontiguousarray(inputs, dtype=np.float32), names + edge_names,
                     ["face"] * len(names) + ["edge"] * len(edge_names), source)


def write_reference(ref: Reference, folder: Path) -> None:
    folder = Path(folder)
    ref.inputs.astype("<f4").tofile(folder / INPUTS_FILE)
    probs = np.exp(ref.pytorch_logprobs.astype(np.float64))
    doc = {"shape": list(ref.inputs.shape), "dtype": "float32", "inputs_file": INPUTS_FILE,
           "names": ref.names, "kinds": ref.kinds, "source": ref.source,
           "pytorch_probs": probs.tolist(), "pytorch_logprobs": ref.pytorch_logprobs.astype(np.float64).tolist()}
    (folder / REFERENCE_FILE).write_text(json.dumps(doc))


def read_reference(folder: Path) -> Reference:
    folder = Path(folder)
    try:
        doc = json.loads((folder / REFERENCE_FILE).read_text())
        shape = tuple(doc["shape"])
        inputs = np.fromfile(folder / doc["inputs_file"], dtype="<f4")
        if doc["dtype"] != "float32" or inputs.size != int(np.prod(shape)):
            raise ValueError(f"{doc['inputs_file']} holds {inputs.size} floats, expected shape {shape}")
        logprobs = np.array(doc.get("pytorch_logprobs") or np.log(doc["pytorch_probs"]), dtype=np.float64)
        return Reference(inputs.reshape(shape).astype(np.float32), doc["names"], doc["kinds"],
                         doc.get("source", {}), logprobs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConvertError(f"{folder}: unreadable reference inputs ({type(exc).__name__}: {exc})") from None
