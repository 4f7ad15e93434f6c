"""The `faceres` model: the PyTorch port of HSE FaceRes against the original graph run by TF.js itself.

The reference is Human's faceres.json + .bin executed by @tensorflow/tfjs in Node (CPU backend,
tests/js/faceres_reference.mjs), which reads and dequantizes the weights on its own: the port's
weight reader, layout transposes, BN unfolding and SAME padding are all checked against it.
"""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from fer_browser.paths import FACERES_JSON
from fer_browser.core.metadata import DEFAULT_PREPROCESSING
from fer_browser.training.models import build_model
from fer_browser.training.models.faceres import FaceResNet, FaceResTrunk, load_graph_weights
from fer_browser.core.normalize import normalize
from fer_browser.training.probes import PHOTOS

OUTPUTS = {"embedding": "global_pooling/Mean", "age": "age_pred/Softmax:0", "gender": "gender_pred/Sigmoid:0"}


def face(name: str, size: int, grow: float = 1.4) -> np.ndarray:
    """A real face from scikit-image's photos (box from training/probes.py), RGB uint8 (size, size, 3)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img
    x, y, w, h = PHOTOS[name]
    side = int(grow * max(w, h))
    x0, y0 = int(x + w / 2 - side / 2), int(y + h / 2 - side / 2)
    return cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def faces(size: int) -> np.ndarray:
    """astronaut (a woman), the same mirrored, camera (a man in profile): float32 NHWC, the
    original's preprocessing (BGR minus the Caffe means)."""
    a = face("astronaut", size)
    x = np.stack([a, a[:, ::-1], face("camera", size)]).astype(np.float32)[..., ::-1]
    return np.ascontiguousarray(x - np.float32([103.939, 116.779, 123.68]))


def tfjs_outputs(x: np.ndarray, tmp_path) -> dict[str, np.ndarray]:
    (tmp_path / "x.bin").write_bytes(np.ascontiguousarray(x, np.float32).tobytes())
    proc = subprocess.run(["node", "tests/js/faceres_reference.mjs", str(FACERES_JSON), str(tmp_path / "x.bin"),
                           json.dumps(list(x.shape)), str(tmp_path / "out.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)  # a hang guard only
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    return {k: np.asarray(out[name]["data"], np.float32).reshape(out[name]["shape"]) for k, name in OUTPUTS.items()}


def assert_close_relative(ours, ref, what, rtol=1e-4):
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert err < rtol, f"{what}: max error {err:.2e} of the largest value"


@pytest.mark.slow
def test_port_reproduces_tfjs_faceres_on_real_faces_at_224(tmp_path):
    x = faces(224)
    ref = tfjs_outputs(x, tmp_path)
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in FaceResNet()(torch.from_numpy(x).permute(0, 3, 1, 2)).items()}
    for k in OUTPUTS:
        assert ours[k].shape == ref[k].shape, (k, ours[k].shape, ref[k].shape)
        assert_close_relative(ours[k], ref[k], k)
    # and the outputs mean something: the astronaut reads female, the camera man male (gender > 0.5 =
    # male, as Human reads it), and a mirrored face is nearer itself than another person
    assert ours["gender"][0, 0] < 0.5 < ours["gender"][2, 0], ours["gender"].ravel()
    e = ours["embedding"] / np.linalg.norm(ours["embedding"], axis=1, keepdims=True)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


@pytest.mark.slow
def test_trunk_matches_tfjs_at_the_training_size_of_112(tmp_path):
    """At 112 px the last stride-2 layer sees 7x7: TF's SAME pads it (1, 1), not (0, 1) as at 224."""
    x = faces(112)
    trunk = FaceResTrunk(112)
    load_graph_weights(trunk)
    with torch.no_grad():
        ours = trunk.eval()(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    assert_close_relative(ours, tfjs_outputs(x, tmp_path)["embedding"], "embedding at 112")


def test_model_turns_our_normalised_48px_input_into_the_pixels_faceres_expects():
    """The original's preprocessing: 0..255, B, G, R minus the Caffe means (here all three grey)."""
    gray = np.stack([cv2.cvtColor(face(n, 48), cv2.COLOR_RGB2GRAY) for n in ("astronaut", "camera")])
    model = build_model("faceres", 7, {"input_size": 112})
    got = model.trunk_input(normalize(torch.from_numpy(gray), DEFAULT_PREPROCESSING))
    big = F.interpolate(torch.from_numpy(gray).float()[:, None], size=(112, 112), mode="bilinear",
                        align_corners=False)
    expected = big - torch.tensor([103.939, 116.779, 123.68]).reshape(1, 3, 1, 1)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_faceres_trains_a_step_on_48px_input_and_pretrained_false_is_another_network():
    torch.manual_seed(0)
    x, y = torch.randn(4, 1, 48, 48), torch.tensor([0, 3, 5, 6])
    pre, scratch = build_model("faceres", 7), build_model("faceres", 7, {"pretrained": False})
    port = FaceResTrunk(112)
    load_graph_weights(port)
    torch.testing.assert_close(pre.trunk.state_dict(), port.state_dict())
    assert not torch.allclose(pre.trunk.layers[0].conv.weight, scratch.trunk.layers[0].conv.weight)
    for model in (pre, scratch):
        bn = model.trunk.layers[5].bn
        stats = bn.running_mean.clone()
        weights = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        model.train()
        out = model(x)
        assert out.shape == (4, 7)
        torch.testing.assert_close(out.exp().sum(1), torch.ones(4))
        F.nll_loss(out, y).backward()
        opt.step()
        assert all(p.grad is not None for p in model.parameters())
        assert not torch.equal(weights[0], next(model.parameters()).detach())  # the trunk learns too
        # pretrained: BN statistics stay frozen (the graph's are baked in); from scratch: batch statistics
        assert torch.equal(bn.running_mean, stats) == model.frozen_bn
    with torch.no_grad():
        assert not torch.allclose(pre.eval()(x), scratch.eval()(x), atol=1e-3)


def test_missing_node_modules_is_a_one_line_error(tmp_path, monkeypatch):
    from fer_browser import paths

    monkeypatch.setattr(paths, "FACERES_JSON", tmp_path / "faceres.json")
    with pytest.raises(ValueError, match=r"^faceres needs the pretrained weights of npm @vladmandic/human "
                                         r"\(faceres.json not found\): [^\n]*$"):
        build_model("faceres", 7)
    build_model("faceres", 7, {"pretrained": False})  # the from-scratch network needs no weights


def test_a_faceres_checkpoint_loads_without_node_modules(tmp_path, monkeypatch):
    from convert_helpers import make_checkpoint
    from fer_browser import paths
    from fer_browser.training.checkpoint import model_from_checkpoint

    ckpt = make_checkpoint(tmp_path / "f.pt", steps=2, model_name="faceres",
                           hparams={"input_size": 32, "pretrained": True, "dropout": 0.3})
    with_files, _ = model_from_checkpoint(ckpt)
    monkeypatch.setattr(paths, "FACERES_JSON", tmp_path / "faceres.json")  # as in an install without npm files
    without, meta = model_from_checkpoint(ckpt)  # the weights are the checkpoint's: FaceRes's own are not read
    assert meta["model"]["hparams"]["pretrained"] and without.frozen_bn  # fine-tuning it keeps BN frozen
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(without(x), with_files(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="faceres needs the pretrained weights"):
        build_model("faceres", 7)  # a fresh pretrained model still does
