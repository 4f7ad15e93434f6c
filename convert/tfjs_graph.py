"""Step 3b: remove onnx-tf's layout round trips from the TF.js graph (model.json + shards).

onnx-tf keeps PyTorch's NCHW layout and wraps every NHWC-only op (Conv2D, MaxPool) in a pair of
Transposes, with each conv's zero padding as a separate Pad in NCHW. In the browser those
Transposes and Pads cost as much as a whole conv layer. Four local rewrites, repeated until none
applies, reduce conv -> relu -> conv chains to NHWC end to end:

- fold_pad:      Pad(symmetric zeros, k//2) -> Transpose(to NHWC) -> Conv(VALID, stride 1)
                 becomes Transpose -> Conv(SAME).
- sink_unary:    Transpose -> Relu becomes Relu -> Transpose (elementwise ops commute with layout).
- cancel:        Transpose(p) -> Transpose(q) with q undoing p disappears.
- fuse_relu:     _FusedConv2D(BiasAdd) -> Relu becomes _FusedConv2D(BiasAdd, Relu).

Each rewrite applies only where the intermediate tensor has a single consumer, so no other path
sees a different layout. The result is checked like every conversion: the parity gate runs the
rewritten graph in Chromium against PyTorch.
"""
from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import numpy as np

from .errors import ConvertError

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
UNARY = {"Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Neg", "Abs"}
# bytes per element as stored in the shards (quantized weights are stored as their quantized dtype)
ITEM_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "float16": 2, "uint16": 2}
SHARD = "group1-shard1of1.bin"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _text(attr: dict | None) -> str | None:
    return base64.b64decode(attr["s"]).decode() if attr and "s" in attr else None


def _ints(attr: dict | None, default: list[int]) -> list[int]:
    return [int(v) for v in attr["list"].get("i", [])] if attr and "list" in attr else default


def _source(name: str) -> str:
    return name.split(":")[0].lstrip("^")


