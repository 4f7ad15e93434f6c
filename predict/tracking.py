"""Per-face smoothing for video: faces are matched to tracks by box overlap, probabilities averaged.

An exponential moving average (weight `alpha` on the newest frame) steadies the label without
lagging more than a few frames; a track not seen for `max_missed` frames is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detector import Box, iou
from .pipeline import Face


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray
    missed: int = 0


class Smoother:
    def __init__(self, alpha: float = 0.4, min_iou: float = 0.3, max_missed: int = 5):
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
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        out = []
        for fi, face in enumerate(faces):
            track = face_track.get(fi)
            if track is None:
                track = Track(self.next_id, face.box, face.probs.copy())
                self.next_id += 1
                self.tracks.append(track)
            else:
                track.probs = self.alpha * face.probs + (1 - self.alpha) * track.probs
                track.box, track.missed = face.box, 0
            out.append((track.id, Face(face.box, track.probs.copy())))
        return out
