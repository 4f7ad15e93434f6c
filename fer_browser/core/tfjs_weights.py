"""Read a TF.js graph model's weights as NumPy arrays: its model.json and raw shard bytes only.

Used for the npm package's pretrained nets: FaceRes (training/models/faceres.py) and BlazeFace
(predict/blazeface.py).

Nothing in the files is executed: the JSON is parsed and each weight is a slice of the
concatenated shards, reinterpreted as little-endian numbers and dequantized as the manifest says
(TF.js `quantization`: float16, or uint8/uint16 with scale and min).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_STORED = {"float32": "<f4", "int32": "<i4", "bool": "|b1"}
_QUANTIZED = {"float16": "<f2", "uint8": "|u1", "uint16": "<u2"}


def read_graph_model(model_json: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(model.json as a dict, weight name -> array); ValueError names the file on any mismatch."""
    model_json = Path(model_json)
    model = json.loads(model_json.read_text())
    if model.get("format") != "graph-model" or "weightsManifest" not in model:
        raise ValueError(f"{model_json.name}: not a TF.js graph model (no format 'graph-model' / weightsManifest)")
    weights: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        # shard names come from the file: only plain names beside model.json are read
        names = [Path(p).name for p in group["paths"]]
        data = b"".join((model_json.parent / n).read_bytes() for n in names)
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            stored = _QUANTIZED.get(quant["dtype"]) if quant else _STORED.get(spec["dtype"])
            if stored is None:
                raise ValueError(f"{model_json.name}: weight {spec['name']!r} has an unsupported dtype "
                                 f"{(quant or spec)['dtype']!r}")
            size = count * np.dtype(stored).itemsize
            if offset + size > len(data):
                raise ValueError(f"{model_json.name}: shards {names} end before weight {spec['name']!r}")
            raw = np.frombuffer(data, stored, count, offset)
            offset += size
            if quant and quant["dtype"] != "float16":
                raw = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            weights[spec["name"]] = raw.astype(np.dtype(_STORED[spec["dtype"]]).newbyteorder("=")).reshape(shape)
        if offset != len(data):
            raise ValueError(f"{model_json.name}: shards {names} hold {len(data) - offset} bytes past the last weight")
    return model, weights
