"""Conversion pipeline and parity gate, end to end with the real converters and real Chromium.

One real conversion (session fixture) is shared; the failure paths reuse its output.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import onnx
import pytest
import torch

from fer_browser.convert.artifacts import write_metadata
from fer_browser.convert.errors import GateFailed
from fer_browser.convert.publish import accuracy_checked, gate_and_publish, make_staging
from fer_browser.convert.to_onnx import DYNAMIC_SHAPE_OPS, model_props
from fer_browser.convert.verify import contract_difference, verify
from fer_browser.convert.to_tfjs import export_tfjs
from convert_helpers import (PYTHON, ROOT, TEST_FACES, converted, make_checkpoint, run_cli, small_checkpoint,  # noqa: F401
                             tamper_tfjs_weights, tree_bytes)
from fer_browser.training.checkpoint import model_from_checkpoint, weights_digest
from fer_browser.core.manifest import check_manifest, file_sha256, write_manifest
from fer_browser.core.metadata import build_metadata, copy_metadata
from fer_browser.core.normalize import normalize

pytestmark = [pytest.mark.slow]

LAYOUT = ["metadata.json", "model.onnx", "saved_model/saved_model.pb", "tfjs/model.json",
          "reference.json", "reference_inputs.bin", "parity.json", "manifest.json"]


@pytest.mark.browser
def test_conversion_passes_gate_and_writes_the_layout(converted, small_checkpoint):
    out, proc = converted
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PARITY GATE: PASSED" in proc.stdout and "Traceback" not in proc.stderr
    assert "[8/8] publish" in proc.stderr and "done in" in proc.stderr  # every step timed as it runs
    for rel in LAYOUT:
        assert (out / rel).is_file(), rel
    assert list(out.parent.iterdir()) == [out]  # no staging, probe or backup folder left behind

    meta = json.loads((out / "metadata.json").read_text())
    _, ckpt_meta = model_from_checkpoint(small_checkpoint)
    for key in ("classes", "input", "preprocessing", "crop", "metrics"):
        assert meta[key] == ckpt_meta[key], key
    size = ckpt_meta["model"]["hparams"]["widths"][-1]  # vgg's embedding: its last stage's width
    assert meta["model"] == {**ckpt_meta["model"], "embedding": {"output": "embedding", "size": size}}
    # --synthetic: no labelled data, so nothing measured the accuracy; the export and the console say so
    assert meta["accuracy_checked"] is False and '"accuracy_checked": false' in proc.stderr
    assert meta["quantization"] is None
    assert {"torch", "onnx", "onnx_tf", "tensorflow", "tensorflowjs", "onnxruntime"} <= set(meta["versions"])
    source = meta["source_checkpoint"]  # a file name and digests, never a path of this machine
    assert source == {"file": "checkpoint.pt", "sha256": file_sha256(small_checkpoint), "format": "fer-checkpoint/2",
                      "weights_sha256": weights_digest(torch.load(small_checkpoint, weights_only=True)["state_dict"])}
    assert "artifacts" not in meta  # the manifest lists the files, metadata.json included
    manifest = check_manifest(out)["files"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest) == files and "metadata.json" in files and any(f.startswith("tfjs/group1-shard") for f in files)
    for rel, entry in manifest.items():
        assert file_sha256(out / rel) == entry["sha256"], rel

    # model.onnx describes itself (metadata_props) from the same metadata
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(props["classes"]) == meta["classes"] and props["license"] == "MIT"
    assert json.loads(props["preprocessing"]) == meta["preprocessing"] and props["metadata_schema"] == meta["schema"]

    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and meta["parity"]["passed"]
    assert parity["tfjs_backend"] == "wasm"
    assert set(parity["backends"]) == {"onnxruntime", "tensorflow", "tfjs"}
    for name, r in parity["backends"].items():
        assert r["passed"] and r["max_abs_dprob"] <= 1e-5 and r["top1_agreement"] == 1.0, (name, r)
    assert parity["inputs"] == {"count": TEST_FACES + 4, "faces": TEST_FACES, "edge": 4, "published": TEST_FACES + 4,
                                "source": parity["inputs"]["source"]}
    assert parity["inputs"]["source"]["faces"] == "scikit-image" and "fer" not in parity["inputs"]["source"]
    gate = parity["model_gate"]  # the converted model reproduces the checkpoint's recorded predictions
    fp = gate["fingerprint"]  # ONNX Runtime vs the PyTorch record: kernel rounding only, far under the tolerance
    assert gate["passed"] and fp["median_max_abs_dlogp"] <= 1e-3 and fp["top1_agreement"] == 1.0 and "accuracy" not in gate

    # the gate above ran the rewritten graph: NHWC end to end, one Transpose in and one out
    ops = [n["op"] for n in json.loads((out / "tfjs/model.json").read_text())["modelTopology"]["node"]]
    assert ops.count("Transpose") == 2 and "Pad" not in ops and "Relu" not in ops
    graph = meta["tfjs_graph"]
    assert graph["transposes_after"] == 2 < graph["transposes_before"] and graph["ops_after"] < graph["ops_before"]


@pytest.mark.browser  # its fixture runs the whole conversion, Chromium included
def test_graph_rewrite_keeps_only_the_weights_it_uses(converted, tmp_path):
    """Without the rewrite tensorflowjs leaves a Transpose pair and a Pad around every conv; the
    rewrite drops them and their constants from the shard, and leaves the conv kernels' bytes as they were."""
    from fer_browser.convert.tfjs_graph import Graph, simplify_tfjs

    out, _ = converted
    raw = tmp_path / "raw"
    assert export_tfjs(out / "saved_model", raw, rewrite_graph=False) is None
    before = Graph(raw)
    raw_ops = [n["op"] for n in before.nodes.values()]
    convs = raw_ops.count("_FusedConv2D")
    assert raw_ops.count("Transpose") >= 2 * convs and raw_ops.count("Pad") == convs
    report = simplify_tfjs(raw)
    after = Graph(raw)  # re-reads the rewritten model.json and shard: sizes must add up
    assert report["rewrites"]["fold_pad"] == convs and report["transposes_after"] == 2
    assert set(after.specs) == {n["name"] for n in after.nodes.values() if n["op"] == "Const"}
    for name in after.specs:
        assert after.data[name] == before.data[name], name
    assert len(list(raw.glob("*.bin"))) == 1


