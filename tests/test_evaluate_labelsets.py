"""training.evaluate scores a 7-class model on the 8-class FERPlus labels (contempt counted as misses)."""
import numpy as np
import pytest

from convert_helpers import make_checkpoint
from fer_files import make_rows, votes_for, write_fer_csv, write_votes
from fer_browser.training import evaluate as evaluate_mod
from fer_browser.training.checkpoint import model_from_checkpoint
from fer_browser.training.errors import DataError
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


def test_a_label_set_without_the_models_classes_is_refused(files):
    with pytest.raises(DataError, match="are not in the data's"):
        _run(files, "--label-set", "fer2013")
