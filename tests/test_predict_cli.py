"""`python -m predict image|live` end to end on real face photos and a video made from them."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from predict_helpers import PYTHON, ROOT, match, model_dir, photos, run_predict, video

from fer_browser.predict.backends import default_checkpoint
from fer_browser.predict.draw import class_colour
from fer_browser.predict.recognition import Pipeline


def classes() -> list[str]:
    return json.loads((model_dir() / "metadata.json").read_text())["classes"]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """One run over a folder (2 photos) and a file, as a user would type it."""
    tmp = tmp_path_factory.mktemp("image")
    folder = tmp / "in"
    folder.mkdir()
    for name in ("astronaut", "two_faces"):
        shutil.copy(photos()[name][0], folder)
    (folder / "notes.txt").write_text("not an image; folders skip it")
    proc = run_predict("image", folder, photos()["three_faces"][0], "--model-dir", model_dir(),
                       "--out", tmp / "out", "--json", tmp / "faces.json")
    return tmp, proc


def test_image_command_writes_annotations_and_json(image_run):
    tmp, proc = image_run
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp / "faces.json").read_text())
    assert report["classes"] == classes() and report["model"]["backend"] == "onnx"
    by_name = {os.path.basename(e["path"]): e for e in report["images"]}
    assert sorted(by_name) == ["astronaut.png", "three_faces.png", "two_faces.png"]
    for name, entry in by_name.items():
        expected = photos()[name[:-4]][1]
        assert len(entry["faces"]) == len(expected), name
        assert min(iou for _, iou in match(expected, [f["box"] for f in entry["faces"]])) >= 0.5
        for face in entry["faces"]:
            probs = face["probabilities"]
            assert list(probs) == classes() and sum(probs.values()) == pytest.approx(1, abs=1e-3)
            assert face["label"] == max(probs, key=probs.get)
            assert face["confidence"] == pytest.approx(max(probs.values()), abs=1e-4)
        # the annotated copy: same size as the photo, changed where boxes and labels were drawn
        original = cv2.imread(str(photos()[name[:-4]][0]))
        annotated = cv2.imread(entry["annotated"])
        assert annotated.shape == original.shape
        changed = np.any(annotated != original, axis=2)
        for face in entry["faces"]:
            b = face["box"]
            x0, y0 = int(b["x"]), int(b["y"])
            # the box's left edge: each row crosses it (a 1-px Pillow line at round(x); int(x) floors)
            assert changed[y0:y0 + int(b["height"]), max(0, x0 - 1):x0 + 3].any(axis=1).mean() > 0.9
        assert changed.mean() < 0.2  # only the overlays
        for face in entry["faces"]:  # box and label background in the class's colour (BGR, as the video's)
            colour = np.array(class_colour(classes().index(face["label"]), len(classes())))
            in_colour = lambda img: (np.abs(img.astype(int) - colour).max(axis=2) < 40).sum()  # noqa: E731
            assert in_colour(annotated) > in_colour(original) + 100, (name, face["label"])
    # one summary line per photo; the progress bar on stderr
    assert len([line for line in proc.stdout.splitlines() if "face(s)" in line]) == 3
    assert "images" in proc.stderr and "3/3" in proc.stderr


def test_json_to_stdout_is_only_json(tmp_path):
    path, expected = photos()["astronaut"]
    proc = run_predict("image", path, "--model-dir", model_dir(), "--json", "-", "--no-images", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["images"][0]["faces"]) == 1 and "annotated" not in report["images"][0]
    assert list(tmp_path.iterdir()) == []


def test_onnx_and_torch_backends_agree():
    onnx = Pipeline(model_dir(), "onnx")
    torch = Pipeline(model_dir(), "torch", detector=onnx.detector)
    assert default_checkpoint(model_dir()).is_file()
    for path, _ in photos().values():
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        a, b = onnx(rgb), torch(rgb)
        assert len(a) == len(b) > 0
        for fa, fb in zip(a, b):
            assert fa.top == fb.top
            assert np.abs(fa.probs - fb.probs).max() < 1e-4


def test_torch_backend_from_the_command_line(tmp_path):
    path, _ = photos()["two_faces"]
    out = {}
    for backend in ("onnx", "torch"):
        proc = run_predict("image", path, "--model-dir", model_dir(), "--backend", backend, "--json", "-",
                           "--out", tmp_path / backend)
        assert proc.returncode == 0, proc.stderr
        out[backend] = json.loads(proc.stdout)
    assert out["torch"]["model"]["backend"] == "torch"
    labels = [[f["label"] for f in r["images"][0]["faces"]] for r in (out["onnx"], out["torch"])]
    assert labels[0] == labels[1] and len(labels[0]) == 2


def test_never_overwrites_the_photo(tmp_path):
    photo = tmp_path / "me.png"
    shutil.copy(photos()["astronaut"][0], photo)
    before = photo.read_bytes()
    proc = run_predict("image", photo, "--model-dir", model_dir(), "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert photo.read_bytes() == before and (tmp_path / "me-annotated.png").is_file()


def one_line_error(proc, *words):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "random.jpg").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp / "notes.txt").write_text("hello")
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "broken.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    (tmp / "empty_dir").mkdir()
    # 8000x7000 = 56 MP of flat grey: a few hundred KB as PNG, over the 50 MP limit once decoded.
    cv2.imwrite(str(tmp / "huge.png"), np.full((7000, 8000), 128, np.uint8))
    return tmp


@pytest.mark.parametrize("name, words", [
    ("random.jpg", ["random.jpg", "not a JPEG, PNG, WebP or BMP image"]),
    ("notes.txt", ["notes.txt", "not a JPEG, PNG, WebP or BMP image"]),
    ("empty.png", ["empty.png", "the file is empty"]),
    ("missing.png", ["missing.png", "no such file"]),
    ("empty_dir", ["empty_dir", "no images"]),
    ("huge.png", ["huge.png", "8000x7000 (56 megapixels)", "limit is 50 megapixels"]),
])
def test_bad_images_give_one_line_errors(bad_files, tmp_path, name, words):
    one_line_error(run_predict("image", bad_files / name, "--model-dir", model_dir(), "--out", tmp_path), *words)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_good_photos_still_processed_beside_a_bad_one(bad_files, tmp_path):
    proc = run_predict("image", photos()["astronaut"][0], bad_files / "random.jpg", "--model-dir", model_dir(),
                       "--out", tmp_path, "--json", tmp_path / "r.json")
    assert proc.returncode == 1 and "random.jpg" in proc.stderr and "Traceback" not in proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["images"][0]["faces"]) == 1 and "not a JPEG" in report["images"][1]["error"]
    assert report["images"][1]["reason"] == "format" and "reason" not in report["images"][0]
    assert (tmp_path / "astronaut.png").is_file()


def test_bad_model_dir_and_checkpoint(tmp_path):
    path = photos()["astronaut"][0]
    one_line_error(run_predict("image", path, "--model-dir", tmp_path), "metadata.json")
    one_line_error(run_predict("image", path, "--model-dir", model_dir(), "--backend", "torch",
                               "--checkpoint", tmp_path / "nope.pt"), "nope.pt")


def test_a_model_folder_altered_after_export_is_refused(tmp_path):
    """predict checks the export's manifest before it uses any file: a same-size change to the
    ONNX weights or a label swap in metadata.json gives one line naming the file."""
    import shutil
    path = photos()["astronaut"][0]
    for rel, edit in (("model.onnx", lambda b: b[:-64] + bytes(x ^ 0xFF for x in b[-64:])),
                      ("metadata.json", lambda b: b.replace(b'"happiness"', b'"HAPPINESS"'))):
        copy = tmp_path / rel.replace(".", "_")
        shutil.copytree(model_dir(), copy)
        target = copy / rel
        before = target.read_bytes()
        target.write_bytes(edit(before))
        assert target.read_bytes() != before
        one_line_error(run_predict("image", path, "--model-dir", copy, "--json", "-", "--no-images",
                                   "--out", tmp_path), rel, "sha256")


def test_bad_video_and_missing_camera(bad_files, tmp_path):
    out = tmp_path / "o.mp4"
    one_line_error(run_predict("live", "--video", bad_files / "broken.mp4", "--out", out, "--model-dir", model_dir()),
                   "cannot open", "broken.mp4")
    one_line_error(run_predict("live", "--video", tmp_path / "nope.mp4", "--out", out, "--model-dir", model_dir()),
                   "nope.mp4")
    one_line_error(run_predict("live", "--camera", "37", "--out", out, "--model-dir", model_dir()), "camera 37")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    proc = run_predict("live", "--video", video()[0], "--out", tmp / "a.mp4", "--csv", tmp / "a.csv",
                       "--model-dir", model_dir())
    return tmp, proc


def test_live_on_a_video_writes_annotated_video_and_csv(live_run):
    tmp, proc = live_run
    assert proc.returncode == 0, proc.stderr
    path, counts = video()
    rows = list(csv.DictReader((tmp / "a.csv").open()))
    # the annotated video: every frame, same size, and each face's box and label drawn where the CSV
    # says, in its class's colour (the fps text alone would not pass: it is white, top left)
    src, out = cv2.VideoCapture(str(path)), cv2.VideoCapture(str(tmp / "a.mp4"))
    frames = 0
    while True:
        ok_a, a = src.read()
        ok_b, b = out.read()
        assert ok_a == ok_b
        if not ok_a:
            break
        assert a.shape == b.shape
        faces = [r for r in rows if int(r["frame"]) == frames]
        assert faces, frames
        for r in faces:
            colour = np.array(class_colour(classes().index(r["label"]), len(classes())))
            x, y, w, h = (float(r[k]) for k in ("x", "y", "width", "height"))
            x0, y0, x1, y1 = round(x), round(y), round(x + w), round(y + h)
            assert y0 > 30  # room above the box: the label goes there

            def in_colour(img, ys, xs):  # which pixels show the class colour (mp4 blurs it a little)
                return np.abs(img[ys, xs].astype(int) - colour).max(axis=2) < 60
            for edge in (x0, x1):  # each row along the box's left and right edges crosses the line
                ys, xs = slice(y0 + 5, y1 - 5), slice(edge - 1, edge + 2)
                assert in_colour(b, ys, xs).any(axis=1).mean() > 0.9, (frames, r["label"], edge)
                assert in_colour(a, ys, xs).any(axis=1).mean() < 0.1, (frames, r["label"], edge)
            label = (slice(y0 - 14, y0), slice(x0, x0 + 60))  # filled background behind black text
            assert in_colour(b, *label).mean() > 0.2 and in_colour(a, *label).mean() < 0.05, (frames, r["label"])
        frames += 1
    assert frames == len(counts) == 24
    # the CSV: one row per face per frame, probabilities per class
    per_frame = [sum(1 for r in rows if int(r["frame"]) == i) for i in range(frames)]
    assert per_frame == counts
    for r in rows:
        probs = [float(r[c]) for c in classes()]
        assert sum(probs) == pytest.approx(1, abs=1e-3) and r["label"] == classes()[int(np.argmax(probs))]
    # the drifting face keeps one track; the two faces of the second half get two others
    assert {r["track"] for r in rows if int(r["frame"]) < 12} == {"1"}  # ids count from 1, as the page's
    assert len({r["track"] for r in rows if int(r["frame"]) >= 12}) == 2
    assert f"{frames} frames" in proc.stdout and "fps" in proc.stdout


def test_live_writes_a_timeline_png_beside_the_csv(live_run):
    """The chart of each face's smoothed probabilities: written atomically beside the CSV, and its
    lines carry the colour of the class each track's CSV rows say it showed most."""
    tmp, proc = live_run
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["a.csv", "a.mp4", "a_timeline.png"]  # no temp files
    assert "timeline" in proc.stdout and "a_timeline.png" in proc.stdout
    chart = cv2.imread(str(tmp / "a_timeline.png"))
    assert chart is not None and chart.shape[0] > 300 and chart.shape[1] > 600
    rows = list(csv.DictReader((tmp / "a.csv").open()))
    for track in {r["track"] for r in rows}:
        mine = [r for r in rows if r["track"] == track]
        top = max(classes(), key=lambda c: sum(float(r[c]) for r in mine))
        colour = np.array(class_colour(classes().index(top), len(classes())))
        assert (np.abs(chart.astype(int) - colour).max(axis=2) < 40).sum() > 200, (track, top)


