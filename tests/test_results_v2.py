"""Libraries v2 (issue 26), the Python side: one face-result schema, faces left to right, and the
commands' and the API's polish (--json - writes nothing else, installed names in messages, the
missing extra in one line, a folder named as one, BGR arrays, py.typed and docstrings).

The browser side of the same schema (the same photo through both libraries) is in
tests/test_results_agreement.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from predict_helpers import PYTHON, ROOT, astronaut, model_dir, photos

from fer_browser.schema import validate

FIELDS = {"box", "label", "confidence", "probabilities", "detector_score"}


@pytest.fixture(scope="module")
def recognize():
    from fer_browser import Recognizer
    return Recognizer(model_dir())


def test_faces_are_the_schema_object_left_to_right(recognize):
    from fer_browser import FaceBox, RecognizedFace
    for name in ("astronaut", "two_faces", "three_faces"):
        path, expected = photos()[name]
        faces = recognize(path)
        assert len(faces) == len(expected), name
        assert [(f.box.x, f.box.y) for f in faces] == sorted((f.box.x, f.box.y) for f in faces), name
        for i, face in enumerate(faces):
            assert isinstance(face, RecognizedFace) and isinstance(face.box, FaceBox)
            doc = face.to_dict()
            assert validate(doc, "face-result", f"{name} face {i}") is doc
            assert set(doc) == FIELDS  # "id" only when tracked
            assert json.loads(json.dumps(doc)) == doc  # plain JSON types
            assert list(doc["probabilities"]) == recognize.classes
            assert doc["confidence"] == doc["probabilities"][doc["label"]] == face.confidence
            assert doc["box"] == {"x": face.box.x, "y": face.box.y, "width": face.box.width, "height": face.box.height}
            x, y, w, h = face.box  # still a tuple for code written against v1
            assert (x, y, w, h) == tuple(face.box) and 0 < face.detector_score <= 1
            with pytest.warns(DeprecationWarning, match="detector_score"):
                assert face.score == face.detector_score


def test_a_tracked_face_dict_carries_its_id(recognize):
    face = recognize(photos()["astronaut"][0])[0]
    from dataclasses import replace
    doc = replace(face, id=4).to_dict()
    assert doc["id"] == 4 and validate(doc, "face-result", "tracked") is doc


def test_bgr_arrays_with_the_option_give_the_rgb_result(recognize):
    rgb = astronaut()
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # as cv2.imread gives it
    want = recognize(rgb)
    assert len(want) == 1
    assert recognize(bgr, channels="bgr") == want
    assert recognize(bgr, bgr=True) == want
    bgra = np.concatenate([bgr, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)  # cv2.IMREAD_UNCHANGED
    assert recognize(bgra, channels="bgr") == want
    wrong = recognize(bgr)  # read as RGB, the colours are swapped: the answer changes
    assert not wrong or wrong[0].probabilities != want[0].probabilities
    from fer_browser import PredictError
    with pytest.raises(PredictError, match="channels must be 'rgb' or 'bgr'"):
        recognize(rgb, channels="hsv")
    with pytest.raises(PredictError, match="for NumPy arrays"):
        recognize(photos()["astronaut"][0], channels="bgr")


def test_a_folder_is_named_as_a_folder(recognize, tmp_path):
    from fer_browser import PredictError
    with pytest.raises(PredictError) as err:
        recognize(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}: is a folder") and "no such file" not in str(err.value)
    with pytest.raises(PredictError, match="no such file"):
        recognize(tmp_path / "missing.jpg")


BLOCKER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] == {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, {root!r})
from fer_browser import PredictError, Recognizer, MissingExtraError
try:
    Recognizer({model!r})
except Exception as exc:
    print(type(exc).__name__, isinstance(exc, PredictError), isinstance(exc, ImportError))
    print(str(exc))
    raise
"""


