"""Step 1: PyTorch -> ONNX with the legacy (TorchScript) exporter, checked by the ONNX checker.

The dynamo exporter needs onnxscript, which cannot share a venv with TensorFlow 2.15; opset 12 is
the newest onnx-tf 1.10 converts (opset 13's Unsqueeze is not implemented). The graph must be
static: Shape/Gather/... come from `x.view(x.size(0), -1)` and turn into dynamic ops in TF.js.
model.onnx carries its own description in metadata_props (classes, input, preprocessing and crop as
JSON, the metadata schema, the licence, the calibration and the prior when the checkpoint has them), so a copy
that travels alone can still be used correctly. A model with an embedding (training.models.has_embedding)
exports two outputs, log_probs first (unchanged) and embedding (N, D); the metadata's "model.embedding"
names it ({"output": "embedding", "size": D}) and metadata_props carries it too.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import onnx
import torch

from .errors import ConvertError

OPSET = 12
INPUT_NAME, OUTPUT_NAME, EMBEDDING_NAME = "input", "log_probs", "embedding"
LICENSE = "MIT"
DYNAMIC_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Concat", "If", "Loop", "NonZero", "Range"}


def input_shape(meta: dict, batch: int = 1) -> tuple[int, int, int, int]:
    """(N, C, H, W) from the metadata; only NCHW models exist (checked, never assumed)."""
    inp = meta["input"]
    if inp.get("layout") != "NCHW":
        raise ConvertError(f"metadata input layout {inp.get('layout')!r} is not supported (expected NCHW)")
    return batch, int(inp["channels"]), int(inp["height"]), int(inp["width"])


def output_names(meta: dict) -> list[str]:
    """The graph's outputs, in order: log_probs, then the embedding when the metadata announces one."""
    embedding = meta["model"].get("embedding")
    return [OUTPUT_NAME] + ([embedding["output"]] if embedding else [])


class WithEmbedding(torch.nn.Module):
    """forward(x) -> (log-probs, embedding): the two graph outputs, from one pass through the trunk."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        e = self.model.embed(x)
        return self.model.classify(e), e


def embedding_info(model: torch.nn.Module, meta: dict) -> dict | None:
    """metadata "model.embedding" for a model with embed/classify, else None (a single-output export)."""
    from fer_browser.training.models import has_embedding

    if not has_embedding(model):
        return None
    with torch.no_grad():
        size = model.eval().embed(torch.zeros(input_shape(meta))).shape[-1]
    return {"output": EMBEDDING_NAME, "size": int(size)}


def export_onnx(model: torch.nn.Module, meta: dict, path: Path, opset: int = OPSET) -> onnx.ModelProto:
    """meta["model"]["embedding"] (embedding_info) decides whether the embedding is a second output."""
    dummy = torch.zeros(input_shape(meta))
    outputs = output_names(meta)
    graph = WithEmbedding(model) if len(outputs) == 2 else model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.eval(), dummy, str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=outputs, do_constant_folding=True,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in outputs}})
    proto = onnx.load(str(path))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConvertError(f"ONNX checker rejected the exported model: {exc}") from None
    dynamic = sorted({n.op_type for n in proto.graph.node} & DYNAMIC_SHAPE_OPS)
    if dynamic:
        raise ConvertError(f"exported ONNX graph has dynamic-shape ops {dynamic}; use torch.flatten, "
                           "not x.view(x.size(0), -1), in the model")
    onnx.helper.set_model_props(proto, model_props(meta))
    onnx.save(proto, str(path))
    return proto


def model_props(meta: dict) -> dict[str, str]:
    """ONNX metadata_props: strings only, so structured fields are JSON."""
    return {"classes": json.dumps(meta["classes"]), "input": json.dumps(meta["input"]),
            "preprocessing": json.dumps(meta["preprocessing"], sort_keys=True),
            "crop": json.dumps(meta["crop"], sort_keys=True), "output": meta["model"].get("output", "log_softmax"),
            "metadata_schema": meta["schema"], "model": meta["model"]["name"], "license": LICENSE,
            **{key: json.dumps(meta[key], sort_keys=True) for key in ("calibration", "prior") if key in meta},
            **({"embedding": json.dumps(meta["model"]["embedding"], sort_keys=True)} if meta["model"].get("embedding") else {})}
