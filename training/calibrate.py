"""Fit a temperature on PublicTest; measure calibration (ECE, 15 equal-width bins) on PrivateTest before and after.

    python -m training.calibrate models/fer-default/checkpoint.pt --plot reliability.png
    python -m training.calibrate models/fer-default/export            # the exported ONNX model
    python -m training.calibrate runs/vgg/best.pt --write             # store T in the checkpoint's metadata

The model runs as the page and `predict` run it: one pass per face, no flip TTA, on its raw
output (a temperature already stored in its metadata is ignored while fitting, and reported).
T minimises the mean negative log-likelihood on the fit split; by default against the majority
labels that accuracy and ECE are scored on (`--targets votes`: against the FERPlus vote
distributions). --write stores the result in a checkpoint's metadata (`calibration`, see
fer_browser/core/metadata.py), rewritten atomically with the same weights; then re-run `python -m convert`
so the export (metadata.json, ONNX metadata_props, manifest) carries it. An export folder cannot be
written to: its files are checksummed by its manifest.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fer_browser.cli import error, reconvert_hint

from .calibration import (DEFAULT_BINS, apply_temperature, calibration_record, expected_calibration_error,
                          fit_temperature, nll, plot_reliability, reliability_bins)
from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, store_metadata
from .datasets import load_dataset
from .errors import DataError
from fer_browser.core.manifest import ManifestError, check_manifest
from fer_browser.core.metadata import public_path, validate_metadata
from fer_browser.core.normalize import normalize


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="a checkpoint (.pt) or an export folder made by `python -m convert`")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: the one found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--label-set", help="override the model's label set (same classes required)")
    p.add_argument("--fit-split", default="PublicTest", help="split the temperature is fitted on (default PublicTest)")
    p.add_argument("--eval-split", default="PrivateTest", help="split ECE is reported on (default PrivateTest)")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"equal-width confidence bins (default {DEFAULT_BINS})")
    p.add_argument("--targets", choices=("majority", "votes"), default="majority",
                   help="fit against the majority label (default) or the vote distribution (soft label sets)")
    p.add_argument("--plot", type=Path, help="write the reliability diagram (PNG) here")
    p.add_argument("--json", type=Path, help="write every figure and the per-bin table (JSON) here")
    p.add_argument("--write", action="store_true", help="store the temperature in the checkpoint's metadata")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    if args.bins < 1 or args.batch_size < 1:
        p.error("--bins and --batch-size must be at least 1")
    return args


class Model:
    """Log-probabilities (N, C) for uint8 faces, from a checkpoint (PyTorch) or an export (ONNX Runtime)."""

    def __init__(self, source: Path):
        self.source = Path(source)
        if self.source.is_dir():
            check_manifest(self.source)  # every file as exported, metadata.json included
            path = self.source / "metadata.json"
            self.meta = validate_metadata(json.loads(path.read_text()), str(path))
            import onnxruntime as ort
            self.session = ort.InferenceSession(str(self.source / "model.onnx"), providers=["CPUExecutionProvider"])
            self.kind = "onnx"
        else:
            self.payload = load_checkpoint(self.source)
            self.model, self.meta = model_from_checkpoint(self.payload)
            self.kind = "torch"
        if self.meta["model"].get("output", "log_softmax") != "log_softmax":
            raise ValueError(f"{source}: model output {self.meta['model'].get('output')!r} is not log_softmax")

    def log_probs(self, images: np.ndarray, batch_size: int, desc: str) -> np.ndarray:
        from tqdm import tqdm
        out = []
        for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", file=sys.stderr):
            x = normalize(np.asarray(images[start:start + batch_size]), self.meta["preprocessing"])
            out.append(self._run(np.ascontiguousarray(x, dtype=np.float32)))
        return np.concatenate(out).astype(np.float64)

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "onnx":
            return self.session.run(None, {self.session.get_inputs()[0].name: x})[0]
        import torch
        with torch.inference_mode():
            return self.model(torch.from_numpy(x)).numpy()


def split_figures(log_probs: np.ndarray, labels: np.ndarray, targets: np.ndarray, temperature: float, bins: int) -> dict:
    probs = apply_temperature(log_probs, temperature)
    return {"n": int(len(labels)), "accuracy": float((probs.argmax(1) == labels).mean()),
            "mean_confidence": float(probs.max(1).mean()), "nll": nll(log_probs, targets, temperature),
            "ece": expected_calibration_error(probs, labels, bins)}


def calibrate(args) -> tuple[dict, "Model", dict]:
    """(report, the model, {split: (log-probs, majority labels, fit targets)})."""
    started = time.perf_counter()
    model = Model(args.source)
    meta = model.meta
    label_set = args.label_set or meta["label_set"]
    data = load_dataset(args.csv, args.votes, None, label_set)
    if list(data.classes) != list(meta["classes"]):
        raise DataError(f"the data's classes {list(data.classes)} differ from the model's {meta['classes']}")
    outs = {}
    for split in dict.fromkeys((args.fit_split, args.eval_split)):
        if split not in data.splits:
            raise DataError(f"no {split} split in the data (have {', '.join(data.splits)})")
        s = data.splits[split]
        if args.targets == "votes" and s.soft is None:
            raise DataError(f"label set {label_set!r} has no vote distributions; use --targets majority "
                            "or a soft label set (--label-set ferplus-soft)")
        outs[split] = (model.log_probs(s.images, args.batch_size, f"{split} ({len(s)} faces)"), s.labels,
                       s.soft if args.targets == "votes" else s.labels)
    lp, _, targets = outs[args.fit_split]
    temperature = fit_temperature(lp, targets)
    figures = {split: {"before": split_figures(lp_, y, t, 1.0, args.bins),
                       "after": split_figures(lp_, y, t, temperature, args.bins)} for split, (lp_, y, t) in outs.items()}
    ev = figures[args.eval_split]
    record = calibration_record(temperature, args.fit_split, ev["before"]["ece"], ev["after"]["ece"], args.bins,
                                evaluated_on=args.eval_split, targets=args.targets, label_set=label_set, tta=False)
    lp_eval, y_eval, _ = outs[args.eval_split]
    per_bin = {when: {k: np.nan_to_num(v).round(6).tolist() for k, v in
                      reliability_bins(apply_temperature(lp_eval, t), y_eval, args.bins).items()}
               for when, t in (("before", 1.0), ("after", temperature))}
    return {"source": public_path(str(args.source)), "backend": model.kind, "model": meta["model"]["name"],
            "stored_calibration": meta.get("calibration"), "calibration": record, "splits": figures,
            "bins_on_eval_split": per_bin, "seconds": round(time.perf_counter() - started, 1)}, model, outs


def format_table(report: dict) -> str:
    lines = ["| split | | accuracy | mean confidence | NLL | ECE |", "|---|---|---:|---:|---:|---:|"]
    for split, pair in report["splits"].items():
        for when, f in pair.items():
            lines.append(f"| {split} (n={f['n']}) | {when} | {f['accuracy']:.4f} | {f['mean_confidence']:.4f} | "
                         f"{f['nll']:.4f} | {f['ece']:.4f} |")
    cal = report["calibration"]
    lines.append(f"\ntemperature T = {cal['temperature']:.4f} (fitted on {cal['fitted_on']}, {cal['targets']} "
                 f"targets); ECE on {cal['evaluated_on']} ({cal['bins']} bins): {cal['ece_before']:.4f} -> "
                 f"{cal['ece_after']:.4f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.write and Path(args.source).is_dir():
            raise ValueError(f"{args.source}: an export's files are checksummed by its manifest; calibrate its "
                             "checkpoint with --write, then re-run `python -m convert` on it")
        report, model, outs = calibrate(args)
        print(format_table(report))
        if report["stored_calibration"]:
            print(f"(the model's metadata already holds T = {report['stored_calibration']['temperature']}; "
                  "the figures above start from its raw output)")
        if args.plot:
            cal, (lp, labels, _) = report["calibration"], outs[args.eval_split]
            plot_reliability([("before: raw output (T = 1)", np.exp(lp), labels),
                              (f"after: T = {cal['temperature']:.3f} (fitted on {cal['fitted_on']})",
                               apply_temperature(lp, cal["temperature"]), labels)],
                             args.plot, args.bins,
                             f"{report['model']} on {args.eval_split} (n={len(labels)}), one pass per face")
            print(f"wrote {args.plot}", file=sys.stderr)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=1))
            print(f"wrote {args.json}", file=sys.stderr)
        if args.write:
            store_metadata(model.source, "calibration", report["calibration"], model.payload)
            print(f"stored calibration (T = {report['calibration']['temperature']}) in {args.source}; "
                  f"{reconvert_hint(args.source)}", file=sys.stderr)
    except (CheckpointError, DataError, ManifestError, ValueError, OSError) as exc:
        return error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
