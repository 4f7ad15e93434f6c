"""Personal profiles (fer_browser/profile.py) and their browser twin (web/lib/profile.js): a profile
made by either is read by the other with the same probabilities, and bad ones get one-line refusals."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fer_browser.adaptation import fit_head
from fer_browser.profile import (MAX_BYTES, ProfileError, check_profile, load_profile, make_profile,
                                 profile_probabilities, save_profile)
from node_suite import run_node_suite

ROOT = Path(__file__).resolve().parent.parent
META = json.loads((ROOT / "models/fer-default/export/metadata.json").read_text())
FIXTURE = ROOT / "tests/conformance/profile.json"
K_MODEL = len(META["classes"])


def _faces(rng, n, d=META["model"]["embedding"]["size"]):
    e = np.maximum(rng.normal(0.5, 1.0, (n, d)), 0)
    z = rng.normal(0, 2, (n, K_MODEL))
    return e, z - np.log(np.exp(z).sum(1, keepdims=True))


def _profile(custom=("wink",), hidden=("disgust",)):
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 4, 4] + [K_MODEL] * len(custom) * 2)
    e, lp = _faces(rng, len(labels))
    head = fit_head(e, lp, labels, K_MODEL + len(custom), META["prior"]["probabilities"])
    return make_profile(head, META, custom=custom, hidden=hidden), (e, lp, labels)


def _refusal(path, meta=META) -> str:
    with pytest.raises(ProfileError) as err:
        load_profile(path, meta)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def _write(tmp_path, doc, name="p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_the_fixture_is_a_valid_profile_for_the_shipped_model():
    profile = load_profile(FIXTURE, META)
    assert profile["classes"] == META["classes"] + ["wink"] and profile["hidden"] == ["disgust"]


def test_save_then_load_gives_the_same_profile_and_leaves_no_temp_file(tmp_path):
    profile, _ = _profile()
    save_profile(profile, tmp_path / "me.json")
    assert load_profile(tmp_path / "me.json", META) == profile
    assert [p.name for p in tmp_path.iterdir()] == ["me.json"]


def test_a_bad_profile_is_never_saved_and_the_old_file_stays(tmp_path):
    profile, _ = _profile()
    save_profile(profile, tmp_path / "me.json")
    before = (tmp_path / "me.json").read_text()
    bad = json.loads(before)
    bad["head"]["scale"] = 0
    with pytest.raises(ProfileError, match="head.scale must be > 0, got 0"):
        save_profile(bad, tmp_path / "me.json")
    assert (tmp_path / "me.json").read_text() == before and len(list(tmp_path.iterdir())) == 1


def test_probabilities_hide_hidden_classes():
    profile, (e, lp, _) = _profile()
    p = profile_probabilities(profile, e, lp)
    assert p.shape == (len(e), K_MODEL + 1)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-12)
    assert not p[:, profile["classes"].index("disgust")].any()
    with pytest.raises(ProfileError, match="takes n x 192 embeddings"):
        profile_probabilities(profile, e[:, :5], lp)


def test_a_profile_for_another_model_is_refused_naming_both_digests(tmp_path):
    other = dict(META, weights_sha256="ab" * 32)
    message = _refusal(FIXTURE, other)
    assert META["weights_sha256"][:12] in message and "abababababab" in message, message


def test_an_unknown_version_names_the_one_supported(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    doc["schema"] = "fer-profile/2"
    message = _refusal(_write(tmp_path, doc))
    assert '"fer-profile/2"' in message and "it reads fer-profile/1" in message


def test_nan_weights_are_refused(tmp_path):
    path = tmp_path / "nan.json"
    doc = json.loads(FIXTURE.read_text())
    doc["head"]["weights"][0][0] = 1234.5
    path.write_text(json.dumps(doc).replace("1234.5", "NaN"))  # JSON has no NaN; Python's reader takes it
    assert "head.weights[0][0] must be a number, got NaN" in _refusal(path)


@pytest.mark.parametrize("edit, error", [
    (lambda d: d["counts"].pop(), "counts has 7 entries, classes has 8"),
    (lambda d: d["head"]["bias"].append(0.0), "head.bias has 9 entries, classes has 8"),
    (lambda d: d.update(hidden=d["classes"][1:]), "hidden leaves 1 of 8 classes visible; at least 2 must stay"),
    (lambda d: d["classes"].__setitem__(7, "fear"), 'classes[7] "fear" is a model class'),
])
def test_inconsistent_profiles_are_refused(tmp_path, edit, error):
    doc = json.loads(FIXTURE.read_text())
    edit(doc)
    assert error in _refusal(_write(tmp_path, doc))


def test_a_custom_class_named_like_a_model_class_is_not_made():
    with pytest.raises(ProfileError, match='classes\\[7\\] "happiness" is a model class'):
        _profile(custom=("happiness",))


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:
        fh.truncate(50 * 2 ** 20)  # sparse: no 50 MB written
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file over the cap"))
    assert _refusal(path).endswith("larger than a profile can be (8 MiB)")
    assert MAX_BYTES == 8 * 2 ** 20


def test_not_json_and_a_missing_file(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    assert ": not JSON (" in _refusal(tmp_path / "x.json")
    assert "cannot read it" in _refusal(tmp_path / "missing.json")
    assert "it reads fer-profile/1" in _refusal(_write(tmp_path, [1, 2]))


def test_the_embedding_size_is_checked_when_the_model_states_it():
    meta = dict(META, model=dict(META["model"], embedding={"output": "embedding", "size": 64}))
    with pytest.raises(ProfileError, match="the head takes 192 embedding values, the model gives 64"):
        check_profile(json.loads(FIXTURE.read_text()), meta, "p.json")


def test_python_and_the_page_read_each_others_profiles_alike(tmp_path):
    node = shutil.which("node")
    assert node, "node (20+) is needed for the JS tests"
    profile, (e, lp, labels) = _profile()
    te, tlp = _faces(np.random.default_rng(1), 5)
    save_profile(profile, tmp_path / "py.json")
    (tmp_path / "meta.json").write_text(json.dumps(META))
    (tmp_path / "inputs.json").write_text(json.dumps({
        "embeddings": e.tolist(), "log_probs": lp.tolist(), "labels": labels.tolist(), "n_classes": K_MODEL + 1,
        "custom": ["wink"], "hidden": ["disgust"], "test_embeddings": te.tolist(), "test_log_probs": tlp.tolist()}))
    proc = subprocess.run([node, str(ROOT / "tests/js/profile_exchange.mjs"), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = profile_probabilities(profile, te, tlp)
    theirs = json.loads((tmp_path / "js_out.json").read_text())["probabilities"]
    np.testing.assert_allclose(theirs, ours, atol=1e-6, rtol=0)  # Python's profile, read by the page
    from_js = load_profile(tmp_path / "js.json", META)  # the page's profile, read by Python
    assert from_js["classes"] == profile["classes"] and from_js["counts"] == profile["counts"]
    np.testing.assert_allclose(profile_probabilities(from_js, te, tlp), ours, atol=1e-6, rtol=0)


def test_javascript_checks_profiles_alike():
    run_node_suite("profile.test.mjs")
