"""Knowledge distillation (training/distill.py): teachers' TTA probabilities mixed into the targets, and
--distill-features (a teacher's conv blocks matched by a factorized student)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import train as train_mod
from fer_browser.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from fer_browser.training.datasets import load_dataset
from fer_browser.training import factorize as factorize_mod
from fer_browser.training.distill import FeatureHints, mix_targets, teacher_probs
from fer_browser.core.normalize import normalize
from test_training import ROOT, SMALL


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A small fer2013-label teacher trained on the generated faces (module-wide: a few seconds)."""
    tmp = tmp_path_factory.mktemp("teacher")
    csv = write_fer_csv(tmp / "fer.csv", *make_rows())
    train_mod.train(train_mod.parse_args(["--csv", str(csv), "--label-set", "fer2013", "--epochs", "4",
                                          "--lr", "5e-3", "--out", str(tmp / "run"), *SMALL]))
    return tmp / "run" / "best.pt", csv


def test_teacher_probs_are_the_flip_averaged_probabilities_averaged_over_teachers(teacher):
    path, csv = teacher
    split = load_dataset(csv, None, None, "fer2013", progress=False).splits["Training"]
    images = np.asarray(split.images)[:40]
    model, meta = model_from_checkpoint(path)
    with torch.inference_mode():
        x = torch.from_numpy(normalize(images, meta["preprocessing"]))
        expected = ((model(x).exp() + model(torch.flip(x, dims=[3])).exp()) / 2).numpy()
    got = teacher_probs([path], images, meta["classes"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(teacher_probs([path, path], images, meta["classes"]), got, rtol=1e-6, atol=1e-7)
    with pytest.raises(CheckpointError, match="same classes in the same order"):
        teacher_probs([path], images, list(reversed(meta["classes"])))


def test_mixed_targets_follow_the_formula_and_stay_distributions():
    rng = np.random.default_rng(0)
    teacher = rng.dirichlet(np.ones(7), size=20).astype(np.float32)
    labels = rng.integers(0, 7, 20)
    mixed = mix_targets(teacher, labels, None, 0.3)
    np.testing.assert_allclose(mixed.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed, 0.3 * teacher + 0.7 * np.eye(7)[labels], rtol=1e-6)
    soft = rng.dirichlet(np.ones(7), size=20).astype(np.float32)
    np.testing.assert_allclose(mix_targets(teacher, labels, soft, 1.0), teacher, rtol=1e-6)


def test_a_distilled_run_records_its_teacher_and_resume_refuses_another_alpha(tmp_path, teacher):
    path, csv = teacher
    common = ["--csv", str(csv), "--label-set", "fer2013", "--epochs", "2", "--lr", "5e-3",
              "--teacher", str(path), *SMALL]
    final = train_mod.train(train_mod.parse_args([*common, "--distill-alpha", "0.7", "--out", str(tmp_path / "s")]))
    assert final["train_acc"] > 0.5  # learns the labels through the mixed targets (chance is 1/7)
    distill = load_checkpoint(tmp_path / "s" / "best.pt")["metadata"]["training"]["distill"]
    teacher_meta = load_checkpoint(path)["metadata"]
    assert distill == {"teachers": [{"file": "best.pt", "model": "vgg",
                                     "weights_sha256": teacher_meta["weights_sha256"]}],
                       "alpha": 0.7, "tta_flip": True}
    with pytest.raises(CheckpointError, match="different configuration"):
        train_mod.train(train_mod.parse_args([*common, "--distill-alpha", "0.5", "--epochs", "3",
                                              "--out", str(tmp_path / "s"), "--resume"]))


def test_cli_names_a_teacher_with_other_classes_in_one_line(tmp_path, teacher):
    path, _ = teacher
    labels, usages, images = make_rows(seed=1)
    csv = write_fer_csv(tmp_path / "f.csv", labels, usages, images)
    votes = write_votes(tmp_path / "v.csv", usages, votes_for(labels))
    res = subprocess.run([sys.executable, "-m", "training.train", "--csv", str(csv), "--votes", str(votes),
                          "--label-set", "ferplus-soft", "--teacher", str(path), "--epochs", "1",
                          "--out", str(tmp_path / "x"), *SMALL], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0 and "a teacher must have the same classes" in res.stderr
    bad = subprocess.run([sys.executable, "-m", "training.train", "--csv", str(csv), "--teacher", str(path),
                          "--label-set", "fer2013", "--distill-alpha", "0", "--out", str(tmp_path / "y"), *SMALL],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "--distill-alpha must be in (0, 1]" in bad.stderr


def test_init_starts_from_a_trained_checkpoint_and_refuses_one_that_does_not_fit(tmp_path, teacher):
    path, csv = teacher
    common = ["--csv", str(csv), "--label-set", "fer2013", "--epochs", "1", "--init", str(path), *SMALL]
    # a learning rate of ~0: the weights after one epoch are the checkpoint's (BatchNorm statistics do move)
    train_mod.train(train_mod.parse_args([*common, "--lr", "1e-12", "--weight-decay", "0", "--out", str(tmp_path / "a")]))
    start, after = load_checkpoint(path), load_checkpoint(tmp_path / "a" / "last.pt")
    convs = [k for k, v in start["state_dict"].items() if k.endswith("weight") and v.dim() == 4]
    assert convs
    for k in convs:
        torch.testing.assert_close(after["state_dict"][k], start["state_dict"][k], rtol=0, atol=1e-6, msg=k)
    assert after["metadata"]["training"]["init"] == {"file": "best.pt", "model": "vgg",
                                                     "weights_sha256": start["metadata"]["weights_sha256"]}
    res = subprocess.run([sys.executable, "-m", "training.train", *common, "--hparams", '{"widths": [8, 16, 24], "convs_per_stage": 2, "dropout": 0.0}',
                          "--out", str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "weights do not fit this run's model" in res.stderr


def _hint_loss(teacher_path, student_path, csv) -> float:
    """FeatureHints' loss for the student on 64 plain training faces."""
    split = load_dataset(csv, None, None, "fer2013", progress=False).splits["Training"]
    student, meta = model_from_checkpoint(student_path)
    hints = FeatureHints(teacher_path, student, meta["classes"])
    x = torch.from_numpy(normalize(np.asarray(split.images)[:64], meta["preprocessing"]))
    with torch.no_grad():
        hints.teach(x)
        with hints.watching():
            student(x)
        return float(hints.loss())


def test_feature_hints_pull_a_factorized_student_towards_its_teacher(tmp_path, teacher):
    path, csv = teacher
    assert factorize_mod.main([str(path), "--ranks", "0", "2", "2", "3", "3", "--out", str(tmp_path / "f.pt")]) == 0
    hparams = {**load_checkpoint(tmp_path / "f.pt")["metadata"]["model"]["hparams"]}
    assert _hint_loss(path, path, csv) == pytest.approx(0.0, abs=1e-12)  # the teacher against itself
    before = _hint_loss(path, tmp_path / "f.pt", csv)
    assert before > 0.01  # rank 2 and 3 lose part of each kernel
    small = [a for a in SMALL]
    small[small.index("--hparams") + 1] = json.dumps(hparams)

    def student(out, *extra):
        train_mod.train(train_mod.parse_args(["--csv", str(csv), "--label-set", "fer2013", "--epochs", "4",
                                              "--lr", "5e-3", "--init", str(tmp_path / "f.pt"), "--teacher", str(path),
                                              "--distill-alpha", "1", *extra, "--out", str(tmp_path / out), *small]))
        return _hint_loss(path, tmp_path / out / "last.pt", csv)

    plain, hinted = student("plain"), student("s", "--distill-features", "10")
    # the hints bring the blocks closer than the SVD start; the same run without them (the teacher's
    # probabilities only) drifts away
    assert hinted < before and hinted < 0.6 * plain, (before, plain, hinted)
    distill = load_checkpoint(tmp_path / "s" / "last.pt")["metadata"]["training"]["distill"]
    assert distill["features"] == 10 and distill["consistent"] and not distill["tta_flip"]


def test_feature_hints_refuse_other_shapes_and_several_teachers_in_one_line(tmp_path, teacher):
    path, csv = teacher
    common = [sys.executable, "-m", "training.train", "--csv", str(csv), "--label-set", "fer2013", "--epochs", "1",
              "--distill-features", "1", *SMALL]
    other = [*common[:-len(SMALL)], *SMALL]
    other[other.index("--hparams") + 1] = '{"widths": [8, 16, 24], "convs_per_stage": 2, "dropout": 0.0}'
    res = subprocess.run([*other, "--teacher", str(path), "--out", str(tmp_path / "a")], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "needs the teacher's conv blocks in the student" in res.stderr
    res = subprocess.run([*common, "--teacher", str(path), "--teacher", str(path), "--out", str(tmp_path / "b")],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "exactly one --teacher" in res.stderr and "Traceback" not in res.stderr
