"""The contracts' JSON Schemas (web/schemas/) and their two validators, held to one set of verdicts.

tests/conformance/schema_cases.json lists documents (edits of the shipped metadata.json and
face_pipeline.json) with the verdict and message each must get; fer_browser/schema.py is run on
them here and web/lib/schema.js under Node (tests/js/schema.test.mjs). The readers of each contract
(fer_browser.core.metadata, the server, predict) are checked to use the validator, on the measured defects.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from fer_browser.schema import SCHEMA_DIR, SchemaError, load_schema, validate
from node_suite import run_node_suite

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests/conformance/schema_cases.json").read_text())
NUMBERS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def decode(v):
    """The file's stand-ins ({$number}, {$names}) made real, recursively."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "$number" in v:
        return NUMBERS[v["$number"]]
    if "$names" in v:
        return [f"c{i}" for i in range(v["$names"])]
    return {k: decode(x) for k, x in v.items()}


def _locate(doc, path: str):
    *keys, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys:
        doc = doc[k]
    return doc, last


def document_of(case: dict):
    if "document" in case:
        return decode(case["document"])
    doc = json.loads((ROOT / GOLDEN["bases"][case["contract"]]).read_text())
    for path, value in case.get("set", {}).items():
        parent, key = _locate(doc, path)
        parent[key] = decode(value)
    for path in case.get("delete", []):
        parent, key = _locate(doc, path)
        del parent[key]
    return doc


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_golden_case_python(case):
    doc = document_of(case)
    if case["valid"]:
        assert validate(doc, case["contract"], "x.json") is doc
        return
    with pytest.raises(SchemaError) as err:
        validate(doc, case["contract"], "x.json")
    message = str(err.value)
    assert message.startswith("x.json: ") and case["error"] in message and "\n" not in message, message


def test_golden_cases_node():
    run_node_suite("schema.test.mjs")


def test_golden_cases_cover_every_measured_defect():
    names = " | ".join(c["name"] for c in GOLDEN["cases"])
    for defect in ("200,000 class names", "1 class name", "2 class names", "crop.scale 0", "crop.scale 1e9",
                   "crop.scale -1.1", "crop.scale NaN", "preprocessing.std 0", "input size 0", "input size 1e5",
                   "temperature -1", "temperature NaN", "temperature 1e300", "schema version 2",
                   "duplicate class names", "inputSize 1e5", "scoreThreshold -1"):
        assert defect in names, defect
    assert {c["valid"] for c in GOLDEN["cases"]} == {True, False}


def test_schemas_are_the_served_files_and_every_keyword_is_implemented():
    # an unknown keyword raises; the shipped files pass; the schema's ids are the contracts' version strings
    from fer_browser.schema import CONTRACTS, _check

    assert sorted(p.name for p in SCHEMA_DIR.iterdir()) == sorted(f"{c}.schema.json" for c in CONTRACTS)
    for name, version in (("model-metadata", "fer-model-metadata/1"), ("face-pipeline", "fer-face-pipeline/1"),
                          ("manifest", "fer-export-manifest/1")):
        schema = load_schema(name)
        assert schema["$id"] == version and schema["properties"]["schema"]["const"] == version
    assert {c["contract"] for c in GOLDEN["cases"]} == set(CONTRACTS)
    with pytest.raises(ValueError, match="not implemented"):
        _check(1, {"patternProperties": {"x": {}}}, "p")


def test_validator_does_not_edit_the_document():
    doc = document_of({"contract": "model-metadata"})
    before = copy.deepcopy(doc)
    validate(doc, "model-metadata", "m")
    assert doc == before


# ---------- every reader of a contract uses the validator ----------

def _export_with(tmp_path, edit) -> Path:
    """A copy of the shipped export with metadata.json edited and manifest.json rewritten to match
    (what a careless or hostile re-export would publish)."""
    from fer_browser.paths import DEFAULT_MODEL_DIR
    from fer_browser.core.manifest import write_manifest

    folder = tmp_path / "export"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    edit(meta)
    (folder / "metadata.json").write_text(json.dumps(meta))
    write_manifest(folder)
    return folder


def _two_classes(meta: dict) -> None:
    """Two class names for the 7-output model; its 7-class prior goes too (the schema would refuse that first)."""
    meta.update(classes=["a", "b"])
    meta.pop("prior", None)


