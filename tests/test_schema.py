"""The contracts' JSON Schemas (web/schemas/) and their two validators, held to one set of verdicts.

tests/conformance/schema_cases.json lists documents (edits of the shipped metadata.json and
face_pipeline.json) with the verdict and message each must get; fer_browser/schema.py is run on
them here and web/lib/schema.js under Node (tests/js/schema.test.mjs). The readers of each contract
(training.metadata, the server, predict) are checked to use the validator, on the measured defects.
"""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fer_browser.schema import SCHEMA_DIR, SchemaError, load_schema, validate

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
    node = shutil.which("node")
    assert node, "node (20+) is needed for the JS validator's tests"
    proc = subprocess.run([node, "--test", "--test-reporter=tap", str(ROOT / "tests/js/schema.test.mjs")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout


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
    for name, version in (("model-metadata", "fer-model-metadata/1"), ("face-pipeline", "fer-face-pipeline/1")):
        schema = load_schema(name)
        assert (SCHEMA_DIR / f"{name}.schema.json").is_file() and schema["$id"] == version
        assert schema["properties"]["schema"]["const"] == version
    with pytest.raises(ValueError, match="not implemented"):
        from fer_browser.schema import _check
        _check(1, {"pattern": "x"}, "p")


def test_validator_does_not_edit_the_document():
    doc = document_of({"contract": "model-metadata"})
    before = copy.deepcopy(doc)
    validate(doc, "model-metadata", "m")
    assert doc == before
