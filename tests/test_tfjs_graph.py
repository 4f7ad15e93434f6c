"""The TF.js graph rewrite on hand-written graphs: what it must change and what it must leave alone.

The end-to-end check (rewritten graph = PyTorch, in Chromium) is the parity gate in test_convert.py.
"""
from __future__ import annotations

import base64
import json

import numpy as np

from fer_browser.convert.tfjs_graph import Graph, simplify_tfjs

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def b64(text):
    return base64.b64encode(text.encode()).decode()


def write_graph(folder, nodes, consts, output):
    """consts: name -> np.ndarray (int32 or float32), stored in one shard in this order."""
    folder.mkdir()
    weights = [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in consts.items()]
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(v.tobytes() for v in consts.values()))
    nodes = [{"name": k, "op": "Const", "attr": {}} for k in consts] + nodes
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "signature": {"outputs": {"out": {"name": f"{output}:0"}}},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": weights}]}
    (folder / "model.json").write_text(json.dumps(model))
    return folder


def conv(name, x, kernel, padding="VALID", strides=(1, 1, 1, 1)):
    return {"name": name, "op": "_FusedConv2D", "input": [x, kernel, "bias"],
            "attr": {"padding": {"s": b64(padding)}, "data_format": {"s": b64("NHWC")},
                     "strides": {"list": {"i": [str(s) for s in strides]}},
                     "fused_ops": {"list": {"s": [b64("BiasAdd")]}}}}


def node(name, op, *inputs):
    return {"name": name, "op": op, "input": list(inputs)}


def consts(**extra):
    base = {"to_nhwc": np.array(TO_NHWC, np.int32), "to_nchw": np.array(TO_NCHW, np.int32),
            "pads": np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32),
            "k3": np.ones((3, 3, 4, 4), np.float32), "bias": np.zeros(4, np.float32)}
    return {**base, **{k: np.asarray(v) for k, v in extra.items()}}


def ops(folder):
    return [n["op"] for n in Graph(folder).nodes.values() if n["op"] != "Const"]


def test_conv_relu_conv_chain_becomes_nhwc_end_to_end(tmp_path):
    nodes = [node("x", "Placeholder"), node("p1", "Pad", "x", "pads"), node("t1", "Transpose", "p1", "to_nhwc"),
             conv("c1", "t1", "k3"), node("t2", "Transpose", "c1", "to_nchw"), node("r1", "Relu", "t2"),
             node("p2", "Pad", "r1", "pads"), node("t3", "Transpose", "p2", "to_nhwc"), conv("c2", "t3", "k3"),
             node("t4", "Transpose", "c2", "to_nchw"), node("out", "Identity", "t4")]
    folder = write_graph(tmp_path / "g", nodes, consts(), "out")
    report = simplify_tfjs(folder)
    assert ops(folder) == ["Placeholder", "Transpose", "_FusedConv2D", "_FusedConv2D", "Transpose", "Identity"]
    assert report["rewrites"] == {"fold_pad": 2, "sink_unary": 1, "cancel": 1, "fuse_relu": 1}
    g = Graph(folder)
    c1, c2 = g.nodes["c1"], g.nodes["c2"]
    assert c2["input"][0] == "c1" and base64.b64decode(c1["attr"]["padding"]["s"]) == b"SAME"
    assert [base64.b64decode(s) for s in c1["attr"]["fused_ops"]["list"]["s"]] == [b"BiasAdd", b"Relu"]
    assert "pads" not in g.specs and np.array_equal(np.frombuffer(g.data["k3"], np.float32), np.ones(144))


def test_patterns_that_would_change_results_are_left_alone(tmp_path):
    nodes = [node("x", "Placeholder"),
             # asymmetric padding is not SAME padding; a strided conv pads differently
             node("pa", "Pad", "x", "asym"), node("ta", "Transpose", "pa", "to_nhwc"), conv("ca", "ta", "k3"),
             node("pb", "Pad", "ca", "pads"), node("tb", "Transpose", "pb", "to_nhwc"),
             conv("cb", "tb", "k3", strides=(1, 2, 2, 1)),
             # this Transpose has two readers: moving the Relu above it would change what `side` sees
             node("tc", "Transpose", "cb", "to_nchw"), node("rc", "Relu", "tc"), node("side", "Neg", "tc"),
             node("sum", "AddV2", "rc", "side"), node("out", "Identity", "sum")]
    folder = write_graph(tmp_path / "g", nodes, consts(asym=np.array([[0, 0], [0, 0], [0, 1], [1, 1]], np.int32)), "out")
    report = simplify_tfjs(folder)
    assert report["rewrites"] == {}
    assert ops(folder) == ["Placeholder", "Pad", "Transpose", "_FusedConv2D", "Pad", "Transpose", "_FusedConv2D",
                           "Transpose", "Relu", "Neg", "AddV2", "Identity"]
