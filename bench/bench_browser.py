"""Live-loop speed in headless Chromium (TF.js wasm), ours and @vladmandic/human's, in one run.

    .venv/bin/python bench/bench_browser.py [--faces 1 3] [--frames 300] [--pipelines ours human]
        [--cpu-throttle 1 4] [--json out.json]

Chromium's fake camera plays a 60 frames/s clip (so the camera never caps a loop) of the astronaut's
head drifting on grey, once with 1 face and once with 3. Each pipeline runs in a fresh browser on the
same clip and records every frame: frames/s (frames over the elapsed time), latency from the frame's
arrival to its labels drawn (p50/p95), detector calls per 100 frames and ms per call, model ms per face
(medians over the frames that ran them), the share of tracked faces the model read on their frame, the age
of the labels shown (from the start of the analysis that read them to drawn; p50/p95) and wasm threads. Pipelines:
  ours           the web app served by server.py (fer-browser, estimateFaces with track: detector on a
                 cadence, tracker between)
  ours-every     the same page with the detector on every frame (?detect-every=1): what tracking gives
  ours-fulldet   the detector's input resized from the whole frame by TF.js, not downscaled by the browser
  ours-fullread  the model's crops cut from the whole frame read back, not from each face's region
  ours-none      all three of the above
  ours-interval250, ours-interval1000  the detector at least every 250 (the setting before session 18) or
                 1000 ms instead of face_pipeline.json's 400 (?max-interval-ms=N)
  ours-nothreads the page served without COOP/COEP (?isolation=off): TF.js's wasm then runs single-threaded
  ours-threads2  2 wasm threads (?wasm-threads=2; the browser is told of 4 cores, else TF.js's pool has 1)
  ours-det192, ours-det160  BlazeFace's input at 192 or 160 pixels instead of 256 (?detector-size=N)
  ours-letterbox the live detector's input padded to BlazeFace's 256 x 256 square, as before the loop
                 kept the frame's aspect (256 x 192 for 640 x 480; ?detector-letterbox=on)
  ours-labels0   the model reads every face on every frame, however slow the device (?label-max-age-ms=0)
  ours-labels100, ours-labels200  where reading every face on every frame does not fit the frame budget,
                 the model reads a tracked face when its label is 100 / 200 ms old (and when new); boxes
                 still move every frame (?label-max-age-ms=N; face_pipeline.json's cadence.labelMaxAgeMs)
  human          @vladmandic/human's own loop (bench/human/): face detection + its emotion model, other
                 modules off, its own frame skipping on
--cpu-throttle N [N ...] slows each browser's CPU N times (Chromium DevTools' Emulation.setCPUThrottlingRate,
set on the page before it loads), as on a slower phone-class device; every pipeline and scene runs at
each rate, so the rows of one rate compare like for like. It slows the page's main thread, not its
workers (measured: a loop in a Worker runs as fast at 4x as at 1x): a row with wasm threads > 1 runs
part of its model unthrottled, so its 4x figures flatter it.
Speed depends on the machine and its load: compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench import browser_kit as kit  # noqa: E402

# page query for each of our rows: the shipped loop, and each of its changes turned off one at a time
OURS = {
    "ours": ("ours", ""),
    "ours-every": ("ours, detector every frame", "detect-every=1"),
    "ours-fulldet": ("ours, detector resizes whole frame", "detector-input=full"),
    "ours-fullread": ("ours, model reads whole frame", "model-input=full"),
    "ours-none": ("ours, all three off", "detect-every=1&detector-input=full&model-input=full"),
    "ours-interval250": ("ours, a detection at least every 250 ms (not 400)", "max-interval-ms=250"),
    "ours-interval1000": ("ours, a detection at least every 1000 ms (not 400)", "max-interval-ms=1000"),
    "ours-nothreads": ("ours, page not cross-origin isolated (wasm without threads)", "isolation=off"),
    # TF.js sizes its wasm thread pool from navigator.hardwareConcurrency (half, at most 4): 1 thread on
    # this 2-core machine whatever setThreadsCount asks; the page is told of 4 cores to get 2 threads
    "ours-threads2": ("ours, 2 wasm threads (browser told 4 cores)", "wasm-threads=2"),
    "ours-det192": ("ours, detector input 192 (not 256)", "detector-size=192"),
    "ours-det160": ("ours, detector input 160 (not 256)", "detector-size=160"),
    "ours-letterbox": ("ours, detector input padded to its square", "detector-letterbox=on"),
    "ours-labels0": ("ours, every face read on every frame", "label-max-age-ms=0"),
    "ours-labels100": ("ours, slow device: a face read when its label is 100 ms old", "label-max-age-ms=100"),
    "ours-labels200": ("ours, slow device: a face read when its label is 200 ms old", "label-max-age-ms=200"),
}
CORES = {"ours-threads2": 4}  # navigator.hardwareConcurrency override (DevTools Emulation) per row
PIPELINES = (*OURS, "human")
CAMERA_FPS = 60
HUMAN = ROOT / "node_modules" / "@vladmandic" / "human"
WASM = ROOT / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist"
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


def parse_args(argv=None) -> argparse.Namespace:
    from fer_browser.paths import DEFAULT_MODEL_DIR
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                   help="directory written by `python -m convert` (default: the shipped model)")
    p.add_argument("--frames", type=int, default=300, help="timed frames per row (default 300)")
    p.add_argument("--warmup", type=int, default=30, help="untimed frames first (default 30)")
    p.add_argument("--faces", type=int, nargs="+", choices=[1, 3], default=[1, 3], help="scenes (default: 1 3)")
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=["ours", "human"],
                   help="rows per scene (default: ours human)")
    p.add_argument("--human-isolated", action="store_true",
                   help="serve Human's page cross-origin isolated (COOP/COEP), so its wasm may use threads")
    p.add_argument("--cpu-throttle", type=float, nargs="+", default=[1.0], metavar="N",
                   help="CPU slowdown factors (DevTools CPU throttling; 1 = none, 4 = a mid-range phone); "
                        "every row runs at each (default: 1)")
    p.add_argument("--json", type=Path, help="also write every row as JSON here")
    args = p.parse_args(argv)
    if args.frames < 10 or args.warmup < 0:
        p.error("--frames must be at least 10 and --warmup at least 0")
    if any(not 1 <= n <= 100 for n in args.cpu_throttle):
        p.error("--cpu-throttle takes factors from 1 to 100")
    return args


def summarise(log: list[dict]) -> dict:
    """Frame log -> the row's figures. log entries: {t, arrival, faces, detMs, modelMs} (ms)."""
    n = len(log)
    elapsed = log[-1]["t"] - log[0]["t"]
    lat = [f["t"] - f["arrival"] for f in log if f.get("arrival") is not None]
    model = [f["modelMs"] for f in log if f.get("modelMs") is not None]
    det = [f["detMs"] for f in log if f.get("detMs") is not None]
    return {
        "frames": n, "fps": 1000 * (n - 1) / elapsed if elapsed > 0 else float("nan"),
        "latency_p50": _pct(lat, 0.5), "latency_p95": _pct(lat, 0.95),
        "det_per_100": 100 * sum(f.get("detMs") is not None for f in log) / n,
        "model_ms": statistics.median(model) if model else float("nan"),
        "detector_ms": statistics.median(det) if det else float("nan"),
        "found": statistics.median(f["faces"] for f in log),
        # share of tracked faces the model read on their frame, and how old the shown labels are
        "read_share": (sum(f.get("read") or 0 for f in log) / max(1, sum(f["faces"] for f in log))
                       if any("read" in f for f in log) else float("nan")),
        "label_age_p50": _pct([a for f in log for a in f.get("labelAgeMs") or [] if a is not None], 0.5),
        "label_age_p95": _pct([a for f in log for a in f.get("labelAgeMs") or [] if a is not None], 0.95),
    }


