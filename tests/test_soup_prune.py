"""training.soup (weight averaging + BN re-estimation) and training.prune (fewer channels per stage)."""
import numpy as np
import pytest
import torch

from convert_helpers import make_checkpoint
from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import prune, soup
from fer_browser.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


def test_average_states_is_the_weighted_mean_and_refuses_other_graphs():
    a = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 0.0]), "n": torch.tensor(9)}
    mean = soup.average_states([a, b], [3.0, 1.0])
    assert torch.allclose(mean["w"], torch.tensor([0.5, 3.0])) and mean["w"].dtype == torch.float32
    assert mean["n"].item() == 3  # integer buffers are not averaged
    with pytest.raises(soup.CheckpointError, match="not one graph"):
        soup.average_states([a, {"w": torch.zeros(3), "n": torch.tensor(1)}], [1.0, 1.0])


def test_soup_averages_two_runs_and_re_estimates_batchnorm(tmp_path):
    labels, usages, images = make_rows(seed=4)
    csv = write_fer_csv(tmp_path / "f.csv.gz", labels, usages, images, gz=True)
    votes = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    a, b = make_checkpoint(tmp_path / "a.pt", steps=20, seed=0), make_checkpoint(tmp_path / "b.pt", steps=20, seed=1)
    out = tmp_path / "soup" / "best.pt"
    assert soup.main([str(a), str(b), "--out", str(out), "--csv", str(csv), "--votes", str(votes)]) == 0
    pa, pb, ps = (load_checkpoint(p) for p in (a, b, out))
    key = "fc.weight"
    assert torch.allclose(ps["state_dict"][key], (pa["state_dict"][key] + pb["state_dict"][key]) / 2, atol=1e-6)
    # BN statistics are measured anew on the CSV's Training faces, not averaged
    bn = next(k for k in ps["state_dict"] if k.endswith("running_mean"))
    assert not torch.allclose(ps["state_dict"][bn], (pa["state_dict"][bn] + pb["state_dict"][bn]) / 2, atol=1e-4)
    record = ps["metadata"]["training"]["soup"]
    assert [s["weights_sha256"] for s in record["sources"]] == [pa["metadata"]["weights_sha256"], pb["metadata"]["weights_sha256"]]
    assert record["bn_refreshed"] and [s["weight"] for s in record["sources"]] == [0.5, 0.5]
    assert "calibration" not in ps["metadata"] and "metrics" not in ps["metadata"]


def test_soup_refuses_checkpoints_of_other_models_in_one_line(tmp_path, capsys):
    a = make_checkpoint(tmp_path / "a.pt", steps=2)
    b = make_checkpoint(tmp_path / "b.pt", steps=2, hparams={"widths": [8, 16, 24, 48], "convs_per_stage": 1, "dropout": 0.0})
    assert soup.main([str(a), str(b), "--out", str(tmp_path / "s.pt"), "--no-bn-refresh"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model differs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.pt").exists()
    with pytest.raises(SystemExit):
        soup.parse_args([str(a), str(a), "--out", "x.pt", "--weights", "1"])


def test_prune_keeps_the_live_channels_and_the_answers(tmp_path):
    """Channels whose BN scale and shift are zero output nothing; cutting exactly those leaves every answer."""
    src = make_checkpoint(tmp_path / "m.pt", steps=20)
    payload = load_checkpoint(src)
    state = {k: v.clone() for k, v in payload["state_dict"].items()}
    model, meta = model_from_checkpoint(payload)
    widths = meta["model"]["hparams"]["widths"]
    slim = [w - w // 4 for w in widths]
    bn_names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    rng = np.random.default_rng(0)
    for name, w, keep in zip(bn_names, widths, slim):  # one conv per stage in this small model
        dead = rng.choice(w, w - keep, replace=False)
        state[f"{name}.weight"][dead] = 0.0
        state[f"{name}.bias"][dead] = 0.0
    for stale in ("weights_sha256", "probe"):
        payload["metadata"].pop(stale, None)
    save_checkpoint(tmp_path / "dead.pt", {"state_dict": state, "metadata": payload["metadata"]})
    out = tmp_path / "slim.pt"
    assert prune.main([str(tmp_path / "dead.pt"), "--widths", *map(str, slim), "--out", str(out)]) == 0
    full, _ = model_from_checkpoint(load_checkpoint(tmp_path / "dead.pt"))
    small, small_meta = model_from_checkpoint(load_checkpoint(out))
    assert small_meta["model"]["hparams"]["widths"] == slim
    assert small_meta["model"]["parameters"] == sum(p.numel() for p in small.parameters()) < meta["model"]["parameters"]
    x = torch.randn(16, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(full.eval()(x), small.eval()(x), atol=1e-5)
    assert small_meta["training"]["pruned_from"]["widths"] == slim


def test_prune_refuses_widths_beyond_the_source(tmp_path, capsys):
    src = make_checkpoint(tmp_path / "m.pt", steps=2)
    assert prune.main([str(src), "--widths", "8", "16", "24", "64", "--out", str(tmp_path / "p.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "[8, 16, 24, 32]" in err and not (tmp_path / "p.pt").exists()


def test_band_score_rewards_a_curve_that_stays_high_not_one_lucky_point():
    from bench.prior_frontier import band_score
    row = lambda a, b: {"accuracy": a, "balanced_accuracy": b}  # noqa: E731
    spike = {0.0: row(0.884, 0.77), 0.5: row(0.8751, 0.85), 0.6: row(0.870, 0.86)}  # high only at the floor
    steady = {0.0: row(0.884, 0.80), 0.5: row(0.879, 0.82), 0.6: row(0.8751, 0.83)}
    floor_only = lambda rows: max(r["balanced_accuracy"] for r in rows.values() if r["accuracy"] >= 0.875)  # noqa: E731
    assert floor_only(spike) > floor_only(steady)
    assert band_score(steady, 0.872, 0.882) > band_score(spike, 0.872, 0.882)
    # floors above every point: no score; a band of one floor is the plain rule
    assert band_score(steady, 0.885, 0.89) is None
    assert band_score(steady, 0.875, 0.875) == pytest.approx(0.83)
