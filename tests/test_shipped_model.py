"""The shipped model (models/fer-default): complete, consistent with its metadata, within its budget.

Its accuracy is a benchmark (MODEL_CARD.md), not a test; here we check the files users get.
"""
import json
import math

import numpy as np
import onnxruntime as ort
import torch

from fer_browser.convert.artifacts import read_metadata
from fer_browser.convert.reference import read_reference
from fer_browser.convert.to_tfjs import MIXED_UINT8_MIN_SIZE
from fer_browser.paths import DEFAULT_MODEL_DIR
from fer_browser.training.checkpoint import FORMAT, load_checkpoint, model_from_checkpoint
from fer_browser.core.manifest import check_manifest, file_sha256

EXPORT = DEFAULT_MODEL_DIR
CHECKPOINT = EXPORT.parent / "checkpoint.pt"
TFJS_BUDGET_BYTES = 1 << 20  # issue 11: the TF.js download <= 1 MiB


def test_every_file_matches_the_manifest():
    files = check_manifest(EXPORT)["files"]  # raises on a changed, missing or extra file
    for needed in ("metadata.json", "model.onnx", "tfjs/model.json", "reference.json", "parity.json"):
        assert needed in files
    assert any(p.startswith("saved_model/") for p in files)


def test_checkpoint_is_current_format_and_is_the_one_exported():
    payload = load_checkpoint(CHECKPOINT)  # zip CRCs, weights_only load, weights digest
    source = read_metadata(EXPORT)["source_checkpoint"]
    assert payload["format"] == FORMAT == source["format"]
    assert source["file"] == CHECKPOINT.name and source["sha256"] == file_sha256(CHECKPOINT)
    assert source["weights_sha256"] == payload["metadata"]["weights_sha256"]


def test_metadata_matches_the_checkpoint_it_was_made_from():
    model, ckpt_meta = model_from_checkpoint(CHECKPOINT)
    meta = read_metadata(EXPORT)
    for key in ("classes", "label_set", "input", "preprocessing", "crop", "calibration"):
        assert meta[key] == ckpt_meta[key], key
    # the conversion adds only the embedding output it exported (name and size)
    assert meta["model"] == {**ckpt_meta["model"], "embedding": {"output": "embedding", "size": 192}}
    assert len(meta["classes"]) == 7 and meta["label_set"].startswith("ferplus")
    assert meta["parity"]["passed"] is True
    parity = json.loads((EXPORT / "parity.json").read_text())
    assert parity["passed"] is True and parity["model_gate"]["passed"] is True
    # exported with the data present: the claimed PublicTest accuracy was reproduced by ONNX Runtime
    acc = parity["model_gate"]["accuracy"]
    assert acc["claimed"] == ckpt_meta["metrics"]["val_acc"] and abs(acc["measured"] - acc["claimed"]) <= 0.005


def test_tfjs_weights_fit_the_budget_and_match_the_model():
    manifest = json.loads((EXPORT / "tfjs" / "model.json").read_text())["weightsManifest"]
    shards = [EXPORT / "tfjs" / p for group in manifest for p in group["paths"]]
    assert sum(s.stat().st_size for s in shards) <= TFJS_BUDGET_BYTES
    weights = [w for group in manifest for w in group["weights"]]
    meta = read_metadata(EXPORT)
    # Float weights stored as metadata.json says (float16 halves the download), ending in the
    # 7-way classifier; the graph is the rewritten NHWC one (no per-conv Transpose pairs).
    floats = [w for w in weights if w["dtype"] == "float32"]  # int32 ones are shapes and axes
    stored = {w["name"]: w.get("quantization", {}).get("dtype", "float32") for w in floats}
    if meta["quantization"] == "mixed":  # uint8 exactly for the large tensors, float16 for the rest
        large = {w["name"] for w in floats if math.prod(w["shape"]) >= MIXED_UINT8_MIN_SIZE}
        assert large and {n for n, d in stored.items() if d == "uint8"} == large
        assert {d for n, d in stored.items() if n not in large} == {"float16"}
    else:
        assert set(stored.values()) == {meta["quantization"] or "float32"}
    assert meta["tfjs_graph"]["transposes_after"] == 2
    weights = floats
    assert any(w["shape"][-1:] == [len(meta["classes"])] and len(w["shape"]) == 2 for w in weights)
    model, _ = model_from_checkpoint(CHECKPOINT)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    kernels = [w for w in weights if len(w["shape"]) == 4]
    assert len(kernels) == len(convs)  # every conv made it into the graph


def test_shipped_onnx_and_checkpoint_reproduce_the_stored_reference_outputs():
    ref = read_reference(EXPORT)
    faces = np.array([k == "face" for k in ref.kinds])
    assert faces.sum() >= 200 and ref.source.get("faces") == "scikit-image"  # redistributable probe faces
    sess = ort.InferenceSession(str(EXPORT / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logp = sess.run(None, {sess.get_inputs()[0].name: ref.inputs})[0]
    np.testing.assert_allclose(np.exp(onnx_logp), np.exp(ref.pytorch_logprobs), atol=1e-5)
    model, _ = model_from_checkpoint(CHECKPOINT)
    with torch.no_grad():
        torch_logp = model(torch.from_numpy(ref.inputs)).numpy()
    np.testing.assert_allclose(np.exp(torch_logp), np.exp(ref.pytorch_logprobs), atol=1e-5)
    # The astronaut smiles, the cameraman does not: the probe faces get both answers.
    top = onnx_logp[faces].argmax(1)
    happy = [i for i, n in enumerate(ref.names) if n.startswith("astronaut")]
    assert (top[happy] == read_metadata(EXPORT)["classes"].index("happiness")).mean() > 0.9 and len(set(top)) >= 2


def test_shipped_model_carries_its_calibration_everywhere():
    """The temperature fitted on PublicTest (MODEL_CARD.md: Calibration) travels in metadata.json, which
    the page and predict read, and in model.onnx's own metadata_props."""
    import onnx

    cal = read_metadata(EXPORT)["calibration"]
    assert cal["version"] == 1 and cal["fitted_on"] == "PublicTest" and cal["bins"] == 15
    assert cal["ece_after"] < cal["ece_before"] and 0.05 <= cal["temperature"] <= 20
    props = {p.key: p.value for p in onnx.load(str(EXPORT / "model.onnx")).metadata_props}
    assert json.loads(props["calibration"]) == cal