@pytest.mark.browser  # its fixture runs the whole conversion, Chromium included
def test_reference_inputs_and_outputs_are_what_pytorch_gives(converted, small_checkpoint):
    out, proc = converted
    assert proc.returncode == 0
    ref = json.loads((out / "reference.json").read_text())
    n = TEST_FACES + 4
    assert ref["shape"] == [n, 1, 48, 48] and ref["dtype"] == "float32"
    assert ref["kinds"] == ["face"] * TEST_FACES + ["edge"] * 4
    assert ref["names"][-4:] == ["black", "white", "mid grey", "noise"]
    x = np.fromfile(out / ref["inputs_file"], "<f4").reshape(ref["shape"])
    model, meta = model_from_checkpoint(small_checkpoint)
    pixels = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    np.testing.assert_array_equal(x[TEST_FACES:TEST_FACES + 2], normalize(pixels, meta["preprocessing"]))
    with torch.inference_mode():
        probs = model(torch.from_numpy(x)).exp().numpy()
    np.testing.assert_allclose(np.array(ref["pytorch_probs"]), probs, atol=1e-6)
    assert len(set(probs.argmax(1))) >= 2  # a non-degenerate model, or agreement would prove little
    graph = onnx.load(str(out / "model.onnx")).graph
    assert not {n.op_type for n in graph.node} & DYNAMIC_SHAPE_OPS


@pytest.mark.browser
def test_verify_command_passes_on_the_published_dir(converted, small_checkpoint):
    out, _ = converted
    before = tree_bytes(out)
    proc = run_cli("verify", out, "--checkpoint", small_checkpoint)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "PyTorch (live)" in proc.stdout and "TF.js wasm (Chromium)" in proc.stdout
    assert "manifest: all" in proc.stdout and "PARITY GATE: PASSED" in proc.stdout
    assert tree_bytes(out) == before  # verify writes nothing


