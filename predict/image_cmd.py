"""`python -m predict image`: every face in photos -> annotated copies + JSON (box, probabilities)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from .draw import draw_faces
from .errors import PredictError
from .images import find_images, output_names, read_rgb, write_image, write_text


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and/or folders of images")
    p.add_argument("--out", type=Path, default=Path("annotated"),
                   help="folder for the annotated images (default: ./annotated)")
    p.add_argument("--no-images", action="store_true", help="do not write annotated images")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="write per-face results as JSON to FILE, or '-' for stdout (then no summary lines)")


def run(args, pipeline) -> int:
    if not args.no_images and args.out.exists() and not args.out.is_dir():
        raise PredictError(f"--out {args.out}: exists and is not a folder")
    paths = find_images(args.paths)
    outs = output_names(paths, args.out)
    to_stdout = args.json == "-"
    report = {"model": {"name": pipeline.meta["model"]["name"], "dir": str(pipeline.model_dir),
                        "backend": pipeline.backend.name},
              "classes": pipeline.classes, "images": []}
    failed = 0
    bar = tqdm(list(zip(paths, outs)), desc="images", unit="img", disable=len(paths) < 2, file=sys.stderr)
    for path, out in bar:
        entry = {"path": str(path)}
        try:
            rgb = read_rgb(path)
            faces = pipeline(rgb)
            entry.update(width=rgb.shape[1], height=rgb.shape[0],
                         faces=[f.as_dict(pipeline.classes) for f in faces])
            if not args.no_images:
                write_image(out, draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), faces, pipeline.classes))
                entry["annotated"] = str(out)
            if not to_stdout:
                tops = ", ".join(f"{pipeline.classes[f.top]} {f.confidence:.2f}" for f in faces) or "-"
                tqdm.write(f"{path}: {len(faces)} face(s): {tops}", file=sys.stdout)
        except (PredictError, OSError) as exc:  # OSError: the annotated copy could not be written
            failed += 1
            entry["error"] = str(exc)
            tqdm.write(f"error: {exc}", file=sys.stderr)
        report["images"].append(entry)
    text = json.dumps(report, indent=2) + "\n"
    if to_stdout:
        sys.stdout.write(text)
    elif args.json:
        write_text(Path(args.json), text)
    return 1 if failed else 0
