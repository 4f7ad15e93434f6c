"""Issue 21's hostile probes: device nodes and FIFOs as outputs, a full disk, non-finite model
outputs, NUL bytes in URLs, deeply nested JSON, nonsense options, huge or odd in-memory images and
truncated raw MJPEG. Each gets one `error:` line (or the documented safe behaviour), never a
traceback, a replaced device node or a half-written file."""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from predict_helpers import ROOT, astronaut, model_dir, photos, run_predict, video

SMALL = ["--model", "vgg", "--hparams", '{"widths": [8, 16, 32], "convs_per_stage": 2, "dropout": 0.0}',
         "--batch-size", "32", "--no-progress", "--threads", "1"]
FULL = r"(no space left on device|file too large) writing "  # ENOSPC on a full disk, EFBIG over the size limit


def one_line_error(proc, *words) -> str:
    """Exit non-zero with exactly one error line, progress bars aside (with a frame count: "N%|",
    without: "N frame [")."""
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines()
             if line.strip() and not re.search(r"\d+%\||\d+frame \[", line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def run_module(module: str, *args, preexec_fn=None) -> subprocess.CompletedProcess:
    """`python -m MODULE ...` from the repository root, headless (as run_predict)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**env, "PYTHONPATH": str(ROOT)}, preexec_fn=preexec_fn)


def history_run(folder: Path) -> Path:
    folder.mkdir()
    (folder / "history.json").write_text(json.dumps([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5,
                                                      "val_acc": 0.5, "val_loss": 1.0, "lr": 1e-3, "seconds": 1}]))
    return folder


# ---------- 1. devices and FIFOs are written in place, never renamed over ----------

@pytest.fixture
def device(tmp_path) -> Path:
    """A character device like /dev/null (1, 3) made in tmp_path where mknod is permitted (root);
    else /dev/null itself."""
    node = tmp_path / "devnode"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return Path("/dev/null")
    return node


@pytest.mark.parametrize("command", ["image --json", "live --csv", "compare_runs --out"])
def test_outputs_on_a_device_keep_the_device(command, device, tmp_path):
    if command == "image --json":
        proc = run_predict("image", photos()["astronaut"][0], "--no-images", "--json", device, "--model-dir", model_dir())
    elif command == "live --csv":
        proc = run_predict("live", "--video", video()[0], "--csv", device, "--max-frames", 2, "--model-dir", model_dir())
    else:
        proc = run_module("training.compare_runs", history_run(tmp_path / "run"), "--out", device)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode), f"{device} was replaced by a regular file"
    # no temp file, and no timeline chart "beside" a device
    assert {p.name for p in tmp_path.iterdir()} <= {"devnode", "run"}


def test_json_to_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "faces.json"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_predict("image", photos()["astronaut"][0], "--no-images", "--json", fifo, "--model-dir", model_dir())
    reader.join(timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert got and len(json.loads(got[0])["images"][0]["faces"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["faces.json"]


def test_atomic_open_writes_dash_to_stdout(tmp_path, monkeypatch, capsys):
    from fer_browser.core.atomic import atomic_open

    monkeypatch.chdir(tmp_path)
    with atomic_open(Path("-"), "w") as fh:
        fh.write("to stdout\n")
    assert capsys.readouterr().out == "to stdout\n" and list(tmp_path.iterdir()) == []


def test_compare_runs_figure_to_stdout_is_refused(tmp_path, monkeypatch, capsys):
    from fer_browser.training import compare_runs

    monkeypatch.chdir(tmp_path)
    assert compare_runs.main([str(history_run(tmp_path / "run")), "--out", "-"]) == 2
    assert capsys.readouterr().err.startswith("error: --out -: stdout carries the table")
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_live_video_on_a_device_is_refused(device, tmp_path):
    out = tmp_path / "v.mp4"
    os.symlink(device, out)  # a name ending in .mp4 that is a device
    one_line_error(run_predict("live", "--video", video()[0], "--out", out, "--model-dir", "no-such-model-dir"),
                   "not a regular file")
    assert stat.S_ISCHR(os.stat(out).st_mode)


# ---------- 2. a full disk: nothing half-written published, no temp files, one line ----------

@pytest.fixture
def small_disk(tmp_path):
    """make(kib) -> (folder, preexec_fn): a folder where writing fails after about kib KiB. A real tmpfs
    of that size where mounting is permitted (as root: ENOSPC); else the file-size limit set in the
    child process (RLIMIT_FSIZE, SIGXFSZ ignored so that the write fails with EFBIG, not the process)."""
    mounted = []

    def make(kib: int):
        folder = tmp_path / "small"
        folder.mkdir()
        try:
            ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                                capture_output=True).returncode == 0
        except OSError:
            ok = False
        if ok:
            mounted.append(folder)
            return folder, None

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))
        return folder, limit

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def test_live_on_a_full_disk_publishes_nothing(small_disk):
    folder, limit = small_disk(64)
    proc = run_module("predict", "live", "--video", video()[0], "--out", folder / "o.mp4", "--csv", folder / "o.csv",
                      "--model-dir", model_dir(), preexec_fn=limit)
    line = one_line_error(proc)
    assert re.search(FULL + r"\S*o\.(mp4|csv)$", line), line
    assert list(folder.iterdir()) == []  # no unreadable o.mp4, no o.csv, no temp files


def test_image_on_a_full_disk_is_one_line(small_disk):
    folder, limit = small_disk(64)
    proc = run_module("predict", "image", photos()["astronaut"][0], photos()["two_faces"][0], "--out", folder,
                      "--json", folder / "faces.json", "--model-dir", model_dir(), preexec_fn=limit)
    line = one_line_error(proc)  # not one line per image: the next would fail the same way
    assert re.search(FULL + r"\S*astronaut\.png$", line), line
    assert list(folder.iterdir()) == []


def test_training_on_a_full_disk_is_one_line(small_disk, fer_csv):
    from fer_browser.training.datasets import load_dataset

    load_dataset(fer_csv, label_set="fer2013", progress=False)  # cached now: the run writes only its outputs
    folder, limit = small_disk(32)
    proc = run_module("training.train", "--csv", fer_csv, "--label-set", "fer2013", "--epochs", 1,
                      "--out", folder / "run", *SMALL, preexec_fn=limit)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.fullmatch("error: " + FULL + r"\S+\.pt\n", proc.stderr), proc.stderr
    assert not [p.name for p in (folder / "run").iterdir() if p.name.endswith(".tmp")]


# ---------- 3. bad values: NaN outputs, NUL in URLs, nested JSON, nonsense options ----------

class NanBackend:
    name = "nan"

    def __call__(self, batch):
        return np.full((len(batch), 7), np.nan, np.float32)


def test_non_finite_probabilities_are_refused(monkeypatch, tmp_path, capsys):
    from fer_browser.predict import __main__ as cli
    from fer_browser.predict import recognition as pipeline
    from fer_browser.predict.errors import PredictError

    monkeypatch.setattr(pipeline, "make_backend", lambda *a, **k: NanBackend())  # damaged weights, any backend
    code = cli.main(["image", str(photos()["astronaut"][0]), "--no-images", "--json", str(tmp_path / "r.json"),
                     "--model-dir", str(model_dir())])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "non-finite probabilities" in err[0], err
    assert not (tmp_path / "r.json").exists()
    with pytest.raises(PredictError, match="non-finite"):
        pipeline.Pipeline(model_dir())(astronaut())


def test_nul_in_a_url_is_a_404_without_a_traceback(caplog):
    from fer_browser.server import create_app

    client = create_app(model_dir()).test_client()
    for url in ("/%00", "/js/%00.js", "/index.html%00"):
        assert client.get(url).status_code == 404, url
    assert "Traceback" not in caplog.text


def test_deeply_nested_json_is_one_line(tmp_path):
    from fer_browser.model_dir import ModelDirError, load_model_dir
    from fer_browser.core.manifest import ManifestError, check_manifest

    nested = "[" * 100_000 + "]" * 100_000
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "metadata.json").write_text("{}")
    (folder / "manifest.json").write_text(nested)
    with pytest.raises(ManifestError, match="nested too deeply"):
        check_manifest(folder)
    one_line_error(run_predict("image", photos()["astronaut"][0], "--model-dir", folder), "manifest.json",
                   "nested too deeply")
    for name in ("metadata.json", "tfjs/model.json", "reference.json"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(nested)
    with pytest.raises(ModelDirError, match="nested too deeply"):
        load_model_dir(folder)


@pytest.mark.parametrize("option, says", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--hparams", '{"widths": [8, 0, 32], "convs_per_stage": 2}'], "widths [8, 0, 32]"),
    (["--hparams", '{"width": 8}'], "unexpected keyword argument 'width'"),
    (["--out", "FILE"], "exists and is not a folder"),
])
def test_training_options_are_checked_before_any_work(option, says, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    option = [str(tmp_path / "file") if o == "FILE" else o for o in option]
    # the missing CSV is never looked at: options are refused first
    proc = run_module("training.train", "--csv", tmp_path / "missing.csv", "--out", tmp_path / "run", *SMALL, *option)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert says in proc.stderr


# ---------- 4. the Python API: the input policy for images in memory ----------

@pytest.fixture(scope="module")
def recognize():
    from fer_browser import Recognizer
    return Recognizer(model_dir())


def test_api_applies_the_pixel_limit_to_arrays_and_pil_images(recognize):
    from PIL import Image

    from fer_browser import PredictError

    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (7200, 7200, 3))  # 52 megapixels, no memory
    with pytest.raises(PredictError, match="7200x7200 .*the limit is 50 megapixels") as exc:
        recognize(huge)
    assert exc.value.reason == "dimensions"
    with pytest.raises(PredictError, match="the limit is 50 megapixels"):
        recognize(Image.new("1", (7200, 7200)))  # 1 bit per pixel: 6 MB
    assert len(recognize(np.ascontiguousarray(astronaut()))) == 1  # under the limit: analysed


def test_api_reads_a_16_bit_pil_image_as_its_file(recognize, tmp_path):
    from PIL import Image

    grey = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    path = tmp_path / "grey16.png"
    Image.fromarray(grey).save(path)
    img = Image.open(path)
    assert img.mode.startswith("I")
    by_path, by_image = recognize(path), recognize(img)
    assert len(by_path) == 1 and by_image == by_path


def test_api_truncated_lazy_pil_image_is_a_predict_error(recognize, tmp_path):
    from PIL import Image

    from fer_browser import PredictError

    path = tmp_path / "cut.jpg"
    data = cv2.imencode(".jpg", astronaut())[1].tobytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(PredictError, match="truncated or damaged"):
        recognize(Image.open(path))  # opened lazily: the damage shows only when decoded


# ---------- 5. a raw MJPEG stream cut off mid-frame ----------

@pytest.fixture(scope="module")
def mjpeg(tmp_path_factory):
    """10 JPEG frames back to back (no container, no frame count): complete, and cut in the last frame."""
    folder = tmp_path_factory.mktemp("mjpeg")
    frame = cv2.cvtColor(cv2.resize(astronaut(), (320, 320)), cv2.COLOR_RGB2BGR)
    jpegs = [cv2.imencode(".jpg", np.roll(frame, 5 * i, axis=1))[1].tobytes() for i in range(10)]
    (folder / "full.mjpeg").write_bytes(b"".join(jpegs))
    (folder / "cut.mjpeg").write_bytes(b"".join(jpegs)[:-len(jpegs[-1]) // 2])
    return folder


def test_truncated_raw_mjpeg_fails_and_publishes_nothing(mjpeg, tmp_path):
    proc = run_predict("live", "--video", mjpeg / "cut.mjpeg", "--csv", tmp_path / "o.csv", "--model-dir", model_dir())
    one_line_error(proc, "cut.mjpeg", "ended after 10 frames, its last JPEG cut off", "no output written")
    assert list(tmp_path.iterdir()) == []


def test_complete_raw_mjpeg_is_fine(mjpeg, tmp_path):
    proc = run_predict("live", "--video", mjpeg / "full.mjpeg", "--csv", tmp_path / "o.csv", "--model-dir", model_dir())
    assert proc.returncode == 0, proc.stderr
    assert "10 frames" in proc.stdout and (tmp_path / "o.csv").is_file()
