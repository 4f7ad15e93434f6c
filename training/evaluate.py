"""Evaluate a checkpoint: the seed's table on Training, PublicTest and PrivateTest.

    python -m training.evaluate runs/vgg-ferplus/best.pt --out reports/vgg

Prints accuracy and weighted F1 / precision / recall per split (the seed's table) and per-class
precision and recall; writes OUT/report.json and OUT/confusion_<split>.png. The data and label
set default to what the checkpoint was trained on (its metadata). A label set with more classes
than the model scores it as they are: a 7-class FERPlus model on `--label-set ferplus8` is judged on
all 8-class majority labels, and the contempt faces it cannot name count as misses. FER2013's and
FERPlus's names for the same emotion match ("happy" = "happiness"), so a FERPlus model can be scored
on `--label-set fer2013` and the other way round.

Balanced accuracy (mean per-class recall) and macro-F1 sit beside accuracy: they count a rare class
(disgust, fear) as much as a frequent one. When the model's metadata has a prior (`python -m
training.prior --write`), each split also gets the figures with the prior correction at strength tau
(`--prior-strength TAU`, default the metadata's strength) and ECE (15 bins) at tau = 0 and at tau,
both after the calibration temperature: what the page shows with "Balanced" off and on.

Several checkpoints are scored as an ensemble (the mean of their probabilities, each model with its
own preprocessing): what a distillation teacher made of several models would score.

    python -m training.evaluate models/fer-default/checkpoint.pt runs/student/best.pt --tta --out reports/ens
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import hashlib

import numpy as np

from fer_browser.cli import prog
from fer_browser.core.atomic import atomic_open

from .checkpoint import CheckpointError, model_from_checkpoint
from .datasets import load_dataset
from .errors import DataError
from .calibration import adjusted_probabilities, expected_calibration_error
from .labelsets import SAME_EMOTION
from fer_browser.core.metadata import public_source
from .metrics import classification_metrics, plot_confusion, predict_probs


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.evaluate"),
                                description=__doc__.replace("python -m training.evaluate", prog("python -m training.evaluate")),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, nargs="+",
                   help="a checkpoint written by training.train (best.pt / last.pt); several: their ensemble")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: the one found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--folder", type=Path, help="evaluate on a folder <split>/<class>/* instead")
    p.add_argument("--label-set", help="override the checkpoint's label set (the model's classes must all be in it)")
    p.add_argument("--splits", nargs="+", default=["Training", "PublicTest", "PrivateTest"])
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped face")
    p.add_argument("--prior-strength", type=float, metavar="TAU",
                   help="prior correction strength in [0, 2] for the 'prior' figures (default: the metadata's)")
    p.add_argument("--out", type=Path, help="folder for report.json and confusion PNGs (default: beside the "
                   "checkpoint; required for an ensemble, whose report belongs to none of its members)")
    args = p.parse_args(argv)
    if len(args.checkpoint) > 1 and args.out is None:
        p.error("several checkpoints (an ensemble) need --out: beside the first one its report would "
                "pass for that checkpoint's own")
    return args


def _hashes(images, as_list: bool = False):
    found = [hashlib.sha1(img.tobytes()).hexdigest() for img in images]
    return found if as_list else set(found)


def format_table(results: dict) -> str:
    splits = list(results)
    rows = [("Accuracy Score", "accuracy"), ("F1 (wgt avg)", "f1_weighted"),
            ("Precision (wgt avg)", "precision_weighted"), ("Recall (wgt avg)", "recall_weighted"),
            ("Balanced accuracy", "balanced_accuracy"), ("F1 (macro avg)", "f1_macro")]
    lines = ["| | " + " | ".join(f"{s} (n={results[s]['n']})" for s in splits) + " |",
             "|---|" + "---|" * len(splits)]
    lines += [f"| {label} | " + " | ".join(f"{results[s][key]:.4f}" for s in splits) + " |" for label, key in rows]
    dups = {s: results[s]["train_duplicates"] for s in splits if "train_duplicates" in results[s]}
    if dups:
        lines.append("")
        lines += [f"{s}: {d['count']} images have an exact copy in Training; accuracy without them "
                  f"{d['accuracy_without']:.4f}" for s, d in dups.items()]
    return "\n".join(lines)


def format_prior(results: dict) -> str:
    splits = [s for s in results if "prior" in results[s]]
    if not splits:
        return ""
    tau = results[splits[0]]["prior"]["strength"]
    rows = [("ECE, tau = 0", "ece_tau0"), (f"ECE, tau = {tau:g}", "ece"), ("Accuracy", "accuracy"),
            ("Balanced accuracy", "balanced_accuracy"), ("F1 (macro avg)", "f1_macro")]
    lines = [f"with the prior correction, tau = {tau:g} (calibrated probabilities):",
             "| | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    lines += [f"| {label} | " + " | ".join(f"{results[s]['prior'][key]:.4f}" for s in splits) + " |"
              for label, key in rows]
    return "\n".join(lines)


def prior_figures(probs: np.ndarray, labels: np.ndarray, to_data: np.ndarray, data_classes, meta: dict,
                  tau: float) -> dict:
    """Figures with z = log p / T - tau log prior (the readers' order); ECE at tau = 0 and at tau."""
    temperature = meta.get("calibration", {}).get("temperature", 1.0)
    prior = meta["prior"]["probabilities"]
    model_label = {d: m for m, d in enumerate(to_data)}
    as_model = np.array([model_label.get(int(y), -1) for y in labels])  # a class the model lacks: never right
    with np.errstate(divide="ignore"):
        lp = np.log(probs.astype(np.float64))
    plain, balanced = (adjusted_probabilities(lp, temperature, prior, t) for t in (0.0, tau))
    m = classification_metrics(labels, to_data[balanced.argmax(1)], data_classes)
    return {"strength": tau, "temperature": temperature, "ece_tau0": expected_calibration_error(plain, as_model),
            "ece": expected_calibration_error(balanced, as_model), "accuracy": m["accuracy"],
            "balanced_accuracy": m["balanced_accuracy"], "f1_macro": m["f1_macro"],
            "recall": {c: v["recall"] for c, v in m["per_class"].items()}}


def format_per_class(results: dict, split: str) -> str:
    lines = [f"per class on {split}:", "| class | precision | recall | support |", "|---|---|---|---|"]
    for c, m in results[split]["per_class"].items():
        lines.append(f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['support']} |")
    return "\n".join(lines)


def load_models(paths: list[Path]) -> list[tuple]:
    """(model, metadata) per checkpoint; an ensemble's members must name the same classes in the same order."""
    models = [model_from_checkpoint(p) for p in paths]
    first = list(models[0][1]["classes"])
    for path, (_, meta) in zip(paths[1:], models[1:]):
        if list(meta["classes"]) != first:
            raise DataError(f"{path}: predicts {list(meta['classes'])}, {paths[0]} predicts {first}; "
                            "an ensemble needs the same classes in the same order")
    return models


def evaluate(args) -> dict:
    models = load_models(args.checkpoint)
    meta = models[0][1]
    tau = args.prior_strength
    if tau is not None and not 0 <= tau <= 2:
        raise ValueError(f"--prior-strength must be in [0, 2], got {tau}")
    if tau is not None and (len(models) > 1 or "prior" not in meta):
        raise ValueError("--prior-strength needs one model whose metadata has a prior "
                         "(`python -m training.prior CHECKPOINT --write`)")
    if tau is None and len(models) == 1 and "prior" in meta:
        tau = meta["prior"]["strength"]
    label_set = args.label_set or meta["label_set"]
    data = load_dataset(args.csv, args.votes, args.folder, label_set if label_set != "folder" else "ferplus")
    data_classes, model_classes = list(data.classes), list(meta["classes"])
    # The model's answers keep their names (FER2013's and FERPlus's names for one emotion count as
    # the same); data classes the model lacks are never predicted.
    names = {c: c if c in data_classes else SAME_EMOTION.get(c, c) for c in model_classes}
    missing = [c for c in model_classes if names[c] not in data_classes]
    if missing:
        raise DataError(f"the model's classes {missing} are not in the data's {data_classes}")
    to_data = np.array([data_classes.index(names[c]) for c in model_classes])
    results = {}
    train_hashes = _hashes(data.splits["Training"].images) if "Training" in data.splits else set()
    for split in args.splits:
        if split not in data.splits:
            raise DataError(f"no {split} split in the data")
        s = data.splits[split]
        probs = np.mean([predict_probs(model, s.images, m["preprocessing"], tta_flip=args.tta) for model, m in models],
                        axis=0)
        pred = to_data[probs.argmax(1)]
        results[split] = classification_metrics(s.labels, pred, data_classes)
        if tau is not None:
            results[split]["prior"] = prior_figures(probs, s.labels, to_data, data_classes, meta, tau)
        if split != "Training" and train_hashes:
            # FER2013 has exact copies of some test images in Training: report accuracy without them too.
            dup = np.array([h in train_hashes for h in _hashes(s.images, as_list=True)], dtype=bool)
            results[split]["train_duplicates"] = {
                "count": int(dup.sum()),
                "accuracy_without": float((pred[~dup] == s.labels[~dup]).mean()) if (~dup).any() else float("nan")}
    paths = [public_source({"checkpoint": str(p)})["checkpoint"] for p in args.checkpoint]
    one = len(models) == 1
    return {"checkpoint": paths[0] if one else paths, "model": meta["model"] if one else [m["model"] for _, m in models],
            "label_set": label_set, "model_classes": model_classes, "tta_flip": args.tta,
            "data": public_source(data.source), "splits": results}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args)
    except (CheckpointError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.checkpoint[0].parent
    out.mkdir(parents=True, exist_ok=True)
    res = report["splits"]
    models = report["model"] if isinstance(report["model"], list) else [report["model"]]
    name = " + ".join(m["name"] for m in models)
    print(format_table(res))
    print()
    if format_prior(res):
        print(format_prior(res) + "\n")
    print(format_per_class(res, args.splits[-1]))
    for split, m in res.items():
        plot_confusion(m["confusion_matrix"], list(m["per_class"]), out / f"confusion_{split}.png",
                       f"{name} on {split} (acc {m['accuracy']:.3f})")
    with atomic_open(out / "report.json", "w") as fh:  # never half a report beside a checkpoint
        fh.write(json.dumps(report, indent=1))
    print(f"\nwrote {out / 'report.json'} and confusion_<split>.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
