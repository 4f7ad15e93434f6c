"""Face tracking and per-face smoothing for video: the twins of web/lib/tracker.js and web/lib/smoothing.js.

Every number comes from web/face_pipeline.json ("tracking", "smoothing"), the file the page reads. The
browser's tracker is the reference: tests/conformance/tracker.json (generated from it) pins this one
to the same ids and boxes on every sequence, so keep the arithmetic in the page's order.

Tracking: detections are matched to the tracks' predicted boxes (a track moves at its velocity since
its last detection), greedy, best IoU >= matchIou first, then the nearest centre within matchDistance
box widths for a face of similar size (a fast face the prediction could not follow yet). A track the
detector misses is hidden at once and dropped after maxMissed misses in a row or maxMissedMs unseen.
Smoothing: per tracked face, every time the model reads it, probs = alpha * new + (1 - alpha) *
previous; a new face starts from its first reading; alpha = 1 turns smoothing off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .boxes import Box, iou
from .face_pipeline import load_face_pipeline
from .recognition import Face


@dataclass
class Track:
    id: int
    box: Box  # the last detected box (its score too)
    t: float  # when it was detected (ms)
    seen: float
    vx: float = 0.0  # frame pixels per ms
    vy: float = 0.0
    missed: int = 0
    hits: int = 1


def _centre(b: Box) -> tuple[float, float]:
    return b.x + b.width / 2, b.y + b.height / 2


class FaceTracker:
    """web/lib/tracker.js FaceTracker. cfg: face_pipeline.json's "tracking" section."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.next_id = 1

    @staticmethod
    def box_at(track: Track, t: float) -> Box:
        """A track's box at time t: its last detected box moved by its velocity since then."""
        dt = max(0, t - track.t)
        b = track.box
        return Box(b.x + track.vx * dt, b.y + track.vy * dt, b.width, b.height, b.score)

    def predict(self, t: float) -> list[tuple[int, Box]]:
        """(id, box) of every track the last detection found, in track order."""
        return [(tr.id, self.box_at(tr, t)) for tr in self.tracks if tr.missed == 0]

    def wants_detection(self, t: float) -> bool:
        """A track was just missed, or has moved by prediction alone more than redetectDrift of its width."""
        drift = self.cfg["redetectDrift"]
        return any(tr.missed > 0 or math.hypot(tr.vx, tr.vy) * max(0, t - tr.t) > drift * tr.box.width
                   for tr in self.tracks)

    def update(self, boxes: list[Box], t: float) -> list[Track]:
        """Feed one detector run at time t (ms). Returns the track of each box, in the boxes' order (the
        page's update() returns predict(t), the same tracks in track order; the live loop here keeps
        the detector's order)."""
        c = self.cfg
        pairs = []
        for j, tr in enumerate(self.tracks):
            p = self.box_at(tr, t)
            px, py = _centre(p)
            for i, b in enumerate(boxes):
                o = iou(b, p)
                if o >= c["matchIou"]:
                    pairs.append((1 + o, i, j))
                else:  # a fast face without a velocity yet: near centre, similar size, ranked after IoU
                    bx, by = _centre(b)
                    d = math.hypot(bx - px, by - py) / max(p.width, p.height)
                    size = b.width / p.width
                    if d <= c["matchDistance"] and 0.67 < size < 1.5:
                        pairs.append((1 - d / c["matchDistance"], i, j))
        pairs.sort(key=lambda q: -q[0])  # stable, as the page's Array.sort: ties keep (track, box) order
        track_of: dict[int, Track] = {}
        taken: set[int] = set()
        for _, i, j in pairs:
            if i not in track_of and j not in taken:
                track_of[i] = self.tracks[j]
                taken.add(j)
        kept = []
        for j, tr in enumerate(self.tracks):
            if j not in taken:
                tr.missed += 1
                if not (tr.missed < c["maxMissed"] and t - tr.seen <= c["maxMissedMs"]):
                    continue
            kept.append(tr)
        self.tracks = kept
        out = []
        for i, b in enumerate(boxes):
            tr = track_of.get(i)
            if tr is None:
                tr = Track(self.next_id, b, t, t)
                self.next_id += 1
                self.tracks.append(tr)
            else:
                dt = t - tr.t
                if dt > 0 and tr.missed == 0:  # velocity from consecutive detections only
                    (x0, y0), (x1, y1) = _centre(tr.box), _centre(b)
                    w = 1 if tr.hits == 1 else c["velocitySmoothing"]  # the first measurement replaces the zero
                    tr.vx = w * (x1 - x0) / dt + (1 - w) * tr.vx
                    tr.vy = w * (y1 - y0) / dt + (1 - w) * tr.vy
                else:
                    tr.vx = tr.vy = 0.0  # found again after a miss: the old velocity is stale
                tr.box, tr.t, tr.seen, tr.missed, tr.hits = b, t, t, 0, tr.hits + 1
            out.append(tr)
        return out


