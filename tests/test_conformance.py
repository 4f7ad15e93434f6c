"""The twin algorithms of predict/ against the golden vectors in tests/conformance/ (anchors, decode +
weighted merge, iou, face crop, tracker, EMA smoothing), computed from the browser library (web/lib,
the reference) by tests/conformance/make_vectors.mjs; tests/js/conformance.test.mjs holds web/lib to
the same files. Floats are compared within each file's tolerance."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_browser.predict.boxes import Box, iou
from fer_browser.predict.detector import anchors, decode
from fer_browser.predict.preprocess import crop_resize, crop_scale, crop_square
from fer_browser.predict.tracking import EmaSmoother, FaceTracker
from predict_helpers import ROOT
from node_suite import run_node_suite

FILES = ("anchors", "decode", "iou", "crop", "tracker", "ema")


def golden(name: str) -> dict:
    doc = json.loads((ROOT / "tests/conformance" / f"{name}.json").read_text())
    assert doc["version"] == 1 and "web/lib" in doc["reference"] and len(doc["cases"]) >= 3
    return doc


def close(got, want, tol: float, where: str) -> None:
    """Deep comparison: the same structure, nulls and booleans; numbers within tol."""
    if isinstance(want, bool) or want is None or isinstance(want, str):
        assert got == want, f"{where}: {got!r} vs {want!r}"
    elif isinstance(want, (int, float)):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), f"{where}: {got!r}"
        assert abs(got - want) <= tol, f"{where}: {got!r} vs {want!r}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: {got!r} vs {want!r}"
        for k in want:
            close(got[k], want[k], tol, f"{where}.{k}")
    else:
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, tol, f"{where}[{i}]")


def box_dict(b: Box) -> dict:
    return {"x": b.x, "y": b.y, "width": b.width, "height": b.height}


def each(name: str, run) -> None:
    doc = golden(name)
    for case in doc["cases"]:
        close(run(case), case["expected"], doc["tolerance"], f"{name}: {case['name']}")


def sized(case: dict) -> tuple:
    """A case's input (width, height), or () for the config's inputSize square."""
    return (case["input"]["width"], case["input"]["height"]) if "input" in case else ()


def test_anchors():
    each("anchors", lambda c: anchors(c["config"], *sized(c)).tolist())
    assert any("input" in c for c in golden("anchors")["cases"])  # the live loop's inputs are covered


def test_decode_and_weighted_merge():
    def run(c):
        faces = decode(np.array(c["boxes"], np.float32), np.array(c["logits"], np.float32),
                       anchors(c["config"], *sized(c)), c["config"], *sized(c))
        return [{**box_dict(f), "score": f.score} for f in faces]
    each("decode", run)
    assert any("input" in c for c in golden("decode")["cases"])


def test_iou_both_argument_orders():
    def run(c):
        assert iou(c["b"], c["a"]) == pytest.approx(c["expected"], abs=1e-12), c["name"]
        return iou(Box(**c["a"]), Box(**c["b"]))
    each("iou", run)


def test_crop_square_and_scale_and_the_region_holds_every_pixel_the_crop_reads():
    """The square and k equal the page's. Python crops from the whole frame where the page cuts out
    cropRegion first: every pixel Python's sampling reads must lie in that region, or the two would
    see different pixels (checked by making every pixel outside the region NaN)."""
    def run(c):
        box, crop = Box(**c["box"]), c["crop"]
        meta = {"crop": {**crop, "fill": 128}, "input": {"height": c["size"], "width": c["size"]}}
        x, y, side = crop_square(box, meta)
        region = c["expected"]["region"]
        if region is not None:
            gray = np.full((c["H"], c["W"]), np.nan, np.float32)
            gray[region["y"]:region["y"] + region["height"], region["x"]:region["x"] + region["width"]] = 77
            assert np.isfinite(crop_resize(gray, box, meta)).all(), c["name"]
        return {"square": {"x": x, "y": y, "side": side}, "k": crop_scale(side, c["size"]), "region": region}
    each("crop", run)


def run_tracker(c: dict) -> list[dict]:
    tracker = FaceTracker(c["config"])
    out = []
    for step in c["steps"]:
        wants = tracker.wants_detection(step["t"])
        if "detections" in step:
            ids = [tr.id for tr in tracker.update([Box(**b) for b in step["detections"]], step["t"])]
            assert sorted(ids) == sorted(i for i, _ in tracker.predict(step["t"]))  # one track per box
        out.append({"wantsDetection": wants,
                    "tracks": [{"id": i, "box": box_dict(b), "score": b.score} for i, b in tracker.predict(step["t"])]})
    return out


def test_tracker_behaves_as_the_browsers():
    each("tracker", run_tracker)


def test_the_live_loops_smoother_gives_the_pages_ids():
    """predict live runs the detector on every frame and keys each face's smoothing by its track:
    on every detector-only sequence, Smoother gives each face the id the page's tracker shows for its box."""
    from fer_browser.predict.recognition import Face
    from fer_browser.predict.tracking import Smoother

    checked = 0
    for c in golden("tracker")["cases"]:
        if not all("detections" in s for s in c["steps"]):
            continue
        smoother = Smoother(config={"tracking": c["config"], "smoothing": {"alpha": 0.4}})
        for step, want in zip(c["steps"], c["expected"]):
            got = smoother.update([Face(Box(**b), np.ones(2) / 2) for b in step["detections"]], step["t"])
            page = {(t["box"]["x"], t["box"]["y"]): t["id"] for t in want["tracks"]}
            assert [tid for tid, _ in got] == [page[b["x"], b["y"]] for b in step["detections"]], c["name"]
            checked += 1
    assert checked > 50


