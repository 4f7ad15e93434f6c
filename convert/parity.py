"""The parity gate: every backend gets the same reference inputs and is compared with PyTorch.

Backends: PyTorch (the reference), ONNX Runtime, the TF SavedModel, and TF.js on the wasm backend in
headless Chromium through the web app's own model code. Per backend: max |Δ probability|,
max |Δ log-probability| and top-1 agreement against PyTorch, the thresholds and pass/fail.
fp32 gate: max |Δprob| <= 1e-5 and 100 % top-1 agreement. Quantized TF.js weights have their own
gate on the face inputs (float16: top-1 >= 99 %, |Δprob| <= 1e-2; uint8: top-1 >= 95 %, |Δprob| <= 0.1;
mixed, uint8 for the large kernels only: top-1 >= 99 %, |Δprob| <= 0.1).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from .reference import INPUTS_FILE, Reference
from .to_onnx import INPUT_NAME, OUTPUT_NAME

LABELS = {"pytorch": "PyTorch (live)", "onnxruntime": "ONNX Runtime", "tensorflow": "TF SavedModel",
          "tfjs": "TF.js wasm (Chromium)"}
FP32_GATE = {"max_abs_dprob": 1e-5, "top1_agreement": 1.0}
QUANTIZED_GATES = {"float16": {"max_abs_dprob": 1e-2, "top1_agreement_faces": 0.99},
                   "uint8": {"max_abs_dprob": 0.1, "top1_agreement_faces": 0.95},
                   "mixed": {"max_abs_dprob": 0.1, "top1_agreement_faces": 0.99}}


def thresholds(backend: str, quantization: str | None) -> dict:
    """Only the TF.js weights are quantized; every other backend runs the fp32 graph."""
    return dict(QUANTIZED_GATES[quantization]) if backend == "tfjs" and quantization else dict(FP32_GATE)


# --- backends: each returns log-probabilities (N, C) as float64 -------------------------------

def run_pytorch(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model.eval()(torch.from_numpy(x)).numpy().astype(np.float64)


def onnxruntime_session(onnx_path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def run_onnxruntime(onnx_path: Path, x: np.ndarray) -> np.ndarray:
    return onnxruntime_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: x})[0].astype(np.float64)


def run_tensorflow(saved_model_dir: Path, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    from .to_savedmodel import load_signature

    return load_signature(saved_model_dir)(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy().astype(np.float64)


def run_tfjs(model_dir: Path, n: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(log-probs, probs, info); probs come from web/lib/emotion.js's predictNormalized, the page's own path."""
    from .browser import TfjsBrowser

    with TfjsBrowser(model_dir) as browser:
        out = browser.run(n, INPUTS_FILE)
        info = {**browser.info, "backend": out["backend"]}
    return np.array(out["logprobs"], np.float64), np.array(out["probs"], np.float64), info


def _describe(exc: Exception) -> str:
    from .errors import ConvertError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return first if isinstance(exc, ConvertError) else f"{type(exc).__name__}: {first}"


# --- comparison and gate ---------------------------------------------------------------------

def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    d = np.abs(a - b)
    return float(d.max()) if np.all(np.isfinite(d)) else math.inf


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
               log=lambda s: print(s, file=sys.stderr, flush=True)) -> dict:
    """Run every backend on model_dir's artifacts; returns the report written as parity.json."""
    model_dir = Path(model_dir)
    runners = {}
    if torch_model is not None:
        runners["pytorch"] = lambda: (run_pytorch(torch_model, ref.inputs), None, {})
    runners["onnxruntime"] = lambda: (run_onnxruntime(model_dir / "model.onnx", ref.inputs), None, {})
    runners["tensorflow"] = lambda: (run_tensorflow(model_dir / "saved_model", ref.inputs), None, {})
    runners["tfjs"] = lambda: run_tfjs(model_dir, len(ref.inputs))
    results, extra = {}, {}
    for name, runner in runners.items():
        limits = thresholds(name, quantization)
        t0 = time.perf_counter()
        try:
            logprobs, probs, info = runner()
            res = compare(ref, logprobs, probs, limits)
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
            "quantization": quantization,
            "inputs": {"count": len(ref.names), "faces": n_faces, "edge": len(ref.names) - n_faces,
                       "source": ref.source},
            **extra, "backends": results}


