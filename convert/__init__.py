"""PyTorch checkpoint -> ONNX -> TF SavedModel (onnx-tf) -> TF.js, with a parity gate across backends.

`python -m convert CHECKPOINT --out DIR` builds everything in a temporary folder beside DIR and moves
it into DIR only when PyTorch, ONNX Runtime, TensorFlow and TF.js (wasm, headless Chromium) agree.
`python -m convert verify DIR` re-checks a published directory. See convert/__main__.py.
"""
