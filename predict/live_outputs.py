"""What `predict live` writes: the annotated video (--out) and the per-frame rows (--csv), each written
to a temporary place and published only when complete (a crash or a full disk leaves no half file)."""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from fer_browser.core.atomic import AtomicFile, disk_full, publish

from .errors import PredictError


class VideoOut:
    """mp4 written to a temp file beside the target, published only when complete and readable back.

    OpenCV's writer reports no write errors: on a full disk it ends the file without its index (the
    moov atom), a file no player opens. So the temp file is read back before it is published."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".mp4")
        os.close(fd)
        import cv2  # the video extra's: only `predict live` imports this module

        self.path, self.tmp, self.frames = path, Path(tmp), 0
        self.writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise PredictError(f"{path}: OpenCV cannot write MPEG-4 video here")

    def write(self, frame) -> None:
        self.writer.write(frame)
        self.frames += 1

    def finish(self) -> None:
        """End the file and check it; raises DiskFull or PredictError (the temp file is removed then)."""
        import cv2

        self.writer.release()
        cap = cv2.VideoCapture(str(self.tmp))
        complete = cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == self.frames
        cap.release()
        if complete:
            return
        try:  # why it failed: a full disk (or the file-size limit) refuses these bytes too, with its errno
            with open(self.tmp, "ab") as fh:
                fh.write(bytes(1 << 16))
        except OSError as exc:
            self.discard()
            raise disk_full(exc, self.path) or exc from None
        self.discard()
        raise PredictError(f"{self.path}: OpenCV wrote an unreadable video; nothing published")

    def commit(self) -> None:
        publish(self.tmp, self.path)

    def discard(self) -> None:
        self.writer.release()
        self.tmp.unlink(missing_ok=True)


class CsvOut:
    """One row per face per frame, streamed to a temp file beside the target (or written in place
    to a device or FIFO: fer_browser/core/atomic.py), published when closed cleanly."""

    def __init__(self, path: Path, classes: list[str]):
        self.out, self.classes = AtomicFile(path, "w", newline=""), classes
        self.writer = csv.writer(self.out.fh)
        self.writer.writerow(["frame", "time_s", "face", "track", "x", "y", "width", "height", "score", "label",
                              "confidence", "raw_label", *classes])

    def write(self, frame: int, stamp: float, smoothed, raw) -> None:
        try:
            for i, ((track, face), face_raw) in enumerate(zip(smoothed, raw)):
                b = face.box
                self.writer.writerow([frame, f"{stamp:.3f}", i, track, f"{b.x:.1f}", f"{b.y:.1f}", f"{b.width:.1f}",
                                      f"{b.height:.1f}", f"{b.score:.4f}", self.classes[face.top],
                                      f"{face.confidence:.4f}", self.classes[face_raw.top],
                                      *(f"{p:.5f}" for p in face.probs)])
        except OSError as exc:  # a full disk: DiskFull names the file
            self.out.discard(exc)

    def finish(self) -> None:
        try:
            self.out.fh.flush()  # a full disk shows here at the latest
        except BaseException as exc:
            self.out.discard(exc)

    def commit(self) -> None:
        self.out.commit()

    def discard(self) -> None:
        self.out.discard()


def close_outputs(outs, keep: bool) -> None:
    """Finish every output, then publish them all only if each one finished (never a video without
    its CSV, nor a half-written one); else remove them all. Temp files go on every path; the first
    failure is raised."""
    failure = None
    for out in outs:
        if keep and failure is None:
            try:
                out.finish()
            except BaseException as exc:
                failure = exc
    for out in outs:
        try:
            out.commit() if keep and failure is None else out.discard()
        except OSError as exc:  # a discard's error only repeats why the run is failing already
            failure = failure or (exc if keep else None)
    if failure is not None:
        raise failure
