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
