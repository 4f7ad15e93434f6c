"""What the page transfers before its first camera label, file by file, in headless Chromium.

    .venv/bin/python bench/bench_bytes.py [--model-dir DIR] [--identity] [--json out.json]
    .venv/bin/python bench/bench_bytes.py --repeat 7 --cpu-throttle 1 4 [--click-when-ready]

A fresh browser profile (nothing cached) opens the page served by server.py, clicks Start camera as soon
as the button takes a click, not at the load event, which waits for every preload (the fake camera shows
the astronaut; --click-when-ready waits for the model
first, as the page before session 13 made everyone do) and stops counting when the first label is
drawn. The click is one mouse event at the button's centre, as a tap arrives (not Playwright's
page.click, whose checks wait for the busy main thread). --query bundle=off serves the page's modules
one by one instead of web/dist's bundle. --repeat N opens the page N times per --cpu-throttle rate (DevTools CPU throttling, as in
bench_browser.py) and reports the median time to the page being ready and to the first label.
--latency-ms and --down-kbps emulate a mobile network (DevTools' Network.emulateNetworkConditions: added
round-trip latency per request and a download cap), where round trips, not the loopback, set the pace. The page's own Resource Timing gives each file's bytes on the wire (transferSize: the encoded
body plus the response headers) and its decoded size; files requested before the page was ready are
in phase "load", the others in "camera". --identity sends `Accept-Encoding: identity`, as a browser
that takes no compression would. Files that finished after the first label are listed apart. It also
reports when the page handled the click, when the camera started playing, and its main thread's long
tasks (over 50 ms, the Long Tasks API) before the first label: a click waits for them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench import browser_kit as kit  # noqa: E402


# Resource Timing of the page itself (same origin, so the sizes are exposed): the document and every
# file it fetched, in the page's clock
ENTRIES = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .map((e) => ({url: e.name, status: e.responseStatus, start: e.startTime, end: e.responseEnd, wire: e.transferSize,
                  encoded: e.encodedBodySize, body: e.decodedBodySize}))"""


# Waits in the page for Start camera to take a click; returns when (page clock) and where (its centre).
# It takes one once the page's early camera script has run (web/js/camera_early.js; pages before it: once
# the app is wired, window.ferApp).
START_WHEN_ENABLED = """async () => {
  const t0 = performance.now();
  for (;;) {
    const b = document.getElementById('start');
    if ((window.ferCamera || window.ferApp) && b && !b.disabled) {
      if (window.ferApp) ferApp.state.frameLog ??= self.ferFrameLog; // a page from before state.js read it
      const r = b.getBoundingClientRect();
      return [performance.now(), r.x + r.width / 2, r.y + r.height / 2];
    }
    if (performance.now() - t0 > 120000) throw new Error('Start camera was never enabled');
    await new Promise((r) => setTimeout(r, 5));
  }
}"""


def measure(playwright, url: str, y4m: Path, identity: bool = False, throttle: float = 1.0,
            click_when_ready: bool = False, network: tuple[float, float] | None = None, query: str = "") -> dict:
    """Open the page, start the camera, wait for the first label; every file fetched until then."""
    browser = kit.launch_chromium(playwright, y4m)
    try:
        context = browser.new_context(permissions=["camera"],
                                      extra_http_headers={"Accept-Encoding": "identity"} if identity else None)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        if network:
            cdp.send("Network.enable")
            cap = network[1] * 125 if network[1] else -1  # kbit/s to bytes/s; -1: no cap
            cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": network[0],
                     "downloadThroughput": cap, "uploadThroughput": cap})
        # when the page handles the click (its main thread may be busy loading the model meanwhile), and
        # the main thread's long tasks (> 50 ms: what holds a click back)
        # the page records its camera frames in self.ferFrameLog (web/js/state.js), the first one included
        page.add_init_script("""self.ferFrameLog = [];
            addEventListener('click', () => { self.ferClickHandled ??= performance.now(); }, true);
            addEventListener('playing', () => { self.ferCameraPlaying ??= performance.now(); }, true);
            self.ferLongTasks = []; new PerformanceObserver((list) => { for (const e of list.getEntries())
              self.ferLongTasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask', buffered: true });""")
        encodings = {}
        page.on("response", lambda r: encodings.__setitem__(r.url, r.headers.get("content-encoding", "")))
        # not goto's default wait for the load event: that comes once every preload is in (the model's
        # weights too), long after Start camera takes a click
        page.goto(url + "/" + (f"?{query}" if query else ""), wait_until="commit")
        if click_when_ready:  # ferApp.ready: a promise of the model's load (true) that evaluate awaits
            kit.wait_js(page, "window.ferApp", timeout_s=120)
            if page.evaluate("ferApp.ready") is not True:
                raise RuntimeError(f"the page did not load: {page.text_content('#message')}")
        # The tap is one mouse event at the button's centre, sent the moment the page enables the button
        # (polled in the page every 5 ms). Not page.click(): its actionability checks (Playwright's
        # injected script, two animation frames for "stable") wait for the main thread, so while the model
        # loads they held the click back by 100-300 ms that a user's tap does not wait.
        clicked, x, y = page.evaluate(START_WHEN_ENABLED)
        page.mouse.click(x, y)
        kit.wait_js(page, "window.ferApp", timeout_s=120)  # the click may come before the page's modules
        if page.evaluate("ferApp.ready") is not True:
            raise RuntimeError(f"the page did not load: {page.text_content('#message')}")
        # when the model finished loading (the page sets its status then), in the page's clock
        ready = page.evaluate("performance.getEntriesByName('fer-ready')[0]?.startTime ?? performance.now()")
        # the frame log gets its entry once the frame's labels are drawn
        kit.wait_js(page, "ferApp.state.frameLog.some((f) => f.faces >= 1)", timeout_s=120)
        first_label = page.evaluate("ferApp.state.frameLog.find((f) => f.faces >= 1).t")
        handled = page.evaluate("self.ferClickHandled")
        playing = page.evaluate("self.ferCameraPlaying ?? null")  # the video shows the camera (media events don't bubble: caught on the way down)
        long_tasks = [t for t in page.evaluate("self.ferLongTasks") if t[0] < first_label]
        entries = page.evaluate(ENTRIES)
        context.close()
    finally:
        browser.close()
    rows = [{**e, "url": e["url"].removeprefix(url), "encoding": encodings.get(e["url"], ""),
             "phase": "load" if e["start"] < ready else "camera"} for e in entries]
    late = [r["url"] for r in rows if r["end"] > first_label]
    return {"rows": [r for r in rows if r["end"] <= first_label], "after_first_label": late,
            "click_ms": clicked, "click_handled_ms": handled, "camera_ms": playing, "ready_ms": ready, "first_label_ms": first_label,
            "long_tasks": long_tasks}