def summary(report: dict) -> dict:
    """The short form stored in metadata.json."""
    keep = ("max_abs_dprob", "max_abs_dlogprob", "top1_agreement", "passed")
    return {"passed": report["passed"], "inputs": {k: report["inputs"][k] for k in ("count", "faces", "edge")},
            "faces": report["inputs"]["source"].get("faces"), "tfjs_backend": report.get("tfjs_backend"),
            "backends": {n: {k: r.get(k) for k in keep} for n, r in report["backends"].items()}}


# --- the terminal table -----------------------------------------------------------------------

def _gate_text(limits: dict) -> str:
    parts = [f"|dp|<={limits['max_abs_dprob']:g}"]
    if "top1_agreement" in limits:
        parts.append(f"top-1>={limits['top1_agreement']:.0%}")
    if "top1_agreement_faces" in limits:
        parts.append(f"top-1(faces)>={limits['top1_agreement_faces']:.0%}")
    return ", ".join(parts)


def _faces_text(inp: dict) -> str:
    src = inp["source"]
    if src.get("faces") == "scikit-image":
        text = f"{src.get('count')} scikit-image probe faces"
        if src.get("fer"):
            text += f" + {src['fer']['count']} {src['fer']['split']} faces from {src['fer']['csv']} (gate only, not published)"
        return text
    if src.get("faces") == "real":  # folders made before the probe faces
        return f"{inp['faces']} real {src.get('split', '')} faces"
    return f"{inp['faces']} SYNTHETIC faces (no FER2013 data)"


def format_table(report: dict) -> str:
    from .gates import describe

    inp = report["inputs"]
    lines = [f"Parity against PyTorch on {inp['count']} inputs ({_faces_text(inp)} + {inp['edge']} edge inputs)"
             + (f"; TF.js weights quantized to {report['quantization']}" if report.get("quantization") else ""),
             f"TF.js {report['tfjs_version']} backend: {report['tfjs_backend']} (Chromium {report['chromium']})"
             if report.get("tfjs_backend") else "TF.js: no result (see below)"]
    header = ("backend", "max|dprob|", "max|dlogprob|", "top-1 agree", "gate", "result")
    rows = []
    for r in report["backends"].values():
        if "max_abs_dprob" in r:
            n = inp["count"]
            agree = f"{round(r['top1_agreement'] * n)}/{n} ({r['top1_agreement']:.1%})"
            rows.append((r["label"], f"{r['max_abs_dprob']:.2e}", f"{r['max_abs_dlogprob']:.2e}", agree,
                         _gate_text(r["thresholds"]), "PASS" if r["passed"] else "FAIL"))
        else:
            rows.append((r["label"], "-", "-", "-", _gate_text(r["thresholds"]), "FAIL"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    lines += [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    for r in report["backends"].values():
        if r.get("error"):
            lines.append(f"  {r['label']}: {r['error']}")
        elif r.get("top1_disagreements"):
            lines.append(f"  {r['label']} top-1 differs on: {', '.join(r['top1_disagreements'][:5])}")
    lines += describe(report.get("model_gate") or {})
    man = report.get("manifest")
    if man:
        if report.get("manifest_error") is None:
            lines.append(f"manifest: all {man['checked']} files match manifest.json (sha256), none missing or extra")
        else:
            parts = [f"{what}: {', '.join(man[key])}" for key, what in
                     (("changed", "CHANGED since conversion"), ("missing", "MISSING"), ("extra", "EXTRA (not in the manifest)"),
                      ("symlinks", "SYMLINKS")) if man[key]]
            lines.append("manifest: " + "; ".join(parts or [report["manifest_error"]]))
    lines.append("PARITY GATE: PASSED" if report["passed"] else "PARITY GATE: FAILED")
    return "\n".join(lines)