def shown_path(path: Path) -> str:
    """`path` as printed in a report: relative to the repository when inside it (no machine's absolute path)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return Path(path).name


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def record(page, ns: str, args, progress) -> list[dict]:
    """Let the loop run `warmup` frames, then record `frames` frames of `${ns}.state.frameLog`."""
    kit.wait_js(page, f"{ns}.state.frames >= {args.warmup}", timeout_s=300)
    page.evaluate(f"{ns}.state.frameLog = []")
    done = 0
    while done < args.frames:
        kit.wait_js(page, f"{ns}.state.frameLog.length >= {min(args.frames, done + 25)}", timeout_s=600)
        now = min(args.frames, page.evaluate(f"{ns}.state.frameLog.length"))
        progress.update(now - done)
        done = now
    return page.evaluate(f"{ns}.state.frameLog.slice(0, {args.frames})")


def run_row(playwright, pipeline: str, url: str, y4m: Path, args, progress, throttle: float = 1.0) -> dict:
    browser = kit.launch_chromium(playwright, y4m)
    try:
        page = browser.new_context(permissions=["camera"]).new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})  # holds for this page's navigations
        if pipeline in CORES:
            cdp.send("Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": CORES[pipeline]})
        watch = kit.PageWatch(page)
        if pipeline == "human":
            page.goto(f"{url}/bench/index.html")
            ready = page.evaluate("humanBench.ready")
            if ready is not True:
                raise RuntimeError(f"Human's page failed: {ready}; {watch.errors[:3]}")
            log = record(page, "humanBench", args, progress)
            info = page.evaluate("humanBench.info()")
            info["name"] = f"@vladmandic/human {info.pop('version')}"
        else:
            name, query = OURS[pipeline]
            page.goto(f"{url}/?backend=wasm&{query}")
            if page.evaluate("ferApp.ready") is not True:
                raise RuntimeError(f"the page did not load the model: {page.text_content('#message')}")
            page.click("#start")
            log = record(page, "ferApp", args, progress)
            info = page.evaluate("({backend: ferApp.backend(), threads: ferApp.live().threads})")
            info["name"] = name
        if watch.errors:
            raise RuntimeError(f"console errors in the page: {watch.errors[:3]}")
    finally:
        browser.close()
    return {"pipeline": pipeline, "cpu_throttle": throttle, **info, **summarise(log)}


def cell(x: float, spec: str) -> str:
    """A table cell: '–' where a pipeline does not report the figure (Human's faces read, label age)."""
    return "–" if math.isnan(x) else format(x, spec)


def main(argv=None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright
    from tqdm import tqdm

    from fer_browser.model_dir import ModelDirError, check_model_dir
    try:
        check_model_dir(args.model_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    ours = human = None
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        try:
            if any(p.startswith("ours") for p in args.pipelines):
                ours = kit.Server(args.model_dir)
            if "human" in args.pipelines:
                human = kit.StaticServer({"/bench/": ROOT / "bench" / "human", "/human/dist/": HUMAN / "dist",
                                          "/human/models/": HUMAN / "models", "/wasm/": WASM},
                                         ISOLATION if args.human_isolated else None)
            for throttle in args.cpu_throttle:
                for faces in args.faces:
                    y4m = kit.write_y4m(Path(tmp) / f"faces{faces}.y4m", kit.moving_faces(faces, CAMERA_FPS),
                                        CAMERA_FPS)
                    for pipeline in args.pipelines:
                        url = human.url if pipeline == "human" else ours.url
                        with tqdm(total=args.frames, desc=f"{pipeline}, {faces} face(s), CPU /{throttle:g}",
                                  unit="frame", file=sys.stderr) as bar:
                            rows.append({"faces": faces, **run_row(pw, pipeline, url, y4m, args, bar, throttle)})
        finally:
            for srv in (ours, human):
                if srv is not None:
                    srv.stop()
    print(f"Live loop in headless Chromium, {CAMERA_FPS} frames/s fake camera (640x480, heads drifting on grey), "
          f"{args.frames} frames per row; model {shown_path(args.model_dir)}\n")
    print("| CPU throttle | pipeline | faces | found | frames/s | latency p50 ms | latency p95 ms "
          "| detector calls /100 frames | detector ms | model ms/face | faces read | label age p50 / p95 ms "
          "| backend, threads |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['cpu_throttle']:g}x | {r['name']} | {r['faces']} | {r['found']:g} | {cell(r['fps'], '.1f')} | "
              f"{cell(r['latency_p50'], '.1f')} | {cell(r['latency_p95'], '.1f')} | {cell(r['det_per_100'], '.0f')} | "
              f"{cell(r['detector_ms'], '.0f')} | {cell(r['model_ms'], '.1f')} | {cell(r['read_share'], '.0%')} | "
              f"{cell(r['label_age_p50'], '.0f')} / {cell(r['label_age_p95'], '.0f')} | {r['backend']}, {r['threads']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    bad = [r for r in rows if r["found"] != r["faces"]]
    for r in bad:
        print(f"warning: {r['name']} found {r['found']:g} faces where {r['faces']} are", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
