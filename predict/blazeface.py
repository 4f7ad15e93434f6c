"""BlazeFace-back, the browser's face detector, as an ONNX file for ONNX Runtime.

The page loads node_modules/@vladmandic/human/models/blazeface.json (a TF.js graph model: a TF
GraphDef as JSON + weights in blazeface.bin). Python runs the very same weights from
models/blazeface/blazeface.onnx, which to_onnx() made once from those files by translating each TF
node to its ONNX twin; it is committed with its sha256 (blazeface.onnx.sha256), checked before
loading. So predict needs neither TensorFlow, nor the onnx package, nor node_modules at run time.
Regenerate it (after `npm ci`, with the `convert` extra's onnx) with

    python -m predict.blazeface --write

tests/test_predict_detector.py checks the translation against TensorFlow running the original
GraphDef, and that the committed file is what a fresh translation gives.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from pathlib import Path

import numpy as np

from fer_browser.paths import BLAZEFACE_JSON as MODEL_JSON, BLAZEFACE_ONNX as MODEL_ONNX, IN_CHECKOUT, vendor_hint
from fer_browser.core.tfjs_weights import read_graph_model

from .errors import PredictError

class DetectorModelError(PredictError):
    """The BlazeFace files are missing or not the graph this module knows how to translate."""


def load_tfjs_graph(model_json: Path = MODEL_JSON) -> tuple[list[dict], dict[str, np.ndarray], dict]:
    """Nodes of the GraphDef (JSON dicts), the weights by node name, and the signature."""
    model_json = Path(model_json)
    if not model_json.is_file():
        raise DetectorModelError(f"face detector weights not found ({model_json}); {vendor_hint()}")
    try:
        spec, weights = read_graph_model(model_json)
    except (ValueError, OSError) as exc:
        raise DetectorModelError(f"{model_json}: {exc}") from None
    return spec["modelTopology"]["node"], weights, spec.get("userDefinedMetadata", {}).get("signature", {})


def _attr_str(node: dict, key: str, default: str = "") -> str:
    raw = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(raw).decode() if raw else default


def _attr_list(node: dict, key: str, kind: str) -> list:
    return node.get("attr", {}).get(key, {}).get("list", {}).get(kind, [])


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in _attr_list(node, key, "i")]


def to_onnx(model_json: Path = MODEL_JSON):
    """Translate the NHWC TF graph into an NCHW ONNX model with the same input and output names."""
    import onnx
    from onnx import helper, numpy_helper

    nodes, weights, signature = load_tfjs_graph(model_json)
    out_nodes, inits = [], []
    clean = lambda name: name.split(":")[0].lstrip("^")  # noqa: E731  (TF input refs may carry :0)

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def check_nhwc(node):
        fmt = _attr_str(node, "data_format", "NHWC")
        if fmt != "NHWC" or any(d != 1 for d in _attr_ints(node, "dilations") or [1]):
            raise DetectorModelError(f"unsupported {node['op']} layout/dilation in {node['name']}")

    def pads(node):
        mode = _attr_str(node, "padding")
        if mode not in ("SAME", "VALID"):
            raise DetectorModelError(f"unsupported padding {mode!r} in {node['name']}")
        return "SAME_UPPER" if mode == "SAME" else "VALID"  # TF SAME puts the odd pixel at the end

    graph_inputs, graph_outputs = [], []
    for node in nodes:
        op, name = node["op"], node["name"]
        ins = [clean(i) for i in node.get("input", [])]
        if op == "Const":
            continue  # weights become initializers where they are used (layouts differ per use)
        if op == "Placeholder":
            dims = [int(d["size"]) for d in node["attr"]["shape"]["shape"]["dim"]]
            graph_inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims))
            out_nodes.append(helper.make_node("Transpose", [name], [name + "/nchw"], perm=[0, 3, 1, 2]))
        elif op in ("_FusedConv2D", "DepthwiseConv2dNative"):
            check_nhwc(node)
            w = weights[ins[1]]  # HWIO, or H W C multiplier for depthwise
            if op == "DepthwiseConv2dNative":
                kh, kw, c, m = w.shape
                w_oihw, group = w.reshape(kh, kw, c * m, 1).transpose(2, 3, 0, 1), c
            else:
                w_oihw, group = w.transpose(3, 2, 0, 1), 1
            fused = [base64.b64decode(s).decode() for s in _attr_list(node, "fused_ops", "s")]
            if op == "_FusedConv2D" and fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
                raise DetectorModelError(f"unsupported fused ops {fused} in {name}")
            conv_in = [ins[0] + "/nchw", const(name + "/w", np.ascontiguousarray(w_oihw))]
            if op == "_FusedConv2D":
                conv_in.append(const(name + "/b", weights[ins[2]]))
            conv_out = name + ("/conv" if fused[-1:] == ["Relu"] else "") + "/nchw"
            out_nodes.append(helper.make_node("Conv", conv_in, [conv_out], strides=_attr_ints(node, "strides")[1:3],
                                              group=group, auto_pad=pads(node), kernel_shape=list(w_oihw.shape[2:])))
            if fused[-1:] == ["Relu"]:
                out_nodes.append(helper.make_node("Relu", [conv_out], [name + "/nchw"]))
        elif op in ("AddV2", "Add"):
            out_nodes.append(helper.make_node("Add", [i + "/nchw" for i in ins], [name + "/nchw"]))
        elif op == "Relu":
            out_nodes.append(helper.make_node("Relu", [ins[0] + "/nchw"], [name + "/nchw"]))
        elif op == "MaxPool":
            check_nhwc(node)
            out_nodes.append(helper.make_node("MaxPool", [ins[0] + "/nchw"], [name + "/nchw"], auto_pad=pads(node),
                                              kernel_shape=_attr_ints(node, "ksize")[1:3],
                                              strides=_attr_ints(node, "strides")[1:3]))
        elif op == "Pad":
            p = weights[ins[1]].astype(np.int64)[[0, 3, 1, 2]]  # NHWC rows -> NCHW rows
            out_nodes.append(helper.make_node("Pad", [ins[0] + "/nchw", const(name + "/pads", p.T.reshape(-1))],
                                              [name + "/nchw"]))
        elif op == "Reshape":  # back to NHWC memory order before TF's reshape
            out_nodes.append(helper.make_node("Transpose", [ins[0] + "/nchw"], [name + "/nhwc"], perm=[0, 2, 3, 1]))
            shape = const(name + "/shape", weights[ins[1]].astype(np.int64))
            out_nodes.append(helper.make_node("Reshape", [name + "/nhwc", shape], [name]))
        elif op == "Identity":
            out_nodes.append(helper.make_node("Identity", ins[:1], [name]))
            dims = signature.get("outputs", {}).get(name + ":0", {}).get("tensorShape", {}).get("dim")
            if not dims:
                raise DetectorModelError(f"{model_json}: the signature does not give the shape of {name}")
            graph_outputs.append(helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, [int(d["size"]) for d in dims]))
        else:
            raise DetectorModelError(f"{model_json}: op {op} ({name}) has no ONNX translation here")
    graph = helper.make_graph(out_nodes, "blazeface", graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="predict.blazeface")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, signature


def sha256_path(model: Path) -> Path:
    """The file holding model's sha256, in `sha256sum` format (`sha256sum -c` checks it too)."""
    return model.with_name(model.name + ".sha256")