@pytest.mark.browser
def test_verify_fails_on_tampered_tfjs_weights(converted, tmp_path):
    out, _ = converted
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    shard = tamper_tfjs_weights(copy)
    proc = run_cli("verify", copy, "--json", tmp_path / "report.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "PARITY GATE: FAILED" in proc.stdout
    assert f"CHANGED since conversion: tfjs/{shard.name}" in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backends"]["onnxruntime"]["passed"] and report["backends"]["tensorflow"]["passed"]
    tfjs = report["backends"]["tfjs"]  # the numbers themselves are caught, not only the checksum
    assert not tfjs["passed"] and tfjs["max_abs_dprob"] > 1e-3


def _swap_first_two_classes(doc: dict) -> dict:
    doc["classes"][0], doc["classes"][1] = doc["classes"][1], doc["classes"][0]
    return doc


@pytest.mark.browser  # its fixture runs the whole conversion, Chromium included
def test_verify_fails_when_a_copy_of_the_metadata_disagrees(converted, small_checkpoint, tmp_path):
    """Issue 21, probe 2: two class names swapped in metadata.json and the manifest regenerated used to pass
    verify, and predict then named the wrong emotion. Every copy must agree: model.onnx's, the checkpoint's."""
    out, _ = converted
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    (copy / "metadata.json").write_text(json.dumps(_swap_first_two_classes(meta), indent=2))
    write_manifest(copy)
    for args in ([], ["--checkpoint", small_checkpoint]):
        proc = run_cli("verify", copy, *args)
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(errors) == 1 and "model.onnx's metadata_props disagree on 'classes'" in errors[0], errors

    # model.onnx swapped too (and the manifest again): the checkpoint still tells the truth
    proto = onnx.load(str(copy / "model.onnx"))
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                        "classes": json.dumps(meta["classes"])})
    onnx.save(proto, str(copy / "model.onnx"))
    write_manifest(copy)
    proc = run_cli("verify", copy, "--checkpoint", small_checkpoint)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "error: metadata.json and the checkpoint's metadata disagree on 'classes'" in proc.stderr

    # any contract field, not only the classes
    shutil.copy(out / "model.onnx", copy / "model.onnx")
    meta = json.loads((out / "metadata.json").read_text())
    meta["crop"]["scale"] = 1.3
    (copy / "metadata.json").write_text(json.dumps(meta))
    write_manifest(copy)
    with pytest.raises(GateFailed, match=r"disagree on 'crop'"):
        verify(copy)


def test_every_contract_field_is_compared_and_travels_in_model_onnx():
    meta = build_metadata("vgg", {}, 1, ["a", "b"], "ferplus")
    prior = {"version": 1, "probabilities": [0.25, 0.75], "strength": 1.0, "source": "Training"}
    assert contract_difference(meta, copy_metadata(meta), "x") is None
    for key, value in (("classes", ["b", "a"]), ("input", {**meta["input"], "height": 64}),
                       ("preprocessing", {**meta["preprocessing"], "std": 0.25}), ("crop", {**meta["crop"], "fill": 0}),
                       ("calibration", {"version": 1, "temperature": 0.5}), ("prior", prior)):
        assert f"disagree on {key!r}" in contract_difference(meta, {**meta, key: value}, "x"), key
    props = model_props({**meta, "prior": prior})
    assert json.loads(props["prior"]) == prior and "calibration" not in props


def test_accuracy_checked_only_when_the_gate_measured_the_accuracy():
    fingerprint = {"passed": True, "max_abs_dprob": 0.0}
    assert accuracy_checked({"passed": True, "fingerprint": fingerprint}) is False  # --synthetic, or no data
    assert accuracy_checked({"passed": True, "fingerprint": fingerprint, "accuracy": {"passed": True}}) is True
    assert accuracy_checked({"passed": False, "fingerprint": fingerprint, "accuracy": {"passed": False}}) is False


