"""Annotations: a box per face, its label and confidence, and an optional fps line.

Stills (`predict image`) are drawn with Pillow on RGB images, so the predict extra needs no OpenCV;
video frames (`predict live`, the video extra) are BGR arrays drawn with OpenCV, in the same colours."""
from __future__ import annotations

import colorsys

import numpy as np


def class_colour(index: int, count: int) -> tuple[int, int, int]:
    """Evenly spaced hues, one per class (BGR); no class name is hard-coded."""
    r, g, b = colorsys.hsv_to_rgb(index / max(count, 1), 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def _font(px: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)  # scalable (Pillow >= 10.1 with FreeType)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()  # Pillow's fixed-size bitmap font


def annotate(rgb: np.ndarray, faces, classes: list[str]):
    """A Pillow RGB copy of an RGB uint8 image with each face's box and label; faces have .box, .top
    and .confidence. The same layout as draw_faces: label above the box, below it at the top edge."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    h, w = rgb.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    font = _font(max(11, round(max(h, w) / 60)))
    draw = ImageDraw.Draw(img)
    for face in faces:
        b = face.box
        colour = tuple(reversed(class_colour(face.top, len(classes))))  # BGR -> RGB
        x0, y0 = int(round(b.x)), int(round(b.y))
        x1, y1 = int(round(b.x + b.width)), int(round(b.y + b.height))
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=thick)
        text = f"{classes[face.top]} {face.confidence:.2f}"
        left, top_px, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top_px
        top = y0 - th - 6 if y0 - th - 6 >= 0 else y1  # below the box at the top edge
        draw.rectangle((x0, top, x0 + tw + 4, top + th + 6), fill=colour)
        draw.text((x0 + 2 - left, top + 3 - top_px), text, fill=(0, 0, 0), font=font)
    return img


def draw_faces(frame: np.ndarray, faces, classes: list[str]) -> np.ndarray:
    """Draw in place on a BGR uint8 video frame (predict live); faces have .box, .top and .confidence."""
    import cv2  # the video extra's; stills use annotate()

    font = cv2.FONT_HERSHEY_SIMPLEX
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
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        top = p0[1] - th - base - 2 if p0[1] - th - base - 2 >= 0 else p1[1]  # below the box at the top edge
        cv2.rectangle(frame, (p0[0], top), (p0[0] + tw + 4, top + th + base + 2), colour, cv2.FILLED)
        cv2.putText(frame, text, (p0[0] + 2, top + th + 1), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return frame


def draw_fps(frame: np.ndarray, fps: float) -> np.ndarray:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = frame.shape[:2]
    scale = max(0.5, max(h, w) / 1200)
    text = f"{fps:.1f} fps"
    cv2.putText(frame, text, (8, int(30 * scale) + 4), font, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(frame, text, (8, int(30 * scale) + 4), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return frame
