"""The balance levers of training.train: re-weighted votes (--class-balance) and mixup (--mixup)."""
import numpy as np
import pytest
import torch

from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import train as train_mod
from fer_browser.training.checkpoint import load_checkpoint
from fer_browser.training.trainer import mix_batch, vote_weights
from test_training import SMALL


def test_vote_weights_lift_rare_classes_and_keep_mean_one():
    hard = torch.tensor([0] * 80 + [1] * 15 + [2] * 5)
    assert vote_weights(hard, 3, 0.0) is None
    w = vote_weights(hard, 3, 0.5)
    assert w.mean().item() == pytest.approx(1.0)
    assert w[0] < w[80] < w[95]  # the rarer the class, the heavier its faces
    assert w[95] / w[0] == pytest.approx((80 / 5) ** 0.5)
    full = vote_weights(hard, 3, 1.0)  # beta 1: every class carries the same total weight
    totals = [full[hard == c].sum().item() for c in range(3)]
    assert totals == pytest.approx([totals[0]] * 3)
    soft = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # votes weigh by their share
    ws = vote_weights(soft, 3, 1.0)
    prior = soft.mean(0)
    expected = soft @ (1 / prior)
    assert torch.allclose(ws, expected / expected.mean())


def test_mix_batch_blends_faces_and_targets_into_distributions():
    x = torch.arange(4 * 1 * 2 * 2, dtype=torch.float32).reshape(4, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 1])
    xm, ym, wm = mix_batch(x, y, torch.tensor([1.0, 2.0, 3.0, 4.0]), 3, 0.4, torch.Generator().manual_seed(0))
    assert ym.shape == (4, 3) and torch.allclose(ym.sum(1), torch.ones(4))
    assert xm.shape == x.shape and not torch.equal(xm, x)
    assert wm.min() >= 1.0 and wm.max() <= 4.0
    # each blended face lies between its two sources with the same lambda as its target
    lam = ym.gather(1, y[:, None]).squeeze(1)
    assert ((lam >= 0.0) & (lam <= 1.0 + 1e-6)).all()


def test_training_with_both_levers_learns_and_records_them(tmp_path):
    labels, usages, images = make_rows(seed=1)
    csv = write_fer_csv(tmp_path / "f.csv.gz", labels, usages, images, gz=True)
    votes = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    args = train_mod.parse_args(["--csv", str(csv), "--votes", str(votes), "--label-set", "ferplus-soft",
                                 "--epochs", "6", "--lr", "5e-3", "--class-balance", "0.5", "--mixup", "0.2",
                                 "--out", str(tmp_path / "r"), *SMALL])
    final = train_mod.train(args)
    assert final["val_acc"] > 0.5 and np.isfinite(final["train_loss"])
    config = load_checkpoint(tmp_path / "r" / "last.pt")["metadata"]["training"]
    assert config["class_balance"] == 0.5 and config["mixup"] == 0.2


@pytest.mark.parametrize("option", ["--class-balance", "--mixup"])
def test_out_of_range_lever_is_refused(option, capsys):
    with pytest.raises(SystemExit):
        train_mod.parse_args([option, "-0.5"])
    assert "[0, 2]" in capsys.readouterr().err


def test_retrain_head_refits_only_the_last_layer_towards_rare_classes(tmp_path):
    from fer_browser.training import retrain_head
    from fer_browser.training.checkpoint import model_from_checkpoint
    labels, usages, images = make_rows(seed=2)
    csv = write_fer_csv(tmp_path / "f.csv.gz", labels, usages, images, gz=True)
    votes = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    train_mod.train(train_mod.parse_args(["--csv", str(csv), "--votes", str(votes), "--label-set", "ferplus-soft",
                                          "--epochs", "2", "--lr", "5e-3", "--out", str(tmp_path / "r"), *SMALL]))
    src, out = tmp_path / "r" / "last.pt", tmp_path / "head.pt"
    assert retrain_head.main([str(src), "--out", str(out), "--csv", str(csv), "--votes", str(votes),
                              "--class-balance", "1", "--l2", "0", "--steps", "50"]) == 0
    before, after = load_checkpoint(src), load_checkpoint(out)
    changed = {k for k in before["state_dict"] if not torch.equal(before["state_dict"][k], after["state_dict"][k])}
    assert changed == {"fc.weight", "fc.bias"}
    record = after["metadata"]["training"]["head_retrain"]
    assert record["from_weights_sha256"] == before["metadata"]["weights_sha256"] and record["class_balance"] == 1.0
    assert after["metadata"]["weights_sha256"] != before["metadata"]["weights_sha256"]


def test_fit_layer_with_balanced_weights_recalls_the_rare_class():
    from fer_browser.training.retrain_head import fit_layer
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 900 + [1] * 100)  # overlapping classes, 9:1
    x = torch.randn(1000, 2, generator=gen, dtype=torch.float64) + torch.stack([y * 1.5, torch.zeros(1000)], 1)
    targets = torch.nn.functional.one_hot(y, 2).double()
    w0, b0 = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    recall = lambda wb: ((x @ wb[0].T + wb[1]).argmax(1)[y == 1] == 1).double().mean().item()  # noqa: E731
    plain = fit_layer(x, targets, w0, b0, class_balance=0.0, logit_adjust=0.0, l2=0.0, steps=100)
    balanced = fit_layer(x, targets, w0, b0, class_balance=1.0, logit_adjust=0.0, l2=0.0, steps=100)
    assert recall(plain) < 0.4 < 0.7 < recall(balanced)
    # the pull towards the trained layer: a strong L2 keeps the re-fit near it
    held = fit_layer(x, targets, w0, b0, class_balance=1.0, logit_adjust=0.0, l2=100.0, steps=100)
    assert held[0].abs().max() < 0.1 * balanced[0].abs().max()


def test_retrain_head_bad_data_is_one_line_and_writes_nothing(tmp_path, capsys):
    from convert_helpers import make_checkpoint
    from fer_browser.training import retrain_head
    labels, usages, images = make_rows(seed=3)
    csv = write_fer_csv(tmp_path / "f.csv.gz", labels, usages, images, gz=True)
    votes = write_votes(tmp_path / "v.csv", usages[:-5], votes_for(labels)[:-5])  # five rows short
    ckpt = make_checkpoint(tmp_path / "m.pt", steps=2)
    assert retrain_head.main([str(ckpt), "--out", str(tmp_path / "h.pt"), "--csv", str(csv), "--votes", str(votes)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "rows" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "h.pt").exists()
