"""BlazeFace's input against face_pipeline.json's 256 x 256 square (issue 24): per frame, the faces the
detector finds at the reference input that it still finds (IoU >= 0.5) at each other input, the median IoU
of those boxes, and boxes found only at the other input. An input is a square size (the frame letterboxed
into it), or a size with ":aspect" (the live loop's input: the frame's longer side at that size, its own
aspect, sides rounded up to the coarsest stride; 256 x 192 for 640 x 480). Scenes:
bench/browser_kit.comings_and_goings() at 10 frames/s and 20 frames each of one head tile 60, 90 or 120 px
wide (faces about 22, 34, 45 px) at random places.

    .venv/bin/python bench/detector_recall.py 256 224 192 160      (the first input is the reference)
    .venv/bin/python bench/detector_recall.py 256 256:aspect
"""
from __future__ import annotations

import base64
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import browser_kit as kit  # noqa: E402
from fer_browser.predict.boxes import iou  # noqa: E402

# every face the page's detector finds in each image, at the page's ?detector-size (web/js/app.js)
JS = """async ([urls, letterbox]) => { const r = ferApp.state.recognizer; const out = [];
  for (const u of urls) {
    const im = new Image(); im.src = u; await im.decode(); const b = await createImageBitmap(im);
    const { pixels, scale } = r.frames.downscaled(b, b.width, b.height, r.config.detector.inputSize);
    out.push(await r.detector.detect(pixels, scale, { letterbox })); b.close();
  }
  return out; }"""


def scenes() -> dict[str, list[np.ndarray]]:
    out = {"comings_and_goings": kit.comings_and_goings(10)[0]}
    rng = np.random.default_rng(0)
    for w in (60, 90, 120):  # smaller heads: faces further from the camera
        frames = []
        for _ in range(20):
            f = np.full((kit.FRAME_H, kit.FRAME_W, 3), kit.GREY, np.uint8)
            kit.paste(f, kit.head_tile(w), rng.uniform(0, kit.FRAME_W - w), rng.uniform(0, kit.FRAME_H - w * 1.2))
            frames.append(f)
        out[f"head{w}"] = frames
    return out


def main(sizes: list[str]) -> int:
    if "-h" in sizes or "--help" in sizes:
        print(__doc__)
        return 0
    bad = [s for s in sizes if not (s.partition(":")[0].isdigit() and s.partition(":")[2] in ("", "aspect"))]
    if bad or len(sizes) < 2:
        print(f"error: inputs are sizes like 192 or 256:aspect, at least two (got {' '.join(bad or sizes)})", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright
    urls = {n: ["data:image/jpeg;base64," + base64.b64encode(cv2.imencode(
        ".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1]).decode() for f in fs]
        for n, fs in scenes().items()}
    res = {}
    srv = kit.Server(None)
    try:
        with sync_playwright() as pw:
            browser = kit.launch_chromium(pw, None)
            for size in sizes:
                px, _, shape = size.partition(":")
                page = browser.new_context().new_page()
                page.goto(f"{srv.url}/?detector-size={px}")
                assert page.evaluate("ferApp.ready") is True
                res[size] = {n: page.evaluate(JS, [u, shape != "aspect"]) for n, u in urls.items()}
                page.close()
            browser.close()
    finally:
        srv.stop()
    ref = sizes[0]
    for size in sizes[1:]:
        for n in urls:
            found = total = extra = 0
            ious = []
            for want, got in zip(res[ref][n], res[size][n]):
                for x in want:
                    total += 1
                    m = max((iou(x, y) for y in got), default=0.0)
                    found += m >= 0.5
                    if m >= 0.5:
                        ious.append(m)
                extra += sum(max((iou(x, y) for y in want), default=0.0) < 0.3 for y in got)
            med = statistics.median(ious) if ious else float("nan")
            print(f"input {size} {n}: faces at {ref} {total}, found {found} ({100 * found / max(total, 1):.0f}%), "
                  f"IoU med {med:.3f}, extra {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["256", "224", "192", "160"]))
