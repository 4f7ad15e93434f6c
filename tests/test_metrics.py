"""The seed's metrics against a case worked out by hand."""
import numpy as np
import pytest

from fer_browser.training.metrics import classification_metrics


def test_metrics_hand_computed():
    classes = ["a", "b", "c"]
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    m = classification_metrics(y_true, y_pred, classes)
    # class a: tp 3, fp 0, fn 1 -> P 1, R 3/4; b: tp 1, fp 1, fn 1 -> P 1/2, R 1/2; c: tp 2, fp 1 -> P 2/3, R 1
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["per_class"]["a"]["recall"] == pytest.approx(0.75)
    assert m["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["precision"] == pytest.approx(2 / 3)
    # weighted by support (4, 2, 2)
    assert m["precision_weighted"] == pytest.approx((4 * 1 + 2 * 0.5 + 2 * 2 / 3) / 8)
    assert m["recall_weighted"] == pytest.approx((4 * 0.75 + 2 * 0.5 + 2 * 1) / 8)
    f1 = [2 * 0.75 / 1.75, 0.5, 2 * (2 / 3) / (5 / 3)]
    assert m["f1_weighted"] == pytest.approx((4 * f1[0] + 2 * f1[1] + 2 * f1[2]) / 8)
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]
    # every class counts once, whatever its support: mean recall (3/4 + 1/2 + 1) / 3, mean F1 (6/7 + 1/2 + 4/5) / 3
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1) / 3)
    assert m["f1_macro"] == pytest.approx((6 / 7 + 0.5 + 0.8) / 3)
    assert f1 == pytest.approx([6 / 7, 0.5, 0.8])


def test_balanced_metrics_average_the_classes_present_and_see_a_missed_rare_class():
    classes = ["a", "b", "c"]
    # 9 of class a all right, the one b called a, c never occurs: accuracy 0.9, but b's recall is 0
    y_true = np.array([0] * 9 + [1])
    y_pred = np.array([0] * 10)
    m = classification_metrics(y_true, y_pred, classes)
    assert m["accuracy"] == pytest.approx(0.9)
    assert m["balanced_accuracy"] == pytest.approx((1 + 0) / 2)
    # F1 of a: P 9/10, R 1 -> 18/19; of b: 0; c (no image, never predicted) is left out
    assert m["f1_macro"] == pytest.approx((18 / 19 + 0) / 2)


def test_training_curves_mark_the_best_epoch_and_plot_validation_loss(tmp_path):
    import matplotlib.image as mpimg

    from fer_browser.training.metrics import plot_history

    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + e / 100,
                "val_acc": 0.4 + (e == 3) * 0.3} for e in range(1, 6)]
    path = tmp_path / "curves.png"
    plot_history(history, path)
    img = mpimg.imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 800

    def val_line_in_loss_panel(image) -> int:  # matplotlib's second colour (C1, orange) in the left panel
        left = image[:, : image.shape[1] // 2, :3]
        return int((np.abs(left - np.array([1.0, 0.498, 0.055])).max(axis=2) < 0.08).sum())
    assert val_line_in_loss_panel(img) > 100
    plot_history([{k: v for k, v in h.items() if k != "val_loss"} for h in history], tmp_path / "no_val.png")
    assert val_line_in_loss_panel(mpimg.imread(tmp_path / "no_val.png")) == 0
    plot_history([], tmp_path / "empty.png")  # nothing to draw yet: no file, no error
    assert not (tmp_path / "empty.png").exists()
