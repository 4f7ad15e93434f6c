"""Training and evaluation CLIs on tiny generated data with a learnable signal."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import train as train_mod
from fer_browser.training.checkpoint import load_checkpoint
from fer_browser.training.datasets import load_folder_dataset
from fer_browser.training.errors import DataError

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
SMALL = ["--model", "vgg", "--hparams", '{"widths": [8, 16, 32], "convs_per_stage": 2, "dropout": 0.0}', "--batch-size", "32",
         "--no-progress", "--threads", "2", "--shift", "0", "--scale", "0", "--rotate", "3", "--erase", "0"]


def run_cli(module, *args):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def test_short_training_beats_chance_and_writes_a_complete_checkpoint(tmp_path, fer_csv):
    out = tmp_path / "run"
    args = train_mod.parse_args(["--csv", str(fer_csv), "--label-set", "fer2013", "--epochs", "6",
                                 "--lr", "5e-3", "--out", str(out), *SMALL])
    final = train_mod.train(args)
    assert final["val_acc"] > 0.6, final  # chance is 1/7
    ckpt = load_checkpoint(out / "best.pt")
    meta = ckpt["metadata"]
    assert meta["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert meta["model"]["name"] == "vgg" and meta["model"]["hparams"]["widths"] == [8, 16, 32]
    assert meta["input"] == {"height": 48, "width": 48, "channels": 1, "layout": "NCHW", "dtype": "float32"}
    assert meta["training"]["epochs"] == 6 and meta["training"]["optimizer"] == "adamw"
    assert len(meta["data"]["csv_sha256"]) == 64
    assert meta["metrics"]["best_val_acc"] >= final["val_acc"]
    assert (out / "training_curves.png").stat().st_size > 1000
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 6
    # validation loss every epoch; the last one is last.pt's cross-entropy on PublicTest, recomputed here
    assert all(h["val_loss"] > 0 for h in history) and history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_loss"] == pytest.approx(recomputed_val_loss(out / "last.pt", fer_csv), rel=1e-4)

    # evaluate: the seed's table, per-class figures, confusion PNGs, JSON report
    res = run_cli("training.evaluate", out / "best.pt", "--csv", fer_csv, "--out", tmp_path / "eval")
    assert res.returncode == 0, res.stderr
    assert "| Accuracy Score |" in res.stdout and "PrivateTest (n=70)" in res.stdout
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["splits"]["PrivateTest"]["accuracy"] > 0.5
    assert sum(map(sum, report["splits"]["PrivateTest"]["confusion_matrix"])) == 70
    assert (tmp_path / "eval" / "confusion_PrivateTest.png").stat().st_size > 1000

    # Test images with an exact copy in Training are counted, and accuracy is also given without them.
    labels, usages, images = make_rows()
    images[-5:], labels[-5:] = images[:5], labels[:5]
    dup_csv = write_fer_csv(tmp_path / "dups.csv", labels, usages, images)
    res = run_cli("training.evaluate", out / "best.pt", "--csv", dup_csv, "--out", tmp_path / "eval2")
    assert "PrivateTest: 5 images have an exact copy in Training" in res.stdout, res.stdout + res.stderr
    dups = json.loads((tmp_path / "eval2" / "report.json").read_text())["splits"]["PrivateTest"]["train_duplicates"]
    # The copies are the last 5 PrivateTest rows (built so above, not found by hashing): the accuracy
    # without them is the accuracy of the checkpoint's own predictions on the first 65, to the digit.
    from fer_browser.training.checkpoint import model_from_checkpoint
    from fer_browser.training.metrics import predict_probs
    model, meta = model_from_checkpoint(out / "best.pt")
    private = np.array(usages) == "PrivateTest"
    pred = predict_probs(model, images[private], meta["preprocessing"]).argmax(1)
    expected = float((pred[:65] == labels[private][:65]).mean())
    assert dups["count"] == 5 and dups["accuracy_without"] == pytest.approx(expected, abs=1e-9)
    assert expected > 0.5  # a trained model on this easy data; chance is 1/7


def test_resume_after_interruption_gives_the_same_weights(tmp_path, fer_csv):
    common = ["--csv", str(fer_csv), "--label-set", "fer2013", "--epochs", "3", *SMALL,
              "--rotate", "10", "--erase", "0.3", "--hparams", '{"widths": [8, 16, 32], "convs_per_stage": 2, "dropout": 0.3}']
    train_mod.train(train_mod.parse_args([*common, "--out", str(tmp_path / "straight")]))

    def interrupt(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_mod.train(train_mod.parse_args([*common, "--out", str(tmp_path / "split")]), on_epoch_end=interrupt)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 1
    assert (tmp_path / "split" / "training_curves.png").stat().st_size > 1000  # drawn every epoch
    train_mod.train(train_mod.parse_args([*common, "--out", str(tmp_path / "split"), "--resume"]))
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    assert b["epoch"] == 3
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)


def test_ferplus_soft_labels_train_from_votes(tmp_path):
    labels, usages, images = make_rows(seed=1)
    csv = write_fer_csv(tmp_path / "f.csv.gz", labels, usages, images, gz=True)
    votes = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    args = train_mod.parse_args(["--csv", str(csv), "--votes", str(votes), "--label-set", "ferplus-soft",
                                 "--epochs", "6", "--lr", "5e-3", "--out", str(tmp_path / "r"), *SMALL])
    final = train_mod.train(args)
    assert final["val_acc"] > 0.5
    # soft label sets: the validation loss is against the vote distributions, as the training loss
    assert final["val_loss"] == pytest.approx(recomputed_val_loss(tmp_path / "r" / "last.pt", csv, votes), rel=1e-4)
    meta = load_checkpoint(tmp_path / "r" / "best.pt")["metadata"]
    assert meta["classes"][0] == "neutral" and meta["label_set"] == "ferplus-soft"


def recomputed_val_loss(checkpoint, csv, votes=None) -> float:
    """PublicTest cross-entropy of a checkpoint, computed from its metadata: soft targets for soft label
    sets, else the labels; flip-averaged probabilities when it was trained with --tta."""
    from fer_browser.training.checkpoint import model_from_checkpoint
    from fer_browser.training.datasets import load_dataset
    from fer_browser.training.metrics import predict_probs
    model, meta = model_from_checkpoint(checkpoint)
    split = load_dataset(csv, votes, None, meta["label_set"], progress=False).splits["PublicTest"]
    probs = predict_probs(model, split.images, meta["preprocessing"], tta_flip=meta["training"]["tta"])
    targets = split.soft if split.soft is not None else np.eye(probs.shape[1])[split.labels]
    return float(-(targets * np.log(probs)).sum(1).mean())


def test_help_shows_the_chosen_models_recipe():
    """No --model: the shipped recipe (vgg, soft FERPlus labels, flip TTA); --model NAME: NAME's."""
    default = run_cli("training.train", "--help")
    baseline = run_cli("training.train", "--model", "baseline", "--help")
    assert default.returncode == baseline.returncode == 0
    squash = lambda text: " ".join(text.split())  # noqa: E731  (argparse wraps lines)
    d, b = squash(default.stdout), squash(baseline.stdout)
    assert "recipe (defaults: vgg's recipe" in d and "recipe (defaults: baseline's recipe" in b
    assert "--epochs EPOCHS default: 70" in d and "--epochs EPOCHS default: 140" in b
    assert "--optimizer {adam,adamw,sgd} default: adamw" in d and "--optimizer {adam,adamw,sgd} default: adam " in b
    assert "(default: [100, 120])" in b and "--schedule {step,cosine,onecycle} default: onecycle" in d
    assert "default: ferplus-soft (vgg's recipe)" in d and "default: ferplus (baseline's recipe)" in b
    assert "test-time augmentation (default: on)" in d and "test-time augmentation (default: off)" in b
    # the parsed defaults are the recipe's: no --model is make train-default's command line
    assert vars(train_mod.parse_args([])) == vars(train_mod.parse_args(
        ["--model", "vgg", "--label-set", "ferplus-soft", "--tta", "--out", "runs/vgg-ferplus-soft"]))


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    res = run_cli("training.train", "--csv", bad, "--out", tmp_path / "o", "--no-progress")
    assert res.returncode == 2
    assert "row 2: expected 2304 pixels" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("training.train", "--csv", bad, "--label-set", "ferplus", "--votes", tmp_path / "none.csv",
                  "--no-progress")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = run_cli("training.evaluate", tmp_path / "missing.pt")
    assert res.returncode == 2 and "no such checkpoint" in res.stderr and "Traceback" not in res.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    res = run_cli("training.evaluate", junk)
    assert res.returncode == 2 and "not a readable PyTorch checkpoint" in res.stderr
    torch.save({"state_dict": {}}, tmp_path / "nometa.pt")
    res = run_cli("training.evaluate", tmp_path / "nometa.pt")
    assert res.returncode == 2 and "has no metadata" in res.stderr
    res = run_cli("training.train", "--help")
    assert res.returncode == 0 and "--resume" in res.stdout