def test_live_headless_needs_an_output():
    one_line_error(run_predict("live", "--video", video()[0], "--model-dir", model_dir()), "--out")


def test_help():
    for args in (["--help"], ["image", "--help"], ["live", "--help"]):
        proc = run_predict(*args)
        assert proc.returncode == 0 and "usage: python -m predict" in proc.stdout
    assert "--camera" in run_predict("live", "--help").stdout and "--json" in run_predict("image", "--help").stdout


def test_exif_orientation_is_applied_like_the_browser(tmp_path):
    """A phone photo stored sideways with EXIF orientation 6: the face is found upright, where a
    viewer (and the page's createImageBitmap(..., {imageOrientation: 'from-image'})) shows it."""
    from web_helpers import jpeg_bytes

    from fer_browser.predict.images import read_rgb

    upright = cv2.cvtColor(cv2.imread(str(photos()["astronaut"][0])), cv2.COLOR_BGR2RGB)
    (tmp_path / "phone.jpg").write_bytes(jpeg_bytes(upright, orientation=6))
    rgb = read_rgb(tmp_path / "phone.jpg")
    assert rgb.shape == upright.shape and np.abs(rgb.astype(int) - upright).mean() < 5
    proc = run_predict("image", tmp_path / "phone.jpg", "--model-dir", model_dir(), "--json", "-", "--no-images")
    faces = json.loads(proc.stdout)["images"][0]["faces"]
    assert len(faces) == 1 and match(photos()["astronaut"][1], [faces[0]["box"]])[0][1] >= 0.5


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    one_line_error(run_predict("image", photos()["astronaut"][0], "--model-dir", model_dir(), "--out",
                               tmp_path / "file"), "not a folder")


