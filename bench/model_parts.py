"""Where the page's model time per face goes (issue 24's "model time per face <= 3 ms"): in headless
Chromium (TF.js wasm, the page's own recognizer), median ms over --repeat calls of
  network     the emotion network alone on one 48 x 48 input (graph execute + reading the output back)
  crop        one face's preprocessing alone: its frame region (a 180 x 180 RGB tensor, a 150 px face)
              cut, greyed, resized and normalised as the live loop does (EmotionModel.rgbFacesToBatch)
  whole       both, as the live loop's "model ms/face" times them (EmotionModel.classifyRegions)
  whole x3    three faces in one batch, per face

    .venv/bin/python bench/model_parts.py [--model-dir DIR] [--cpu-throttle 1 4] [--repeat 150] [--json out.json]

What a cheaper preprocessing could save is whole - network; below that only a cheaper network helps.
Speed depends on the machine and its load: compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import browser_kit as kit  # noqa: E402
from bench.bench_browser import shown_path  # noqa: E402
from fer_browser.paths import DEFAULT_MODEL_DIR  # noqa: E402

JS = """async (repeat) => {
  const tf = await import('@tensorflow/tfjs');
  const m = ferApp.state.recognizer.model;
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => {
    for (let i = 0; i < 10; i++) await f(); // warm: first calls at a shape allocate
    const ts = [];
    for (let i = 0; i < repeat; i++) { const t = performance.now(); await f(); ts.push(performance.now() - t); }
    return median(ts);
  };
  const x = tf.zeros(m.inputShape(1));
  const rgb = tf.randomUniform([180, 180, 3], 0, 255, 'int32');
  const face = { rgb, box: { x: 15, y: 15, width: 150, height: 150 } };
  try {
    const network = await time(async () => { const o = m.execute(x); await o[0].data(); tf.dispose(o); });
    const crop = await time(async () => { const o = m.rgbFacesToBatch([face]); await o.data(); o.dispose(); });
    const whole = await time(() => m.classifyRegions([face]));
    const whole3 = (await time(() => m.classifyRegions([face, face, face]))) / 3;
    return { network, crop, whole, whole3 };
  } finally {
    tf.dispose([x, rgb]);
  }
}"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                   help="directory written by `python -m convert` (default: the shipped model)")
    p.add_argument("--repeat", type=int, default=150, help="timed calls per figure (default 150)")
    p.add_argument("--cpu-throttle", type=float, nargs="+", default=[1.0], metavar="N",
                   help="DevTools CPU slowdown factors, as bench_browser.py's (default: 1)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if any(not 1 <= n <= 100 for n in args.cpu_throttle):
        p.error("--cpu-throttle takes factors from 1 to 100")
    return args


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    args = parse_args(argv)
    rows = []
    srv = kit.Server(args.model_dir)
    try:
        with sync_playwright() as pw:
            for rate in args.cpu_throttle:
                browser = kit.launch_chromium(pw, None)
                try:
                    page = browser.new_context().new_page()
                    page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": rate})
                    page.goto(f"{srv.url}/?backend=wasm")
                    if page.evaluate("ferApp.ready") is not True:
                        raise RuntimeError("the page did not load its model")
                    rows.append({"cpu_throttle": rate, **page.evaluate(JS, args.repeat)})
                finally:
                    browser.close()
    finally:
        srv.stop()
    print(f"Model time per face in headless Chromium (TF.js wasm), median of {args.repeat} calls; "
          f"model {shown_path(args.model_dir)}\n")
    print("| CPU throttle | network ms | crop ms | whole ms/face | whole, 3 faces, ms/face |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['cpu_throttle']:g}x | {r['network']:.2f} | {r['crop']:.2f} | {r['whole']:.2f} | {r['whole3']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
