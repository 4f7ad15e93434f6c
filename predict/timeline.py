"""The emotion timeline of `predict live`: per tracked face, its smoothed probability of each class over
time, drawn as a PNG beside the CSV (the same numbers as the CSV's class columns).

Class colours are the annotated video's (predict/draw.class_colour), so a line and a box of one class
look alike. Long sessions with many brief faces show the longest-tracked faces only, and say so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_browser.core.atomic import atomic_open

from .draw import class_colour

MAX_PANELS = 8  # tracks drawn; the rest (the shortest) are counted in the title


@dataclass
class Series:
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)


class Timeline:
    """add() every frame's smoothed faces; write() the chart."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.tracks: dict[int, Series] = {}

    def add(self, frame: int, stamp: float, smoothed) -> None:
        """smoothed: [(track id, Face)] of one frame, as tracking.Smoother.update returns them."""
        for track, face in smoothed:
            s = self.tracks.setdefault(track, Series())
            s.frames.append(frame)
            s.times.append(stamp)
            s.probs.append(np.asarray(face.probs, np.float64))

    def arrays(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        """(times, probs (T, C)) of one track, with a NaN row where its frames have a gap, so the
        lines break where the face was not seen instead of bridging the gap."""
        s = self.tracks[track]
        times, probs = [], []
        for i, (f, t, p) in enumerate(zip(s.frames, s.times, s.probs)):
            if i and f > s.frames[i - 1] + 1:
                times.append((s.times[i - 1] + t) / 2)
                probs.append(np.full(len(self.classes), np.nan))
            times.append(t)
            probs.append(p)
        return np.asarray(times), np.asarray(probs).reshape(-1, len(self.classes))

    def colours(self) -> list[tuple[float, float, float]]:
        """Matplotlib RGB of each class: the annotated video's colours."""
        return [tuple(c / 255 for c in reversed(class_colour(i, len(self.classes))))  # BGR -> RGB
                for i in range(len(self.classes))]

    def figure(self, source: str = ""):
        """The chart as a matplotlib Figure: one panel per face track (the longest MAX_PANELS)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.patheffects as pe
        import matplotlib.pyplot as plt

        shown = sorted(sorted(self.tracks, key=lambda t: -len(self.tracks[t].frames))[:MAX_PANELS])
        rows = max(1, len(shown))
        fig, axes = plt.subplots(rows, 1, figsize=(10, 1.3 + 1.9 * rows), sharex=True, squeeze=False)
        colours = self.colours()
        outline = [pe.Stroke(linewidth=2.8, foreground=(0, 0, 0, 0.3)), pe.Normal()]  # light colours on white
        for ax, track in zip(axes[:, 0], shown):
            times, probs = self.arrays(track)
            for c, name in enumerate(self.classes):
                ax.plot(times, probs[:, c], color=colours[c], linewidth=1.6, label=name, path_effects=outline)
            s = self.tracks[track]
            ax.set_title(f"face track {track}: frames {s.frames[0]}-{s.frames[-1]} ({len(s.frames)} seen)",
                         fontsize=9, loc="left")
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("probability\n(smoothed)")
            ax.grid(alpha=0.3)
        if not shown:
            axes[0, 0].text(0.5, 0.5, "no face was found", ha="center", va="center", transform=axes[0, 0].transAxes)
            axes[0, 0].set_yticks([])
        axes[-1, 0].set_xlabel("time (s)")
        handles = [plt.Line2D([], [], color=colours[c], linewidth=2) for c in range(len(self.classes))]
        axes[0, 0].legend(handles, self.classes, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                          title="class", title_fontsize=8)
        hidden = len(self.tracks) - len(shown)
        fig.suptitle(f"Emotion timeline{': ' + source if source else ''}"
                     + (f" ({hidden} shorter face tracks not shown)" if hidden else ""), x=0.01, ha="left",
                     fontsize=10)
        fig.tight_layout()
        return fig

    def write(self, path: Path, source: str = "") -> None:
        import matplotlib.pyplot as plt

        fig = self.figure(source)
        try:
            with atomic_open(path) as fh:  # a reader never sees half a PNG
                fig.savefig(fh, format="png", dpi=100)
        finally:
            plt.close(fig)


def timeline_path(csv_path: Path) -> Path:
    """The chart's file beside the CSV: faces.csv -> faces_timeline.png."""
    return csv_path.with_name(f"{csv_path.stem}_timeline.png")
