"""Step 3: SavedModel -> TF.js graph model (model.json + weight shards) with tensorflowjs.

Optional weight quantization (float16 or uint8) shrinks the download; TF.js dequantizes at load,
so it changes accuracy slightly, not speed. convert/tfjs_graph.py then removes the Transposes and
Pads onnx-tf puts around every conv (browser speed; the parity gate checks the result). The graph
must have no control-flow ops, otherwise the page's `model.predict()` fails ("dynamic op 'Merge',
use executeAsync").
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import ConvertError

QUANTIZATIONS = ("float16", "uint8")
# Ops that force executeAsync() in TF.js (tfjs-converter's control-flow and dynamic op lists).
DYNAMIC_OPS = {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "StatelessIf", "If",
               "StatelessWhile", "While", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
               "NonMaxSuppressionV4", "NonMaxSuppressionV5", "Where", "ListDiff"}


def export_tfjs(saved_model_dir: Path, out_dir: Path, quantize: str | None = None,
                rewrite_graph: bool = True) -> dict | None:
    """Convert; then (by default) strip onnx-tf's layout round trips. Returns the rewrite report."""
    if quantize not in (None, *QUANTIZATIONS):
        raise ConvertError(f"unknown quantization {quantize!r}; choose float16 or uint8")
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    convert_tf_saved_model(str(saved_model_dir), str(out_dir), signature_def="serving_default",
                           saved_model_tags="serve",
                           quantization_dtype_map={quantize: True} if quantize else None)
    model_json = json.loads((Path(out_dir) / "model.json").read_text())
    ops = {n["op"] for n in model_json["modelTopology"]["node"]}
    dynamic = sorted(ops & DYNAMIC_OPS)
    if dynamic:
        raise ConvertError(f"TF.js graph has dynamic ops {dynamic}: model.predict() would fail in the page")
    if not rewrite_graph:
        return None
    from .tfjs_graph import simplify_tfjs

    return simplify_tfjs(Path(out_dir))


def weight_files(tfjs_dir: Path) -> list[Path]:
    model_json = json.loads((Path(tfjs_dir) / "model.json").read_text())
    return [Path(tfjs_dir) / p for group in model_json["weightsManifest"] for p in group["paths"]]
