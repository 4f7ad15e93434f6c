"""Personal profiles in Python: Recognizer.calibrate -> profile, Recognizer(profile=...), classify_faces on
already-cropped faces, and `python -m predict ... --profile FILE`, on the shipped model and a real photo
(scikit-image's astronaut). The math itself is tested in tests/test_adaptation.py, the file in test_profile.py."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from predict_helpers import astronaut, run_predict

from fer_browser import PredictError, Recognizer
from fer_browser.profile import load_profile, save_profile


@pytest.fixture(scope="module")
def recognize():
    return Recognizer()


@pytest.fixture(scope="module")
def photos():
    img = astronaut()
    flipped = np.ascontiguousarray(img[:, ::-1])
    return img, flipped, cv2.GaussianBlur(flipped, (0, 0), 2)


@pytest.fixture(scope="module")
def profile(recognize, photos):
    img, flipped, blurred = photos
    return recognize.calibrate({"surprise": [img], "wink": [flipped, blurred]}, hidden=["fear"])


def test_calibrate_makes_a_profile_with_the_custom_class_after_the_models(recognize, profile):
    assert profile["schema"] == "fer-profile/1"
    assert profile["classes"] == recognize.metadata["classes"] + ["wink"]
    assert profile["counts"] == [0, 0, 1, 0, 0, 0, 0, 2] and profile["hidden"] == ["fear"]
    assert profile["model"]["weights_sha256"] == recognize.metadata["weights_sha256"]


def test_calibrate_is_deterministic(recognize, photos, profile):
    img, flipped, blurred = photos
    again = recognize.calibrate({"surprise": [img], "wink": [flipped, blurred]}, hidden=["fear"])
    assert {**again, "created": None} == {**profile, "created": None}


def test_a_profile_changes_the_answers_and_none_restores_the_model(recognize, photos, profile):
    img, flipped, _ = photos
    before = recognize(flipped)[0]
    assert before.label == "happiness"  # the astronaut smiles; the model says so
    try:
        recognize.profile = profile
        assert recognize.classes == [c for c in profile["classes"] if c != "fear"]
        face = recognize(flipped)[0]
        assert list(face.probabilities) == recognize.classes
        assert face.label == "wink" and face.confidence > 0.5  # what this person's "wink" looks like
        assert abs(sum(face.probabilities.values()) - 1) < 1e-6
        assert face.box == before.box  # the detector is untouched
    finally:
        recognize.profile = None
    assert recognize.classes == recognize.metadata["classes"] and recognize(flipped)[0].label == "happiness"


def test_a_saved_profile_loads_by_path_and_gives_the_same_answers(recognize, photos, profile, tmp_path):
    save_profile(profile, tmp_path / "me.json")
    with_file = Recognizer(profile=tmp_path / "me.json")
    recognize.profile = profile
    try:
        a, b = with_file(photos[1])[0], recognize(photos[1])[0]
    finally:
        recognize.profile = None
    assert a.label == b.label and np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-9)


def test_classify_faces_takes_crops_without_detection(recognize, photos, profile):
    img = photos[0]
    x, y, w, h = recognize(img)[0].box
    crop = img[int(y):int(y + h), int(x):int(x + w)]
    probs = recognize.classify_faces([crop, cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1)
    emb, logp = recognize.embed_faces([crop])
    t = recognize.metadata.get("calibration", {}).get("temperature", 1.0)
    z = logp[0] / t
    assert np.allclose(probs[0], np.exp(z - np.logaddexp.reduce(z)), atol=1e-6)  # the model's own answer
    recognize.profile = profile
    try:
        assert recognize.classify_faces([crop]).shape == (1, 7)  # 8 classes, fear hidden
    finally:
        recognize.profile = None
    with pytest.raises(PredictError, match="list of face images"):
        recognize.classify_faces("face.png")


def test_calibrate_on_cropped_faces(recognize, photos):
    img = photos[0]
    x, y, w, h = recognize(img)[0].box
    crop = img[int(y):int(y + h), int(x):int(x + w)]
    prof = recognize.calibrate({"neutral": [crop], "sadness": [crop[:, ::-1].copy()]}, cropped=True)
    assert prof["counts"][:4] == [1, 0, 0, 1]


@pytest.mark.parametrize("samples, message", [
    (lambda img: {}, "at least one class"),
    (lambda img: {"wink": [img]}, "needs recordings of at least one other expression"),  # a custom class alone
    (lambda img: {"happiness": []}, "'happiness' needs a list of at least one image"),
    (lambda img: {"happiness": "me.jpg"}, "'happiness' needs a list of at least one image"),
])
def test_calibrate_refuses_unusable_samples_in_one_line(recognize, photos, samples, message):
    with pytest.raises(PredictError, match=message) as info:
        recognize.calibrate(samples(photos[0]))
    assert "\n" not in str(info.value)


def test_calibrate_names_the_image_without_a_face(recognize, photos):
    with pytest.raises(PredictError, match="no face found in 'neutral' image 2"):
        recognize.calibrate({"neutral": [photos[0], np.full((200, 200, 3), 128, np.uint8)]})


def test_a_bad_profile_is_refused_and_the_current_one_kept(recognize, profile, tmp_path):
    recognize.profile = profile
    try:
        other = {**profile, "model": {**profile["model"], "weights_sha256": "ab" * 32}}
        with pytest.raises(PredictError, match="made for model abababababab"):
            recognize.profile = other
        (tmp_path / "nan.json").write_text(json.dumps(profile).replace("0.0", "NaN", 1))
        with pytest.raises(PredictError, match="NaN"):
            recognize.profile = tmp_path / "nan.json"
        assert recognize.profile is profile
    finally:
        recognize.profile = None


def test_the_cli_answers_in_the_profiles_classes(profile, photos, tmp_path):
    save_profile(profile, tmp_path / "me.json")
    cv2.imwrite(str(tmp_path / "flipped.png"), cv2.cvtColor(photos[1], cv2.COLOR_RGB2BGR))
    proc = run_predict("image", tmp_path / "flipped.png", "--profile", tmp_path / "me.json", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["classes"] == [c for c in profile["classes"] if c != "fear"]
    assert report["images"][0]["faces"][0]["label"] == "wink"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**load_profile(tmp_path / "me.json", _shipped_meta()), "schema": "fer-profile/9"}))
    proc = run_predict("image", tmp_path / "flipped.png", "--profile", bad)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "it reads fer-profile/1" in proc.stderr


def _shipped_meta():
    from fer_browser.paths import DEFAULT_MODEL_DIR
    return json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
