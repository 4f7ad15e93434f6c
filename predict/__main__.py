"""python -m predict image|live: the emotion model on photos, a camera or a video, in Python.

Uses the same model directory as the browser (metadata.json + model.onnx, made by `python -m convert`)
and the same face detector (BlazeFace: the weights of node_modules/@vladmandic/human, as
models/blazeface/blazeface.onnx).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer_browser.cli import command, error, prog

from . import image_cmd, live_cmd
from .backends import BACKENDS
from .errors import PredictError


def build_parser() -> argparse.ArgumentParser:
    from .recognition import DEFAULT_MODEL_DIR

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                        help=f"converted model directory (default: {DEFAULT_MODEL_DIR})")
    common.add_argument("--backend", choices=BACKENDS, default="onnx",
                        help="onnx: ONNX Runtime on model.onnx (default, fastest); torch: the PyTorch checkpoint")
    common.add_argument("--checkpoint", type=Path,
                        help="checkpoint for --backend torch (default: checkpoint.pt beside the model directory)")
    common.add_argument("--threads", type=int, default=0, help="CPU threads per model (0 = runtime default)")
    common.add_argument("--balanced", type=float, metavar="TAU",
                        help="prior correction strength in [0, 2]: counter the training set's bias towards frequent "
                             "emotions (0 = off; default: the model metadata's prior strength, 0 without a prior)")
    common.add_argument("--profile", type=Path, metavar="FILE",
                        help="a personal profile (the page's Export, or Recognizer.calibrate + save_profile): answers "
                             "in its classes, from its head; made for this model only")
    name = prog("python -m predict")
    description = __doc__.replace("python -m predict", name).replace("python -m convert", command("convert"))
    parser = argparse.ArgumentParser(prog=name, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{image,live}")
    image = sub.add_parser("image", parents=[common], help="annotate photos, print/write JSON per face",
                           description="Find every face in the photos, predict its emotion, write annotated "
                                       "copies and per-face JSON (box, probability per class).")
    image_cmd.add_arguments(image)
    live = sub.add_parser("live", parents=[common], help="camera or video: live boxes, smoothed labels, fps",
                          description=live_cmd.__doc__)
    live_cmd.add_arguments(live)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .recognition import Pipeline

        command = image_cmd if args.command == "image" else live_cmd
        command.prepare(args)  # bad options and output paths are refused before the model loads
        pipeline = Pipeline(args.model_dir, args.backend, args.checkpoint, threads=args.threads,
                            prior_strength=args.balanced, profile=args.profile)
        return command.run(args, pipeline)
    except (PredictError, OSError) as exc:  # OSError: e.g. an output folder that cannot be created or written
        return error(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
