""""Calibrate to me" (issue 23) in the page, in a real headless Chromium on the shipped model, the fake
camera showing the astronaut: record an expression of the model and a custom one, fit, the labels follow
the profile, it is kept in localStorage, exported, deleted, imported again with the same labels; bad files
are refused in one line with nothing changed; Escape cancels; no tensor is left behind; the panel fits a
phone's screen.

The fake camera shows one still face, so both recordings are of the same face: enough for the flow
(the head's numbers are checked in tests/js/adaptation.test.mjs and test_adaptation.py).
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import sync_playwright

from web_helpers import ROOT, PageWatch, Server, astronaut_frame, launch_chromium, wait_js, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = ROOT / "models" / "fer-default" / "export"
META = json.loads((MODEL / "metadata.json").read_text())
KEY = f"fer-browser.profile.{META['weights_sha256']}"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    srv = Server(None)  # server.py with the shipped model (it has the embedding and a weights digest)
    try:
        with sync_playwright() as pw:
            y4m = write_y4m(tmp_path_factory.mktemp("cal-camera") / "astronaut.y4m", astronaut_frame())
            browser = launch_chromium(pw, y4m)
            yield srv, browser
            browser.close()
    finally:
        srv.stop()


def open_page(site, **ctx):
    srv, browser = site
    context = browser.new_context(permissions=["camera"], accept_downloads=True, **ctx)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(srv.url + "/")
    assert page.evaluate("ferApp.ready") is True, page.text_content("#message")
    return context, page, watch


def start_camera(page):
    page.click("#start")
    wait_js(page, "ferApp.state.frames >= 3")


def frames_later(page, n=3):
    at = page.evaluate("ferApp.state.frames")
    wait_js(page, f"ferApp.state.frames >= {at + n}")


def tensors_at_rest(page):
    """tf's tensor count with the camera paused and no frame in flight."""
    page.click("#pause")
    page.evaluate("ferApp.state.live.idle()")
    page.wait_for_timeout(200)
    n = page.evaluate("ferApp.memory().numTensors")
    page.click("#pause")  # resume
    return n


def message(page):
    return page.evaluate("(m => m.hidden ? '' : m.textContent)(document.getElementById('message'))")


def face(page):
    frames_later(page)
    faces = page.evaluate("ferApp.results()")
    assert len(faces) == 1, faces
    classes = page.evaluate("ferApp.classes()")
    return faces[0]["label"], dict(zip(classes, faces[0]["probs"])), classes


def calibrate(page, record, hide=(), custom=()):
    """Open the panel, add `custom`, hide `hide`, record the expressions in `record` (names), skip the rest."""
    page.click("#calibrate")
    assert page.evaluate("document.activeElement.id") == "calibrate-title"  # focus moved into the panel
    for name in custom:
        page.fill("#cal-custom", name)
        page.click("#cal-add")
        assert page.text_content("#cal-custom-error").startswith(f"Added “{name}”")
    for name in hide:
        page.get_by_label(f"never show “{name}”").check()
    page.click("#cal-begin")
    asked = []
    while True:
        wait_js(page, "!document.getElementById('cal-result').hidden || "
                      "(!document.getElementById('cal-record').disabled && document.activeElement.id === 'cal-record')")
        if page.is_visible("#cal-result"):
            return asked
        name = page.get_attribute("#cal-prompt", "data-name")
        asked.append(name)
        if name in record:
            page.keyboard.press("Enter")  # Record has the focus
            wait_js(page, "document.getElementById('cal-record').disabled")
        else:
            page.keyboard.press("Tab")  # to Skip
            page.keyboard.press("Enter")
            wait_js(page, f"document.getElementById('cal-step-count').textContent !== 'Expression {len(asked)} of ' + "
                          "document.getElementById('cal-step-count').textContent.split(' of ')[1] || "
                          "!document.getElementById('cal-result').hidden")


