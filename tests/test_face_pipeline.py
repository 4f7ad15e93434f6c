"""web/face_pipeline.json drives predict: the detector's thresholds and limits, the tracker's match and
the smoothing rule are read from it, not from numbers in the Python code.

Each test edits a temp copy of the real file and checks that Python's output changes as the edit says.
"""
from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest

from predict_helpers import photos

from fer_browser.predict.boxes import Box
from fer_browser.predict.detector import FaceDetector
from fer_browser.predict.errors import PredictError
from fer_browser.predict.face_pipeline import face_pipeline_path, load_face_pipeline
from fer_browser.predict.recognition import Face
from fer_browser.predict.tracking import Smoother


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(face_pipeline_path().read_text())


def edited(tmp_path, shipped, edit) -> dict:
    """A temp copy of the shipped file with `edit(cfg)` applied, read back through load_face_pipeline."""
    cfg = copy.deepcopy(shipped)
    edit(cfg)
    path = tmp_path / "face_pipeline.json"
    path.write_text(json.dumps(cfg))
    return load_face_pipeline(path)


@pytest.fixture(scope="module")
def two_faces() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(photos()["three_faces"][0])), cv2.COLOR_BGR2RGB)


def test_the_shipped_file_loads(shipped):
    assert load_face_pipeline() == shipped


@pytest.mark.parametrize("schema", ["fer-face-pipeline/2", None, "something-else/1"])
def test_an_unknown_schema_is_refused_in_one_line(tmp_path, shipped, schema):
    with pytest.raises(PredictError) as err:
        edited(tmp_path, shipped, lambda c: c.update(schema=schema) if schema else c.pop("schema"))
    message = str(err.value)
    assert "schema" in message and "fer-face-pipeline/1" in message and "\n" not in message


def test_missing_keys_and_unknown_rules_are_refused(tmp_path, shipped):
    for edit, words in [(lambda c: c["detector"].pop("scoreThreshold"), "scoreThreshold"),
                        (lambda c: c["detector"].update(merge="plain"), "merge"),
                        (lambda c: c["smoothing"].update(method="window"), "window")]:
        with pytest.raises(PredictError, match=words):
            edited(tmp_path, shipped, edit)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(PredictError, match="not valid JSON"):
        load_face_pipeline(tmp_path / "broken.json")


def test_detector_thresholds_and_limits_come_from_the_file(tmp_path, shipped, two_faces):
    base = FaceDetector().detect(two_faces)
    assert len(base) == 3
    weakest = min(f.score for f in base)
    # a score threshold just above the weakest face's best candidate: that face, and only it, goes
    stricter = FaceDetector(edited(tmp_path, shipped, lambda c: c["detector"].update(
        scoreThreshold=(weakest + sorted(f.score for f in base)[1]) / 2))["detector"]).detect(two_faces)
    assert sorted(f.score for f in stricter) == sorted(f.score for f in base if f.score != weakest)
    capped = FaceDetector(edited(tmp_path, shipped, lambda c: c["detector"].update(maxFaces=1))["detector"])
    assert [f.score for f in capped.detect(two_faces)] == [max(f.score for f in base)]
    smallest = min(f.width for f in base)
    big_only = FaceDetector(edited(tmp_path, shipped, lambda c: c["detector"].update(minSize=smallest + 1))["detector"])
    assert len(big_only.detect(two_faces)) == sum(f.width >= smallest + 1 and f.height >= smallest + 1 for f in base) < 3


def test_merge_threshold_comes_from_the_file(tmp_path, shipped, two_faces):
    """iouThreshold near 1 merges (almost) nothing: far more faces than the 3 the shipped 0.3 gives."""
    loose = FaceDetector(edited(tmp_path, shipped, lambda c: c["detector"].update(iouThreshold=0.999, maxFaces=100))
                         ["detector"])
    regs, logits, _ = loose.raw(two_faces)
    candidates = int((logits > np.log(shipped["detector"]["scoreThreshold"] / (1 - shipped["detector"]["scoreThreshold"]))).sum())
    assert candidates > 3 and len(loose.decode(regs, logits)) == candidates
    # a threshold of 1 (or more) merges nothing: each candidate is its own face, never a division by zero
    none = FaceDetector(edited(tmp_path, shipped, lambda c: c["detector"].update(iouThreshold=1.0, maxFaces=100))
                        ["detector"]).decode(regs, logits)
    assert len(none) == candidates and all(np.isfinite([f.x, f.y, f.width, f.height]).all() for f in none)


def face(x, probs, y=50.0):
    return Face(Box(x, y, 80.0, 80.0), np.asarray(probs, np.float64))