def main(argv=None) -> int:
    from fer_browser.paths import DEFAULT_MODEL_DIR
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--identity", action="store_true", help="ask for uncompressed answers")
    p.add_argument("--repeat", type=int, default=1, help="page openings per rate; >1 prints median times only")
    p.add_argument("--cpu-throttle", type=float, nargs="+", default=[1.0], metavar="N",
                   help="DevTools CPU slowdown factors (default: 1)")
    p.add_argument("--click-when-ready", action="store_true", help="click Start camera only once the model is loaded")
    p.add_argument("--query", default="", help="the page's query string, e.g. preload=off (the server's Link preload header off)")
    p.add_argument("--latency-ms", type=float, default=0, help="emulated round-trip latency per request (default: none)")
    p.add_argument("--down-kbps", type=float, default=0, help="emulated download cap in kbit/s (default: none)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if args.repeat < 1 or min(args.cpu_throttle) < 1:
        p.error("--repeat and --cpu-throttle must be >= 1")
    if args.latency_ms < 0 or args.down_kbps < 0:
        p.error("--latency-ms and --down-kbps must be >= 0")
    args.network = (args.latency_ms, args.down_kbps) if args.latency_ms or args.down_kbps else None
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        y4m = kit.write_y4m(Path(tmp) / "astronaut.y4m", kit.astronaut_frame())
        server = kit.Server(args.model_dir)
        try:
            if args.repeat > 1 or args.cpu_throttle != [1.0]:
                return timings(pw, server.url, y4m, args)
            result = measure(pw, server.url, y4m, args.identity, click_when_ready=args.click_when_ready,
                             network=args.network, query=args.query)
        finally:
            server.stop()
    rows = result["rows"]
    print("| phase | file | status | encoding | bytes on the wire | decoded body |")
    print("| --- | --- | --- | --- | ---: | ---: |")
    for r in sorted(rows, key=lambda r: -r["wire"]):
        print(f"| {r['phase']} | {r['url']} | {r['status']} | {r['encoding'] or '-'} | {r['wire']:,} | {r['body']:,} |")
    total = sum(r["wire"] for r in rows)
    print(f"\n{len(rows)} responses before the first label: {total:,} bytes on the wire "
          f"({sum(r['body'] for r in rows):,} decoded); Start camera clicked after {result['click_ms'] / 1000:.2f} s "
          f"(handled after {result['click_handled_ms'] / 1000:.2f} s), camera playing after {result['camera_ms'] / 1000:.2f} s, "
          f"page ready after {result['ready_ms'] / 1000:.1f} s, "
          f"first label after {result['first_label_ms'] / 1000:.1f} s")
    tasks = ", ".join(f"{d:.0f} ms at {t:.0f}" for t, d in result["long_tasks"]) or "none"
    print(f"main-thread tasks over 50 ms before it: {tasks}")
    if result["after_first_label"]:
        print(f"finished after the first label: {', '.join(result['after_first_label'])}")
    if args.json:
        args.json.write_text(json.dumps({**result, "total_wire": total}, indent=1))
    return 0


def timings(pw, url: str, y4m: Path, args) -> int:
    """Median ready and first-label times over --repeat openings, per CPU throttle rate."""
    import statistics
    from tqdm import tqdm
    report = {"click_when_ready": args.click_when_ready, "identity": args.identity,
              "latency_ms": args.latency_ms, "down_kbps": args.down_kbps, "query": args.query, "rates": {}}
    print("| CPU throttle | openings | Start clicked, median ms | click handled, median ms | camera playing, median ms "
          "| page ready, median ms | first label, median ms (min-max) | bytes before it, median |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in args.cpu_throttle:
        runs = [measure(pw, url, y4m, args.identity, rate, args.click_when_ready, args.network, args.query)
                for _ in tqdm(range(args.repeat), desc=f"{rate:g}x", file=sys.stderr)]
        first = [r["first_label_ms"] for r in runs]
        wire = [sum(x["wire"] for x in r["rows"]) for r in runs]
        row = {k: [r[k] for r in runs] for k in ("click_ms", "click_handled_ms", "camera_ms", "ready_ms", "long_tasks")}
        row.update(first_label_ms=first, wire=wire)
        report["rates"][f"{rate:g}"] = row
        print(f"| {rate:g}x | {len(runs)} | {statistics.median(row['click_ms']):.0f} "
              f"| {statistics.median(row['click_handled_ms']):.0f} | {statistics.median(row['camera_ms']):.0f} "
              f"| {statistics.median(row['ready_ms']):.0f} "
              f"| {statistics.median(first):.0f} "
              f"({min(first):.0f}-{max(first):.0f}) | {statistics.median(wire):,.0f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