def test_calibrate_flow_export_delete_import(site, tmp_path):
    context, page, watch = open_page(site)
    try:
        assert page.is_disabled("#calibrate")  # the camera is not running yet
        start_camera(page)
        assert page.is_enabled("#calibrate")
        start = tensors_at_rest(page)
        model_label, _, classes = face(page)
        assert classes == META["classes"]

        # the custom name is checked; Escape during the countdown cancels and changes nothing
        page.evaluate("ferApp.state.countdownMs = 5000")
        page.click("#calibrate")
        for bad, why in (("  ", "Type a name"), ("Happiness", "already an expression"), ("x" * 41, "at most 40")):
            page.fill("#cal-custom", bad)
            page.press("#cal-custom", "Enter")
            assert why in page.text_content("#cal-custom-error"), bad
        page.click("#cal-begin")
        page.keyboard.press("Enter")  # Record the first expression
        wait_js(page, "document.getElementById('cal-status').textContent.includes('starts in')")
        page.keyboard.press("Escape")
        wait_js(page, "document.getElementById('calibrate-panel').hidden")
        assert "cancelled" in page.text_content("#profile-status")
        assert page.evaluate("ferApp.profile()") is None and page.evaluate(f"localStorage.getItem('{KEY}')") is None

        # record happiness and a custom "wink" (keyboard only), hide fear
        page.evaluate("ferApp.state.countdownMs = 100")
        asked = calibrate(page, record={"happiness", "wink"}, hide=["fear"], custom=["wink"])
        assert asked == [c for c in META["classes"] if c != "fear"] + ["wink"]
        rows = json.loads(page.get_attribute("#cal-table", "data-rows"))
        frames = json.loads((ROOT / "web" / "adaptation.json").read_text())["recording"]["frames"]
        assert [r["name"] for r in rows] == ["happiness", "wink"] and all(r["n"] == frames for r in rows), rows
        assert rows[1]["before"] == 0  # the model alone has no "wink"
        assert rows[0]["after"] + rows[1]["after"] == frames  # one face, two names: each frame is read as one of them
        page.click("#cal-done")
        assert page.is_hidden("#calibrate-panel") and page.evaluate("document.activeElement.id") == "calibrate"

        visible = [c for c in META["classes"] if c != "fear"] + ["wink"]
        label, probs, classes = face(page)
        assert classes == visible and set(probs) == set(visible) and label in {"happiness", "wink"}
        assert probs["wink"] > 0.2 and probs[label] == max(probs.values())
        status = page.text_content("#profile-status")
        assert status.startswith("Your profile is on: 2 expressions, made 20"), status
        stored = json.loads(page.evaluate(f"localStorage.getItem('{KEY}')"))
        assert stored == page.evaluate("ferApp.profile()") and stored["hidden"] == ["fear"]
        csv_head = page.evaluate("ferApp.timeline.csv()").split("\n")[0]
        assert csv_head == ",".join(["time_s", "face_id", *visible])
        cards = page.eval_on_selector_all("#faces .face .bar .name", "els => els.map(e => e.textContent)")
        assert cards == visible
        assert page.is_disabled("#balance")

        # off and on again, from the keyboard
        page.focus("#profile-toggle")
        page.keyboard.press("Enter")
        assert page.evaluate("ferApp.profile()") is None and page.evaluate("ferApp.classes()") == META["classes"]
        assert page.text_content("#profile-status").startswith("Your profile is off")
        assert page.is_enabled("#balance")  # the shipped model has a prior; under a profile it does not apply
        frames_later(page)
        assert page.evaluate("ferApp.timeline.csv()").split("\n")[0].endswith(",".join(META["classes"]))
        page.keyboard.press("Enter")
        assert page.evaluate("ferApp.classes()") == visible
        on_label, on_probs, _ = face(page)

        # export: a file made in the page (nothing requested), the stored profile
        with page.expect_download() as dl:
            page.click("#profile-export")
        exported = tmp_path / "mine.json"
        dl.value.save_as(exported)
        assert json.loads(exported.read_text()) == stored

        # delete: gone from the page and from localStorage, and after a reload
        page.click("#profile-delete")
        assert page.evaluate(f"localStorage.getItem('{KEY}')") is None and page.evaluate("ferApp.profile()") is None
        page.reload()
        assert page.evaluate("ferApp.ready") is True
        assert page.evaluate("ferApp.profile()") is None
        start_camera(page)

        # import gives the same labels back, and it is restored on reload
        page.set_input_files("#profile-file", str(exported))
        wait_js(page, "ferApp.profile() !== null")
        back_label, back_probs, back_classes = face(page)
        assert back_classes == visible and back_label == on_label
        assert max(abs(back_probs[c] - on_probs[c]) for c in visible) < 0.02, (back_probs, on_probs)
        page.reload()
        assert page.evaluate("ferApp.ready") is True
        assert page.evaluate("ferApp.profile()") == stored
        start_camera(page)

        # bad files: one line in the message area, profile and storage as they were
        other = {**stored, "model": {**stored["model"], "weights_sha256": "0" * 64}}
        bad_files = {"other-model.json": (json.dumps(other), "made for model 000000000000"),
                     "nan.json": (re.sub(r'"scale": [^,\n}]+', '"scale": NaN', exported.read_text()), "not JSON"),
                     "garbage.json": ("\x00\x01 not a profile", "not JSON"),
                     "not-profile.json": ('{"schema": "something/9"}', "not a profile this version can read")}
        for name, (text, why) in bad_files.items():
            path = tmp_path / name
            path.write_text(text)
            page.evaluate("document.getElementById('message').hidden = true")
            page.set_input_files("#profile-file", str(path))
            wait_js(page, "!document.getElementById('message').hidden")
            msg = message(page)
            assert why in msg and name in msg and "\n" not in msg, msg
            assert page.evaluate("ferApp.profile()") == stored
            assert json.loads(page.evaluate(f"localStorage.getItem('{KEY}')")) == stored
        assert page.text_content("#profile-status").startswith("Your profile is on")

        assert tensors_at_rest(page) == start  # the whole flow left no tensor behind
        assert model_label in META["classes"]
        assert watch.errors == [] and watch.outside(site[0].url) == []
    finally:
        context.close()


