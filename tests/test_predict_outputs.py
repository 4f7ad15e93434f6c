"""No surprise overwrites in `python -m predict`: an output that is an input (any spelling of it) and
outputs in missing folders or on folders are refused with one line before any work; a video that
ends early through damage says so and exits non-zero."""
from __future__ import annotations

import os
import re
import shutil

import cv2
import numpy as np
import pytest

from predict_helpers import ROOT, astronaut, model_dir, photos, run_predict, video


def one_line_error(proc, *words) -> str:
    """Exit non-zero with exactly one error line (a progress bar may have been drawn before it)."""
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip() and not re.search(r"\d+%\|", line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    shutil.copy(video()[0], path)
    return path


def live(*args):
    # --model-dir nope: the refusals must come before the model is even looked at
    return run_predict("live", *args, "--model-dir", "no-such-model-dir")


def unchanged(path, before: bytes) -> bool:
    return path.read_bytes() == before


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink", "relative"])
def test_live_out_that_is_the_input_video_is_refused(clip, tmp_path, spelling, monkeypatch):
    before = clip.read_bytes()
    (tmp_path / "sub").mkdir()
    out = {"same": clip, "dotdot": tmp_path / "sub" / ".." / "clip.mp4", "symlink": tmp_path / "link.mp4",
           "hardlink": tmp_path / "hard.mp4", "relative": os.path.relpath(clip, ROOT)}[spelling]
    if spelling == "symlink":
        os.symlink(clip, out)
    if spelling == "hardlink":
        os.link(clip, out)
    one_line_error(live("--video", clip, "--out", out), "--out", "input of this run")
    assert unchanged(clip, before)


def test_live_csv_that_is_the_input_or_the_video_output_is_refused(clip, tmp_path):
    before = clip.read_bytes()
    one_line_error(live("--video", clip, "--csv", clip), "--csv", "input of this run")
    one_line_error(live("--video", clip, "--out", tmp_path / "o.mp4", "--csv", tmp_path / "o.mp4"),
                   "--csv", "another output")
    assert unchanged(clip, before) and not (tmp_path / "o.mp4").exists()


def test_live_outputs_in_missing_folders_or_on_folders_are_refused(clip, tmp_path):
    one_line_error(live("--video", clip, "--out", tmp_path / "no" / "such" / "o.mp4"), "does not exist")
    assert not (tmp_path / "no").exists()  # no folder the user did not ask for
    one_line_error(live("--video", clip, "--csv", tmp_path), "is a folder")
    one_line_error(live("--video", clip, "--out", tmp_path / "o.avi"), "must end in .mp4")


def test_image_json_in_a_missing_folder_is_refused_and_not_created(tmp_path):
    one_line_error(run_predict("image", photos()["astronaut"][0], "--model-dir", model_dir(), "--no-images",
                               "--json", tmp_path / "nonexistent" / "x.json"), "--json", "does not exist")
    assert not (tmp_path / "nonexistent").exists()


def test_image_json_on_a_folder_fails_before_any_image(tmp_path):
    out = tmp_path / "annotated"
    proc = run_predict("image", photos()["astronaut"][0], photos()["two_faces"][0], "--model-dir", "no-such-dir",
                       "--out", out, "--json", tmp_path)
    one_line_error(proc, "--json", "is a folder")
    assert "face(s)" not in proc.stdout and not out.exists()  # nothing analysed, nothing written


def test_image_json_that_is_an_input_or_an_annotated_copy_is_refused(tmp_path):
    photo = tmp_path / "me.png"
    shutil.copy(photos()["astronaut"][0], photo)
    before = photo.read_bytes()
    one_line_error(run_predict("image", photo, "--model-dir", "no-such-dir", "--json", photo, "--no-images"),
                   "--json", "input of this run")
    os.symlink(photo, tmp_path / "alias.json")
    one_line_error(run_predict("image", photo, "--model-dir", "no-such-dir", "--json", tmp_path / "alias.json",
                               "--no-images"), "input of this run")
    one_line_error(run_predict("image", photo, "--model-dir", "no-such-dir", "--out", tmp_path / "out",
                               "--json", tmp_path / "out" / "me.png"), "another output")
    assert unchanged(photo, before)


def test_image_annotated_copy_never_lands_on_another_input(tmp_path):
    """a/x.png and b/x.png with --out b: b/x.png is an input, so a's copy must not be written there."""
    for d, flip in (("a", False), ("b", True)):
        (tmp_path / d).mkdir()
        rgb = astronaut()[:, ::-1] if flip else astronaut()
        cv2.imwrite(str(tmp_path / d / "x.png"), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    before = (tmp_path / "b" / "x.png").read_bytes()
    proc = run_predict("image", tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "--model-dir", model_dir(),
                       "--out", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert unchanged(tmp_path / "b" / "x.png", before)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["x-annotated-2.png", "x-annotated.png", "x.png"]


def test_image_annotated_copy_on_a_folder_is_refused_before_work(tmp_path):
    (tmp_path / "out" / "astronaut.png").mkdir(parents=True)
    one_line_error(run_predict("image", photos()["astronaut"][0], "--model-dir", "no-such-dir", "--out",
                               tmp_path / "out"), "cannot write astronaut.png")


@pytest.fixture(scope="module")
def damaged_video(tmp_path_factory):
    """20 frames written by OpenCV, then 5000 bytes in the middle of the frame data overwritten:
    the container still says 20 frames, FFmpeg's reader stops after a few."""
    path = tmp_path_factory.mktemp("video") / "damaged.mp4"
    frame = cv2.cvtColor(cv2.resize(astronaut(), (320, 320)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 320))
    for i in range(20):
        writer.write(np.roll(frame, 5 * i, axis=1))
    writer.release()
    data = path.read_bytes()
    mid = len(data) // 3
    path.write_bytes(data[:mid] + np.random.default_rng(0).bytes(5000) + data[mid + 5000:])
    cap = cv2.VideoCapture(str(path))
    read = 0
    while cap.read()[0]:
        read += 1
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 20 and 0 < read < 20  # the damage this test is about
    return path, read


def test_video_damaged_mid_stream_fails_and_publishes_nothing(damaged_video, tmp_path):
    path, read = damaged_video
    line = one_line_error(run_predict("live", "--video", path, "--out", tmp_path / "o.mp4", "--csv",
                                      tmp_path / "o.csv", "--model-dir", model_dir()),
                          "damaged.mp4", f"ended after {read} of 20 frames", "no output written")
    assert "damaged or truncated" in line
    assert list(tmp_path.iterdir()) == []  # no partial video or CSV, no temp files


def test_max_frames_short_of_the_damage_is_fine(damaged_video, tmp_path):
    path, read = damaged_video
    proc = run_predict("live", "--video", path, "--csv", tmp_path / "o.csv", "--max-frames", read,
                       "--model-dir", model_dir())
    assert proc.returncode == 0, proc.stderr
    assert f"{read} frames" in proc.stdout
