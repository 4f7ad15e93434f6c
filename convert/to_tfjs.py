"""Step 3: SavedModel -> TF.js graph model (model.json + weight shards) with tensorflowjs.

Optional weight quantization shrinks the download; TF.js dequantizes at load, so it changes
accuracy slightly, not speed. float16 halves every weight; uint8 quarters them with one affine
range per tensor, which costs the most (the biases and the small first and last layers lose most);
mixed stores only the large tensors (>= MIXED_UINT8_MIN_SIZE values: the deep conv kernels, most
of the bytes) as uint8 and the rest as float16 (measured agreement with fp32 per choice:
MODEL_CARD.md, Quantization). convert/tfjs_graph.py then removes the Transposes and Pads onnx-tf
puts around every conv (browser speed; the parity gate checks the result). The graph
must have no control-flow ops, otherwise the page's `model.predict()` fails ("dynamic op 'Merge',
use executeAsync").
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from .errors import ConvertError

QUANTIZATIONS = ("float16", "uint8", "mixed")
MIXED_UINT8_MIN_SIZE = 65_536
# Ops that force executeAsync() in TF.js (tfjs-converter's control-flow and dynamic op lists).
DYNAMIC_OPS = {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "StatelessIf", "If",
               "StatelessWhile", "While", "NonMaxSuppressionV2", "NonMaxSuppressionV3",
               "NonMaxSuppressionV4", "NonMaxSuppressionV5", "Where", "ListDiff"}


def export_tfjs(saved_model_dir: Path, out_dir: Path, quantize: str | None = None,
                rewrite_graph: bool = True, outputs: tuple[str, ...] | list[str] = ()) -> dict | None:
    """Convert; then (by default) strip onnx-tf's layout round trips. Returns the rewrite report.
    outputs: signature keys model.json must keep (after the rewrite too): the page reads them by name."""
    if quantize not in (None, *QUANTIZATIONS):
        raise ConvertError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    def run(dtype_map, target: Path):
        convert_tf_saved_model(str(saved_model_dir), str(target), signature_def="serving_default",
                               saved_model_tags="serve", quantization_dtype_map=dtype_map)

    if quantize == "mixed":  # weight names are tensorflowjs's own: convert once in fp32 (beside) to learn them
        probe = Path(out_dir).with_name(Path(out_dir).name + ".fp32-names")
        try:
            run(None, probe)
            run({"uint8": large_weights(probe), "float16": True}, Path(out_dir))
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    else:
        run({quantize: True} if quantize else None, Path(out_dir))
    model_json = json.loads((Path(out_dir) / "model.json").read_text())
    ops = {n["op"] for n in model_json["modelTopology"]["node"]}
    dynamic = sorted(ops & DYNAMIC_OPS)
    if dynamic:
        raise ConvertError(f"TF.js graph has dynamic ops {dynamic}: model.predict() would fail in the page")
    report = None
    if rewrite_graph:
        from .tfjs_graph import simplify_tfjs

        report = simplify_tfjs(Path(out_dir))
    check_outputs(Path(out_dir), outputs)
    return report


def check_outputs(tfjs_dir: Path, outputs) -> None:
    """Each named output is in model.json's signature and its node is still in the graph."""
    model = json.loads((Path(tfjs_dir) / "model.json").read_text())
    signature = model.get("signature", {}).get("outputs", {})
    nodes = {n["name"] for n in model["modelTopology"]["node"]}
    for name in outputs:
        node = signature.get(name, {}).get("name", "").split(":")[0]
        if node not in nodes:
            raise ConvertError(f"TF.js graph has no output {name!r} (signature outputs: {sorted(signature)})")


def large_weights(tfjs_dir: Path, min_size: int = MIXED_UINT8_MIN_SIZE) -> list[str]:
    """Names of the float weights with at least min_size values (what `mixed` stores as uint8)."""
    manifest = json.loads((Path(tfjs_dir) / "model.json").read_text())["weightsManifest"]
    return [w["name"] for group in manifest for w in group["weights"]
            if w["dtype"] == "float32" and math.prod(w["shape"]) >= min_size]
