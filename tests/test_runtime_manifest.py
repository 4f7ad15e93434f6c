"""The shipped export without its build-only files (fer_browser/paths.py EXPORT_BUILD_ONLY), as a
wheel installs it: run-time readers (server, predict, Recognizer) accept it, convert's strict check
does not, and a present build-only file is still checked."""
from __future__ import annotations

import shutil

import pytest

from fer_browser.model_dir import load_model_dir
from fer_browser.paths import DEFAULT_MODEL_DIR, build_only
from fer_browser.predict.backends import load_metadata
from fer_browser.core.manifest import ManifestError, check_manifest


@pytest.fixture
def runtime_export(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    shutil.rmtree(folder / "saved_model")
    (folder / "reference_embeddings.bin").unlink()
    return folder


def test_build_only_list():
    assert build_only("saved_model/saved_model.pb") and build_only("reference_embeddings.bin")
    assert not any(map(build_only, ["model.onnx", "reference.json", "reference_inputs.bin", "saved_model.pb"]))


def test_runtime_readers_accept_an_export_without_build_only_files(runtime_export):
    with pytest.raises(ManifestError, match="is missing"):
        check_manifest(runtime_export)
    check_manifest(runtime_export, runtime=True)
    meta, files = load_model_dir(runtime_export)
    assert "reference_inputs.bin" in files  # the page's parity check fetches it
    assert load_metadata(runtime_export)["classes"] == meta["classes"]


def test_a_present_build_only_file_is_still_checked(runtime_export):
    (runtime_export / "reference_embeddings.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ManifestError, match="reference_embeddings.bin does not match"):
        check_manifest(runtime_export, runtime=True)
