"""Evaluate a checkpoint: the seed's table on Training, PublicTest and PrivateTest.

    python -m training.evaluate runs/vgg-ferplus/best.pt --out reports/vgg

Prints accuracy and weighted F1 / precision / recall per split (the seed's table) and per-class
precision and recall; writes OUT/report.json and OUT/confusion_<split>.png. The data and label
set default to what the checkpoint was trained on (its metadata). A label set with more classes
than the model scores it as they are: a 7-class FERPlus model on `--label-set ferplus8` is judged on
all 8-class majority labels, and the contempt faces it cannot name count as misses. FER2013's and
FERPlus's names for the same emotion match ("happy" = "happiness"), so a FERPlus model can be scored
on `--label-set fer2013` and the other way round.

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

from .checkpoint import CheckpointError, model_from_checkpoint
from .datasets import load_dataset
from .errors import DataError
from .labelsets import SAME_EMOTION
from .metadata import public_source
from .metrics import classification_metrics, plot_confusion, predict_probs


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.evaluate"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, nargs="+",
                   help="a checkpoint written by training.train (best.pt / last.pt); several: their ensemble")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: the one found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--folder", type=Path, help="evaluate on a folder <split>/<class>/* instead")
    p.add_argument("--label-set", help="override the checkpoint's label set (the model's classes must all be in it)")
    p.add_argument("--splits", nargs="+", default=["Training", "PublicTest", "PrivateTest"])
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped face")
    p.add_argument("--out", type=Path, help="folder for report.json and confusion PNGs (default: beside the checkpoint)")
    return p.parse_args(argv)


def _hashes(images, as_list: bool = False):
    found = [hashlib.sha1(img.tobytes()).hexdigest() for img in images]
    return found if as_list else set(found)


def format_table(results: dict) -> str:
    splits = list(results)
    rows = [("Accuracy Score", "accuracy"), ("F1 (wgt avg)", "f1_weighted"),
            ("Precision (wgt avg)", "precision_weighted"), ("Recall (wgt avg)", "recall_weighted")]
    lines = ["| | " + " | ".join(f"{s} (n={results[s]['n']})" for s in splits) + " |",
             "|---|" + "---|" * len(splits)]
    lines += [f"| {label} | " + " | ".join(f"{results[s][key]:.4f}" for s in splits) + " |" for label, key in rows]
    dups = {s: results[s]["train_duplicates"] for s in splits if "train_duplicates" in results[s]}
    if dups:
        lines.append("")
        lines += [f"{s}: {d['count']} images have an exact copy in Training; accuracy without them "
                  f"{d['accuracy_without']:.4f}" for s, d in dups.items()]
    return "\n".join(lines)


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
    print(format_per_class(res, args.splits[-1]))
    for split, m in res.items():
        plot_confusion(m["confusion_matrix"], list(m["per_class"]), out / f"confusion_{split}.png",
                       f"{name} on {split} (acc {m['accuracy']:.3f})")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out / 'report.json'} and confusion_<split>.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
