"""Live-loop speed of the web app in headless Chromium (TF.js wasm backend), 1 and 3 faces.

    .venv/bin/python bench/bench_browser.py [--model-dir models/fer-default/export] [--frames 300]

Starts server.py on a free 127.0.0.1 port, feeds Chromium's fake camera a still frame (the
astronaut photo, or three copies of her side by side), presses "Start camera" and records every
frame of the page's own loop (detect every face, classify them, draw). Prints a markdown table of
medians: frames per second (from the median frame interval), detector ms per frame, model ms per
face, and the model's share. Speed depends on the machine and its load: compare rows of one run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run as a script from anywhere

SCENES = {1: "astronaut_frame", 3: "three_faces_frame"}


def parse_args(argv=None) -> argparse.Namespace:
    from server import DEFAULT_MODEL_DIR
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                   help="directory written by `python -m convert` (default: the shipped model)")
    p.add_argument("--frames", type=int, default=300, help="timed frames per scene (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed frames first (default 20)")
    p.add_argument("--backend", choices=["wasm", "webgl"], default="wasm", help="TF.js backend (default wasm)")
    p.add_argument("--faces", type=int, nargs="+", choices=sorted(SCENES), default=sorted(SCENES),
                   help="scenes to run: 1 and/or 3 faces (default both)")
    args = p.parse_args(argv)
    if args.frames < 10 or args.warmup < 0:
        p.error("--frames must be at least 10 and --warmup at least 0")
    return args


def run_scene(playwright, server, y4m: Path, faces: int, args, progress) -> dict:
    from web_helpers import PageWatch, launch_chromium, wait_js
    browser = launch_chromium(playwright, y4m)
    try:
        page = browser.new_context(permissions=["camera"]).new_page()
        watch = PageWatch(page)
        page.goto(f"{server.url}/?backend={args.backend}")
        if page.evaluate("ferApp.ready") is not True:
            raise RuntimeError(f"the page did not load the model: {page.text_content('#message')}")
        page.click("#start")
        wait_js(page, f"ferApp.state.frames >= {args.warmup}", timeout_s=300)
        page.evaluate("ferApp.state.frameLog = []")
        done = 0
        while done < args.frames + 1:  # n+1 timestamps give n intervals
            wait_js(page, f"ferApp.state.frameLog.length >= {min(args.frames + 1, done + 25)}", timeout_s=600)
            now = page.evaluate("ferApp.state.frameLog.length")
            progress.update(min(now, args.frames + 1) - done)
            done = now
        log = page.evaluate(f"ferApp.state.frameLog.slice(0, {args.frames + 1})")
        backend = page.evaluate("tf.getBackend()")
        if watch.errors:
            raise RuntimeError(f"console errors in the page: {watch.errors[:3]}")
    finally:
        browser.close()
    seen = [f["faces"] for f in log]
    intervals = [b["t"] - a["t"] for a, b in zip(log, log[1:])]
    model = [f["modelMs"] for f in log if f["modelMs"] is not None]
    frame_ms = statistics.median(intervals)
    return {
        "faces": faces, "found": statistics.median(seen), "frames": len(intervals), "backend": backend,
        "fps": 1000 / frame_ms, "frame_ms": frame_ms,
        "det_ms": statistics.median(f["detMs"] for f in log),
        "model_ms": statistics.median(model) if model else float("nan"),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright
    from tqdm import tqdm

    import web_helpers as wh
    from server import ModelDirError, check_model_dir
    try:
        check_model_dir(args.model_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = wh.Server(args.model_dir)
        try:
            for faces in args.faces:
                y4m = wh.write_y4m(Path(tmp) / f"faces{faces}.y4m", getattr(wh, SCENES[faces])())
                with tqdm(total=args.frames + 1, desc=f"{faces} face(s)", unit="frame", file=sys.stderr) as bar:
                    rows.append(run_scene(pw, server, y4m, faces, args, bar))
        finally:
            server.stop()
    print(f"Live loop in headless Chromium, TF.js {rows[0]['backend']}, 640x480 fake camera, "
          f"medians over {args.frames} frames; model {args.model_dir}\n")
    print("| faces in frame | faces found | frames/s | frame ms | detector ms/frame | model ms/face | model ms/frame |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['faces']} | {r['found']:g} | {r['fps']:.1f} | {r['frame_ms']:.1f} | {r['det_ms']:.1f} | "
              f"{r['model_ms']:.1f} | {r['model_ms'] * r['found']:.1f} |")
    bad = [r for r in rows if r["found"] != r["faces"]]
    if bad:
        print(f"\nwarning: the detector found {bad[0]['found']:g} faces where {bad[0]['faces']} are", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
