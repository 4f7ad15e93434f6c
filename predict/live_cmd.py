"""`python -m predict live`: camera or video file -> faces, smoothed emotions and fps, shown and/or saved.

Window mode shows frames with cv2.imshow (q or Esc quits). Without a display, with --no-window, or
with OpenCV's headless build (the video extra's), it runs headless and writes the annotated video
(--out) and per-frame rows (--csv). With --csv it also draws each face's smoothed probabilities over
time as a PNG beside the CSV (FILE_timeline.png) when matplotlib is installed.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .draw import draw_faces, draw_fps
from .errors import PredictError
from .outputs import FileSet, check_output_file
from fer_browser.core.atomic import in_place
from .live_outputs import CsvOut, VideoOut, close_outputs
from .timeline import Timeline, timeline_path
from .tracking import Smoother

try:  # OpenCV is the 'video' extra's, not predict's: without it `image` and --help still work
    import cv2
except ModuleNotFoundError as exc:
    if exc.name != "cv2":
        raise
    cv2 = None
VIDEO_HINT = 'pip install "fer-browser[video]"'

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines would bury our one-line errors
WINDOW = "predict live (q or Esc quits)"
QUIT_KEYS = {ord("q"), ord("Q"), 27}


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="camera index (default: 0)")
    src.add_argument("--video", type=Path, metavar="FILE", help="read a video file instead of a camera")
    p.add_argument("--out", type=Path, metavar="FILE.mp4", help="write the annotated video (MPEG-4)")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="write one row per face per frame, and a timeline chart beside it (FILE_timeline.png)")
    p.add_argument("--no-window", action="store_true", help="never open a window (implied without a display)")
    p.add_argument("--smooth", type=float, metavar="ALPHA",
                   help="weight of the newest reading in each face's exponential average per \"smoothing\"."
                        "intervalMs of time, in (0, 1]; 1 = no smoothing (default: \"smoothing\".alpha of "
                        "web/face_pipeline.json, as the page)")
    p.add_argument("--max-frames", type=int, default=0, metavar="N", help="stop after N frames (0 = no limit)")


def has_display() -> bool:
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def has_gui() -> bool:
    """Whether this OpenCV can open a window: opencv-python-headless (the video extra's) has no GUI
    backend, and its cv2.imshow only raises."""
    found = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    return not found or found.group(1).upper() != "NONE"


def open_source(args) -> tuple["cv2.VideoCapture", str]:
    if args.video is not None:
        if not args.video.is_file():
            raise PredictError(f"{args.video}: no such video file")
        what, source = str(args.video), str(args.video)
    else:
        index = 0 if args.camera is None else args.camera
        what, source = f"camera {index}", index
    previous = cv2.getLogLevel()
    cv2.setLogLevel(0)  # OpenCV's backend warnings; our error below says what happened
    try:
        cap = cv2.VideoCapture(source)
    finally:
        cv2.setLogLevel(previous)
    if not cap.isOpened():
        hint = "not a video OpenCV/FFmpeg can read" if args.video is not None else "no such camera or it is busy"
        raise PredictError(f"cannot open {what}: {hint}")
    return cap, what


class Window:
    """cv2.imshow window; closed by q, Esc or its close button."""

    def __init__(self):
        self.watch_close = None

    def show(self, frame) -> bool:
        """Show a frame; False when the user asked to quit."""
        cv2.imshow(WINDOW, frame)
        key = cv2.waitKey(1) & 0xFF
        visible = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE)
        if self.watch_close is None:  # some GUI backends cannot report it: then only keys quit
            self.watch_close = visible >= 1
        return not (key in QUIT_KEYS or (self.watch_close and visible < 1))

    def close(self) -> None:
        cv2.destroyAllWindows()


def prepare(args) -> None:
    """Options and output paths, refused before the model loads or a frame is read."""
    if cv2 is None:
        raise PredictError(f"live needs the 'video' extra (OpenCV, for cameras, video files and mp4); "
                           f"install it with: {VIDEO_HINT}")
    if args.smooth is not None and not 0 < args.smooth <= 1:
        raise PredictError("--smooth must be in (0, 1]")
    if args.max_frames < 0:
        raise PredictError("--max-frames must be 0 (no limit) or more")
    if not (args.out or args.csv) and (args.no_window or not has_display()):
        raise PredictError("no display for a window: pass --out FILE.mp4 and/or --csv FILE to run headless")
    if not (args.out or args.csv) and not has_gui():
        raise PredictError("this OpenCV has no window support (opencv-python-headless): pass --out FILE.mp4 "
                           "and/or --csv FILE to run headless, or install opencv-python in its place")
    if args.video is not None and not args.video.is_file():
        raise PredictError(f"{args.video}: no such video file")
    inputs = FileSet([args.video] if args.video is not None else [])
    if args.out:
        if args.out.suffix.lower() != ".mp4":
            raise PredictError(f"--out {args.out}: must end in .mp4")
        if in_place(args.out):  # the MPEG-4 muxer seeks back to finish the file: a device or FIFO cannot
            raise PredictError(f"--out {args.out}: not a regular file; MPEG-4 video needs one")
        check_output_file(args.out, "--out", inputs)
    # A device or FIFO given as --csv is written in place and has no folder to put a chart "beside"
    args.timeline = timeline_path(args.csv) if args.csv and not in_place(args.csv) else None
    if args.timeline and importlib.util.find_spec("matplotlib") is None:  # not in the predict extra
        print(f"note: no timeline chart ({args.timeline.name}): matplotlib is not installed "
              "(pip install matplotlib)", file=sys.stderr)
        args.timeline = None
    if args.csv:
        check_output_file(args.csv, "--csv", inputs, FileSet([args.out] if args.out else []))
    if args.timeline:
        check_output_file(args.timeline, "--csv (its timeline chart)", inputs,
                          FileSet([p for p in (args.out, args.csv) if p]))


MJPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


def cut_off_mjpeg(path: Path) -> bool:
    """A raw MJPEG stream (JPEG after JPEG, no container: no frame count to compare with) whose last
    JPEG lacks its end-of-image marker: truncated. FFmpeg still decodes that frame, greyed where data
    is missing, and ends quietly."""
    with open(path, "rb") as fh:
        if fh.read(len(MJPEG_START)) != MJPEG_START:
            return False
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - 64))
        return not fh.read().rstrip(b"\0").endswith(JPEG_END)  # some writers pad with zeros


def run(args, pipeline) -> int:
    window = Window() if not args.no_window and has_display() and has_gui() else None
    cap, what = open_source(args)
    ok, frame = cap.read()
    if not ok:
        cap.release()
        raise PredictError(f"{what} opened but gave no frames")
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    src_fps = src_fps if 1 <= src_fps <= 240 else 15.0
    stated = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if args.video is not None else 0  # < 1: unknown
    total = max(stated, 0)
    if args.max_frames:
        total = min(total, args.max_frames) if total > 0 else args.max_frames
    smoother = Smoother(alpha=args.smooth)
    bar = tqdm(total=total or None, desc=what, unit="frame", file=sys.stderr, disable=window is not None)
    writer = table = None
    timeline = Timeline(pipeline.classes) if args.timeline else None
    n, faces_seen, fps, started, finished, short = 0, 0, 0.0, time.perf_counter(), False, False
    try:
        writer = VideoOut(args.out, src_fps, (frame.shape[1], frame.shape[0])) if args.out else None
        table = CsvOut(args.csv, pipeline.classes) if args.csv else None
        while ok:
            t0 = time.perf_counter()
            faces = pipeline(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            # the tracker's clock (velocity, maxMissedMs): the video's own time, or the camera's wall clock
            stamp = n / src_fps if args.video is not None else time.perf_counter() - started
            smoothed = smoother.update(faces, 1000 * stamp)
            if table:
                table.write(n, stamp, smoothed, faces)
                if timeline:
                    timeline.add(n, stamp, smoothed)
            faces_seen += len(faces)
            dt = time.perf_counter() - t0
            fps = 1 / max(dt, 1e-6) if n == 0 else 0.9 * fps + 0.1 / max(dt, 1e-6)  # steady on-screen figure
            draw_fps(draw_faces(frame, [f for _, f in smoothed], pipeline.classes), fps)
            if writer:
                writer.write(frame)
            n += 1
            bar.update(1)
            if (window and not window.show(frame)) or (args.max_frames and n >= args.max_frames):
                break
            ok, frame = cap.read()
        finished = True
        # FFmpeg's reader ends quietly at damaged data: a file that stops before the frame count its
        # container states, or a raw MJPEG stream cut off mid-frame, is reported, and its partial
        # results are not published as if complete.
        if args.video is not None and not ok:
            short = n < stated if stated > 0 else cut_off_mjpeg(args.video)
    except KeyboardInterrupt:
        finished = True  # Ctrl+C ends a live session normally: keep what was recorded
    finally:
        bar.close()
        cap.release()
        try:
            close_outputs([out for out in (writer, table) if out], keep=finished and not short)
        finally:
            if window:
                window.close()
    if timeline and finished and not short:
        timeline.write(args.timeline, args.video.name if args.video is not None else what)
    if short:
        cut = f"{n} of {stated} frames" if stated > 0 else f"{n} frames, its last JPEG cut off"
        files = [p for p in (args.out, args.csv) if p]  # a device or FIFO has had its rows already
        raise PredictError(f"{what}: video ended after {cut} (damaged or truncated mid-stream)"
                           + ("; no output written" if files and not any(map(in_place, files)) else ""))
    elapsed = time.perf_counter() - started
    print(f"{what}: {n} frames, {faces_seen} face detections, {n / max(elapsed, 1e-9):.1f} fps overall"
          + (f"; video {args.out}" if args.out else "")
          + (f"; results {args.csv}" if args.csv else "") + (f", timeline {args.timeline}" if args.timeline else ""))
    return 0
