"""The emotion timeline chart of `predict live` (predict/timeline.py) on a hand-made sequence: one panel
per face track, each class's smoothed probability over time in the annotated video's class colour,
lines broken where the face was not seen."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fer_browser.predict.draw import class_colour
from fer_browser.predict.timeline import Timeline, timeline_path

CLASSES = ["calm", "joy", "anger"]


def sequence() -> Timeline:
    """Track 0: 'calm' for 1 s, then 'joy'; track 1 ('anger') seen from 0.5 s, missing at 1.0-1.2 s."""
    t = Timeline(CLASSES)
    for i in range(20):
        faces = [(0, SimpleNamespace(probs=[1, 0, 0] if i < 10 else [0, 1, 0]))]
        if i >= 5 and i not in (10, 11):
            faces.append((7, SimpleNamespace(probs=[0.1, 0.1, 0.8])))
        t.add(i, i / 10, faces)
    return t


def pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def colour_near(img, ax, t, p, rgb, radius=3) -> bool:
    """Does the class colour appear within `radius` pixels of the point (time t, probability p)?"""
    x, y = ax.transData.transform((t, p))
    row, col = img.shape[0] - int(round(y)), int(round(x))
    patch = img[row - radius:row + radius + 1, col - radius:col + radius + 1]
    return bool((np.abs(patch - np.array(rgb)).max(axis=2) < 40).any())


def test_series_follow_the_frames_and_break_at_gaps():
    t = sequence()
    times, probs = t.arrays(7)
    assert probs.shape[1] == 3
    gap = np.flatnonzero(np.isnan(probs[:, 0]))
    assert len(gap) == 1 and 0.9 < times[gap[0]] < 1.2  # one break, between 0.9 s and 1.2 s
    assert np.nansum(probs, axis=1)[~np.isnan(probs[:, 0])] == pytest.approx(1)
    times0, probs0 = t.arrays(0)
    assert len(times0) == 20 and not np.isnan(probs0).any()


def test_chart_draws_each_class_in_its_colour_per_track():
    import matplotlib.pyplot as plt

    t = sequence()
    fig = t.figure("clip.mp4")
    try:
        axes = fig.axes
        assert len(axes) == 2  # one panel per track
        assert [a.get_ylabel() for a in axes] == ["probability\n(smoothed)"] * 2
        assert axes[-1].get_xlabel() == "time (s)"
        assert [x.get_text() for x in axes[0].get_legend().get_texts()] == CLASSES
        assert "track 0" in axes[0].get_title(loc="left") and "track 7" in axes[1].get_title(loc="left")
        img = pixels(fig)
        rgb = [tuple(reversed(class_colour(i, len(CLASSES)))) for i in range(len(CLASSES))]
        calm, joy, anger = rgb
        a0, a1 = axes
        assert colour_near(img, a0, 0.4, 1.0, calm) and not colour_near(img, a0, 0.4, 1.0, joy)
        assert colour_near(img, a0, 1.6, 1.0, joy) and not colour_near(img, a0, 1.6, 1.0, calm)
        assert colour_near(img, a1, 0.7, 0.8, anger) and colour_near(img, a1, 1.6, 0.8, anger)
        assert not colour_near(img, a1, 1.1, 0.8, anger, radius=1)  # the face was not seen there
    finally:
        plt.close(fig)


def test_written_atomically_beside_the_csv(tmp_path):
    path = timeline_path(tmp_path / "faces.csv")
    assert path == tmp_path / "faces_timeline.png"
    sequence().write(path, "clip.mp4")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["faces_timeline.png"]  # no temp file left


def test_no_faces_still_gives_a_chart(tmp_path):
    Timeline(CLASSES).write(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000