def test_tracker_vectors_reach_every_rule():
    """The sequences are not all 2-pixel drifts: some match only by centre distance, some faces are
    dropped by time (not by count), some steps predict between detector runs and want a detection."""
    cases = golden("tracker")["cases"]
    steps = [(s, e) for c in cases for s, e in zip(c["steps"], c["expected"])]
    assert any(not s.get("detections", True) for s, _ in steps)  # a detector run that finds nothing
    assert any("detections" not in s for s, _ in steps) and any(e["wantsDetection"] for _, e in steps)
    for key in ("maxMissedMs", "matchDistance", "matchIou", "velocitySmoothing", "redetectDrift", "maxMissed"):
        assert len({c["config"][key] for c in cases}) > 1, key  # each key varied by some case
    moves = [abs(b["box"]["x"] - a["box"]["x"]) / a["box"]["width"] for c in cases
             for e0, e1 in zip(c["expected"], c["expected"][1:])
             for a in e0["tracks"] for b in e1["tracks"] if a["id"] == b["id"]]
    assert max(moves) > 1  # a face moving more than its width between detections keeps its id


def test_ema_smoothing():
    def run(c):
        s = EmaSmoother(c["alpha"], c["intervalMs"])
        return [s.retain(op["retain"]) if "retain" in op else s.update(op["id"], op["probs"], op.get("t")).tolist()
                for op in c["ops"]]
    each("ema", run)
    cases = {c["name"]: c for c in golden("ema")["cases"]}
    # at 30 fps the per-time weight is the per-reading one; 200 ms apart, a reading weighs 1 - 0.6^6
    at30 = cases["per time: one reading a frame at 30 fps is alpha per reading"]
    per_reading = EmaSmoother(0.4)
    for op, want in zip(at30["ops"], at30["expected"]):
        assert per_reading.update(1, op["probs"]).tolist() == pytest.approx(want, abs=1e-9)
    slow = cases["per time: readings 200 ms apart (a slow device's cadence) weigh more each"]
    a, b = (np.array(slow["ops"][i]["probs"]) for i in (0, 1))
    assert slow["expected"][1] == pytest.approx((1 - 0.6 ** (200 / 33.3)) * b + 0.6 ** (200 / 33.3) * a)


def test_javascript_reproduces_the_golden_vectors():
    run_node_suite("conformance.test.mjs", passes=len(FILES))


def test_every_vector_file_is_read_by_both_sides():
    js = (ROOT / "tests/js/conformance.test.mjs").read_text()
    for name in FILES:
        assert f"'{name}'" in js and golden(name)["about"]
