"""Inference latency per backend on one converted model, measured in one run.

    .venv/bin/python bench/bench_inference.py --model-dir models/<name>/export

PyTorch (from the checkpoint), ONNX Runtime (model.onnx), TensorFlow (saved_model/) and TF.js on
the wasm backend in headless Chromium (tfjs/, through web/lib/emotion.js's predictNormalized), each on
1 face and on a batch of 64, fed the directory's own reference inputs. Prints a markdown table of
medians and the ratio to PyTorch. Each call includes moving the input in and reading the output
back; TF.js is timed inside the page (no Python round trip). Speed is machine-dependent: compare
rows of one run, not numbers across machines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from fer_browser.convert.console import quiet_libraries  # noqa: E402

BACKENDS = ("PyTorch", "ONNX Runtime", "TF SavedModel", "TF.js wasm (Chromium)")


def parse_args(argv=None) -> argparse.Namespace:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True, help="directory written by `python -m convert`")
    p.add_argument("--checkpoint", type=Path, help="checkpoint for the PyTorch row (default: the one recorded "
                   "in metadata.json if it still matches, else MODEL_DIR/../checkpoint.pt)")
    p.add_argument("--batch", type=int, default=64, help="batch size of the second column (default 64)")
    p.add_argument("--reps", type=int, default=100, help="timed calls for 1 face (default 100)")
    p.add_argument("--batch-reps", type=int, default=20, help="timed calls for the batch (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    p.add_argument("--threads", type=int, help="intra-op threads for PyTorch, ONNX Runtime and TF "
                   "(default: each library's own; TF.js wasm always runs 1 thread)")
    p.add_argument("--json", type=Path, help="also write the raw medians here")
    return p.parse_args(argv)


def find_checkpoint(model_dir: Path, meta: dict, given: Path | None) -> Path:
    from fer_browser.convert.errors import ConvertError
    from fer_browser.core.manifest import file_sha256

    if given is not None:
        return given
    recorded = (meta.get("source_checkpoint") or {})  # file name + sha256: no path is published
    named = model_dir.resolve().parent / Path(recorded.get("file") or "checkpoint.pt").name
    if named.is_file() and file_sha256(named) == recorded.get("sha256"):
        return named
    beside = model_dir.resolve().parent / "checkpoint.pt"
    if beside.is_file():
        return beside
    raise ConvertError(f"no checkpoint for the PyTorch row: pass --checkpoint (looked at {named} and {beside})")


def median_ms(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def batches(inputs, sizes):
    import numpy as np

    reps = -(-max(sizes) // len(inputs))
    pool = np.concatenate([inputs] * reps)
    return {n: np.ascontiguousarray(pool[:n]) for n in sizes}


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_libraries()
    from tqdm import tqdm

    from fer_browser.convert.artifacts import read_metadata
    from fer_browser.convert.browser import TfjsBrowser
    from fer_browser.convert.errors import ConvertError
    from fer_browser.convert.reference import INPUTS_FILE, read_reference
    from fer_browser.convert.to_onnx import INPUT_NAME, OUTPUT_NAME
    from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint

    try:
        meta = read_metadata(args.model_dir)
        ref = read_reference(args.model_dir)
        model, _ = model_from_checkpoint(find_checkpoint(args.model_dir, meta, args.checkpoint))
    except (ConvertError, CheckpointError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    import onnxruntime as ort
    import tensorflow as tf
    import torch

    from fer_browser.convert.to_savedmodel import load_signature

    options = ort.SessionOptions()
    if args.threads:
        torch.set_num_threads(args.threads)
        options.intra_op_num_threads = args.threads
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    sizes = (1, args.batch)
    xs = batches(ref.inputs, sizes)
    session = ort.InferenceSession(str(args.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    signature = load_signature(args.model_dir / "saved_model")

    def torch_call(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    python_backends = {
        "PyTorch": torch_call,
        "ONNX Runtime": lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0],
        "TF SavedModel": lambda x: signature(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy(),
    }
    results: dict[str, dict[int, float]] = {}
    bar = tqdm(total=len(BACKENDS) * len(sizes), desc="benchmark", unit=" runs", file=sys.stderr)
    for name, fn in python_backends.items():
        results[name] = {}
        for n in sizes:
            results[name][n] = median_ms(lambda: fn(xs[n]), args.warmup, args.reps if n == 1 else args.batch_reps)
            bar.update()
    with TfjsBrowser(args.model_dir) as browser:
        if browser.info.get("backend") != "wasm":
            print(f"error: TF.js runs on {browser.info.get('backend')!r}, not wasm", file=sys.stderr)
            return 1
        results[BACKENDS[3]] = {}
        for n in sizes:
            times = browser.bench(n, args.reps if n == 1 else args.batch_reps, args.warmup, INPUTS_FILE)
            results[BACKENDS[3]][n] = statistics.median(times)
            bar.update()
        chromium = browser.info.get("chromium")
    bar.close()

    print(f"Model {meta['model']['name']} ({meta['model'].get('parameters', '?'):,} parameters), "
          f"{args.model_dir}; {os.cpu_count()} CPU cores; intra-op threads "
          f"{args.threads or f'library default (torch {torch.get_num_threads()})'}; "
          f"TF.js wasm in Chromium {chromium} (1 thread). Medians of {args.reps} (1 face) / "
          f"{args.batch_reps} (batch {args.batch}) calls after {args.warmup} warm-up calls.\n")
    b = args.batch
    print(f"| backend | 1 face (ms) | batch {b} (ms) | per face in batch (ms) | 1 face vs PyTorch | batch {b} vs PyTorch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    base = results["PyTorch"]
    for name in BACKENDS:
        r = results[name]
        print(f"| {name} | {r[1]:.2f} | {r[b]:.1f} | {r[b] / b:.2f} | {r[1] / base[1]:.2f}x | {r[b] / base[b]:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"batch": b, "medians_ms": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
