"""Reference inputs for the parity gate: the same normalised tensors go to every backend.

Published faces: redistributable probe faces (training/probes.py: crops of scikit-image's public-domain
and CC0 photos, seeded augmentations), so an export holds no dataset image. When FER2013 is given or
found (training.datasets.find_default) and not --synthetic, a seeded sample of PrivateTest faces is
added for the gate only (kind "fer"): it is stripped before publishing (Reference.public). Edge
inputs are always added: all black, all white, mid grey and uniform noise. Pixels are normalised by
fer_browser.core.normalize.normalize, the one implementation of the metadata's preprocessing.

On disk (beside the artifacts): reference_inputs.bin = raw little-endian float32 [N,C,H,W] model
inputs; reference.json = shape, dtype, names, kinds ("face"|"edge") and PyTorch's outputs for them.
For a model with an embedding, reference_embeddings.bin = PyTorch's embeddings, raw little-endian float32
[N,D] (exactly what PyTorch computed; as JSON they would be about 1 MB), named in reference.json
("embeddings_file", "embedding_shape"). A reference without them (an older export) still reads.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_browser.training.datasets import find_default, load_csv_dataset
from fer_browser.training.errors import DataError
from fer_browser.core.metadata import public_path
from fer_browser.core.normalize import normalize
from fer_browser.training.probes import ORIGIN, SET, pixels_sha256, probe_pixels

from .errors import ConvertError

INPUTS_FILE, REFERENCE_FILE, EMBEDDINGS_FILE = "reference_inputs.bin", "reference.json", "reference_embeddings.bin"
DEFAULT_FACES, DEFAULT_SEED = 256, 0
# Each face is run through every backend, TF.js in Chromium included, with its intermediate copies:
# about 0.9 MB of memory per face (5000 faces took 4.5 GB), so the count is bounded.
MAX_FACES = 1024
SPLIT = "PrivateTest"


@dataclass
class Reference:
    inputs: np.ndarray          # (N, C, H, W) float32, normalised model inputs
    names: list[str]
    kinds: list[str]            # "face" (published probe face) | "fer" (dataset face, gate only) | "edge"
    source: dict                # where the faces came from, seed
    pytorch_logprobs: np.ndarray | None = None
    pytorch_embeddings: np.ndarray | None = None  # (N, D), None for a model without an embedding

    @property
    def face_mask(self) -> np.ndarray:
        return np.array([k in ("face", "fer") for k in self.kinds])

    def public(self) -> "Reference":
        """Without the dataset faces: what may be written into a published folder."""
        keep = np.array([k != "fer" for k in self.kinds])
        source = {k: v for k, v in self.source.items() if k != "fer"}
        logp = None if self.pytorch_logprobs is None else self.pytorch_logprobs[keep]
        emb = None if self.pytorch_embeddings is None else self.pytorch_embeddings[keep]
        return Reference(np.ascontiguousarray(self.inputs[keep]), [n for n, k in zip(self.names, keep) if k],
                         [x for x, k in zip(self.kinds, keep) if k], source, logp, emb)


def edge_pixels(height: int, width: int, seed: int) -> tuple[np.ndarray, list[str]]:
    noise = np.random.default_rng(seed + 1).integers(0, 256, (height, width), dtype=np.uint8)
    full = [np.full((height, width), v, np.uint8) for v in (0, 255, 128)]
    return np.stack([*full, noise]), ["black", "white", "mid grey", "noise"]


def real_faces(csv: Path, n: int, seed: int) -> tuple[np.ndarray, list[str], dict]:
    try:
        data = load_csv_dataset(Path(csv), label_set="fer2013", progress=True)
    except DataError as exc:
        raise ConvertError(str(exc)) from None
    split = data.splits[SPLIT]
    rows = np.sort(np.random.default_rng(seed).choice(len(split), size=min(n, len(split)), replace=False))
    names = [f"{SPLIT} row {r}" for r in rows]  # index within the split (CSV order)
    return split.images[rows], names, {"csv": public_path(str(csv)), "csv_sha256": data.source["csv_sha256"],
                                       "split": SPLIT, "seed": seed, "count": len(rows), "published": False}


def build_reference(meta: dict, csv: Path | None = None, faces: int = DEFAULT_FACES, seed: int = DEFAULT_SEED,
                    synthetic: bool = False) -> Reference:
    """Probe faces + (when data is available and not `synthetic`) FER faces + the four edge inputs."""
    h, w = int(meta["input"]["height"]), int(meta["input"]["width"])
    if csv is not None and not Path(csv).is_file():
        raise ConvertError(f"{csv}: no such FER2013 CSV")
    pixels, names = probe_pixels(faces, meta, seed)
    kinds = ["face"] * len(names)
    source = {"faces": "scikit-image", "set": SET, "origin": ORIGIN, "seed": seed, "count": faces,
              "pixels_sha256": pixels_sha256(pixels)}
    csv = None if synthetic else (csv or find_default("fer2013.csv"))
    if csv is not None:
        fer, fer_names, source["fer"] = real_faces(csv, faces, seed)
        if fer.shape[1:] != (h, w):
            raise ConvertError(f"{public_path(str(csv))}: images are {fer.shape[1:]}, the model takes {h}x{w}")
        pixels, names, kinds = np.concatenate([pixels, fer]), names + fer_names, kinds + ["fer"] * len(fer_names)
    edges, edge_names = edge_pixels(h, w, seed)
    inputs = normalize(np.concatenate([pixels, edges]), meta["preprocessing"])
    return Reference(np.ascontiguousarray(inputs, dtype=np.float32), names + edge_names,
                     kinds + ["edge"] * len(edge_names), source)


def write_reference(ref: Reference, folder: Path) -> None:
    folder = Path(folder)
    ref.inputs.astype("<f4").tofile(folder / INPUTS_FILE)
    probs = np.exp(ref.pytorch_logprobs.astype(np.float64))
    doc = {"shape": list(ref.inputs.shape), "dtype": "float32", "inputs_file": INPUTS_FILE,
           "names": ref.names, "kinds": ref.kinds, "source": ref.source,
           "pytorch_probs": probs.tolist(), "pytorch_logprobs": ref.pytorch_logprobs.astype(np.float64).tolist()}
    if ref.pytorch_embeddings is not None:
        ref.pytorch_embeddings.astype("<f4").tofile(folder / EMBEDDINGS_FILE)
        doc.update(embeddings_file=EMBEDDINGS_FILE, embedding_shape=list(ref.pytorch_embeddings.shape))
    else:
        (folder / EMBEDDINGS_FILE).unlink(missing_ok=True)
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
                         doc.get("source", {}), logprobs, _read_embeddings(folder, doc))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConvertError(f"{folder}: unreadable reference inputs ({type(exc).__name__}: {exc})") from None


def _read_embeddings(folder: Path, doc: dict) -> np.ndarray | None:
    if "embeddings_file" not in doc:
        return None
    shape = tuple(doc["embedding_shape"])
    emb = np.fromfile(folder / doc["embeddings_file"], dtype="<f4")
    if len(shape) != 2 or shape[0] != doc["shape"][0] or emb.size != int(np.prod(shape)):
        raise ValueError(f"{doc['embeddings_file']} holds {emb.size} floats, expected shape {shape} "
                         f"with one row per input")
    return emb.reshape(shape).astype(np.float64)
