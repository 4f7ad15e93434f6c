"""Does tracking between detector runs lose accuracy? The live view on a scene where faces move, appear
and leave, scored against the detector run on every whole frame (as a photo upload runs it).

    .venv/bin/python bench/live_accuracy.py [--model-dir models/fer-default/export] [--seconds 14]
        [--query max-interval-ms=1000] [--cpu-throttle 4]

Chromium's fake camera plays bench/browser_kit.comings_and_goings() (6 s at 30 frames/s, looping:
a head crossing the frame, one popping in and out, one sliding in from the edge). The page runs its
live loop with `audit` on: after every 3rd frame it also runs the detector on the whole frame. Per
audited frame, each audited face is matched to the shown boxes. Prints:
  faces present > 0.5 s that are shown (IoU >= 0.5): share of such audited faces, and the longest gap
  IoU of shown box vs per-frame detection: median, 5th percentile, minimum
  time a shown box outlives its face (the detector no longer finds it): the longest, in ms
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import browser_kit as kit  # noqa: E402
from fer_browser.predict.boxes import iou  # noqa: E402

SETTLE_MS = 500  # a face must have been present this long before it must be shown
MATCH_IOU = 0.3  # an audited box and a shown box (or two audited boxes) are the same face
DUMP = __import__("os").environ.get("LIVE_ACCURACY_DUMP")  # debugging: write the frame log here
AUDIT_EVERY = 3  # audit every 3rd frame: auditing every frame would slow the loop it measures


def score(log: list[dict]) -> dict:
    """log: the page's frameLog with audit boxes: [{t, boxes, ids, audit}] (t in ms)."""
    since: list[tuple[dict, float]] = []  # audited faces of the previous frame, with when each was first seen
    settled, shown, ious = 0, 0, []
    gap_ms, gap_start = 0.0, None
    last_found: dict[int, float] = {}  # shown id -> last time an audited face matched it
    outlive_ms = 0.0
    for f in (f for f in log if f.get("audit") is not None):
        t, audit, boxes, ids = f["t"], f["audit"], f["boxes"], f["ids"]
        current = []
        for a in audit:
            prev = max(since, key=lambda p: iou(a, p[0]), default=None)
            first = prev[1] if prev is not None and iou(a, prev[0]) >= MATCH_IOU else t
            current.append((a, first))
        since = current
        missing = False
        for a, first in current:
            best = max((iou(a, b) for b in boxes), default=0.0)
            if best >= MATCH_IOU:
                ious.append(best)
            if t - first >= SETTLE_MS:
                settled += 1
                shown += best >= 0.5
                missing |= best < 0.5
        if missing and gap_start is None:
            gap_start = t
        elif not missing and gap_start is not None:
            gap_ms, gap_start = max(gap_ms, t - gap_start), None
        for b, i in zip(boxes, ids):
            if any(iou(a, b) >= MATCH_IOU for a in audit):
                last_found[i] = t
            elif i in last_found:
                outlive_ms = max(outlive_ms, t - last_found[i])
    ious.sort()
    return {
        "frames": len(log), "audited": sum(f.get("audit") is not None for f in log), "seconds": (log[-1]["t"] - log[0]["t"]) / 1000,
        "settled_faces": settled, "settled_shown": shown / settled if settled else float("nan"),
        "longest_gap_ms": gap_ms,
        "iou_median": statistics.median(ious) if ious else float("nan"),
        "iou_p5": ious[int(0.05 * len(ious))] if ious else float("nan"),
        "iou_min": ious[0] if ious else float("nan"),
        "iou_below_half": sum(x < 0.5 for x in ious) / len(ious) if ious else float("nan"),
        "outlive_ms": outlive_ms,
        "detector_per_100": 100 * sum(f["detMs"] is not None for f in log) / len(log),
        "ids": len({i for f in log for i in f["ids"]}),
    }


def run(playwright, server_url: str, y4m: Path, seconds: float, audit_every: int = AUDIT_EVERY, query: str = "",
        throttle: float = 1.0) -> list[dict]:
    """Play `y4m` to the page with audit on; the frame log of `seconds` of live view."""
    browser = kit.launch_chromium(playwright, y4m)
    try:
        page = browser.new_context(permissions=["camera"]).new_page()
        watch = kit.PageWatch(page)
        page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        page.goto(f"{server_url}/?{query}")
        if page.evaluate("ferApp.ready") is not True:
            raise RuntimeError(f"the page did not load the model: {page.text_content('#message')}")
        page.evaluate(f"ferApp.state.live.audit = {audit_every}")
        page.click("#start")
        kit.wait_js(page, "ferApp.state.frames >= 5", timeout_s=120)
        page.evaluate("ferApp.state.frameLog = []")
        page.wait_for_timeout(seconds * 1000)
        log = page.evaluate("ferApp.state.frameLog")
        if DUMP:
            Path(DUMP).write_text(__import__("json").dumps(log))
        if watch.errors:
            raise RuntimeError(f"console errors in the page: {watch.errors[:3]}")
        return log
    finally:
        browser.close()


def measure(model_dir: Path, seconds: float = 14, tmp: Path | None = None, query: str = "", throttle: float = 1.0) -> dict:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as d:
        frames, _ = kit.comings_and_goings(30)
        y4m = kit.write_y4m(Path(tmp or d) / "comings_and_goings.y4m", frames, 30)
        server = kit.Server(model_dir)
        try:
            with sync_playwright() as pw:
                return score(run(pw, server.url, y4m, seconds, query=query, throttle=throttle))
        finally:
            server.stop()


def main(argv=None) -> int:
    from fer_browser.model_dir import ModelDirError, check_model_dir
    from fer_browser.paths import DEFAULT_MODEL_DIR
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="converted model (default: shipped)")
    p.add_argument("--seconds", type=float, default=14, help="seconds of live view to score (default 14)")
    p.add_argument("--query", default="", help="page query: a bench_browser.py ablation, e.g. max-interval-ms=1000")
    p.add_argument("--cpu-throttle", type=float, default=1.0, metavar="N", help="DevTools CPU slowdown (default 1)")
    args = p.parse_args(argv)
    try:
        check_model_dir(args.model_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = measure(args.model_dir, args.seconds, query=args.query, throttle=args.cpu_throttle)
    print(f"{s['frames']} frames ({s['audited']} audited) in {s['seconds']:.1f} s, {s['ids']} track ids, detector on {s['detector_per_100']:.0f} "
          f"of 100 frames")
    print(f"faces present > 0.5 s shown with IoU >= 0.5: {100 * s['settled_shown']:.1f}% of {s['settled_faces']}; "
          f"longest gap {s['longest_gap_ms']:.0f} ms")
    print(f"IoU of shown box vs per-frame detection: median {s['iou_median']:.3f}, 5th pct {s['iou_p5']:.3f}, "
          f"min {s['iou_min']:.3f}, below 0.5: {100 * s['iou_below_half']:.1f}%")
    print(f"longest a shown box outlived its face: {s['outlive_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
