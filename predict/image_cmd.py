"""`fer-predict image`: every face in photos -> annotated copies + JSON (box, probabilities).

The JSON document is versioned ("schema": "fer-predict-result/2"); each face in it keeps
web/schemas/face-result.schema.json, the same object the Python API's RecognizedFace.to_dict() and
the browser library's estimateFaces give, faces left to right."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from fer_browser.core.atomic import DiskFull

from .draw import annotate
from .errors import ModelFault, PredictError
from .images import find_images, output_names, read_rgb, write_image, write_text
from .input_policy import InputRejected
from .outputs import FileSet, check_output_file, check_output_folder
from .recognition import left_to_right

RESULT_SCHEMA = "fer-predict-result/2"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and/or folders of images")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the annotated images (default: ./annotated; none with --json - unless --out "
                        "is given)")
    p.add_argument("--no-images", action="store_true", help="do not write annotated images")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write per-face results as JSON to FILE, or '-' for stdout (then no summary lines)")


def prepare(args) -> None:
    """Everything that can be refused without the model: inputs listed, every output path checked."""
    if args.out is None:  # `--json -` is for piping: no files appear beside it unless asked for
        args.no_images = args.no_images or args.json == "-"
        args.out = Path("annotated")
    args.images = find_images(args.paths)
    args.outs = output_names(args.images, args.out)
    if not args.no_images:
        check_output_folder(args.out, "--out")
        for image, out in zip(args.images, args.outs):
            if out.is_dir() or (out.exists() and not os.access(out, os.W_OK)):
                raise PredictError(f"--out {args.out}: cannot write {out.name} (the annotated copy of {image}) there")
    if args.json and args.json != "-":
        annotated = FileSet() if args.no_images else FileSet(args.outs)
        check_output_file(Path(args.json), "--json", FileSet(args.images), annotated)


def run(args, pipeline) -> int:
    paths, outs = args.images, args.outs
    to_stdout = args.json == "-"
    report = {"schema": RESULT_SCHEMA, "model": {"name": pipeline.meta["model"]["name"], "dir": str(pipeline.model_dir),
                        "backend": pipeline.backend.name},
              "classes": pipeline.classes, "images": []}
    failed = 0
    bar = tqdm(list(zip(paths, outs)), desc="images", unit="img", disable=len(paths) < 2, file=sys.stderr)
    for path, out in bar:
        entry = {"path": str(path)}
        try:
            rgb = read_rgb(path)
            faces = left_to_right(pipeline(rgb))
            entry.update(width=rgb.shape[1], height=rgb.shape[0],
                         faces=[f.as_dict(pipeline.classes) for f in faces])
            if not args.no_images:
                write_image(out, annotate(rgb, faces, pipeline.classes))
                entry["annotated"] = str(out)
            if not to_stdout:
                tops = ", ".join(f"{pipeline.classes[f.top]} {f.confidence:.2f}" for f in faces) or "-"
                tqdm.write(f"{path}: {len(faces)} face(s): {tops}", file=sys.stdout)
        except (ModelFault, DiskFull):
            raise  # every image would fail the same way: one line, not one per image
        except (PredictError, OSError) as exc:  # OSError: the annotated copy could not be written
            failed += 1
            entry["error"] = str(exc)
            if isinstance(exc, InputRejected):
                entry["reason"] = exc.reason  # web/input_policy.json's name for it, as the page reports
            tqdm.write(f"error: {exc}", file=sys.stderr)
        report["images"].append(entry)
    text = json.dumps(report, indent=2) + "\n"
    if to_stdout:
        sys.stdout.write(text)
    elif args.json:
        write_text(Path(args.json), text)
    return 1 if failed else 0
