"""The parity gate: every backend gets the same reference inputs and is compared with PyTorch (the judging:
thresholds, comparisons and the report written as parity.json; convert/backends.py runs the backends,
convert/report.py prints the report).

Backends: PyTorch (the reference), ONNX Runtime, the TF SavedModel, and TF.js on the wasm backend in
headless Chromium through the web app's own model code. Per backend: max |Δ probability|,
max |Δ log-probability| and top-1 agreement against PyTorch, the thresholds and pass/fail.
fp32 gate: max |Δprob| <= 1e-5 and 100 % top-1 agreement. Quantized TF.js weights have their own
gate on the face inputs (float16: top-1 >= 99 %, |Δprob| <= 1e-2; uint8: top-1 >= 95 %, |Δprob| <= 0.1;
mixed, uint8 for the large kernels only: top-1 >= 99 %, |Δprob| <= 0.1).
When the metadata announces an embedding (model.embedding), every backend must return it too, compared
with PyTorch's (reference_embeddings.bin): fp32 max |Δembedding| <= 1e-4 absolute; quantized TF.js weights
max |Δembedding| / max |embedding| (relative to the reference's largest value) within its own bound.
A backend without the embedding output fails the gate then; an export without model.embedding is
judged on the log-probabilities alone, as before.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from .backends import onnxruntime_outputs, pytorch_outputs, run_tfjs, tensorflow_outputs
from .errors import ConvertError
from .reference import Reference

LABELS = {"pytorch": "PyTorch (live)", "onnxruntime": "ONNX Runtime", "tensorflow": "TF SavedModel",
          "tfjs": "TF.js wasm (Chromium)"}
FP32_GATE = {"max_abs_dprob": 1e-5, "top1_agreement": 1.0}
QUANTIZED_GATES = {"float16": {"max_abs_dprob": 1e-2, "top1_agreement_faces": 0.99},
                   "uint8": {"max_abs_dprob": 0.1, "top1_agreement_faces": 0.95},
                   "mixed": {"max_abs_dprob": 0.1, "top1_agreement_faces": 0.99}}
# fp32: rounding only (measured <= 2e-6 in ONNX Runtime, TF and TF.js, embedding values up to about 1).
# Quantized weights move every embedding value by a share of the embedding's own scale, so those bounds
# are relative: max |Δembedding| / max |reference embedding|. Measured in TF.js wasm, shipped vgg (516
# gate inputs) / the tests' small vgg (36): float16 2.2e-3 / 2.5e-4, mixed 1.15e-2 / 2.5e-4 (the small
# model has no tensor big enough for uint8), uint8 5.9e-2 / 8.5e-3. Each bound is 3.5-4.5x the larger one.
FP32_EMBEDDING_GATE = {"max_abs_dembedding": 1e-4}
QUANTIZED_EMBEDDING_GATES = {"float16": {"max_rel_dembedding": 0.01}, "uint8": {"max_rel_dembedding": 0.2},
                             "mixed": {"max_rel_dembedding": 0.04}}


def thresholds(backend: str, quantization: str | None, embedding: bool = False) -> dict:
    """Only the TF.js weights are quantized; every other backend runs the fp32 graph."""
    quantized = backend == "tfjs" and quantization
    limits = dict(QUANTIZED_GATES[quantization]) if quantized else dict(FP32_GATE)
    if embedding:
        limits.update(QUANTIZED_EMBEDDING_GATES[quantization] if quantized else FP32_EMBEDDING_GATE)
    return limits


def _describe(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return first if isinstance(exc, ConvertError) else f"{type(exc).__name__}: {first}"


# --- comparison and gate ---------------------------------------------------------------------

def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    d = np.abs(a - b)
    return float(d.max()) if np.all(np.isfinite(d)) else math.inf


def compare_embedding(ref: Reference, embedding: np.ndarray | None, limits: dict) -> dict:
    """The embedding figures and their verdict; a missing output fails with its reason."""
    want = ref.pytorch_embeddings
    if want is None:
        return {"embedding_error": "reference.json has no PyTorch embeddings (re-run the conversion)",
                "embedding_passed": False}
    if embedding is None:
        return {"embedding_error": "no embedding output, although metadata.json announces one",
                "embedding_passed": False}
    if embedding.shape != want.shape:
        return {"embedding_error": f"embedding shape {list(embedding.shape)}, expected {list(want.shape)}",
                "embedding_passed": False}
    dmax = _max_abs(embedding, want)
    scale = float(np.abs(want).max()) or 1.0
    result = {"max_abs_dembedding": dmax, "max_rel_dembedding": dmax / scale}
    result["embedding_passed"] = bool(all(result[k] <= v for k, v in limits.items() if k.endswith("_dembedding")))
    return result


def compare(ref: Reference, logprobs: np.ndarray, probs: np.ndarray | None, limits: dict) -> dict:
    probs = np.exp(logprobs) if probs is None else probs
    want_logp = ref.pytorch_logprobs
    if probs.shape != want_logp.shape:
        return {"error": f"output shape {list(probs.shape)}, expected {list(want_logp.shape)}", "passed": False,
                "thresholds": limits}
    agree = np.argmax(probs, 1) == np.argmax(want_logp, 1)
    faces = ref.face_mask
    result = {"max_abs_dprob": _max_abs(probs, np.exp(want_logp)), "max_abs_dlogprob": _max_abs(logprobs, want_logp),
              "top1_agreement": float(agree.mean()), "top1_agreement_faces": float(agree[faces].mean()),
              "top1_disagreements": [ref.names[i] for i in np.flatnonzero(~agree)][:20], "thresholds": limits}
    checks = [result["max_abs_dprob"] <= limits["max_abs_dprob"]]
    for key in ("top1_agreement", "top1_agreement_faces"):
        if key in limits:
            checks.append(result[key] >= limits[key])
    result["passed"] = bool(all(checks))
    return result


def run_parity(model_dir: Path, ref: Reference, quantization: str | None, torch_model=None,
               log=lambda s: print(s, file=sys.stderr, flush=True), embedding: dict | None = None) -> dict:
    """Run every backend on model_dir's artifacts; returns the report written as parity.json.
    embedding: the metadata's model.embedding; when given, each backend's embedding is judged too."""
    model_dir = Path(model_dir)
    runners = {}
    if torch_model is not None:
        runners["pytorch"] = lambda: (*pytorch_outputs(torch_model, ref.inputs), None, {})
    runners["onnxruntime"] = lambda: (*onnxruntime_outputs(model_dir / "model.onnx", ref.inputs), None, {})
    runners["tensorflow"] = lambda: (*tensorflow_outputs(model_dir / "saved_model", ref.inputs), None, {})

    def tfjs():
        logprobs, probs, emb, info = run_tfjs(model_dir, len(ref.inputs))
        return logprobs, emb, probs, info

    runners["tfjs"] = tfjs
    results, extra = {}, {}
    for name, runner in runners.items():
        limits = thresholds(name, quantization, embedding is not None)
        t0 = time.perf_counter()
        try:
            logprobs, emb, probs, info = runner()
            res = compare(ref, logprobs, probs, limits)
            if embedding is not None:
                res.update(compare_embedding(ref, emb, limits))
                res["passed"] = res["passed"] and res["embedding_passed"]
                if "embedding_error" in res and "error" not in res:
                    res["error"] = f"embedding: {res['embedding_error']}"
        except Exception as exc:  # a broken artifact must fail the gate with its reason, not crash it
            res = {"error": _describe(exc), "passed": False, "thresholds": limits}
            info = {}
        if name == "tfjs" and info:
            extra = {"tfjs_backend": info.get("backend"), "tfjs_version": info.get("tfjs"),
                     "chromium": info.get("chromium")}
            if info.get("backend") != "wasm":
                res.update(passed=False, error=f"TF.js fell back to the {info.get('backend')!r} backend, not wasm")
        res["label"], res["seconds"] = LABELS[name], round(time.perf_counter() - t0, 2)
        results[name] = res
        log(f"      {LABELS[name]}: {'pass' if res['passed'] else 'FAIL'} ({res['seconds']:.1f} s)")
    n_faces = int(ref.face_mask.sum())
    return {"passed": all(r["passed"] for r in results.values()), "reference": "pytorch",
            "quantization": quantization, **({"embedding": embedding} if embedding else {}),
            "inputs": {"count": len(ref.names), "faces": n_faces, "edge": len(ref.names) - n_faces,
                       "source": ref.source},
            **extra, "backends": results}


def summary(report: dict) -> dict:
    """The short form stored in metadata.json."""
    keep = ("max_abs_dprob", "max_abs_dlogprob", "top1_agreement", "passed")
    emb_keys = ("max_abs_dembedding", "max_rel_dembedding")
    return {"passed": report["passed"], "inputs": {k: report["inputs"][k] for k in ("count", "faces", "edge")},
            "faces": report["inputs"]["source"].get("faces"), "tfjs_backend": report.get("tfjs_backend"),
            "backends": {n: {**{k: r.get(k) for k in keep}, **{k: r[k] for k in emb_keys if k in r}}
                         for n, r in report["backends"].items()}}
