"""training.factorize: convs made spatially separable and low-rank, started from a trained model's weights."""
import json

import pytest
import torch

from convert_helpers import make_checkpoint, run_cli
from fer_browser.training import factorize, prune
from fer_browser.training.checkpoint import load_checkpoint, model_from_checkpoint
from fer_browser.training.models import build_model, check_hparams
from fer_browser.training.errors import OptionError


def _composed(vertical: torch.Tensor, horizontal: torch.Tensor) -> torch.Tensor:
    """The 3x3 kernel that the 3x1 conv followed by the 1x3 conv computes."""
    return torch.einsum("rcy,orx->ocyx", vertical[..., 0], horizontal[:, :, 0])


def test_separable_is_the_best_rank_r_approximation():
    w = torch.randn(12, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    s = torch.linalg.svdvals(w.permute(1, 2, 0, 3).reshape(24, 36).double())
    for rank in (1, 5, 24):
        v, h, kept = factorize.separable(w, rank)
        assert v.shape == (rank, 8, 3, 1) and h.shape == (12, rank, 1, 3)
        err = float(((_composed(v.double(), h.double()) - w.double()) ** 2).sum())
        # Eckart-Young: the error of the best rank-r approximation is the energy of the dropped singular values
        assert err == pytest.approx(float((s[rank:] ** 2).sum()), rel=1e-6, abs=1e-9)
        assert kept == pytest.approx(float((s[:rank] ** 2).sum() / (s ** 2).sum()))


def test_full_rank_keeps_every_answer_and_a_low_rank_stays_close(tmp_path, capsys):
    src = make_checkpoint(tmp_path / "m.pt", steps=20)
    full, meta = model_from_checkpoint(load_checkpoint(src))
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in full.modules())
    x = torch.randn(16, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    # rank 3 x min(cin, cout) is exact; the first conv (1 input) keeps its full 3x3 form
    widths = meta["model"]["hparams"]["widths"]
    exact = [0] + [3 * min(a, b) for a, b in zip(widths, widths[1:])]
    assert len(exact) == n_convs
    assert factorize.main([str(src), "--ranks", *map(str, exact), "--out", str(tmp_path / "exact.pt")]) == 0
    assert "energy kept" in capsys.readouterr().out
    same, same_meta = model_from_checkpoint(load_checkpoint(tmp_path / "exact.pt"))
    with torch.inference_mode():
        assert torch.allclose(full(x), same(x), atol=1e-4)
    record = same_meta["training"]["factorized_from"]
    assert record["weights_sha256"] == meta["weights_sha256"] and record["ranks"] == exact
    assert all(c["energy_kept"] == pytest.approx(1.0) for c in record["convs"])
    # a real cut: fewer parameters, energy below 1, answers near but not equal
    low = [0] + [max(1, b // 4) for b in widths[1:]]
    assert factorize.main([str(src), "--ranks", *map(str, low), "--out", str(tmp_path / "low.pt")]) == 0
    cheap, cheap_meta = model_from_checkpoint(load_checkpoint(tmp_path / "low.pt"))
    assert cheap_meta["model"]["hparams"]["ranks"] == low
    assert cheap_meta["model"]["parameters"] == sum(p.numel() for p in cheap.parameters()) < meta["model"]["parameters"]
    assert all(c["energy_kept"] < 1 for c in cheap_meta["training"]["factorized_from"]["convs"])
    assert "probe" in cheap_meta and "metrics" not in cheap_meta  # measured anew / dropped as stale
    with torch.inference_mode():
        assert not torch.allclose(full(x), cheap(x), atol=1e-4)


@pytest.mark.parametrize("ranks, message", [
    (["4"], "gives 1 ranks; the model has"),
    (None, "takes a rank from 1 to"),
    (["0", "0", "0", "0"], "nothing to factorize"),
])
def test_factorize_refuses_ranks_that_do_not_fit(tmp_path, capsys, ranks, message):
    src = make_checkpoint(tmp_path / "m.pt", steps=2)
    widths = load_checkpoint(src)["metadata"]["model"]["hparams"]["widths"]
    ranks = ranks or ["0", str(3 * widths[0] + 1)] + ["1"] * (len(widths) - 2)
    assert factorize.main([str(src), "--ranks", *ranks, "--out", str(tmp_path / "f.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and not (tmp_path / "f.pt").exists()


def test_factorize_refuses_a_factorized_checkpoint(tmp_path, capsys):
    src = make_checkpoint(tmp_path / "m.pt", steps=2)
    widths = load_checkpoint(src)["metadata"]["model"]["hparams"]["widths"]
    ranks = ["0"] + ["2"] * (len(widths) - 1)
    assert factorize.main([str(src), "--ranks", *ranks, "--out", str(tmp_path / "f.pt")]) == 0
    capsys.readouterr()
    assert factorize.main([str(tmp_path / "f.pt"), "--ranks", *ranks, "--out", str(tmp_path / "g.pt")]) == 2
    assert "factorized already" in capsys.readouterr().err
    # pruning counts only full convs: it refuses rather than cut the wrong channels
    assert prune.main([str(tmp_path / "f.pt"), "--widths", "4", "8", "12", "16", "--out", str(tmp_path / "p.pt")]) == 2
    assert "prune the full model, then factorize" in capsys.readouterr().err and not (tmp_path / "p.pt").exists()


def test_ranks_hparam_is_checked_before_any_data_is_read():
    build_model("vgg", 7, {"ranks": [0, 2, 2, 2, 2, 2, 2]})
    for bad in ([0, 2], [0, -1, 2, 2, 2, 2, 2], [0, 1.5, 2, 2, 2, 2, 2]):
        with pytest.raises(OptionError, match="ranks"):
            check_hparams("vgg", {"ranks": bad})
    with pytest.raises(OptionError, match="ranks"):
        check_hparams("vgg", json.loads('{"ranks": "4"}'))


@pytest.mark.slow
@pytest.mark.browser
def test_a_factorized_model_passes_the_parity_gate_in_every_backend(tmp_path):
    """The 3x1 and 1x3 convs (padding on one axis only) through ONNX, onnx-tf and TF.js, gated in Chromium."""
    src = make_checkpoint(tmp_path / "m.pt", steps=20)
    assert factorize.main([str(src), "--ranks", "0", "6", "8", "12", "--out", str(tmp_path / "f.pt")]) == 0
    out = tmp_path / "export"
    proc = run_cli(tmp_path / "f.pt", "--out", out, "--synthetic")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    backends = json.loads((out / "parity.json").read_text())["backends"]
    assert set(backends) == {"onnxruntime", "tensorflow", "tfjs"} and all(b["passed"] for b in backends.values())
    graph = json.loads((out / "tfjs" / "model.json").read_text())
    kernels = [n for n in graph["modelTopology"]["node"] if n["op"].startswith("_FusedConv2D") or n["op"] == "Conv2D"]
    # 1 full conv + 3 factorized pairs, none folded back into a 3x3
    assert len(kernels) == 7, [n["op"] for n in graph["modelTopology"]["node"]]