NO_CV2 = """
import sys
class Blocker:  # the predict extra without the video extra: no OpenCV
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] == 'cv2':
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
sys.argv[0] = 'fer-predict'
from fer_browser.cli import run
sys.exit(run('fer-predict', sys.argv[1:]))
"""


def test_without_opencv_image_works_and_live_names_the_video_extra(tmp_path):
    """`fer-predict image` (JSON and annotated copies) needs no OpenCV; `live` says in one line which
    extra brings it."""
    def fer_predict(*args):
        return subprocess.run([PYTHON, "-c", NO_CV2, *map(str, args)], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    image = fer_predict("image", photos()["astronaut"][0], "--model-dir", model_dir(), "--out", tmp_path / "out",
                        "--json", tmp_path / "r.json")
    assert image.returncode == 0, image.stderr
    assert len(json.loads((tmp_path / "r.json").read_text())["images"][0]["faces"]) == 1
    assert (tmp_path / "out" / "astronaut.png").is_file()
    live = fer_predict("live", "--video", video()[0], "--out", tmp_path / "a.mp4", "--model-dir", model_dir())
    assert live.returncode == 2 and live.stdout == ""
    assert live.stderr.strip().splitlines() == [
        "error: live needs the 'video' extra (OpenCV, for cameras, video files and mp4); "
        'install it with: pip install "fer-browser[video]"']
    assert not (tmp_path / "a.mp4").exists()
    assert fer_predict("live", "--help").returncode == 0  # the parser itself needs no OpenCV
