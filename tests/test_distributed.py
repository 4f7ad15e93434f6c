"""Data-parallel training (DDP, gloo on CPU) is the same training as one process, and only rank 0 writes."""
import json

import torch

from ddp_helpers import spawn_training, torchrun
from fer_browser.training import train as train_mod
from fer_browser.training.checkpoint import load_checkpoint, model_from_checkpoint
from fer_browser.core.metadata import validate_metadata
from fer_browser.training.models import build_model

# BatchNorm on (synchronised across ranks), augmentation on (drawn for the global batch), dropout off:
# dropout masks come from each rank's own RNG, so they cannot match one process's.
TINY = ["--label-set", "fer2013", "--model", "vgg", "--no-progress", "--threads", "1",
        "--hparams", '{"widths": [8, 16], "convs_per_stage": 1, "dropout": 0.0}']


def test_one_ddp_step_equals_one_process_with_the_global_batch(tmp_path, fer_csv):
    args = [*TINY, "--csv", str(fer_csv), "--limit", "64", "--batch-size", "64", "--epochs", "1",
            "--optimizer", "sgd", "--lr", "0.5", "--schedule", "step", "--milestones",
            "--rotate", "10", "--shift", "0.05", "--scale", "0.05", "--erase", "0.3"]
    train_mod.train(train_mod.parse_args([*args, "--out", str(tmp_path / "one")]))
    spawn_training([*args, "--out", str(tmp_path / "two")], world=2)
    a = load_checkpoint(tmp_path / "one" / "last.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "two" / "last.pt")["state_dict"]
    init = build_model("vgg", 7, json.loads(TINY[-1])).state_dict()
    assert a.keys() == b.keys()
    moved = max((a[k] - init[k]).abs().max().item() for k in a if a[k].is_floating_point())
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"\nDDP (2 x 32) vs one process (64), one SGD step: max |weight difference| {diff:.2e} "
          f"(the step moved weights by up to {moved:.2e})")
    assert moved > 1e-2  # the step did something
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-5, msg=k)


def test_torchrun_two_processes_rank0_writes_and_resume_is_exact(tmp_path, fer_csv):
    args = [*TINY, "--csv", str(fer_csv), "--batch-size", "32", "--epochs", "2", "--lr", "5e-3",
            "--hparams", '{"widths": [8, 16], "convs_per_stage": 1, "dropout": 0.3}']
    res = torchrun([*args, "--out", str(tmp_path / "run")])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "data-parallel: 2 processes (gloo), global batch 32 = 16 per process" in res.stderr
    assert res.stderr.count("epoch   1/2") == 1 and res.stderr.count("done:") == 1, res.stderr  # rank 0 only
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["best.pt", "history.json", "last.pt", "training_curves.png"]  # no stray temp files
    assert [h["epoch"] for h in json.loads((tmp_path / "run" / "history.json").read_text())] == [1, 2]
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["world_size"] == 2 and len(last["rank_rng"]) == 2
    assert not any(k.startswith("module.") for k in last["state_dict"])
    model, meta = model_from_checkpoint(tmp_path / "run" / "best.pt")  # strict load into the plain model
    validate_metadata(meta)
    assert meta["classes"][0] == "angry" and len(meta["data"]["csv_sha256"]) == 64

    # interrupted after epoch 1 and resumed (both as 2 ranks): exactly the uninterrupted run's weights
    spawn_training([*args, "--out", str(tmp_path / "split")], stop_after=1)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 1
    spawn_training([*args, "--out", str(tmp_path / "split"), "--resume"])
    resumed = load_checkpoint(tmp_path / "split" / "last.pt")
    assert resumed["epoch"] == 2
    for k in last["state_dict"]:
        torch.testing.assert_close(resumed["state_dict"][k], last["state_dict"][k], rtol=0, atol=0, msg=k)
