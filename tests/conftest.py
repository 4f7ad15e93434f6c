import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own decoded-array cache so tests never see each other's files."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def fer_csv(tmp_path):
    from fer_files import make_rows, write_fer_csv
    labels, usages, images = make_rows()
    return write_fer_csv(tmp_path / "fer2013.csv", labels, usages, images)


# The web tests (test_server.py, test_web.py) share one converted model per session and start one
# server per module on it.
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from web_helpers import shared_model_dir
    return shared_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def server(model_dir):
    from web_helpers import Server
    srv = Server(model_dir)
    yield srv
    srv.stop()