@pytest.mark.browser
def test_failing_gate_leaves_existing_dir_byte_identical_and_passing_gate_replaces_it(converted, tmp_path):
    good, _ = converted
    published = tmp_path / "export"
    shutil.copytree(good, published)
    before = tree_bytes(published)

    staging = make_staging(published)
    shutil.copytree(good, staging, dirs_exist_ok=True)
    tamper_tfjs_weights(staging)
    with pytest.raises(GateFailed) as failed:
        gate_and_publish(staging, published)
    assert not failed.value.report["backends"]["tfjs"]["passed"]
    assert tree_bytes(published) == before
    shutil.rmtree(staging)

    staging = make_staging(published)  # a re-run that passes replaces DIR as a whole
    shutil.copytree(good, staging, dirs_exist_ok=True)
    (staging / "stale-marker").write_text("from the new build")
    report = gate_and_publish(staging, published)
    assert report["passed"] and (published / "stale-marker").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    meta = json.loads((published / "metadata.json").read_text())
    assert check_manifest(published)["files"]["stale-marker"]["sha256"] == file_sha256(published / "stale-marker")


@pytest.mark.browser
def test_float16_weights_pass_their_own_gate(converted, tmp_path):
    good, _ = converted
    target = tmp_path / "export-fp16"
    staging = make_staging(target)
    shutil.copytree(good, staging, dirs_exist_ok=True)
    shutil.rmtree(staging / "tfjs")
    export_tfjs(staging / "saved_model", staging / "tfjs", "float16")
    meta = json.loads((staging / "metadata.json").read_text())
    write_metadata(staging, meta, "float16", meta["source_checkpoint"])
    report = gate_and_publish(staging, target)
    tfjs = report["backends"]["tfjs"]
    assert report["passed"] and report["quantization"] == "float16"
    assert tfjs["thresholds"] == {"max_abs_dprob": 1e-2, "top1_agreement_faces": 0.99, "max_rel_dembedding": 0.01}
    assert tfjs["embedding_passed"] and report["embedding"]["output"] == "embedding"
    assert report["backends"]["onnxruntime"]["thresholds"]["max_abs_dprob"] == 1e-5  # fp32 elsewhere
    manifest = json.loads((target / "tfjs" / "model.json").read_text())["weightsManifest"][0]
    assert any(w.get("quantization", {}).get("dtype") == "float16" for w in manifest["weights"])
    size = lambda d: sum(p.stat().st_size for p in (d / "tfjs").glob("*.bin"))  # noqa: E731
    assert size(target) < 0.6 * size(good)


def _checkpoint_without_metadata(path):
    ckpt = torch.load(make_checkpoint(path, steps=1), weights_only=True)
    torch.save({"state_dict": ckpt["state_dict"]}, path)


def _checkpoint_with_unknown_model(path):
    ckpt = torch.load(make_checkpoint(path, steps=1), weights_only=True)
    ckpt["metadata"]["model"]["name"] = "resnet-9000"  # format and weights digest still valid
    torch.save(ckpt, path)


def _old_format_checkpoint(path):
    ckpt = torch.load(make_checkpoint(path, steps=1), weights_only=True)
    del ckpt["format"]
    torch.save(ckpt, path)


def _weights_changed_digest_not(path):
    ckpt = torch.load(make_checkpoint(path, steps=1), weights_only=True)
    name = sorted(ckpt["state_dict"])[0]
    ckpt["state_dict"][name] = ckpt["state_dict"][name] + 0.01
    torch.save(ckpt, path)


