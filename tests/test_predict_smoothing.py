"""Per-face smoothing in `predict live`: faces follow their tracks (predict/tracking.py, the page's
tracker: tests/test_conformance.py pins it), probabilities are averaged per track."""
from __future__ import annotations

import numpy as np
import pytest

from fer_browser.predict.detector import Box
from fer_browser.predict.recognition import Face
from fer_browser.predict.face_pipeline import load_face_pipeline
from fer_browser.predict.tracking import Smoother

FRAME_MS = 33
INTERVAL_MS = load_face_pipeline()["smoothing"]["intervalMs"]


def weight(alpha: float, dt: float) -> float:
    """The newest reading's weight dt ms after the previous one: alpha per INTERVAL_MS of time."""
    return 1 - (1 - alpha) ** (dt / INTERVAL_MS)


def face(x, probs):
    return Face(Box(x, 50.0, 80.0, 80.0), np.asarray(probs, np.float32))


def test_running_average_per_track():
    s = Smoother(alpha=0.5)
    (t0, f0), = s.update([face(100, [1, 0, 0])], 0)
    (t1, f1), = s.update([face(104, [0, 1, 0])], FRAME_MS)  # moved a little: same track
    w1 = weight(0.5, FRAME_MS)
    assert t0 == t1 and f1.probs.tolist() == pytest.approx([1 - w1, w1, 0])
    (_, f2), = s.update([face(108, [0, 1, 0])], 4 * FRAME_MS)  # read again 3 frames later: weighs more
    w2 = weight(0.5, 3 * FRAME_MS)
    assert w2 > w1 and f2.probs.tolist() == pytest.approx([(1 - w2) * (1 - w1), w2 + (1 - w2) * w1, 0])
    assert f2.box.x == 108  # the box is the newest, not averaged


def test_two_faces_keep_their_own_tracks_in_any_order():
    s = Smoother(alpha=0.5)
    first = s.update([face(0, [1, 0]), face(300, [0, 1])], 0)
    later = s.update([face(302, [0, 1]), face(3, [1, 0])], FRAME_MS)  # detector order changed
    assert [t for t, _ in later] == [first[1][0], first[0][0]]
    assert later[0][1].probs.tolist() == pytest.approx([0, 1]) and later[1][1].probs.tolist() == pytest.approx([1, 0])


def test_tracks_expire_and_new_faces_start_fresh():
    s = Smoother(alpha=0.5)
    (t0, _), = s.update([face(0, [1, 0])], 0)
    for k in range(1, 4):
        s.update([], k * FRAME_MS)
    (t1, f), = s.update([face(0, [0, 1])], 4 * FRAME_MS)
    assert t1 != t0 and f.probs.tolist() == pytest.approx([0, 1])


def test_a_missed_face_found_again_keeps_its_average():
    s = Smoother(alpha=0.5)
    (t0, _), = s.update([face(0, [1, 0])], 0)
    s.update([], FRAME_MS)  # one miss: hidden, its track and smoothing state kept
    (t1, f), = s.update([face(2, [0, 1])], 2 * FRAME_MS)
    w = weight(0.5, 2 * FRAME_MS)  # its previous reading was two frames ago
    assert t1 == t0 and f.probs.tolist() == pytest.approx([1 - w, w])


def test_alpha_one_is_no_smoothing_and_bad_alpha_is_refused():
    s = Smoother(alpha=1.0)
    s.update([face(0, [1, 0])], 0)
    (_, f), = s.update([face(0, [0, 1])], FRAME_MS)
    assert f.probs.tolist() == pytest.approx([0, 1])
    with pytest.raises(ValueError):
        Smoother(alpha=0)
