"""The penultimate embedding as a second output: PyTorch -> ONNX -> SavedModel -> TF.js, the parity gate on it,
the Python and browser runtimes, and single-output (older) exports still working. Real converters, real Chromium."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from convert_helpers import TEST_FACES, converted, make_checkpoint, run_cli, small_checkpoint  # noqa: F401
from fer_browser.convert.parity import QUANTIZED_EMBEDDING_GATES, compare_embedding, thresholds
from fer_browser.convert.reference import EMBEDDINGS_FILE, INPUTS_FILE, Reference, read_reference
from fer_browser.convert.to_tfjs import DYNAMIC_OPS
from fer_browser.paths import DEFAULT_MODEL_DIR
from fer_browser.predict.errors import PredictError
from fer_browser.training.checkpoint import model_from_checkpoint
from fer_browser.core.manifest import write_manifest
from fer_browser.training.models import build_model, has_embedding

EXPORT = DEFAULT_MODEL_DIR
CHECKPOINT = EXPORT.parent / "checkpoint.pt"
SMALL_ATTENTION = {"widths": [8, 16, 24, 32], "convs_per_stage": [1, 1, 1], "heads": 2, "attention_layers": 1,
                   "dropout": 0.0}


def grey_faces(ref: Reference, n: int) -> np.ndarray:
    """The reference's first n inputs back as 48x48 uint8 faces (they were normalised from uint8 pixels)."""
    return np.clip(np.round((ref.inputs[:n, 0] * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)


# ---------- models ----------

@pytest.mark.parametrize("name,hparams,size", [("vgg", {}, 192), ("baseline", {}, 256),
                                               ("faceres", {"pretrained": False, "input_size": 32}, 1024)])
def test_forward_is_classify_of_embed(name, hparams, size):
    torch.manual_seed(0)
    model = build_model(name, 7, hparams, weights_follow=True).eval()
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        e = model.embed(x)
        assert has_embedding(model) and e.shape == (3, size)
        torch.testing.assert_close(model(x), model.classify(e), rtol=0, atol=0)


def test_attention_keeps_one_output_and_its_state_dict_keys():
    model = build_model("attention", 7, SMALL_ATTENTION)
    assert not has_embedding(model) and any(k.startswith("embed.") for k in model.state_dict())


def test_shipped_checkpoint_still_loads_with_the_same_keys():
    model, _ = model_from_checkpoint(CHECKPOINT)  # strict load: every key the checkpoint has, none more
    assert has_embedding(model) and set(model.state_dict()) == set(torch.load(CHECKPOINT, weights_only=True)["state_dict"])


# ---------- the shipped export ----------

def test_shipped_export_has_both_outputs_everywhere():
    meta = json.loads((EXPORT / "metadata.json").read_text())
    assert meta["model"]["embedding"] == {"output": "embedding", "size": 192}
    proto = onnx.load(str(EXPORT / "model.onnx"))
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in proto.graph.output]
    assert outs == [("log_probs", ["batch", 7]), ("embedding", ["batch", 192])]  # log_probs first, batch-dynamic
    assert json.loads({p.key: p.value for p in proto.metadata_props}["embedding"]) == meta["model"]["embedding"]
    graph = json.loads((EXPORT / "tfjs/model.json").read_text())
    assert set(graph["signature"]["outputs"]) == {"log_probs", "embedding"}
    assert not {n["op"] for n in graph["modelTopology"]["node"]} & DYNAMIC_OPS


def test_shipped_onnx_and_checkpoint_reproduce_the_reference_embeddings():
    import onnxruntime as ort

    ref = read_reference(EXPORT)
    assert ref.pytorch_embeddings.shape == (len(ref.names), 192)
    sess = ort.InferenceSession(str(EXPORT / "model.onnx"), providers=["CPUExecutionProvider"])
    logp, emb = sess.run(["log_probs", "embedding"], {"input": ref.inputs})
    np.testing.assert_allclose(emb, ref.pytorch_embeddings, atol=1e-4)
    np.testing.assert_allclose(logp, ref.pytorch_logprobs, atol=1e-4)
    model, _ = model_from_checkpoint(CHECKPOINT)
    with torch.no_grad():
        np.testing.assert_allclose(model.embed(torch.from_numpy(ref.inputs)).numpy(), ref.pytorch_embeddings, atol=1e-4)


def test_shipped_parity_report_judged_the_embedding_in_every_backend():
    report = json.loads((EXPORT / "parity.json").read_text())
    assert report["passed"] and report["embedding"] == {"output": "embedding", "size": 192}
    for name, r in report["backends"].items():
        assert r["embedding_passed"], name
        limits = thresholds(name, report["quantization"], embedding=True)
        assert r["thresholds"] == limits
        if name == "tfjs":  # mixed weights: relative to the embedding's scale
            assert r["max_rel_dembedding"] <= QUANTIZED_EMBEDDING_GATES["mixed"]["max_rel_dembedding"]
        else:
            assert r["max_abs_dembedding"] <= 1e-4


def test_recognizer_embeds_crops_and_detected_faces_as_pytorch_does():
    from skimage import data

    from fer_browser import Recognizer

    recognize = Recognizer()
    ref = read_reference(EXPORT)
    faces = grey_faces(ref, 8)
    emb, log_probs = recognize.embed_faces(list(faces))
    assert recognize.embedding_size == 192 and emb.dtype == np.float64 and emb.shape == (8, 192)
    np.testing.assert_allclose(emb, ref.pytorch_embeddings[:8], atol=1e-4)
    np.testing.assert_allclose(log_probs, ref.pytorch_logprobs[:8], atol=1e-4)
    big = [np.kron(f, np.ones((3, 3), np.uint8)) for f in faces[:2]]  # any size: 144x144 crops resize to 48x48
    assert np.abs(recognize.embed_faces(big)[0] - emb[:2]).max() < 0.05 * np.abs(emb[:2]).max()
    photo = data.astronaut()
    boxes, emb, log_probs = recognize.embed_detected(photo)
    found = recognize(photo)
    assert boxes == [f.box for f in found] and emb.shape == (len(found), 192)
    assert [recognize.classes[i] for i in log_probs.argmax(1)] == [f.label for f in found]
    assert recognize.embed_faces([])[0].shape == (0, 192)


# ---------- the gate ----------

def test_missing_or_wrong_embedding_fails_the_comparison():
    ref = read_reference(EXPORT)
    limits = thresholds("onnxruntime", None, embedding=True)
    missing = compare_embedding(ref, None, limits)
    assert not missing["embedding_passed"] and "no embedding output" in missing["embedding_error"]
    off = compare_embedding(ref, ref.pytorch_embeddings + 1e-3, limits)
    assert not off["embedding_passed"] and off["max_abs_dembedding"] == pytest.approx(1e-3)
    assert compare_embedding(ref, ref.pytorch_embeddings, limits)["embedding_passed"]


@pytest.mark.slow
@pytest.mark.browser
def test_small_export_has_the_embedding_in_every_backend(converted):
    out, proc = converted
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "parity.json").read_text())
    for name, r in report["backends"].items():  # fp32 weights everywhere: rounding only
        assert r["embedding_passed"] and r["max_abs_dembedding"] <= 1e-4, (name, r)
    assert "max|dembedding|" in proc.stdout


