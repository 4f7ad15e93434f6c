"""The Python package as a user gets it: the wheel `pip install .` builds, installed into fresh venvs.

- the wheel's file list: one import package (fer_browser), the page, the shipped model's export
  (its run-time files: no saved_model/, no build-only references), predict's BlazeFace ONNX file
  and the whitelisted npm files with their licences; nothing generic at the top of site-packages;
- the wheel's metadata: the `predict` extra pulls neither onnx, matplotlib, OpenCV nor torch; `video`
  adds the headless OpenCV;
- a venv with only the `serve` extra (from the package index, as `pip install ".[serve]"` does):
  torch and TensorFlow are not importable, fer-serve serves the page, every other command's
  --help says in one line which extra to install;
- a venv with the package installed --no-deps on top of the project's full environment (a .pth
  line to .venv's site-packages, so nothing big is reinstalled): every command's --help, and the
  README's Python API snippet run as written from another folder;
- without the npm files, fer-serve fails in one line; fer-predict and the Recognizer still work
  (their detector is models/blazeface/blazeface.onnx).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from web_helpers import PYTHON, ROOT, astronaut_frame, free_port

from fer_browser.paths import build_only

pytestmark = pytest.mark.slow

COMMANDS = ["fer-serve", "fer-predict", "fer-train", "fer-evaluate", "fer-convert"]
NPM_FILES = ["node_modules/@tensorflow/tfjs/dist/tf.fesm.min.js",
             "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
             "models/blazeface/blazeface.bin", "models/blazeface/NOTICE.md",  # the repository's own copy
             # the app page's TF.js: core + converter, webgl when chosen (web/js/tf.js)
             "node_modules/@tensorflow/tfjs-core/dist/tf-core.fesm.min.js",
             "node_modules/@tensorflow/tfjs-converter/dist/tf-converter.fesm.min.js",
             "node_modules/@tensorflow/tfjs-backend-webgl/dist/tf-backend-webgl.fesm.min.js"]


def sh(*cmd, cwd=None, env=None, timeout=300, check=True) -> subprocess.CompletedProcess:
    # A clean environment: no PYTHONPATH pointing into the checkout.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **(env or {})}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def venv(path: Path) -> Path:
    sh(sys.executable, "-m", "venv", path)
    return path / "bin"


def site_packages(bin_dir: Path) -> Path:
    out = sh(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout
    return Path(out.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    sh(PYTHON, "-m", "pip", "wheel", ROOT, "--no-deps", "--quiet", "--wheel-dir", out, timeout=600)
    (found,) = out.glob("fer_browser-*.whl")
    return found


@pytest.fixture(scope="module")
def serve_venv(wheel, tmp_path_factory) -> Path:
    bin_dir = venv(tmp_path_factory.mktemp("serve") / "venv")
    sh(bin_dir / "python", "-m", "pip", "install", "--quiet", f"{wheel}[serve]", timeout=600)
    return bin_dir


@pytest.fixture(scope="module")
def full_venv(wheel, tmp_path_factory) -> Path:
    bin_dir = venv(tmp_path_factory.mktemp("full") / "venv")
    (site_packages(bin_dir) / "project_env.pth").write_text(site.getsitepackages()[0] + "\n")
    sh(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", wheel, timeout=600)
    return bin_dir


def test_wheel_holds_one_package_with_page_model_and_npm_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fer_browser"}, tops  # nothing generic on top
    for sub in ("training/train.py", "training/models/vgg.py", "convert/__main__.py",
                "convert/browser_harness.html", "predict/recognition.py", "server.py", "recognizer.py"):
        assert f"fer_browser/{sub}" in names
    web = {p.relative_to(ROOT).as_posix() for p in (ROOT / "web").rglob("*") if p.is_file()}
    assert web and {f"fer_browser/{w}" for w in web} <= set(names)
    export = ROOT / "models/fer-default/export"
    listed = json.loads((export / "manifest.json").read_text())["files"]
    for rel in [*listed, "manifest.json"]:  # run-time files only: build-only ones stay out of the wheel
        assert (f"fer_browser/models/fer-default/export/{rel}" in names) != build_only(rel), rel
    assert not any("saved_model" in n or "reference_embeddings" in n for n in names)
    assert "fer_browser/models/fer-default/export/reference_inputs.bin" in names  # the page's parity check
    for rel in ("blazeface.onnx", "blazeface.onnx.sha256"):
        assert f"fer_browser/models/blazeface/{rel}" in names
    assert not any(n.endswith("checkpoint.pt") for n in names)
    for npm in NPM_FILES:
        assert f"fer_browser/{npm}" in names
    for package in ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-core",
                    "@tensorflow/tfjs-converter", "@tensorflow/tfjs-backend-webgl"):
        text = zipfile.ZipFile(wheel).read(f"fer_browser/node_modules/{package}/LICENSE").decode()
        assert ("Apache License" in text) or ("MIT License" in text)
    assert not any("package.json" in n and "node_modules" in n for n in names)  # the whitelist only
    assert not any("@vladmandic" in n for n in names)  # BlazeFace comes from models/blazeface/
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert all(f"{c} = fer_browser.cli:" in entry_points for c in COMMANDS)


def test_predict_extra_is_lean(wheel):
    """No onnx (the detector ships as ONNX), no matplotlib (plots are for training and bench), no OpenCV
    (stills are drawn with Pillow; `fer-predict live` has the `video` extra, OpenCV without its GUI
    libraries); read from the wheel's metadata, nothing installed."""
    zf = zipfile.ZipFile(wheel)
    meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()

    def extra(name: str) -> set[str]:
        return {re.split(r"[=<>!~;\[ ]", line.split(":", 1)[1].strip())[0].lower()
                for line in meta.splitlines()
                if line.startswith("Requires-Dist:") and re.search(rf"extra\s*==\s*['\"]{name}['\"]", line)}
    predict, video = extra("predict"), extra("video")
    assert {"onnxruntime", "numpy", "pillow"} <= predict, predict
    heavy = {"onnx", "matplotlib", "opencv-python", "opencv-python-headless", "torch", "tensorflow"}
    assert not predict & heavy, predict
    assert predict | {"opencv-python-headless"} == video, video  # video: predict's and OpenCV headless
    for everything in ("all", "dev"):  # the dev environment and CI keep OpenCV
        assert "opencv-python-headless" in extra(everything), everything
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert not any("opencv-python==" in line for line in requires)  # no extra brings a second OpenCV


