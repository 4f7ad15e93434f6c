"""What the page's emotion timeline costs to draw as a camera session grows: in headless Chromium, the
page's own timeline (web/js/timeline.js) filled with 3 faces sampled 10 times a second (its rate) for
--minutes each, then drawn; median ms of 9 draws. The live page redraws it 4 times a second.

    .venv/bin/python bench/timeline_draw.py [--minutes 1 10 30] [--cpu-throttle 4] [--json out.json]

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

JS = """async (minutes) => {
  const timeline = ferApp.timeline.chart;  // the page's own instance
  const classes = ferApp.state.recognizer.classes;
  const rows = [];
  for (const m of minutes) {
    timeline.start(0, classes);
    for (let t = 0; t < m * 60000; t += 100) {
      for (const id of [1, 2, 3]) timeline.push({ t: t / 1000, id, probs: classes.map(() => Math.random()) });
    }
    const ts = [];
    for (let i = 0; i < 9; i++) { const t0 = performance.now(); timeline.draw(); ts.push(performance.now() - t0); }
    ts.sort((a, b) => a - b);
    rows.push({ minutes: m, samples: timeline.rows.length, draw_ms: ts[4] });
  }
  timeline.start(0, classes);
  return rows;
}"""


def parse_args(argv=None):
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30], help="session lengths (default 1 10 30)")
    p.add_argument("--cpu-throttle", type=float, default=1.0, metavar="N",
                   help="DevTools CPU slowdown, as bench_browser.py's (default 1)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if not 1 <= args.cpu_throttle <= 100 or any(not 0 < m <= 600 for m in args.minutes):
        p.error("--cpu-throttle takes 1 to 100, --minutes more than 0 and at most 600")
    return args


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    args = parse_args(argv)
    srv = kit.Server(None)
    try:
        with sync_playwright() as pw:
            browser = kit.launch_chromium(pw, None)
            try:
                page = browser.new_page()
                page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": args.cpu_throttle})
                page.goto(srv.url + "/")
                if page.evaluate("ferApp.ready") is not True:
                    raise RuntimeError("the page did not load its model")
                rows = page.evaluate(JS, args.minutes)
            finally:
                browser.close()
    finally:
        srv.stop()
    print(f"Timeline draw in headless Chromium, CPU /{args.cpu_throttle:g}, 3 faces, 10 samples/s each\n")
    print("| session, minutes | samples | draw ms (median of 9) |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r['minutes']:g} | {r['samples']} | {r['draw_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps([{**r, "cpu_throttle": args.cpu_throttle} for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
