"""The live view's loop (web/js/camera.js on fer-browser's tracked estimateFaces) in real headless Chromium with the fake camera.

- three heads drifting on grey: every frame shows three faces with the same three ids, no tensor is
  left behind over 300 frames, with the detector on every 3rd frame (the tracker carries the boxes between);
- faces that move, appear and leave (bench/live_accuracy.py): faces present > 0.5 s are shown, shown
  boxes stay within IoU 0.5 of the detector run on the whole frame, a face that leaves loses its box
  within 0.5 s;
- a slow device (CPU throttling) with labels on a cadence: faces keep their labels between readings
  while their boxes move.
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import sync_playwright

from bench import live_accuracy
from web_helpers import PageWatch, launch_chromium, moving_faces, wait_js, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAMES = 300


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as pw:
        yield pw


def test_three_moving_faces_keep_their_ids_and_no_tensors_leak(playwright, server, tmp_path):
    y4m = write_y4m(tmp_path / "three.y4m", moving_faces(3, fps=30), fps=30)
    browser = launch_chromium(playwright, y4m)
    try:
        page = browser.new_context(permissions=["camera"]).new_page()
        watch = PageWatch(page)
        # the detector every 3rd frame, not on the default's clock (at most 250 ms apart): on a loaded CPU
        # slow frames made that rule detect on every 2nd frame; the tracking between is what is tested
        page.goto(server.url + "/?detect-every=3")
        assert page.evaluate("ferApp.ready") is True
        page.click("#start")
        wait_js(page, "ferApp.state.frames >= 15", timeout_s=120)
        before = page.evaluate("({tensors: ferApp.memory().numTensors, bytes: ferApp.memory().numBytes, live: ferApp.live()})")
        page.evaluate("ferApp.state.frameLog = []")
        wait_js(page, f"ferApp.state.frameLog.length >= {FRAMES}", timeout_s=600)
        after = page.evaluate("({tensors: ferApp.memory().numTensors, bytes: ferApp.memory().numBytes, live: ferApp.live()})")
        log = page.evaluate(f"ferApp.state.frameLog.slice(0, {FRAMES})")
    finally:
        browser.close()
    # frames between the snapshots may run past the log's 300; count from the loop's own counters
    assert watch.errors == [] and watch.outside(server.url) == []
    frames = after["live"]["frames"] - before["live"]["frames"]
    calls = after["live"]["detectorCalls"] - before["live"]["detectorCalls"]
    assert frames >= FRAMES
    assert after["tensors"] == before["tensors"] and after["bytes"] == before["bytes"]
    assert [f["faces"] for f in log] == [3] * FRAMES
    ids = {tuple(f["ids"]) for f in log}
    assert len(ids) == 1, f"identities changed: {sorted(ids)[:5]}"
    assert len(set(next(iter(ids)))) == 3
    assert 0 < calls < frames / 2, f"{calls} detector calls in {frames} frames"
    assert sum(f["detMs"] is not None for f in log) < FRAMES / 2


def test_faces_that_move_appear_and_leave_are_followed(playwright, server, tmp_path):
    frames, _ = live_accuracy.kit.comings_and_goings(30)
    y4m = write_y4m(tmp_path / "comings_and_goings.y4m", frames, fps=30)
    s = live_accuracy.score(live_accuracy.run(playwright, server.url, y4m, seconds=14))
    print(s)
    assert s["audited"] >= 20 and s["settled_faces"] >= 20
    assert s["settled_shown"] >= 0.95, s  # faces present > 0.5 s are found
    assert s["iou_p5"] >= 0.5 and s["iou_median"] >= 0.8, s  # boxes follow per-frame detection
    assert s["outlive_ms"] <= 500, s  # a face that leaves loses its box within 0.5 s
    assert s["detector_per_100"] < 100


def test_labels_carried_between_readings_with_label_max_age(playwright, server, tmp_path):
    """On a slow device (6x CPU throttling) with ?label-max-age-ms=600 (face_pipeline.json's
    cadence.labelMaxAgeMs): the model reads each of three drifting faces about every 600 ms, not on every
    frame; in between a face keeps the probabilities it was last shown while its box moves, once warmed
    up no shown label is older than the setting allows by more than a few frames, and no tensor is left
    behind."""
    y4m = write_y4m(tmp_path / "three.y4m", moving_faces(3, fps=30), fps=30)
    browser = launch_chromium(playwright, y4m)
    try:
        page = browser.new_context(permissions=["camera"]).new_page()
        watch = PageWatch(page)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 6})  # a slow device: reading every face every frame does not fit
        page.goto(server.url + "/?label-max-age-ms=600")
        assert page.evaluate("ferApp.ready") is True
        assert page.evaluate("ferApp.state.recognizer.config.cadence.labelMaxAgeMs") == 600
        page.click("#start")
        wait_js(page, "ferApp.state.frames >= 15", timeout_s=120)
        before = page.evaluate("ferApp.memory().numTensors")
        # each frame's faces as drawn (id -> box x, probabilities), beside its frameLog entry
        page.evaluate("""(() => { ferApp.state.frameLog = []; ferApp.state.shown = [];
          const push = ferApp.state.frameLog.push.bind(ferApp.state.frameLog);
          ferApp.state.frameLog.push = (f) => { ferApp.state.shown.push(JSON.stringify(Object.fromEntries(
            ferApp.state.results.map((x) => [x.id, [x.box.x, x.probabilities]])))); return push(f); }; })()""")
        wait_js(page, "ferApp.state.frameLog.length >= 60", timeout_s=600)
        log = page.evaluate("ferApp.state.frameLog.slice(0, 60)")
        shown = [json.loads(x) for x in page.evaluate("ferApp.state.shown.slice(0, 60)")]
        after = page.evaluate("ferApp.memory().numTensors")
    finally:
        browser.close()
    assert watch.errors == [] and after == before
    assert [f["faces"] for f in log] == [3] * 60
    reads = sum(f["read"] for f in log)
    assert 0 < reads < 3 * 60 * 3 / 4, f"{reads} readings of 180 faces"
    carried = moved = 0
    for prev, cur, f in zip(shown, shown[1:], log[1:]):
        for fid, (x, probs) in cur.items():
            age = f["labelAgeMs"][f["ids"].index(int(fid))]
            if fid in prev and age > f["workMs"] + 1:  # not read on this frame: the same label, a new box
                carried += 1
                assert probs == prev[fid][1], (fid, age, f["workMs"])
                moved += x != prev[fid][0]
    assert carried >= 3 * 59 - reads - 3 and moved > carried / 2, (carried, moved, reads)
    # From the log's second second on: a label shown at its start may have been read while the page
    # still warmed up, when frames were slower than the cadence's averages knew (one CI run on a
    # loaded 2-core host: 1341 ms on the log's first frame, 523 on the next, then within bounds).
    frame_ms = (log[-1]["t"] - log[0]["t"]) / (len(log) - 1)
    ages = [a for f in log if f["t"] - log[0]["t"] >= 1000 for a in f["labelAgeMs"]]
    assert len(ages) >= 3 * 20 and max(ages) <= 600 + 3 * frame_ms + max(f["workMs"] for f in log), (max(ages), frame_ms)