def test_new_run_refuses_an_out_folder_that_holds_checkpoints(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"an earlier run")
    # refused before any work: the missing CSV is never looked at
    res = run_cli("training.train", "--csv", tmp_path / "missing.csv", "--out", out, "--no-progress")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "already holds last.pt" in res.stderr and "--resume" in res.stderr and "--overwrite" in res.stderr
    assert (out / "last.pt").read_bytes() == b"an earlier run"
    res = run_cli("training.train", "--csv", tmp_path / "missing.csv", "--out", out, "--no-progress", "--overwrite")
    assert res.returncode == 2 and "missing.csv: no such file" in res.stderr, res.stderr


def test_folder_layout(tmp_path):
    labels, _, images = make_rows(sizes={"Training": 30, "PublicTest": 10}, num_classes=3)
    for i, (y, img) in enumerate(zip(labels, images)):
        split = "train" if i < 30 else "val"
        folder = tmp_path / "faces" / split / ["happy", "sad", "angry"][y]
        folder.mkdir(parents=True, exist_ok=True)
        big = cv2.resize(img, (96, 96))  # other sizes are resized to 48x48
        cv2.imwrite(str(folder / f"{i}.png"), big)
    data = load_folder_dataset(tmp_path / "faces")
    assert data.classes == ("angry", "happy", "sad")
    assert data.splits["Training"].images.shape == (30, 48, 48)
    assert len(data.splits["PublicTest"]) == 10
    (tmp_path / "faces" / "train" / "sad" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        load_folder_dataset(tmp_path / "faces")
    with pytest.raises(DataError, match="Training/"):
        load_folder_dataset(tmp_path / "faces" / "train")


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_openmp_threads_spin_briefly_unless_the_environment_says_otherwise(preset):
    """training.train sets GOMP_SPINCOUNT=10000 before torch loads libgomp, so the runtime really uses
    it (OMP_DISPLAY_ENV=VERBOSE makes libgomp print what it read; unset, it spins 300,000 times).
    OMP_WAIT_POLICY in the environment wins."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update({"OMP_DISPLAY_ENV": "VERBOSE", **({"OMP_WAIT_POLICY": preset} if preset else {})})
    res = subprocess.run([sys.executable, "-c", "from fer_browser.training import train"],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    spins = [line for line in res.stderr.splitlines() if "GOMP_SPINCOUNT" in line]
    assert spins, res.stderr
    assert (spins[0].split("=")[1].strip() == "'10000'") == (preset is None)