BAD_CHECKPOINTS = {
    "missing": (lambda p: None, "no such checkpoint"),
    "corrupt": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a readable PyTorch checkpoint"),
    "no-metadata": (_checkpoint_without_metadata, "has no metadata"),
    "unknown-model": (_checkpoint_with_unknown_model, "unknown model 'resnet-9000'"),
    "old-format": (_old_format_checkpoint, "python -m training.checkpoint upgrade"),
    "digest-mismatch": (_weights_changed_digest_not, "weights do not match their recorded sha256"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoint_gives_one_line_error(case, tmp_path):
    make, message = BAD_CHECKPOINTS[case]
    ckpt = tmp_path / "checkpoint.pt"
    make(ckpt)
    proc = run_cli(ckpt, "--out", tmp_path / "export", "--synthetic")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    error_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0], proc.stderr
    assert not (tmp_path / "export").exists()


def test_unwritable_or_foreign_output_gives_one_line_error(small_checkpoint, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"precious")
    for out, message in ((blocker / "export", "cannot write there"), (blocker, "exists and is not a folder"),
                         (foreign, "refusing to replace it")):
        proc = run_cli(small_checkpoint, "--out", out, "--synthetic")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert message in proc.stderr.strip().splitlines()[-1]
    assert (foreign / "holiday.jpg").read_bytes() == b"precious" and blocker.read_text() == "not a folder"


def test_verify_on_a_folder_that_is_not_a_model_dir(tmp_path):
    proc = run_cli("verify", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a converted model directory" in proc.stderr


def test_help_describes_both_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "--quantize" in proc.stdout and "python -m convert verify DIR" in proc.stdout
    assert "100% top-1" in " ".join(proc.stdout.split()) and "%%" not in proc.stdout  # no doubled percent sign
    assert '"accuracy_checked": false' in " ".join(proc.stdout.split())  # --synthetic says what it skips
    proc = run_cli("verify", "--help")
    assert proc.returncode == 0 and "--checkpoint" in proc.stdout


def test_reference_sample_from_a_fer_csv_is_seeded_and_normalised(tmp_path, monkeypatch):
    from fer_browser.convert.reference import build_reference
    from fer_browser.core.metadata import build_metadata

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    usage = ["Training"] * 6 + ["PublicTest"] * 3 + ["PrivateTest"] * 20
    pixels = rng.integers(0, 256, (len(usage), 48 * 48))
    rows = [f"{i % 7},{' '.join(map(str, p))},{u}" for i, (p, u) in enumerate(zip(pixels, usage))]
    csv = tmp_path / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    meta = build_metadata("vgg", {}, 1, ["a", "b", "c", "d", "e", "f", "g"], "fer2013")

    ref = build_reference(meta, csv=csv, faces=8, seed=3)
    again = build_reference(meta, csv=csv, faces=8, seed=3)
    assert ref.names == again.names and np.array_equal(ref.inputs, again.inputs)
    assert ref.kinds == ["face"] * 8 + ["fer"] * 8 + ["edge"] * 4 and ref.source["faces"] == "scikit-image"
    assert ref.source["fer"]["csv"] == "fer2013.csv" and ref.source["fer"]["published"] is False  # a name, no path
    picked = [int(name.removeprefix("PrivateTest row ")) for name in ref.names[8:16]]
    assert picked == sorted(set(picked)) and max(picked) < 20
    private = pixels[9:].reshape(-1, 48, 48).astype(np.uint8)
    np.testing.assert_array_equal(ref.inputs[8:16], normalize(private[picked], meta["preprocessing"]))
    assert build_reference(meta, csv=csv, faces=8, seed=4).names[8:16] != ref.names[8:16]
    # what is published keeps the probe faces and edge inputs, never the dataset's faces
    public = ref.public()
    assert public.kinds == ["face"] * 8 + ["edge"] * 4 and "fer" not in public.source
    np.testing.assert_array_equal(public.inputs, np.concatenate([ref.inputs[:8], ref.inputs[16:]]))
    assert build_reference(meta, csv=csv, faces=8, seed=3, synthetic=True).kinds == public.kinds


@pytest.mark.parametrize("args, message", [
    (["--csv", "no-such.csv"], "no such FER2013 CSV"),
    (["--faces", "0"], "--faces must be at least 1"),
    (["--faces", "5000"], "--faces must be at most 1024"),  # 5000 took 4.5 GB (issue 21)
    (["--quantize", "int4"], "invalid choice"),
])
def test_bad_options_give_one_line_error(args, message, small_checkpoint, tmp_path):
    proc = run_cli(small_checkpoint, "--out", tmp_path / "export", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "export").exists()


@pytest.mark.browser
def test_bench_prints_a_median_table_for_all_four_backends(converted, small_checkpoint, tmp_path):
    out, _ = converted
    proc = subprocess.run([PYTHON, str(ROOT / "bench" / "bench_inference.py"), "--model-dir", str(out),
                           "--checkpoint", str(small_checkpoint), "--reps", "3", "--batch-reps", "2",
                           "--warmup", "1", "--batch", "8", "--json", str(tmp_path / "bench.json")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert rows[0].startswith("| backend | 1 face (ms) | batch 8 (ms)")
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == ["PyTorch", "ONNX Runtime", "TF SavedModel",
                                                         "TF.js wasm (Chromium)"]
    medians = json.loads((tmp_path / "bench.json").read_text())["medians_ms"]
    assert all(m[str(n)] > 0 for m in medians.values() for n in (1, 8))
