"""Annotations on BGR frames: a box per face, its label and confidence, and an optional fps line."""
from __future__ import annotations

import colorsys

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_colour(index: int, count: int) -> tuple[int, int, int]:
    """Evenly spaced hues, one per class (BGR); no class name is hard-coded."""
    r, g, b = colorsys.hsv_to_rgb(index / max(count, 1), 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_faces(frame: np.ndarray, faces, classes: list[str]) -> np.ndarray:
    """Draw in place on a BGR uint8 frame; faces have .box, .top and .confidence."""
    h, w = frame.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1400)
    for face in faces:
        b = face.box
        colour = class_colour(face.top, len(classes))
        p0 = (int(round(b.x)), int(round(b.y)))
        p1 = (int(round(b.x + b.width)), int(round(b.y + b.height)))
        cv2.rectangle(frame, p0, p1, colour, thick, cv2.LINE_AA)
        text = f"{classes[face.top]} {face.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
        top = p0[1] - th - base - 2 if p0[1] - th - base - 2 >= 0 else p1[1]  # below the box at the top edge
        cv2.rectangle(frame, (p0[0], top), (p0[0] + tw + 4, top + th + base + 2), colour, cv2.FILLED)
        cv2.putText(frame, text, (p0[0] + 2, top + th + 1), FONT, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return frame


def draw_fps(frame: np.ndarray, fps: float) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = max(0.5, max(h, w) / 1200)
    text = f"{fps:.1f} fps"
    cv2.putText(frame, text, (8, int(30 * scale) + 4), FONT, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(frame, text, (8, int(30 * scale) + 4), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return frame
