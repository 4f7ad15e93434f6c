"""Linear probe: how much do FaceRes's pretrained face features know about expressions?

    python bench/faceres_probe.py [--train 2000] [--size 112] [--splits PublicTest PrivateTest]

Embeds FERPlus faces (majority labels, training/datasets.py) with the `faceres` model's trunk,
frozen, once pretrained and once from its random init, fits scikit-learn's LogisticRegression on
the embeddings of --train random training faces and prints the accuracy on each split, plus the
forward-only throughput (images/s) of the embedding pass.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer_browser.training.datasets import load_dataset  # noqa: E402
from fer_browser.training.errors import DataError  # noqa: E402
from fer_browser.core.metadata import DEFAULT_PREPROCESSING  # noqa: E402
from fer_browser.training.models import build_model  # noqa: E402
from fer_browser.core.normalize import normalize  # noqa: E402


@torch.no_grad()
def embed(model, images: np.ndarray, batch: int, desc: str) -> tuple[np.ndarray, float]:
    """(N, 1024) trunk embeddings and images/s of the pass (eval mode, channels-last like training)."""
    out, t0 = [], time.perf_counter()
    for start in tqdm(range(0, len(images), batch), desc=desc, unit="batch", file=sys.stderr):
        x = normalize(torch.from_numpy(np.asarray(images[start:start + batch])), DEFAULT_PREPROCESSING)
        x = model.trunk_input(x).contiguous(memory_format=torch.channels_last)
        out.append(model.trunk(x).numpy())
    return np.concatenate(out), len(images) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=int, default=2000, help="random training faces the probe is fitted on")
    p.add_argument("--size", type=int, default=112, help="faceres input_size (px)")
    p.add_argument("--splits", nargs="+", default=["PublicTest", "PrivateTest"], choices=["PublicTest", "PrivateTest"])
    p.add_argument("--limit", type=int, help="only the first N faces of each evaluated split")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", type=Path, help="fer2013.csv(.gz) (default: found as training.train finds it)")
    p.add_argument("--votes", type=Path, help="fer2013new.csv (default: found beside the CSV)")
    args = p.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    try:
        data = load_dataset(args.csv, args.votes, label_set="ferplus")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    train = data.splits["Training"]
    rows = np.sort(rng.choice(len(train), min(args.train, len(train)), replace=False))
    sets = {"Training": (train.images[rows], train.labels[rows])}
    for name in args.splits:
        s = data.splits[name] if args.limit is None else data.splits[name].head(args.limit)
        sets[name] = (np.asarray(s.images), s.labels)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; faceres trunk at {args.size} px; "
          f"probe fitted on {len(rows)} training faces\n")
    print("| trunk | " + " | ".join(f"{n} acc" for n in args.splits) + " | forward images/s |")
    print("|---|" + "---|" * (len(args.splits) + 1))
    for pretrained in (True, False):
        torch.manual_seed(args.seed)
        model = build_model("faceres", len(data.classes), {"input_size": args.size, "pretrained": pretrained})
        model = model.eval().to(memory_format=torch.channels_last)
        label = "pretrained" if pretrained else "random init"
        feats, speeds = {}, []
        for name, (images, _) in sets.items():
            feats[name], speed = embed(model, images, args.batch, f"{label} {name}")
            speeds.append(speed)
        scaler = StandardScaler().fit(feats["Training"])
        clf = LogisticRegression(max_iter=2000, C=0.1).fit(scaler.transform(feats["Training"]), sets["Training"][1])
        accs = [(clf.predict(scaler.transform(feats[n])) == sets[n][1]).mean() for n in args.splits]
        print(f"| {label} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {np.median(speeds):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
