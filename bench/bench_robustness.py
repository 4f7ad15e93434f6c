"""Accuracy under distribution shift: one checkpoint on a test split whose faces are degraded.

    .venv/bin/python bench/bench_robustness.py --checkpoint models/fer-default/checkpoint.pt --out reports/x

Each shift is applied to the 48x48 face the model sees (one pass per face, as the page runs it), with
a seeded generator where it draws (rotation sign, crop offsets, patch position): Gaussian blur
(sigma 1 px), JPEG quality 30, low light (gamma 2: 255 * (x / 255)^2), contrast +40 % and -40 %
(about each face's mean), rotation by 15 degrees either way, crop shift by up to 10 % of the side in x
and y, crop scale 0.9-1.1, upscaled from 24 px (area down, bilinear up), a grey (128) patch covering
25 % of the face at a random place, and the horizontal flip. Geometric shifts replicate the border.

For each shift: accuracy and balanced accuracy (mean per-class recall) on the majority labels, as the
model was trained (tau = 0) and with the prior correction z = log p / T - tau * log prior (the
metadata's prior; a model without one gets the mean of its label set's Training soft labels, as
`python -m training.prior` computes it). Prints a markdown table; --out writes robustness.json and
robustness.png. A few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _affine(img: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0):
    import cv2
    h, w = img.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def _contrast(img: np.ndarray, factor: float) -> np.ndarray:
    x = img.astype(np.float32)
    return np.clip((x - x.mean()) * factor + x.mean() + 0.5, 0, 255).astype(np.uint8)


def _upscaled(img: np.ndarray, side: int) -> np.ndarray:
    import cv2
    small = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, img.shape[::-1], interpolation=cv2.INTER_LINEAR)


def _patch(img: np.ndarray, rng: np.random.Generator, fraction: float = 0.25) -> np.ndarray:
    h, w = img.shape
    s = int(round(np.sqrt(fraction * h * w)))
    y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
    out = img.copy()
    out[y:y + s, x:x + s] = 128
    return out


def shifts() -> dict:
    """name -> f(img, rng) on one uint8 (48, 48) face."""
    import cv2
    return {
        "clean": lambda im, rng: im,
        "Gaussian blur (sigma 1 px)": lambda im, rng: cv2.GaussianBlur(im, (0, 0), 1.0),
        "JPEG quality 30": lambda im, rng: _jpeg(im, 30),
        "low light (gamma 2)": lambda im, rng: np.round(255 * (im / 255.0) ** 2).astype(np.uint8),
        "contrast +40 %": lambda im, rng: _contrast(im, 1.4),
        "contrast -40 %": lambda im, rng: _contrast(im, 0.6),
        "rotation ±15°": lambda im, rng: _affine(im, angle=15.0 * rng.choice([-1, 1])),
        "crop shift ±10 %": lambda im, rng: _affine(im, dx=rng.uniform(-.1, .1) * im.shape[1],
                                                    dy=rng.uniform(-.1, .1) * im.shape[0]),
        "crop scale ±10 %": lambda im, rng: _affine(im, scale=rng.uniform(0.9, 1.1)),
        "upscaled from 24 px": lambda im, rng: _upscaled(im, 24),
        "25 % occluding patch": lambda im, rng: _patch(im, rng),
        "horizontal flip": lambda im, rng: im[:, ::-1],
    }


def log_probs(model, images: np.ndarray, preprocessing: dict, batch: int = 256) -> np.ndarray:
    import torch

    from fer_browser.core.normalize import normalize
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(
            normalize(images[i:i + batch], preprocessing), dtype=np.float32))).numpy().astype(np.float64)
            for i in range(0, len(images), batch)])


def plot(results: dict, taus: list[str], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(names) + 1.6), sharey=True)
    for ax, key, label in zip(axes, ("accuracy", "balanced_accuracy"), ("accuracy", "balanced accuracy")):
        h = 0.8 / len(taus)
        for j, tau in enumerate(taus):
            v = [results[n][tau][key] for n in names]
            ax.barh(y + (j - (len(taus) - 1) / 2) * h, v, height=h, label=f"τ = {tau}")
        ax.axvline(results["clean"][taus[0]][key], color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel=label, xlim=(0, 1))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=8, loc="lower right")  # balanced accuracy stays below 0.8: room there
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("models/fer-default/checkpoint.pt"))
    p.add_argument("--split", default="PrivateTest", choices=["PublicTest", "PrivateTest"])
    p.add_argument("--label-set", default="ferplus", help="labels to score against (default: ferplus majority)")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--prior-strength", type=float, metavar="TAU",
                   help="tau of the corrected column (default: the metadata's prior strength; without a prior, "
                        "only tau = 0 is measured)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write robustness.json and robustness.png here")
    args = p.parse_args(argv)
    from fer_browser.core.metadata import PRIOR_STRENGTH_RANGE  # the schema's bounds

    low, high = PRIOR_STRENGTH_RANGE
    if args.prior_strength is not None and not low <= args.prior_strength <= high:
        p.error(f"--prior-strength must be in [{low:g}, {high:g}]")

    from fer_browser.core.probabilities import adjusted_probabilities
    from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint
    from fer_browser.training.datasets import load_dataset
    from fer_browser.training.errors import DataError
    from fer_browser.training.metrics import classification_metrics
    from fer_browser.training.prior import class_prior

    try:
        model, meta = model_from_checkpoint(args.checkpoint)
        data = load_dataset(args.csv, args.votes, None, args.label_set)
        if list(data.classes) != list(meta["classes"]):
            raise DataError(f"the data's classes {list(data.classes)} differ from the model's {meta['classes']}")
        split = data.splits[args.split]
        prior, source = (meta["prior"]["probabilities"], meta["prior"]["source"]) if "prior" in meta else (None, None)
        tau = args.prior_strength if args.prior_strength is not None else (meta["prior"]["strength"] if prior else None)
        if prior is None and tau is not None:  # the prior `python -m training.prior` would store
            train = load_dataset(args.csv, args.votes, None, meta["label_set"]).splits["Training"]
            prior, source = class_prior(train, len(meta["classes"])), f"{meta['label_set']} Training split, {len(train):,} faces"
    except (CheckpointError, DataError, KeyError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    temperature = meta.get("calibration", {}).get("temperature", 1.0)
    taus = ["0"] + ([f"{tau:g}"] if tau else [])
    images = np.asarray(split.images[:len(split)])
    results = {}
    for k, (name, shift) in enumerate(tqdm(shifts().items(), desc="shifts", unit="shift", file=sys.stderr)):
        rng = np.random.default_rng([args.seed, k])  # each shift its own stream: adding one changes no other
        shifted = np.stack([shift(im, rng) for im in images])
        lp = log_probs(model, shifted, meta["preprocessing"])
        results[name] = {}
        for t in taus:
            m = classification_metrics(split.labels, adjusted_probabilities(lp, temperature, prior, float(t)).argmax(1),
                                       list(meta["classes"]))
            results[name][t] = {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"]}
    title = (f"{meta['model']['name']} ({args.checkpoint.name}) on {args.split}, {len(images)} faces, "
             f"{args.label_set} labels, seed {args.seed}")
    print(title + (f"; prior: {source}" if len(taus) > 1 else "") + "\n")
    cols = [f"{what}, τ = {t}" for t in taus for what in ("accuracy", "balanced accuracy")]
    print("| shift | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r[t][key]:.4f}" for t in taus for key in ("accuracy", "balanced_accuracy"))
              + " |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "robustness.json").write_text(json.dumps(
            {"checkpoint": args.checkpoint.name, "split": args.split, "n": len(images), "label_set": args.label_set,
             "seed": args.seed, "temperature": temperature, "prior_source": source if len(taus) > 1 else None,
             "results": results}, indent=1) + "\n")
        plot(results, taus, title, args.out / "robustness.png")
        print(f"\nwrote {args.out / 'robustness.json'} and robustness.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
