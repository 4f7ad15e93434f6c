"""Per-face smoothing for video: faces are matched to tracks by box overlap, probabilities averaged.

The rule is web/face_pipeline.json's "smoothing" (method "ema"), the same the page applies: per
tracked face, every time the model reads it, probs = alpha * new + (1 - alpha) * previous; a new face
starts from its first reading; alpha = 1 turns smoothing off. Faces join tracks when their boxes
overlap by at least "tracking".matchIou (greedy, best overlap first); a track the detector misses
"tracking".maxMissed times in a row is dropped, and a face found after that starts afresh.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import Box, iou
from .face_pipeline import load_face_pipeline
from .pipeline import Face


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray
    missed: int = 0


def ema(previous: np.ndarray | None, new: np.ndarray, alpha: float) -> np.ndarray:
    """The "smoothing" rule of face_pipeline.json for one reading of one face."""
    return new.copy() if previous is None else alpha * new + (1 - alpha) * previous


class Smoother:
    """update(faces of one frame) -> [(track id, face with smoothed probabilities)]. Parameters left
    as None come from face_pipeline.json (`config`: the whole file as a dict, default: read it)."""

    def __init__(self, alpha: float | None = None, min_iou: float | None = None, max_missed: int | None = None,
                 config: dict | None = None):
        if None in (alpha, min_iou, max_missed):
            config = config if config is not None else load_face_pipeline()
            alpha = config["smoothing"]["alpha"] if alpha is None else alpha
            min_iou = config["tracking"]["matchIou"] if min_iou is None else min_iou
            max_missed = config["tracking"]["maxMissed"] if max_missed is None else max_missed
        if not 0 < alpha <= 1:
            raise ValueError("smoothing alpha must be in (0, 1]")
        self.alpha, self.min_iou, self.max_missed = alpha, min_iou, max_missed
        self.tracks: list[Track] = []
        self.next_id = 0

    def update(self, faces: list[Face]) -> list[tuple[int, Face]]:
        """(track id, face with smoothed probabilities) for every face of this frame, in input order."""
        pairs = sorted(((iou(f.box, t.box), fi, ti) for fi, f in enumerate(faces)
                        for ti, t in enumerate(self.tracks)), reverse=True)
        face_track: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, fi, ti in pairs:  # greedy: best overlaps first, each face and track once
            if overlap < self.min_iou:
                break
            if fi not in face_track and ti not in used:
                face_track[fi] = self.tracks[ti]
                used.add(ti)
        for ti, t in enumerate(self.tracks):
            if ti not in used:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed < self.max_missed]  # as web/lib/tracker.js
        out = []
        for fi, face in enumerate(faces):
            track = face_track.get(fi)
            if track is None:
                track = Track(self.next_id, face.box, ema(None, face.probs, self.alpha))
                self.next_id += 1
                self.tracks.append(track)
            else:
                track.probs = ema(track.probs, face.probs, self.alpha)
                track.box, track.missed = face.box, 0
            out.append((track.id, Face(face.box, track.probs.copy())))
        return out
