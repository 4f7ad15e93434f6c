"""Command line: `python -m convert CHECKPOINT --out DIR` and `python -m convert verify DIR`.

Exit status: 0 gate passed, 1 gate failed (DIR untouched), 2 bad input (one-line error),
130 interrupted (Ctrl-C, SIGTERM or SIGHUP: staging folder and temp files removed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_browser.cli import prog

from .console import quiet_libraries
from .to_tfjs import QUANTIZATIONS

EPILOG = """\
Re-check a published directory at any time (manifest + all backends, prints the table):
  python -m convert verify DIR [--checkpoint CHECKPOINT]

Output DIR: model.onnx, saved_model/, tfjs/model.json + shards, metadata.json, reference.json +
reference_inputs.bin (scikit-image probe faces + edge inputs and PyTorch's outputs), parity.json,
and manifest.json (sha256 of every other file, written last).
Exit status: 0 gates passed, 1 a gate failed (DIR left as it was), 2 bad input, 130 interrupted."""


def convert_parser() -> argparse.ArgumentParser:
    from .reference import DEFAULT_FACES, DEFAULT_SEED, MAX_FACES

    p = argparse.ArgumentParser(
        prog=prog("python -m convert"), epilog=EPILOG.replace("python -m convert", prog("python -m convert")), formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert a trained checkpoint to ONNX, TF SavedModel (onnx-tf) and TF.js, and publish "
                    "it into DIR only if the ONNX model reproduces the checkpoint's recorded predictions on the "
                    "probe faces (and its claimed PublicTest accuracy when FER data is present) and PyTorch, ONNX "
                    "Runtime, TensorFlow and TF.js (wasm, headless Chromium) agree (fp32: max |dprob| <= 1e-5 "
                    "and 100% top-1 agreement).")
    p.add_argument("checkpoint", type=Path, help="checkpoint written by training.train (weights + metadata)")
    p.add_argument("--out", type=Path, required=True, help="output model directory (replaced only if the gate passes)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS),
                   help="quantize the TF.js weights (smaller download; gated by its own thresholds): float16 "
                        "halves them, uint8 quarters them, mixed stores the large conv kernels as uint8 and "
                        "the rest as float16 (the shipped model's choice: `make convert`)")
    p.add_argument("--csv", type=Path, help="FER2013 CSV for the real reference faces "
                   "(default: found in $FER_DATA_DIR, ./data or ../shared/data)")
    p.add_argument("--faces", type=int, default=DEFAULT_FACES,
                   help=f"number of probe faces published in the reference, and of PrivateTest faces added to the "
                        f"gate when FER data is present (default {DEFAULT_FACES}, at most {MAX_FACES})")
    p.add_argument("--synthetic", action="store_true",
                   help="use no dataset even if one is found: gate on the scikit-image probe faces and the "
                        "checkpoint's recorded fingerprint only. The accuracy is then NOT checked: a checkpoint "
                        "re-saved with wrong weights records their fingerprint and passes; the export's "
                        "metadata.json says \"accuracy_checked\": false and the page shows a note")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the face sample (default 0)")
    p.add_argument("--no-graph-rewrite", action="store_true",
                   help="keep the TF.js graph exactly as tensorflowjs wrote it (with onnx-tf's NCHW<->NHWC "
                        "Transposes and Pads; slower in the browser, useful to rule the rewrite out)")
    return p


def verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog("python -m convert") + " verify",
        description="Verify a converted model directory: every file against manifest.json (changed, missing or "
                    "extra files fail), then parity of ONNX Runtime, "
                    "TF SavedModel and TF.js (wasm, headless Chromium) against the stored PyTorch outputs. "
                    "Prints the table; exit 0 if everything passes, 1 if not, 2 on bad input. Writes nothing.")
    p.add_argument("model_dir", type=Path, help=f"directory written by `{prog('python -m convert')}`")
    p.add_argument("--checkpoint", type=Path, help="also run this checkpoint in PyTorch live against the stored outputs")
    p.add_argument("--json", type=Path, help="write the full report (as parity.json) to this file")
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verifying = bool(argv) and argv[0] == "verify"
    args = (verify_parser() if verifying else convert_parser()).parse_args(argv[1:] if verifying else argv)
    quiet_libraries()
    from .cleanup import signals_interrupt

    with signals_interrupt():
        return _run(verifying, args)


def _run(verifying: bool, args) -> int:
    from fer_browser.training.checkpoint import CheckpointError
    from fer_browser.training.errors import DataError

    from .errors import ConvertError, GateFailed
    from .report import format_table

    try:
        if verifying:
            from .verify import verify

            report = verify(args.model_dir, args.checkpoint)
            if args.json:
                try:
                    args.json.write_text(json.dumps(report, indent=2))
                except OSError as exc:
                    raise ConvertError(f"{args.json}: cannot write the report ({exc.strerror or exc})") from None
            print(format_table(report))
            if report.get("manifest_error"):
                print(f"error: {_one_line(report['manifest_error'])}", file=sys.stderr)
            return 0 if report["passed"] else 1
        from .publish import convert

        report = convert(args.checkpoint, args.out, args.quantize, args.csv, args.faces, args.synthetic, args.seed,
                         not args.no_graph_rewrite)
        print(format_table(report))
        print(f"published {args.out}")
        if "accuracy" not in report.get("model_gate", {}):
            print("note: the accuracy was not checked (no labelled data, or no claim to test); metadata.json says "
                  "\"accuracy_checked\": false", file=sys.stderr)
        return 0
    except GateFailed as exc:
        if exc.report is not None:
            print(format_table(exc.report))
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (ConvertError, CheckpointError, DataError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the output directory was left as it was and temporary files were removed",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
