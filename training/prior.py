"""Prior correction: counter the training set's class frequencies at answer time ("Balanced" in the page).

    python -m training.prior models/fer-default/checkpoint.pt                       # prior, table, chosen tau
    python -m training.prior runs/vgg/best.pt --out reports/vgg                       # + prior-curve.png / .json
    python -m training.prior runs/vgg/best.pt --write [--strength TAU]                # store it in the checkpoint

A model trained on FERPlus has seen neutral and happiness far more often than fear or disgust, and its
probabilities carry that prior. Readers (predict, fer_browser.Recognizer, the page) compute, in this
order, z = log(p) / T - tau * log(prior), probs = softmax(z): T is the calibration temperature (1 without
one), prior the class frequencies of the Training split of the model's label set (the mean of the soft
labels for a soft label set, label frequencies otherwise), tau the strength (0 = the model as trained,
1 = Bayes' rule for equally likely classes).

This command measures the model one pass per face (as the page runs it) on PublicTest and PrivateTest
for each tau of --taus: accuracy, balanced accuracy (mean per-class recall), macro-F1, per-class recall
and ECE (15 bins), against the majority labels. The default strength is chosen on PublicTest only: the
tau with the highest macro-F1 (smallest tau on a tie); PrivateTest is reported, never used to choose.
--write stores {"version": 1, "probabilities", "strength", "source"} as the checkpoint's "prior"
(fer_browser/core/metadata.py), rewritten atomically with the same weights; then re-run `python -m convert`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fer_browser.cli import error, prog, reconvert_hint

from .calibration import DEFAULT_BINS, adjusted_probabilities, expected_calibration_error
from .checkpoint import CheckpointError, store_metadata
from .datasets import load_dataset
from .errors import DataError
from fer_browser.core.manifest import ManifestError
from fer_browser.core.metadata import PRIOR_STRENGTH_RANGE, PRIOR_VERSION, public_path, validate_prior

DEFAULT_TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.prior"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="a checkpoint (.pt) or an export folder made by `python -m convert`")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: the one found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--label-set", help="override the model's label set (same classes required)")
    p.add_argument("--taus", type=float, nargs="+", default=list(DEFAULT_TAUS),
                   help="strengths to measure (default: %(default)s)")
    p.add_argument("--strength", type=float,
                   help="the default strength to store (default: the tau chosen on PublicTest)")
    p.add_argument("--min-accuracy", type=float, metavar="A",
                   help="choose instead the tau with the highest PublicTest balanced accuracy among those whose "
                        "PublicTest accuracy is at least A (an operating point: 'as balanced as possible while "
                        "accuracy stays >= A'); none qualifying is an error")
    p.add_argument("--out", type=Path, help="write prior-curve.png and prior-curve.json into this folder")
    p.add_argument("--write", action="store_true", help="store the prior in the checkpoint's metadata")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    for tau in args.taus + ([args.strength] if args.strength is not None else []):
        if not PRIOR_STRENGTH_RANGE[0] <= tau <= PRIOR_STRENGTH_RANGE[1]:
            p.error(f"a strength must be in [{PRIOR_STRENGTH_RANGE[0]:g}, {PRIOR_STRENGTH_RANGE[1]:g}], got {tau}")
    return args


def class_prior(split, n_classes: int) -> np.ndarray:
    """Mean of the soft targets, or the label frequencies, over a split; every class must occur."""
    if split.soft is not None:
        prior = np.asarray(split.soft, dtype=np.float64).mean(axis=0)
    else:
        prior = np.bincount(split.labels, minlength=n_classes)[:n_classes] / max(len(split.labels), 1)
    return prior / prior.sum()


def prior_record(prior: np.ndarray, strength: float, source: str, classes) -> dict:
    """The metadata field; rounded to 8 digits, which keeps the sum within 1e-6 of 1."""
    record = {"version": PRIOR_VERSION, "probabilities": [round(float(p), 8) for p in prior],
              "strength": float(strength), "source": source}
    return validate_prior(record, classes, "prior")


def measure(log_probs: np.ndarray, labels: np.ndarray, classes, temperature: float, prior, tau: float) -> dict:
    from .metrics import classification_metrics

    probs = adjusted_probabilities(log_probs, temperature, prior, tau)
    m = classification_metrics(labels, probs.argmax(1), classes)
    return {"n": m["n"], "accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
            "f1_macro": m["f1_macro"], "recall": {c: v["recall"] for c, v in m["per_class"].items()},
            "ece": expected_calibration_error(probs, labels, DEFAULT_BINS)}


def choose(table: dict, split: str = "PublicTest", min_accuracy: float | None = None) -> float:
    """The tau with the highest macro-F1 on `split` (ties: the smallest tau); with min_accuracy, the tau with
    the highest balanced accuracy among those whose accuracy reaches it."""
    rows = table[split]
    if min_accuracy is None:
        return float(min(rows, key=lambda tau: (-round(rows[tau]["f1_macro"], 12), float(tau))))
    ok = [tau for tau in rows if rows[tau]["accuracy"] >= min_accuracy]
    if not ok:
        best = max(r["accuracy"] for r in rows.values())
        raise ValueError(f"no measured tau keeps {split} accuracy >= {min_accuracy:g} (best {best:.4f}); "
                         "measure smaller taus with --taus")
    return float(min(ok, key=lambda tau: (-round(rows[tau]["balanced_accuracy"], 12), float(tau))))


def run(args) -> tuple[dict, object]:
    from .calibrate import Model  # the page's path: one pass per face, the checkpoint or the export

    model = Model(args.source)
    meta = model.meta
    label_set = args.label_set or meta["label_set"]
    data = load_dataset(args.csv, args.votes, None, label_set)
    classes = list(meta["classes"])
    if list(data.classes) != classes:
        raise DataError(f"the data's classes {list(data.classes)} differ from the model's {classes}")
    for split in ("Training", "PublicTest", "PrivateTest"):
        if split not in data.splits:
            raise DataError(f"no {split} split in the data (have {', '.join(data.splits)})")
    train = data.splits["Training"]
    prior = class_prior(train, len(classes))
    if (prior <= 0).any():
        raise DataError(f"no Training face of {[c for c, p in zip(classes, prior) if p <= 0]}: a prior needs every class")
    source = f"{label_set} Training split, {len(train):,} faces"
    temperature = meta.get("calibration", {}).get("temperature", 1.0)
    table = {}
    for split in ("PublicTest", "PrivateTest"):
        s = data.splits[split]
        lp = model.log_probs(s.images, args.batch_size, f"{split} ({len(s)} faces)")
        table[split] = {f"{tau:g}": measure(lp, s.labels, classes, temperature, prior, tau) for tau in args.taus}
    chosen = choose(table, min_accuracy=args.min_accuracy)
    strength = chosen if args.strength is None else args.strength
    report = {"source": public_path(str(args.source)), "model": meta["model"]["name"], "label_set": label_set,
              "labels": "majority", "temperature": temperature, "one_pass": True,
              "prior": prior_record(prior, strength, source, classes), "chosen_on_PublicTest": chosen,
              "rule": ("highest PublicTest macro-F1 (ties: the smaller tau)" if args.min_accuracy is None else
                       f"highest PublicTest balanced accuracy with PublicTest accuracy >= {args.min_accuracy:g}"),
              "splits": table}
    return report, model


def format_table(report: dict) -> str:
    classes = list(next(iter(report["splits"]["PrivateTest"].values()))["recall"])
    lines = [f"prior ({report['prior']['source']}): " +
             ", ".join(f"{c} {p:.4f}" for c, p in zip(classes, report["prior"]["probabilities"])), "",
             "| split | tau | accuracy | balanced accuracy | macro-F1 | ECE | " + " | ".join(classes) + " |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(classes)]
    for split, rows in report["splits"].items():
        for tau, m in rows.items():
            lines.append(f"| {split} (n={m['n']}) | {tau} | {m['accuracy']:.4f} | {m['balanced_accuracy']:.4f} | "
                         f"{m['f1_macro']:.4f} | {m['ece']:.4f} | " +
                         " | ".join(f"{m['recall'][c]:.3f}" for c in classes) + " |")
    lines.append(f"\nchosen on PublicTest ({report['rule']}): tau = {report['chosen_on_PublicTest']:g}")
    return "\n".join(lines)


def plot_curve(report: dict, path: Path) -> None:
    """Accuracy against balanced accuracy over tau (both test splits), and PrivateTest recall per class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for split, rows in report["splits"].items():
        taus = list(rows)
        x, y = [rows[t]["balanced_accuracy"] for t in taus], [rows[t]["accuracy"] for t in taus]
        a1.plot(x, y, marker="o", label=split)
        for t, xi, yi in zip(taus, x, y):
            a1.annotate(f"τ={t}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    a1.set(xlabel="balanced accuracy (mean per-class recall)", ylabel="accuracy",
           title=f"{report['model']}: prior correction, chosen τ = {report['chosen_on_PublicTest']:g}")
    rows = report["splits"]["PrivateTest"]
    taus = [float(t) for t in rows]
    for c in next(iter(rows.values()))["recall"]:
        a2.plot(taus, [m["recall"][c] for m in rows.values()], marker=".", label=c)
    a2.set(xlabel="strength τ", ylabel="recall", title="PrivateTest recall per class")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.write and args.source.is_dir():
            raise ValueError(f"{args.source}: an export's files are checksummed by its manifest; run this on its "
                             "checkpoint with --write, then re-run `python -m convert` on it")
        report, _ = run(args)
        print(format_table(report))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "prior-curve.json").write_text(json.dumps(report, indent=1) + "\n")
            plot_curve(report, args.out / "prior-curve.png")
            print(f"wrote {args.out / 'prior-curve.json'} and prior-curve.png", file=sys.stderr)
        if args.write:
            store_metadata(args.source, "prior", report["prior"])
            print(f"stored the prior (strength {report['prior']['strength']:g}) in {args.source}; "
                  f"{reconvert_hint(args.source)}", file=sys.stderr)
    except (CheckpointError, DataError, ManifestError, ValueError, OSError) as exc:
        return error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