@pytest.mark.slow
@pytest.mark.browser
def test_tampered_reference_embeddings_fail_verify(converted, tmp_path):
    out, _ = converted
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    emb = np.fromfile(copy / EMBEDDINGS_FILE, "<f4")
    emb[::7] += 0.01  # small: the log-probabilities still agree, only the embedding check can see it
    emb.tofile(copy / EMBEDDINGS_FILE)
    write_manifest(copy)  # a rewritten manifest: the numbers themselves must be caught
    proc = run_cli("verify", copy, "--json", tmp_path / "report.json")
    assert proc.returncode == 1 and "PARITY GATE: FAILED" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for name, r in report["backends"].items():
        assert not r["passed"] and not r["embedding_passed"] and r["max_abs_dprob"] <= 1e-5, (name, r)
        assert r["max_abs_dembedding"] == pytest.approx(0.01, rel=1e-2)


@pytest.mark.slow
@pytest.mark.browser
def test_an_announced_embedding_missing_from_model_onnx_fails_verify(converted, small_checkpoint, tmp_path):
    from fer_browser.convert.to_onnx import export_onnx

    out, _ = converted
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    model, meta = model_from_checkpoint(small_checkpoint)
    export_onnx(model, meta, copy / "model.onnx")  # the checkpoint's metadata has no model.embedding: one output
    write_manifest(copy)
    proc = run_cli("verify", copy, "--json", tmp_path / "report.json")
    assert proc.returncode == 1 and "PARITY GATE: FAILED" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "ONNX Runtime: embedding: no embedding output, although metadata.json announces one" in proc.stdout
    backends = json.loads((tmp_path / "report.json").read_text())["backends"]
    assert not backends["onnxruntime"]["passed"] and backends["onnxruntime"]["max_abs_dprob"] <= 1e-5
    assert backends["tensorflow"]["passed"] and backends["tfjs"]["passed"]