def write_onnx(out: Path = MODEL_ONNX, model_json: Path = MODEL_JSON) -> str:
    """Translate the TF.js graph and write it to `out` with its sha256 beside it; returns the sha256."""
    model, _ = to_onnx(model_json)
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    sha256_path(out).write_text(f"{digest}  {out.name}\n")
    return digest


def read_onnx(path: Path = MODEL_ONNX) -> bytes:
    """The ONNX file's bytes, after checking them against its sha256 file (weights are never used unchecked)."""
    path = Path(path)
    again = ("regenerate it with `python -m predict.blazeface --write`" if IN_CHECKOUT
             else "reinstall fer-browser")
    try:
        data = path.read_bytes()
        want = sha256_path(path).read_text().split()[0]
    except (OSError, IndexError) as exc:
        what = exc.filename if isinstance(exc, OSError) and exc.filename else sha256_path(path)
        raise DetectorModelError(f"face detector weights not found or unreadable ({what}); {again}") from None
    if hashlib.sha256(data).hexdigest() != want:
        raise DetectorModelError(f"{path} does not match its sha256 ({sha256_path(path).name}); {again}")
    return data


def session(path: Path = MODEL_ONNX, threads: int = 0, model=None):
    """An ONNX Runtime session for the detector: the committed, checked ONNX file, or `model` (an
    onnx.ModelProto, e.g. a fresh to_onnx() translation) when given."""
    import onnxruntime as ort

    data = model.SerializeToString() if model is not None else read_onnx(path)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m predict.blazeface", description=(
        "Translate the page's BlazeFace TF.js graph to the ONNX file predict loads, and record its sha256."))
    p.add_argument("--write", action="store_true", help=f"write {MODEL_ONNX.name} and {MODEL_ONNX.name}.sha256")
    p.add_argument("--json", type=Path, default=MODEL_JSON, help="the TF.js graph (default: %(default)s)")
    p.add_argument("--out", type=Path, default=MODEL_ONNX, help="the ONNX file (default: %(default)s)")
    args = p.parse_args(argv)
    if not args.write:
        p.error("nothing to do: pass --write")
    try:
        digest = write_onnx(args.out, args.json)
    except DetectorModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