@pytest.mark.parametrize("blocked", ["numpy", "onnxruntime"])
def test_recognizer_without_its_extra_says_which_in_one_line(blocked):
    code = BLOCKER.format(blocked=blocked, root=str(ROOT), model=str(model_dir()))
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kind, message = proc.stdout.splitlines()
    assert kind == "MissingExtraError True True"
    assert message == (f"Recognizer needs the 'predict' extra (no module named {blocked!r}); "
                       'install it with: pip install "fer-browser[predict]"')
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"fer_browser.recognizer.MissingExtraError: {message}"
    assert "During handling" not in proc.stderr  # raised from None: no chained ModuleNotFoundError


def _as_installed(command: str, argv: list[str], cwd) -> subprocess.CompletedProcess:
    """fer_browser.cli.run as the console script runs it (sys.argv[0] is the command's name)."""
    code = textwrap.dedent(f"""
        import sys
        sys.argv[0] = {command!r}
        sys.path.insert(0, {str(ROOT)!r})
        from fer_browser.cli import run
        sys.exit(run({command!r}, {argv!r}))
    """)
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_installed_commands_name_themselves_in_help_and_errors(tmp_path):
    help_ = _as_installed("fer-predict", ["--help"], tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "python -m" not in help_.stdout and help_.stdout.startswith("usage: fer-predict")
    assert "fer-predict image|live" in help_.stdout and "`fer-convert`" in help_.stdout
    photo = photos()["astronaut"][0]
    bad = _as_installed("fer-predict", ["image", str(photo), "--model-dir", str(tmp_path), "--json", "-"], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"error: {tmp_path}: not a model directory (no metadata.json; make one with `fer-convert`)"
    train_help = _as_installed("fer-train", ["--help"], tmp_path)
    if train_help.returncode == 0:  # needs the train extra's imports
        assert "python -m training.train" not in train_help.stdout and "fer-train --out" in train_help.stdout
    convert_help = _as_installed("fer-convert", ["verify", "--help"], tmp_path)
    if convert_help.returncode == 0:  # needs the convert extra's imports
        assert "python -m convert" not in convert_help.stdout and "fer-convert verify" in convert_help.stdout


def test_json_to_stdout_writes_no_other_file_unless_out_is_given(tmp_path):
    photo = photos()["two_faces"][0]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    run = lambda *a: subprocess.run([PYTHON, "-m", "predict", "image", str(photo), "--model-dir", str(model_dir()), *a],
                                    capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    proc = run("--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # was ./annotated/two_faces.png
    report = json.loads(proc.stdout)
    assert report["schema"] == "fer-predict-result/2"
    entry = report["images"][0]
    assert "annotated" not in entry and len(entry["faces"]) == 2
    for i, face in enumerate(entry["faces"]):
        validate(face, "face-result", f"face {i}")
        assert set(face) == FIELDS
    assert entry["faces"][0]["box"]["x"] < entry["faces"][1]["box"]["x"]  # left to right
    proc = run("--json", "-", "--out", "shown")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "shown").iterdir()] == ["two_faces.png"]
    assert json.loads(proc.stdout)["images"][0]["annotated"] == "shown/two_faces.png"


def test_public_api_is_typed_and_documented():
    import fer_browser
    from fer_browser import FaceBox, MissingExtraError, PredictError, RecognizedFace, Recognizer
    assert (ROOT / "fer_browser" / "py.typed").is_file()
    assert '"fer_browser" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
    assert "fer_browser/py.typed" in (ROOT / "MANIFEST.in").read_text()
    for obj in (fer_browser, Recognizer, Recognizer.__init__, Recognizer.__call__, Recognizer.prior_strength,
                RecognizedFace, RecognizedFace.to_dict, RecognizedFace.score, FaceBox, MissingExtraError, PredictError):
        assert obj.__doc__ and obj.__doc__.strip(), obj
    assert set(fer_browser.__all__) == {"Recognizer", "RecognizedFace", "FaceBox", "PredictError", "MissingExtraError"}
    assert "channels" in Recognizer.__call__.__doc__ and "left to right" in Recognizer.__call__.__doc__
