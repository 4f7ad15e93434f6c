"""Cache of decoded arrays, keyed by the content hash of the source file(s).

A second run over the same 300 MB CSV loads an .npz in about a second instead of re-parsing.
Location: $FER_CACHE_DIR, else ~/.cache/fer.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_open
from .manifest import file_sha256  # noqa: F401  (datasets.py keys the cache by it: cache.file_sha256)


def cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "fer"))


def load(key: str) -> dict[str, np.ndarray] | None:
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):  # a truncated or foreign file: ignore it and rebuild
        return None


def save(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically so an interrupted run never leaves a half-written cache entry."""
    try:
        with atomic_open(cache_dir() / f"{key}.npz") as fh:
            np.savez(fh, **arrays)
    except OSError:
        pass  # caching is an optimisation; a read-only home must not stop training
