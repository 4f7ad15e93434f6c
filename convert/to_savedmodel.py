"""Step 2: ONNX -> TensorFlow SavedModel with onnx-tf (the product's chosen converter).

onnx-tf keeps PyTorch's NCHW input (None, 1, 48, 48); the signature is checked against the
metadata because NCHW data fed to an NHWC one-channel model would be a silent bug; so are its outputs
(the embedding's name and size when the metadata announces one).
"""
from __future__ import annotations

from pathlib import Path

import onnx

from .errors import ConvertError
from .to_onnx import INPUT_NAME, input_shape, output_names


def export_savedmodel(onnx_model: onnx.ModelProto, out_dir: Path, meta: dict) -> None:
    from onnx_tf.backend import prepare  # imports TensorFlow: only when this step runs

    prepare(onnx_model, logging_level="ERROR").export_graph(str(out_dir))
    check_signature(out_dir, meta)


def load_signature(saved_model_dir: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(saved_model_dir)).signatures["serving_default"]


def check_signature(saved_model_dir: Path, meta: dict) -> None:
    fn = load_signature(saved_model_dir)
    inputs = fn.structured_input_signature[1]
    want = list(input_shape(meta))[1:]
    if INPUT_NAME not in inputs or list(inputs[INPUT_NAME].shape)[1:] != want:
        raise ConvertError(f"SavedModel input is {inputs}, expected {INPUT_NAME!r} of shape (None, {want})")
    for name in output_names(meta):  # log_probs, and the embedding when the metadata announces one
        if name not in fn.structured_outputs:
            raise ConvertError(f"SavedModel has no output {name!r} (has {list(fn.structured_outputs)})")
    size = (meta["model"].get("embedding") or {}).get("size")
    if size is not None and list(fn.structured_outputs[output_names(meta)[1]].shape)[1:] != [size]:
        raise ConvertError(f"SavedModel output {output_names(meta)[1]!r} has shape "
                           f"{fn.structured_outputs[output_names(meta)[1]].shape}, the metadata says (None, {size})")
