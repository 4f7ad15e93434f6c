"""How often FER2013's own label equals FERPlus's majority label, per split.

    python -m training.compare_labels [--csv fer2013.csv.gz] [--votes fer2013new.csv]

Counts only the images FERPlus's majority rule keeps (7 classes), mapping FER2013's class names to
FERPlus's. Explains why one model scores so differently against the two label sets (MODEL_CARD.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .datasets import SPLITS, decoded_csv, find_default
from .errors import DataError
from .ferplus_votes import read_votes
from .labelsets import FER2013_TO_FERPLUS, get_label_set, make_targets


def agreement(csv: Path, votes: Path) -> dict:
    arrays, _ = decoded_csv(Path(csv), progress=False)
    fer, plus = get_label_set("fer2013"), get_label_set("ferplus")
    keep, majority, _ = make_targets(plus, arrays["emotion"], read_votes(Path(votes), expected_usage=arrays["usage"]))
    lookup = np.array([plus.classes.index(FER2013_TO_FERPLUS[c]) for c in fer.classes])
    mapped = lookup[arrays["emotion"]]
    out = {}
    for i, name in enumerate(SPLITS):
        rows = keep & (arrays["usage"] == i)
        out[name] = {"images": int(rows.sum()), "agree": float((mapped[rows] == majority[rows]).mean())}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compare_labels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside)")
    args = p.parse_args(argv)
    csv, votes = args.csv or find_default("fer2013.csv"), args.votes or find_default("fer2013new.csv")
    try:
        if csv is None or votes is None:
            raise DataError(f"no {'FER2013 CSV' if csv is None else 'FERPlus votes file'} found; pass "
                            f"{'--csv' if csv is None else '--votes'} PATH (see README: Getting the data)")
        result = agreement(csv, votes)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| split | images kept by FERPlus | FER2013 label = FERPlus majority |\n|---|---:|---:|")
    for name, r in result.items():
        print(f"| {name} | {r['images']} | {r['agree']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
