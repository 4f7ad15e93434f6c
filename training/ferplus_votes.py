"""Read FERPlus votes (microsoft/FERPlus `fer2013new.csv`) and turn them into labels.

Rows are joined to FER2013 by position (Image names are not row numbers; some are empty).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import DataError
from .fer_csv import SPLITS, csv_rows, open_text, read_header

EMOTION_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = EMOTION_COLUMNS + ("unknown", "NF")
_COUNT = re.compile(r"[0-9]+(\.[0-9]*)?")


def read_votes(path: Path, expected_usage: np.ndarray | None = None) -> np.ndarray:
    """Return votes (N,10) float32 in VOTE_COLUMNS order; check row count and Usage against FER2013."""
    path = Path(path)
    with open_text(path) as fh:
        reader = csv_rows(fh, path)
        header = read_header(reader, path, ("Usage",) + VOTE_COLUMNS, "is this FERPlus fer2013new.csv?")
        idx = [header.index(c) for c in VOTE_COLUMNS]
        usage_col = header.index("Usage")
        votes, usages = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: row {line}: expected {len(header)} fields, got {len(row)}")
            v = []
            for name, i in zip(VOTE_COLUMNS, idx):
                text = row[i].strip()
                # plain ASCII numbers only: float() also takes 'nan', 'inf' and other scripts' digits
                if not _COUNT.fullmatch(text):
                    raise DataError(f"{path}: row {line}: vote count {text!r} is not a non-negative number "
                                    f"(column {name})")
                v.append(float(text))
            votes.append(v)
            usages.append(row[usage_col].strip())
    votes_arr = np.array(votes, dtype=np.float32).reshape(-1, len(VOTE_COLUMNS))
    if expected_usage is not None:
        if len(votes_arr) != len(expected_usage):
            raise DataError(
                f"{path}: {len(votes_arr)} rows but the FER2013 CSV has {len(expected_usage)}; "
                "FERPlus votes are joined by row position, so both files must have the same rows")
        for i, (u, e) in enumerate(zip(usages, expected_usage)):
            if u != SPLITS[e]:
                raise DataError(f"{path}: row {i + 2}: Usage {u!r} disagrees with FER2013 ({SPLITS[e]!r}); "
                                "the files are not aligned row by row")
    return votes_arr


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """Microsoft's majority rule; returns the emotion index (0..7) or -1 where the image is left out.

    Single votes are dropped as outliers; the top emotion must then hold more than half of the
    remaining votes, and images whose top vote is unknown or NF are left out.
    """
    v = np.where(votes <= 1.0, 0.0, votes)
    total = v.sum(axis=1)
    top = v.argmax(axis=1)
    keep = (v.max(axis=1) > 0.5 * total) & (top < len(EMOTION_COLUMNS)) & (total > 0)
    return np.where(keep, top, -1)
