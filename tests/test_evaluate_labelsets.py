"""training.evaluate: a 7-class model on the 8-class FERPlus labels (contempt counted as misses), and ensembles."""
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from convert_helpers import make_checkpoint
from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import evaluate as evaluate_mod
from fer_browser.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from fer_browser.training.errors import DataError
from fer_browser.training.labelsets import FER2013_CLASSES
from fer_browser.training.metrics import predict_probs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("labelsets")
    labels, usages, images = make_rows()
    ferplus = labels.copy()
    ferplus[::9] = 7  # every ninth face has a contempt majority
    votes = votes_for(ferplus)
    csv = write_fer_csv(tmp / "fer2013.csv", labels, usages, images)
    return csv, write_votes(tmp / "fer2013new.csv", usages, votes), make_checkpoint(tmp / "m.pt"), ferplus, usages, images


def _run(files, *extra):
    csv, votes, ckpt = files[:3]
    return evaluate_mod.evaluate(evaluate_mod.parse_args([str(ckpt), "--csv", str(csv), "--votes", str(votes),
                                                         "--splits", "PrivateTest", *extra]))


def test_a_seven_class_model_on_eight_class_labels(files):
    _, _, ckpt, ferplus, usages, images = files
    private = np.array(usages) == "PrivateTest"
    seven, eight = _run(files), _run(files, "--label-set", "ferplus8")
    contempt = ferplus[private] == 7
    assert seven["splits"]["PrivateTest"]["n"] == (~contempt).sum()
    res = eight["splits"]["PrivateTest"]
    assert res["n"] == private.sum() and res["per_class"]["contempt"]["support"] == contempt.sum() > 0
    assert res["per_class"]["contempt"]["recall"] == 0.0 and eight["model_classes"] == seven["model_classes"]
    # the same answers as the model's own predictions, by class name (the first 7 FERPlus classes keep their index)
    model, meta = model_from_checkpoint(ckpt)
    pred = predict_probs(model, images[private], meta["preprocessing"]).argmax(1)
    assert res["accuracy"] == pytest.approx(float((pred == ferplus[private]).mean()), abs=1e-12)
    assert seven["splits"]["PrivateTest"]["accuracy"] == pytest.approx(
        float((pred[~contempt] == ferplus[private][~contempt]).mean()), abs=1e-12)


def test_a_ferplus_model_on_fer2013_labels_matches_classes_by_emotion(files):
    _, _, ckpt, _, usages, images = files
    private = np.array(usages) == "PrivateTest"
    res = _run(files, "--label-set", "fer2013")
    model, meta = model_from_checkpoint(ckpt)
    pred = predict_probs(model, images[private], meta["preprocessing"]).argmax(1)
    fer2013 = make_rows()[0][private]  # the CSV's own labels, FER2013's class order
    to_fer2013 = {"anger": "angry", "happiness": "happy", "sadness": "sad"}
    order = [FER2013_CLASSES.index(to_fer2013.get(c, c)) for c in meta["classes"]]
    assert res["splits"]["PrivateTest"]["n"] == private.sum()
    assert res["splits"]["PrivateTest"]["accuracy"] == pytest.approx(
        float((np.array(order)[pred] == fer2013).mean()), abs=1e-12)


def test_a_label_set_without_the_models_classes_is_refused(files, tmp_path):
    csv, votes, ckpt = files[:3]
    payload = load_checkpoint(ckpt)
    payload["metadata"]["classes"] = ["confusion", *payload["metadata"]["classes"][1:]]
    save_checkpoint(tmp_path / "renamed.pt", payload)
    with pytest.raises(DataError, match=r"the model's classes \['confusion'\] are not in the data's"):
        evaluate_mod.evaluate(evaluate_mod.parse_args([str(tmp_path / "renamed.pt"), "--csv", str(csv),
                                                       "--votes", str(votes), "--splits", "PrivateTest",
                                                       "--out", str(tmp_path / "ens")]))


def test_several_checkpoints_are_scored_as_the_mean_of_their_probabilities(files, tmp_path):
    csv, votes, ckpt, ferplus, usages, images = files
    private = (np.array(usages) == "PrivateTest") & (ferplus != 7)
    truth = ferplus[private]
    model, meta = model_from_checkpoint(ckpt)
    first = predict_probs(model, images[private], meta["preprocessing"], tta_flip=True)

    def confusion(p):
        return confusion_matrix(truth, p.argmax(1), labels=range(7)).tolist()

    # the second member: the same net leaning towards its least-chosen class, by just enough that the
    # ensemble's answers differ from both members' (so the check below can tell them apart)
    payload = load_checkpoint(ckpt)
    k = int(np.bincount(first.argmax(1), minlength=7).argmin())
    for shift in (0.5, 1.0, 2.0, 4.0):
        payload["state_dict"]["fc.bias"][k] += shift
        model.load_state_dict(payload["state_dict"])
        second = predict_probs(model, images[private], meta["preprocessing"], tta_flip=True)
        mean = (first + second) / 2
        if confusion(mean) not in (confusion(first), confusion(second)):
            break
    else:
        pytest.fail("no bias shift made the ensemble differ from both members")
    save_checkpoint(tmp_path / "leaning.pt", payload)
    both = evaluate_mod.evaluate(evaluate_mod.parse_args([str(ckpt), str(tmp_path / "leaning.pt"), "--csv", str(csv),
                                                          "--votes", str(votes), "--splits", "PrivateTest", "--tta",
                                                          "--out", str(tmp_path / "ens")]))
    assert both["splits"]["PrivateTest"]["confusion_matrix"] == confusion(mean)
    assert len(both["checkpoint"]) == 2 and len(both["model"]) == 2 and both["tta_flip"]


def test_an_ensemble_of_models_with_different_classes_is_refused(files, tmp_path):
    csv, votes, ckpt = files[:3]
    payload = load_checkpoint(ckpt)
    payload["metadata"]["classes"] = list(reversed(payload["metadata"]["classes"]))
    save_checkpoint(tmp_path / "reordered.pt", payload)
    with pytest.raises(DataError, match="same classes in the same order"):
        evaluate_mod.evaluate(evaluate_mod.parse_args([str(ckpt), str(tmp_path / "reordered.pt"), "--csv", str(csv),
                                                       "--votes", str(votes), "--splits", "PrivateTest",
                                                       "--out", str(tmp_path / "ens")]))


def test_an_ensemble_needs_out_and_writes_nothing_beside_its_members(files, tmp_path, capsys):
    csv, votes, ckpt = files[:3]
    member = tmp_path / "member"
    member.mkdir()
    save_checkpoint(member / "b.pt", load_checkpoint(ckpt))
    with pytest.raises(SystemExit) as exc:
        evaluate_mod.main([str(member / "b.pt"), str(ckpt), "--csv", str(csv), "--votes", str(votes)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "need --out" in err and "Traceback" not in err
    assert sorted(p.name for p in member.iterdir()) == ["b.pt"]
    # with --out the report lands there, whole, and the members' folders stay as they were
    assert evaluate_mod.main([str(member / "b.pt"), str(ckpt), "--csv", str(csv), "--votes", str(votes),
                              "--splits", "PrivateTest", "--out", str(tmp_path / "ens")]) == 0
    assert (tmp_path / "ens" / "report.json").is_file() and (tmp_path / "ens" / "confusion_PrivateTest.png").is_file()
    assert sorted(p.name for p in member.iterdir()) == ["b.pt"]