def test_serve_extra_serves_the_page_without_torch_or_tensorflow(serve_venv, tmp_path):
    for heavy in ("torch", "tensorflow", "numpy"):
        proc = sh(serve_venv / "python", "-c", f"import {heavy}", check=False)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr
    port = free_port()
    proc = subprocess.Popen([serve_venv / "fer-serve", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line
        assert "site-packages" in line  # the installed model, not the checkout's
        got = {}
        for path in ["/", "/js/app.js", "/vendor/tfjs/tf.fesm.min.js", "/vendor/blazeface/blazeface.bin",
                     "/model/metadata.json", "/model/tfjs/model.json"]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
                got[path] = (resp.status, resp.read())
        assert all(status == 200 for status, _ in got.values())
        assert b"<html" in got["/"][1].lower()
        assert got["/vendor/tfjs/tf.fesm.min.js"][1] == (ROOT / NPM_FILES[0]).read_bytes()
        meta = json.loads(got["/model/metadata.json"][1])
        shipped = json.loads((ROOT / "models/fer-default/export/metadata.json").read_text())
        assert meta["classes"] == shipped["classes"]
    finally:
        proc.terminate()
        proc.wait(30)


def test_every_command_helps_or_names_its_extra_with_only_serve(serve_venv, tmp_path):
    proc = sh(serve_venv / "fer-serve", "--help", cwd=tmp_path)
    assert proc.stdout.startswith("usage: fer-serve")
    extras = {"fer-predict": "predict", "fer-train": "train", "fer-evaluate": "train", "fer-convert": "convert"}
    for command, extra in extras.items():
        proc = sh(serve_venv / command, "--help", cwd=tmp_path, check=False)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f'pip install "fer-browser[{extra}]"' in proc.stderr


def test_every_command_has_help_in_a_full_install(full_venv, tmp_path):
    where = sh(full_venv / "python", "-c", "import fer_browser; print(fer_browser.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(full_venv.parent)  # the installed copy, not the checkout
    for command in COMMANDS:
        proc = sh(full_venv / command, "--help", cwd=tmp_path, timeout=300)
        assert proc.stdout.startswith(f"usage: {command} ") and "--help" in proc.stdout, (command, proc.stdout[:200])


def readme_api_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_recognizer_snippet_runs_as_written_installed(full_venv, tmp_path):
    from PIL import Image

    Image.fromarray(astronaut_frame()).save(tmp_path / "photo.jpg", quality=95)
    snippet = readme_api_snippet()
    assert "photo.jpg" in snippet
    # The snippet as written, then which heavy modules it pulled in.
    check = ("\nimport sys\nprint('MODULES', sorted(m for m in ('flask', 'werkzeug', 'tensorflow', 'torch', "
             "'onnx', 'matplotlib', 'cv2') if m in sys.modules))\n")
    proc = sh(full_venv / "python", "-c", snippet + check, cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[-1] == "MODULES []", proc.stdout
    faces = lines[:-1]
    assert len(faces) == 1 and faces[0].startswith("happiness "), proc.stdout

    from fer_browser import Recognizer  # the checkout's copy gives the same answer
    (face,) = Recognizer()(tmp_path / "photo.jpg")
    assert faces[0].startswith(f"{face.label} {round(face.confidence, 3)} ")


def test_recognizer_import_is_light_in_the_checkout():
    code = ("import sys\nfrom fer_browser import Recognizer\nimport numpy as np\n"
            "Recognizer()(np.zeros((120, 160, 3), np.uint8))\n"
            "print(sorted(m for m in ('flask', 'werkzeug', 'tensorflow', 'torch', 'onnx', 'matplotlib', 'cv2') "
            "if m in sys.modules))")
    assert sh(PYTHON, "-c", code, cwd=ROOT).stdout.strip() == "[]"


def test_without_npm_files_serve_fails_in_one_line_predict_and_recognizer_work(serve_venv, full_venv, tmp_path):
    # Last in this file: it removes the installed npm files (TF.js) from both venvs, as a wheel built
    # without node_modules would lack them. BlazeFace is the repository's own (models/blazeface), not an
    # npm file: predict runs its ONNX file, the page its TF.js files.
    for bin_dir in (serve_venv, full_venv):
        shutil.rmtree(site_packages(bin_dir) / "fer_browser" / "node_modules")
    proc = sh(serve_venv / "fer-serve", "--port", str(free_port()), cwd=tmp_path, check=False, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "npm files are missing" in proc.stderr and "npm ci" in proc.stderr

    from PIL import Image

    Image.fromarray(astronaut_frame()).save(tmp_path / "photo.jpg")
    proc = sh(full_venv / "fer-predict", "image", tmp_path / "photo.jpg", "--json", "-", cwd=tmp_path)
    assert len(json.loads(proc.stdout)["images"][0]["faces"]) == 1, proc.stdout

    code = "from fer_browser import Recognizer\nprint(len(Recognizer()('photo.jpg')))\n"
    assert sh(full_venv / "python", "-c", code, cwd=tmp_path).stdout == "1\n"