class Graph:
    """model.json's nodes with their weights; weights keep their stored bytes untouched."""

    def __init__(self, tfjs_dir: Path):
        self.dir = Path(tfjs_dir)
        self.model = json.loads((self.dir / "model.json").read_text())
        self.nodes: dict[str, dict] = {n["name"]: n for n in self.model["modelTopology"]["node"]}
        self.specs, self.data = {}, {}
        for group in self.model["weightsManifest"]:
            blob = b"".join((self.dir / p).read_bytes() for p in group["paths"])
            offset = 0
            for spec in group["weights"]:
                dtype = spec.get("quantization", {}).get("dtype", spec["dtype"])
                if dtype not in ITEM_BYTES:
                    raise ConvertError(f"TF.js weight {spec['name']} has dtype {dtype}; graph rewrite cannot size it")
                size = int(np.prod(spec["shape"], dtype=np.int64)) * ITEM_BYTES[dtype]
                self.specs[spec["name"]], self.data[spec["name"]] = spec, blob[offset:offset + size]
                offset += size
            if offset != len(blob):
                raise ConvertError(f"TF.js shards in {self.dir} hold {len(blob)} bytes, manifest says {offset}")
        self.outputs = [_source(o["name"]) for o in self.model["signature"]["outputs"].values()]

    def const(self, name: str) -> np.ndarray | None:
        """Value of an int32 Const node (perms, paddings), else None."""
        spec = self.specs.get(_source(name))
        if spec is None or spec["dtype"] != "int32" or "quantization" in spec:
            return None
        return np.frombuffer(self.data[_source(name)], "<i4").reshape(spec["shape"])

    def consumers(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for inp in node.get("input", []):
                out.setdefault(_source(inp), []).append(node)
        return out

    def only_consumer(self, name: str, users: dict) -> dict | None:
        """The single node reading `name` (None if several, or if it is a graph output)."""
        u = users.get(name, [])
        return u[0] if len(u) == 1 and name not in self.outputs else None

    def redirect(self, old: str, new: str, users: dict) -> None:
        for node in users.get(old, []):
            node["input"] = [new if _source(i) == old and ":" not in i and not i.startswith("^") else i
                             for i in node["input"]]

    def perm(self, node: dict) -> list[int] | None:
        if node["op"] != "Transpose" or len(node.get("input", [])) != 2:
            return None
        p = self.const(node["input"][1])
        return None if p is None else p.tolist()

    def prune(self) -> None:
        """Drop nodes the outputs no longer need, and their weights."""
        keep, stack = set(), list(self.outputs)
        while stack:
            name = stack.pop()
            if name in keep or name not in self.nodes:
                continue
            keep.add(name)
            stack += [_source(i) for i in self.nodes[name].get("input", [])]
        self.nodes = {k: v for k, v in self.nodes.items() if k in keep}
        for name in [w for w in self.specs if w not in self.nodes]:
            del self.specs[name], self.data[name]

    def save(self) -> None:
        """Rewrite model.json and one weight shard in place (the caller works in a staging dir)."""
        for group in self.model["weightsManifest"]:
            for p in group["paths"]:
                (self.dir / p).unlink()
        order = [spec["name"] for group in self.model["weightsManifest"] for spec in group["weights"]
                 if spec["name"] in self.specs]
        (self.dir / SHARD).write_bytes(b"".join(self.data[n] for n in order))
        self.model["weightsManifest"] = [{"paths": [SHARD], "weights": [self.specs[n] for n in order]}]
        self.model["modelTopology"]["node"] = list(self.nodes.values())
        (self.dir / "model.json").write_text(json.dumps(self.model))


def _fold_pad(g: Graph, users: dict) -> bool:
    for pad in list(g.nodes.values()):
        if pad["op"] != "Pad" or len(pad.get("input", [])) != 2:
            continue
        t = g.only_consumer(pad["name"], users)
        conv = t and g.perm(t) == TO_NHWC and g.only_consumer(t["name"], users)
        if not conv or conv["op"] not in ("Conv2D", "_FusedConv2D"):
            continue
        attr = conv.get("attr", {})
        kernel = g.specs.get(_source(conv["input"][1]), {}).get("shape")
        pads = g.const(pad["input"][1])
        if (kernel is None or pads is None or pads.shape != (4, 2) or _text(attr.get("padding")) != "VALID"
                or _text(attr.get("data_format")) not in (None, "NHWC")
                or _ints(attr.get("strides"), [1] * 4) != [1] * 4 or _ints(attr.get("dilations"), [1] * 4) != [1] * 4):
            continue
        kh, kw = kernel[:2]
        if pads.tolist() != [[0, 0], [0, 0], [kh // 2] * 2, [kw // 2] * 2] or kh % 2 == 0 or kw % 2 == 0:
            continue
        t["input"][0] = pad["input"][0]
        attr["padding"] = {"s": _b64("SAME")}
        del g.nodes[pad["name"]]
        return True
    return False


def _sink_unary(g: Graph, users: dict) -> bool:
    for t in list(g.nodes.values()):
        u = g.perm(t) is not None and g.only_consumer(t["name"], users)
        if not u or u["op"] not in UNARY or len(u.get("input", [])) != 1:
            continue
        g.redirect(u["name"], t["name"], users)  # U's readers now read the moved Transpose
        u["input"][0], t["input"][0] = t["input"][0], u["name"]
        return True
    return False


def _cancel(g: Graph, users: dict) -> bool:
    for t1 in list(g.nodes.values()):
        p1 = g.perm(t1)
        t2 = p1 is not None and g.only_consumer(t1["name"], users)
        p2 = t2 and g.perm(t2)
        if p2 and [p1[i] for i in p2] == list(range(len(p1))) and t2["name"] not in g.outputs:
            g.redirect(t2["name"], t1["input"][0], users)
            del g.nodes[t1["name"]], g.nodes[t2["name"]]
            return True
    return False


def _fuse_relu(g: Graph, users: dict) -> bool:
    for conv in list(g.nodes.values()):
        attr = conv.get("attr", {})
        if conv["op"] != "_FusedConv2D" or [_text({"s": s}) for s in attr.get("fused_ops", {}).get("list", {}).get("s", [])] != ["BiasAdd"]:
            continue
        relu = g.only_consumer(conv["name"], users)
        if not relu or relu["op"] != "Relu" or relu["name"] in g.outputs:
            continue
        attr["fused_ops"] = {"list": {"s": [_b64("BiasAdd"), _b64("Relu")]}}
        g.redirect(relu["name"], conv["name"], users)
        del g.nodes[relu["name"]]
        return True
    return False


REWRITES = {"fold_pad": _fold_pad, "sink_unary": _sink_unary, "cancel": _cancel, "fuse_relu": _fuse_relu}


def simplify_tfjs(tfjs_dir: Path) -> dict:
    """Rewrite tfjs_dir/model.json in place; returns what changed (op counts before/after)."""
    g = Graph(tfjs_dir)
    ops = lambda: Counter(n["op"] for n in g.nodes.values() if n["op"] != "Const")  # noqa: E731
    before, applied = ops(), Counter()
    for _ in range(10_000):  # each rewrite removes or moves one node: far fewer steps than this
        for name, rewrite in REWRITES.items():
            if rewrite(g, g.consumers()):
                applied[name] += 1
                break
        else:
            break
    g.prune()
    g.save()
    after = ops()
    return {"rewrites": dict(applied), "ops_before": sum(before.values()), "ops_after": sum(after.values()),
            "transposes_before": before["Transpose"], "transposes_after": after["Transpose"]}
