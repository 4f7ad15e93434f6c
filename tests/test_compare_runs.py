"""training.compare_runs: runs side by side (table + figure) from their history.json files."""
import json

from fer_browser.training import compare_runs


def _run(folder, accs, seconds):
    folder.mkdir()
    history = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_acc": a, "val_acc": a, "val_loss": 1 - a,
                "lr": 1e-3, "seconds": s} for i, (a, s) in enumerate(zip(accs, seconds))]
    (folder / "history.json").write_text(json.dumps(history))
    return folder


def test_table_and_figure_name_each_runs_best_epoch(tmp_path, capsys):
    a = _run(tmp_path / "vgg", [0.5, 0.7, 0.6], [10, 30, 20])
    b = _run(tmp_path / "attention", [0.4, 0.55], [40, 60])
    out = tmp_path / "fig" / "cmp.png"
    assert compare_runs.main([str(a), f"attn={b / 'history.json'}", "--out", str(out)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2] == "| vgg | 3 | 0.7000 (2) | 0.6000 | 20 | 1.0 |"
    assert rows[3] == "| attn | 2 | 0.5500 (2) | 0.5500 | 50 | 1.7 |"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_runs_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"epoch": 1}')
    a = _run(tmp_path / "a", [0.5], [1])
    assert compare_runs.main([str(tmp_path / "x.json")]) == 2
    assert compare_runs.main([str(tmp_path / "nothing")]) == 2
    assert compare_runs.main([str(a), str(a)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and "not a training history" in err[0]
    assert "no such file" in err[1]
    assert "two runs are named 'a'" in err[2]


def test_help_shows_usage_and_examples(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        compare_runs.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "[NAME=]RUN" in text and "python -m training.compare_runs runs/fer-default" in text