def test_calibrate_panel_fits_a_phone(site):
    context, page, watch = open_page(site, **PHONE)
    try:
        page.tap("#start")
        wait_js(page, "ferApp.state.frames >= 2")
        page.tap("#calibrate")
        page.fill("#cal-custom", "wink")
        page.tap("#cal-add")
        page.tap("#cal-begin")
        wait_js(page, "!document.getElementById('cal-record').disabled")
        width = PHONE["viewport"]["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for sel in ("#calibrate", "#profile-import", "#cal-record", "#cal-skip", "#cal-cancel", "#cal-progress", "#cal-prompt"):
            page.locator(sel).scroll_into_view_if_needed()
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
            if sel.startswith("#cal-") and sel not in ("#cal-progress", "#cal-prompt") or sel == "#calibrate":
                assert box["height"] >= 44, (sel, box)  # touch targets
        # recording waits for a face, and for a paused camera, and says so (frames without a face stand in
        # for the fake camera's, which always has one)
        page.evaluate("ferApp.state.countdownMs = 0")
        page.tap("#pause")
        page.tap("#cal-record")
        wait_js(page, "ferApp.state.recorder !== null")
        said = page.evaluate("ferApp.state.recorder([]), document.getElementById('cal-status').textContent")
        assert said == "No face in view: look at the camera." and page.evaluate("ferApp.state.recorder !== null")
        wait_js(page, "document.getElementById('cal-status').textContent.includes('paused')")
        page.tap("#cal-cancel")
        assert page.is_hidden("#calibrate-panel") and page.evaluate("ferApp.state.recorder") is None
        assert page.evaluate("ferApp.profile()") is None
        assert watch.errors == []
    finally:
        context.close()
