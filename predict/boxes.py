"""Face boxes and their overlap: the one Python `iou` (detector merge, tracking, benchmarks, tests).

Light on purpose (no numpy, no ONNX): bench/ and tests import it without loading a model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Box:
    """A face box in frame pixels (x, y = top-left corner), as the browser's {x, y, width, height}."""
    x: float
    y: float
    width: float
    height: float
    score: float = 1.0

    def as_dict(self) -> dict:
        return {k: round(float(v), 2 if k != "score" else 4) for k, v in asdict(self).items()}


def _xywh(b) -> tuple[float, float, float, float]:
    if isinstance(b, dict):
        return b["x"], b["y"], b["width"], b["height"]
    if isinstance(b, Box):
        return b.x, b.y, b.width, b.height
    return tuple(b)[:4]


def iou(a, b) -> float:
    """Intersection over union of two boxes: Box, {x, y, width, height} dicts or (x, y, w, h) tuples.
    Same arithmetic as web/js (so merges decide alike at the threshold); 0 for two empty boxes."""
    ax, ay, aw, ah = _xywh(a)
    bx, by, bw, bh = _xywh(b)
    x1, y1 = max(ax, bx), max(ay, by)
    x2, y2 = min(ax + aw, bx + bw), min(ay + ah, by + bh)
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