SERVER_REFUSES = {  # each of these used to start the server (issue 21, probe 3)
    "temperature -1": (lambda m: m["calibration"].update(temperature=-1), "calibration.temperature must be >= 0.05"),
    "temperature 1e300": (lambda m: m["calibration"].update(temperature=1e300), "calibration.temperature must be <= 20"),
    "schema 2": (lambda m: m.update(schema="fer-model-metadata/2"), 'schema must be "fer-model-metadata/1"'),
    "duplicate classes": (lambda m: m["classes"].__setitem__(1, m["classes"][0]), "classes[1] repeats an earlier item"),
    "2 classes, 7 outputs": (lambda m: _two_classes(m), "gives 7 outputs per face but metadata.json names 2"),
}


@pytest.mark.parametrize("case", sorted(SERVER_REFUSES))
def test_server_refuses_metadata_that_breaks_the_contract(case, tmp_path):
    from fer_browser.model_dir import ModelDirError, load_model_dir

    edit, message = SERVER_REFUSES[case]
    with pytest.raises(ModelDirError) as err:
        load_model_dir(_export_with(tmp_path, edit))
    assert message in str(err.value) and "metadata.json" in str(err.value) and "\n" not in str(err.value)


def test_predict_refuses_a_class_count_that_is_not_the_models_output_size(tmp_path):
    from fer_browser.predict.backends import OnnxBackend, load_metadata
    from fer_browser.predict.errors import PredictError

    folder = _export_with(tmp_path, _two_classes)
    meta = load_metadata(folder)  # a valid document: only the model knows it has 7 outputs
    with pytest.raises(PredictError, match=r"model.onnx: the model gives 7 outputs per face but metadata.json names 2"):
        OnnxBackend(folder, meta)
    one = _export_with(tmp_path / "one", lambda m: (_two_classes(m), m.update(classes=["a"])))  # was an IndexError traceback
    with pytest.raises(PredictError) as err:
        load_metadata(one)
    assert str(err.value) == f"{one / 'metadata.json'}: classes must have at least 2 items, got 1"


@pytest.mark.parametrize("key, value, message", [
    ("inputSize", 100000, "detector.inputSize must be <= 1024, got 100000"),
    ("scoreThreshold", -1, "detector.scoreThreshold must be >= 0, got -1")])
def test_predict_refuses_face_pipeline_settings_out_of_bounds(tmp_path, key, value, message):
    from fer_browser.predict.errors import PredictError
    from fer_browser.predict.face_pipeline import face_pipeline_path, load_face_pipeline

    cfg = json.loads(face_pipeline_path().read_text())
    cfg["detector"][key] = value
    path = tmp_path / "face_pipeline.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(PredictError) as err:
        load_face_pipeline(path)
    assert str(err.value) == f"{path}: {message}"


def test_training_metadata_uses_the_same_validator():
    from fer_browser.core.metadata import build_metadata, validate_metadata

    meta = build_metadata("vgg", {}, 1, ["a", "b"], "ferplus")
    assert validate_metadata(meta) is meta
    meta["crop"]["scale"] = 0
    with pytest.raises(ValueError, match=r"^m.json: crop.scale must be > 0.1, got 0$"):
        validate_metadata(meta, "m.json")


def test_manifest_and_parity_report_readers_use_the_validator(tmp_path):
    from fer_browser.model_dir import ModelDirError, load_model_dir
    from fer_browser.core.manifest import ManifestError, read_manifest, write_manifest

    folder = _export_with(tmp_path, lambda m: None)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model.onnx"]["sha256"] = "A" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r'manifest.json: files\["model.onnx"\].sha256 must match \^\[0-9a-f\]\{64\}\$'):
        read_manifest(folder)
    parity = json.loads((folder / "parity.json").read_text())
    parity["backends"]["tfjs"]["thresholds"]["max_abs_dprob"] = -1  # the page would then fail every model
    (folder / "parity.json").write_text(json.dumps(parity))
    write_manifest(folder)
    with pytest.raises(ModelDirError, match=r"parity.json: backends.tfjs.thresholds.max_abs_dprob must be > 0, got -1"):
        load_model_dir(folder)
