"""The `attention` model: squeeze-excitation + self-attention over the 6x6 tokens, through the whole chain."""
from __future__ import annotations

import json

import pytest
import torch

from convert_helpers import make_checkpoint, run_cli
from fer_browser.training.models import build_model, count_parameters

SMALL = {"widths": [8, 16, 24, 32], "convs_per_stage": [1, 1, 1], "heads": 2, "attention_layers": 1,
         "dropout": 0.0}


def test_default_attention_model_has_the_vgg_parameter_budget():
    att, vgg = count_parameters(build_model("attention", 7)), count_parameters(build_model("vgg", 7))
    assert abs(att - vgg) / vgg < 0.05, (att, vgg)


def test_attention_weights_are_distributions_over_the_36_tokens():
    model = build_model("attention", 7, SMALL).eval()
    x = torch.rand(3, 1, 48, 48)
    model(x)
    w = model.blocks[-1].last_weights
    assert w.shape == (3, 2, 36, 36)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 36))
    assert model.attention_map().shape == (3, 6, 6)
    # attention depends on the input: two different faces get different maps
    assert not torch.allclose(w[0], w[1])


def test_attention_model_rejects_a_stage_count_that_does_not_fit():
    with pytest.raises(ValueError, match="one count per conv stage"):
        build_model("attention", 7, {**SMALL, "convs_per_stage": [1, 1]})
    with pytest.raises(ValueError, match="divisible by heads"):
        build_model("attention", 7, {**SMALL, "heads": 3})


@pytest.mark.slow
@pytest.mark.browser
def test_attention_model_passes_the_parity_gate_in_every_backend(tmp_path):
    """PyTorch -> ONNX (opset 12) -> onnx-tf SavedModel -> TF.js, gated in real Chromium (wasm)."""
    ckpt = make_checkpoint(tmp_path / "att.pt", steps=40, model_name="attention", hparams=SMALL)
    out = tmp_path / "export"
    proc = run_cli(ckpt, "--out", out, "--synthetic")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "PARITY GATE: PASSED" in proc.stdout
    backends = json.loads((out / "parity.json").read_text())["backends"]
    assert set(backends) == {"onnxruntime", "tensorflow", "tfjs"}, backends.keys()
    assert all(b["passed"] and b["top1_agreement"] == 1.0 for b in backends.values())
    graph = json.loads((out / "tfjs" / "model.json").read_text())
    ops = {n["op"] for n in graph["modelTopology"]["node"]}
    assert {"BatchMatMulV2", "Softmax"} <= ops and "Einsum" not in ops, ops