# ---------- the browser library ----------

@pytest.mark.slow
@pytest.mark.browser
def test_emotion_model_embeddings_match_pytorch(converted):
    from fer_browser.convert.browser import TfjsBrowser

    out, _ = converted
    ref = read_reference(out)
    for folder, atol in ((out, 1e-4), (EXPORT, None)):  # fp32 weights; the shipped mixed-quantized ones
        ref = read_reference(folder)
        with TfjsBrowser(folder) as browser:
            got = browser.embed(16, INPUTS_FILE)
        assert got["hasEmbedding"] and got["leaked"] == 0 and "error" not in got, got.get("error")
        emb = np.array(got["embeddings"])
        assert emb.shape == (16, got["embeddingSize"]) == ref.pytorch_embeddings[:16].shape
        d = np.abs(emb - ref.pytorch_embeddings[:16]).max()
        limit = atol or QUANTIZED_EMBEDDING_GATES["mixed"]["max_rel_dembedding"] * np.abs(ref.pytorch_embeddings).max()
        assert d <= limit, (folder, d, limit)
        np.testing.assert_allclose(np.array(got["logProbs"]).argmax(1), ref.pytorch_logprobs[:16].argmax(1))
        probs = np.array(got["probabilities"])
        np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("embedding,message", [
    ({"output": "embedding", "size": 31}, "the model's embedding has 32 values per face but metadata.json says 31"),
    ({"output": "features", "size": 32}, 'metadata.json announces the output "features" but tfjs/model.json has')])
def test_emotion_model_refuses_an_embedding_the_graph_does_not_have(converted, tmp_path, embedding, message):
    from fer_browser.convert.browser import TfjsBrowser
    from fer_browser.convert.errors import ConvertError

    out, _ = converted
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["model"]["embedding"] = embedding
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ConvertError, match="could not load") as err:
        with TfjsBrowser(copy):
            pass
    assert message in str(err.value)


# ---------- a single-output export (a model without embed) ----------

@pytest.fixture(scope="module")
def single_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    ckpt = make_checkpoint(folder / "checkpoint.pt", steps=20, model_name="attention", hparams=SMALL_ATTENTION)
    proc = run_cli(ckpt, "--out", folder / "export", "--synthetic", "--faces", TEST_FACES)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return folder / "export"


@pytest.mark.slow
@pytest.mark.browser
def test_single_output_export_still_works_in_python_and_the_browser(single_output):
    from fer_browser import Recognizer
    from fer_browser.convert.browser import TfjsBrowser

    meta = json.loads((single_output / "metadata.json").read_text())
    assert "embedding" not in meta["model"] and "embedding" not in json.loads((single_output / "parity.json").read_text())
    assert [o.name for o in onnx.load(str(single_output / "model.onnx")).graph.output] == ["log_probs"]
    assert not (single_output / EMBEDDINGS_FILE).exists()
    ref = read_reference(single_output)
    recognize = Recognizer(single_output)
    assert recognize.embedding_size is None
    from skimage import data
    recognize(data.astronaut())  # predicts as before
    with pytest.raises(PredictError) as err:
        recognize.embed_faces(list(grey_faces(ref, 2)))
    assert "no embedding output" in str(err.value) and "re-run" in str(err.value) and "\n" not in str(err.value)
    with TfjsBrowser(single_output) as browser:
        out = browser.run(len(ref.names), INPUTS_FILE)
        got = browser.embed(2, INPUTS_FILE)
    assert out["embeddings"] is None and out["outputs"] == ["log_probs"]
    np.testing.assert_allclose(np.array(out["logprobs"]), ref.pytorch_logprobs, atol=1e-4)
    assert not got["hasEmbedding"] and "no embedding output" in got["error"] and got["leaked"] == 0
