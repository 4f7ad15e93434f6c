"""fer_browser.cli helpers every command's error path uses."""
import errno
import os

from fer_browser.cli import os_error


def test_os_error_is_one_line_naming_the_path(tmp_path):
    try:
        (tmp_path / "file").write_text("x")
        os.mkdir(tmp_path / "file" / "sub")
    except OSError as exc:
        line = os_error(exc)
    assert line == f"{tmp_path / 'file' / 'sub'}: {os.strerror(errno.ENOTDIR)}"
    assert os_error(OSError("disk on fire")) == "disk on fire"  # no filename: no leading ": "


def test_error_prints_one_line_and_returns_2(tmp_path, capsys):
    from fer_browser.cli import error

    try:
        open(tmp_path / "missing" / "x.json", "w")
    except OSError as exc:
        assert error(exc) == 2
    assert error(ValueError("bad --faces")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {tmp_path / 'missing' / 'x.json'}: {os.strerror(errno.ENOENT)}", "error: bad --faces"]