def ema(previous: np.ndarray | None, new: np.ndarray, alpha: float) -> np.ndarray:
    """The "smoothing" rule of face_pipeline.json for one reading of one face (alpha: its weight)."""
    return np.array(new, np.float64) if previous is None else alpha * np.asarray(new) + (1 - alpha) * previous


class EmaSmoother:
    """web/lib/smoothing.js EmaSmoother: the smoothed probabilities of each face id. alpha is the newest
    reading's weight per reading, or with interval_ms > 0 per interval_ms of time (the page's reading
    cadence reads a face less often on a slow device; a per-time weight keeps the time constant)."""

    def __init__(self, alpha: float, interval_ms: float = 0.0):
        if not 0 < alpha <= 1:
            raise ValueError(f"smoothing alpha must be in (0, 1], not {alpha}")
        if not (interval_ms >= 0 and math.isfinite(interval_ms)):
            raise ValueError(f"smoothing intervalMs must be >= 0, not {interval_ms}")
        self.alpha, self.interval_ms = alpha, interval_ms
        self.state: dict[int, np.ndarray] = {}
        self.times: dict[int, float | None] = {}

    def weight(self, dt: float | None) -> float:
        """The newest reading's weight dt ms after the previous one (alpha without a positive dt)."""
        if not self.interval_ms or dt is None or not dt > 0:
            return self.alpha
        return 1 - (1 - self.alpha) ** (dt / self.interval_ms)

    def update(self, id: int, probs, t: float | None = None) -> np.ndarray:
        """The smoothed probabilities of face `id` after this reading, made at t ms (used with interval_ms)."""
        last = self.times.get(id)
        dt = None if t is None or last is None else t - last
        self.state[id] = ema(self.state.get(id), probs, self.weight(dt))
        self.times[id] = t
        return self.state[id].copy()

    def retain(self, ids) -> None:
        """Forget every face whose id is not in `ids` (its track ended)."""
        keep = set(ids)
        self.state = {k: v for k, v in self.state.items() if k in keep}
        self.times = {k: v for k, v in self.times.items() if k in keep}

    def reset(self) -> None:
        self.state.clear()
        self.times.clear()


class Smoother:
    """The live loop's tracker + smoother, glued as the page's Recognizer does: update(faces of the
    frame at t ms) -> [(track id, face with smoothed probabilities)] in the faces' order. `alpha` None
    and the tracking settings come from face_pipeline.json (`config`: the whole file as a dict,
    default: read it)."""

    def __init__(self, alpha: float | None = None, config: dict | None = None):
        config = config if config is not None else load_face_pipeline()
        self.tracker = FaceTracker(config["tracking"])
        smoothing = config["smoothing"]
        self.ema = EmaSmoother(smoothing["alpha"] if alpha is None else alpha, smoothing.get("intervalMs", 0))
        self.alpha = self.ema.alpha

    def update(self, faces: list[Face], t: float) -> list[tuple[int, Face]]:
        tracks = self.tracker.update([f.box for f in faces], t)
        out = [(tr.id, Face(f.box, self.ema.update(tr.id, f.probs, t))) for tr, f in zip(tracks, faces)]
        self.ema.retain(tr.id for tr in self.tracker.tracks)  # a missed track keeps its state until dropped
        return out
