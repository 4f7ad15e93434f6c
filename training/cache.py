"""Where decoded datasets are cached: $FER_CACHE_DIR, else ~/.cache/fer.

csvcache.py (FER2013-style CSVs, keyed by the file's sha256) and imagecache.py (image folders)
each write one folder per source there.
"""
from __future__ import annotations

import os
from pathlib import Path

from fer_browser.core.manifest import file_sha256  # noqa: F401  (datasets.py keys the CSV cache by it: cache.file_sha256)


def cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "fer"))