def test_smoothing_is_the_ema_written_in_the_file(shipped):
    """A hand-made sequence for one face through the default Smoother equals the rule the file's
    "about" states, computed here from that sentence with the file's alpha and intervalMs."""
    rule = shipped["smoothing"]
    assert rule["method"] == "ema"
    assert "probs = w * new + (1 - w) * previous" in rule["about"]
    assert "w = 1 - (1 - alpha)^(dt / intervalMs)" in rule["about"]
    assert "a new face starts from its first reading" in rule["about"]
    alpha, interval = rule["alpha"], rule["intervalMs"]
    # the interval is one frame at the cadence's target rate: there the weight is alpha per reading
    assert interval == pytest.approx(1000 / shipped["cadence"]["targetFps"], abs=0.1)
    readings = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]]
    times = [0, 33, 53, 253, 290]  # uneven: a fast frame, then a slow device's 200 ms gap
    smoother = Smoother()
    assert smoother.alpha == alpha
    previous = None
    for i, (new, t) in enumerate(zip(readings, times)):
        (track, got), = smoother.update([face(100 + 3 * i, new)], t)  # small moves: one track
        new = np.asarray(new)
        w = None if previous is None else 1 - (1 - alpha) ** ((t - times[i - 1]) / interval)
        expected = new if previous is None else w * new + (1 - w) * previous
        assert track == 1 and got.probs.tolist() == pytest.approx(expected.tolist(), abs=1e-12)
        previous = expected


def ids(smoother, frames) -> list[list[int]]:
    """Track ids of each frame's faces: frames are (t ms, [x, ...] or [(x, y), ...])."""
    return [[tid for tid, _ in smoother.update([face(*(p if isinstance(p, tuple) else (p,)), [1, 0]) for p in xs], t)]
            for t, xs in frames]


def test_every_tracking_key_comes_from_the_file(tmp_path, shipped):
    """Each key of "tracking" changes what predict's tracker does (the golden vectors pin the rules;
    this pins that the numbers are the file's): edit one, and a sequence on the edge changes."""
    def tracker(**edit):
        return Smoother(config=edited(tmp_path, shipped, lambda c: c["tracking"].update(edit)))

    off = Smoother(config=edited(tmp_path, shipped, lambda c: c["smoothing"].update(alpha=1)))
    off.update([face(0, [1, 0])], 0)
    (_, f), = off.update([face(0, [0, 1])], 33)
    assert f.probs.tolist() == [0, 1]  # alpha = 1: smoothing off
    # an 8 px move on 80 px: IoU 0.82 (matchIou), centres 0.1 widths apart (matchDistance)
    small = [(0, [0]), (33, [8])]
    assert ids(Smoother(), small) == [[1], [1]]
    assert ids(tracker(matchIou=0.9), small) == [[1], [1]]  # still near enough
    assert ids(tracker(matchIou=0.9, matchDistance=0.05), small) == [[1], [2]]
    # a 60 px jump (IoU 0.14) at the second sighting: matched by centre distance 0.75 <= 1, not <= 0.5
    jump = [(0, [0]), (33, [60])]
    assert ids(Smoother(), jump) == [[1], [1]] and ids(tracker(matchDistance=0.5), jump) == [[1], [2]]
    # maxMissed: the track survives maxMissed - 1 empty detections, not maxMissed
    gap = shipped["tracking"]["maxMissed"]
    assert ids(Smoother(), [(0, [0]), *[(33 * k, []) for k in range(1, gap)], (33 * gap, [0])])[-1] == [1]
    assert ids(Smoother(), [(0, [0]), *[(33 * k, []) for k in range(1, gap + 1)], (33 * gap + 33, [0])])[-1] == [2]
    # maxMissedMs: one miss, but later than maxMissedMs after the last sighting, drops the track
    late = shipped["tracking"]["maxMissedMs"]
    assert ids(Smoother(), [(0, [0]), (late, []), (late + 33, [0])])[-1] == [1]
    assert ids(Smoother(), [(0, [0]), (late + 1, []), (late + 33, [0])])[-1] == [2]
    # velocitySmoothing, the weight of the newest velocity measurement: a face that moves 0.5 px/ms,
    # then stops for two detections, is predicted 100 ms on where it stopped (weight 0.99) or about
    # 49 px further (weight 0.01, still trusting the old velocity)
    stop = [(0, [0]), (33, [16.5]), (66, [16.5]), (99, [16.5])]
    for weight, ahead in ((0.99, 0), (0.01, 49)):
        s = tracker(velocitySmoothing=weight)
        ids(s, stop)
        (_, box), = s.tracker.predict(199)
        assert box.x - 16.5 == pytest.approx(ahead, abs=0.5), weight
    # redetectDrift: a face moving 0.3 px/ms wants a detection after 0.25 * 80 / 0.3 = 67 ms of prediction
    for drift, wants in ((shipped["tracking"]["redetectDrift"], True), (0.5, False)):
        s = tracker(redetectDrift=drift)
        ids(s, [(0, [0]), (100, [30])])
        assert s.tracker.wants_detection(100 + 80) is wants, drift
