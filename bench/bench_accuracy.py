"""Accuracy of one converted model on a whole test split, in every backend it ships to.

    .venv/bin/python bench/bench_accuracy.py --model-dir models/fer-default/export [--split PrivateTest]

The parity gate compares backends on 260 inputs; this runs every image of the split (FERPlus
majority labels by default) through PyTorch (the checkpoint), ONNX Runtime, the TF SavedModel and
TF.js on the wasm backend in headless Chromium (the page's own model code, so a quantized TF.js
download is measured as users get it). Prints accuracy, balanced accuracy (mean per-class recall),
macro-F1 and per-class recall per backend, and top-1 agreement with PyTorch.
A few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_inference import find_checkpoint  # noqa: E402
from fer_browser.convert.console import quiet_libraries  # noqa: E402

INPUTS = "split_inputs.bin"


def main(argv=None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True, help="directory written by `python -m convert`")
    p.add_argument("--checkpoint", type=Path, help="checkpoint for PyTorch (default: as bench_inference finds it)")
    p.add_argument("--split", default="PrivateTest", choices=["Training", "PublicTest", "PrivateTest"])
    p.add_argument("--label-set", default="ferplus", help="labels to score against (default: ferplus majority)")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: found in ./data or ../shared/data)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    quiet_libraries()
    import onnxruntime as ort
    import tensorflow as tf
    import torch

    from fer_browser.convert.artifacts import read_metadata
    from fer_browser.convert.browser import TfjsBrowser
    from fer_browser.convert.errors import ConvertError
    from fer_browser.convert.to_onnx import INPUT_NAME, OUTPUT_NAME
    from fer_browser.convert.to_savedmodel import load_signature
    from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint
    from fer_browser.training.datasets import load_dataset
    from fer_browser.training.errors import DataError
    from fer_browser.training.metrics import classification_metrics
    from fer_browser.core.normalize import normalize

    try:
        meta = read_metadata(args.model_dir)
        model, _ = model_from_checkpoint(find_checkpoint(args.model_dir, meta, args.checkpoint))
        split = load_dataset(args.csv, label_set=args.label_set).splits[args.split]
    except (ConvertError, CheckpointError, DataError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    x = normalize(split.images, meta["preprocessing"])
    preds = {}
    with torch.inference_mode():
        preds["PyTorch"] = np.concatenate([model(torch.from_numpy(c)).numpy() for c in np.array_split(x, 50)]).argmax(1)
    session = ort.InferenceSession(str(args.model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    preds["ONNX Runtime"] = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0].argmax(1)
    signature = load_signature(args.model_dir / "saved_model")
    preds["TF SavedModel"] = signature(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy().argmax(1)
    with tempfile.TemporaryDirectory(prefix="fer-accuracy-") as tmp:
        # the browser harness serves one folder: the model's TF.js files, metadata and the split's inputs
        shutil.copytree(args.model_dir / "tfjs", Path(tmp) / "tfjs")
        shutil.copy(args.model_dir / "metadata.json", tmp)
        (Path(tmp) / INPUTS).write_bytes(np.ascontiguousarray(x).tobytes())
        with TfjsBrowser(Path(tmp)) as browser:
            out = browser.run(len(x), INPUTS, batch=64)
        label = f"TF.js {out['backend']} (Chromium{', ' + meta['quantization'] if meta.get('quantization') else ''})"
        preds[label] = np.array(out["probs"]).argmax(1)
    classes = list(meta["classes"])
    results = {}
    for name, p in preds.items():
        m = classification_metrics(split.labels, p, classes)
        results[name] = {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
                         "f1_macro": m["f1_macro"], "recall": {c: v["recall"] for c, v in m["per_class"].items()},
                         "agreement_with_pytorch": float((p == preds["PyTorch"]).mean())}
    print(f"{meta['model']['name']} on {args.split} ({len(x)} images, {args.label_set} labels), {args.model_dir}\n")
    print("| backend | accuracy | balanced accuracy | macro-F1 | top-1 agreement with PyTorch | "
          + " | ".join(f"{c} recall" for c in classes) + " |\n|---|---:|---:|---:|---:|" + "---:|" * len(classes))
    for name, r in results.items():
        print(f"| {name} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | {r['f1_macro']:.4f} | "
              f"{r['agreement_with_pytorch'] * len(x):.0f}/{len(x)} | "
              + " | ".join(f"{r['recall'][c]:.3f}" for c in classes) + " |")
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "n": len(x), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
