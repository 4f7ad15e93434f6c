"""`predict live` with the predict extra's OpenCV (opencv-python-headless: no window backend) and
without matplotlib (not in that extra): one line, or headless output, never a traceback."""
from __future__ import annotations

import argparse

import pytest

from fer_browser.predict import live_cmd
from fer_browser.predict.errors import PredictError


def args(tmp_path, **kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    live_cmd.add_arguments(parser)
    ns = parser.parse_args([])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_gui_is_read_from_opencvs_build_information(monkeypatch):
    monkeypatch.setattr(live_cmd.cv2, "getBuildInformation", lambda: "\n  GUI:                           NONE\n")
    assert not live_cmd.has_gui()
    monkeypatch.setattr(live_cmd.cv2, "getBuildInformation", lambda: "\n  GUI:                           QT5\n")
    assert live_cmd.has_gui()


def test_headless_opencv_with_a_display_asks_for_outputs_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(live_cmd, "has_gui", lambda: False)
    with pytest.raises(PredictError, match="no window support") as exc:
        live_cmd.prepare(args(tmp_path))
    assert "\n" not in str(exc.value) and "--out" in str(exc.value)
    live_cmd.prepare(args(tmp_path, out=tmp_path / "a.mp4"))  # with an output it runs headless


def test_without_matplotlib_the_csv_comes_without_its_chart(monkeypatch, tmp_path, capsys):
    real = live_cmd.importlib.util.find_spec
    monkeypatch.setattr(live_cmd.importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib"
                        else real(name, *a))
    ns = args(tmp_path, csv=tmp_path / "a.csv")
    live_cmd.prepare(ns)
    assert ns.timeline is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install matplotlib" in err
