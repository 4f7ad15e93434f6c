"""Where the product's files are: the page, the shipped model and the npm files the page loads.

Standard library only, so anything may import it (the server, predict, convert) without pulling in
the others. In a checkout everything is found under the repository; an installed wheel carries the
same tree (web/, models/fer-default/export/, the listed node_modules files) inside the package, so
every path below is ROOT-relative in both cases.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_checkout = PACKAGE_DIR.parent
# A checkout: the folders the product is known by sit beside this package (fer_browser/__init__.py
# then makes fer_browser.training resolve to <repo>/training).
IN_CHECKOUT = (_checkout / "pyproject.toml").is_file() and (_checkout / "training" / "__init__.py").is_file()
ROOT = _checkout if IN_CHECKOUT else PACKAGE_DIR

WEB_DIR = ROOT / "web"
NODE_MODULES = ROOT / "node_modules"
DEFAULT_MODEL_DIR = ROOT / "models" / "fer-default" / "export"

# URL prefix under /vendor/ -> (folder, files allowed from it): only what the page and predict's
# detector load, never the whole folder. A wheel carries exactly these files (setup.py).
VENDOR = {
    "tfjs": (NODE_MODULES / "@tensorflow/tfjs/dist", {"tf.fesm.min.js"}),  # examples, convert's harness
    # the app page: core + converter, webgl only when chosen (web/js/tf.js)
    "tfjs-core": (NODE_MODULES / "@tensorflow/tfjs-core/dist", {"tf-core.fesm.min.js"}),
    "tfjs-converter": (NODE_MODULES / "@tensorflow/tfjs-converter/dist", {"tf-converter.fesm.min.js"}),
    "tfjs-backend-webgl": (NODE_MODULES / "@tensorflow/tfjs-backend-webgl/dist", {"tf-backend-webgl.fesm.min.js"}),
    "tfjs-backend-wasm": (NODE_MODULES / "@tensorflow/tfjs-backend-wasm/dist", {
        "tf-backend-wasm.fesm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
        "tfjs-backend-wasm-threaded-simd.wasm"}),
    # BlazeFace's TF.js weights live in the repository (their licences: models/blazeface/NOTICE.md),
    # so neither the page nor predict needs @vladmandic/human; still served at /vendor/blazeface/.
    "blazeface": (ROOT / "models" / "blazeface", {"blazeface.json", "blazeface.bin"}),
}
BLAZEFACE_JSON = VENDOR["blazeface"][0] / "blazeface.json"
# Human's face-description net (HSE FaceRes): pretrained weights for the `faceres` training model.
# Read at build time only, never served, so not in VENDOR.
FACERES_JSON = NODE_MODULES / "@vladmandic/human/models/faceres.json"


def missing_vendor_files() -> list[Path]:
    return [folder / name for folder, names in VENDOR.values() for name in sorted(names)
            if not (folder / name).is_file()]


def vendor_hint() -> str:
    """What to do when the npm files are missing, for the installed package and for a checkout."""
    if IN_CHECKOUT:
        return "run `npm ci` (or `make run`) in the repository"
    return ("this fer-browser was built without node_modules; build it from a checkout after `npm ci` "
            "(pip install .)")


# predict's face detector: BLAZEFACE_JSON translated once to ONNX and committed with its sha256
# (`python -m predict.blazeface --write`), so predict needs neither onnx nor node_modules.
BLAZEFACE_ONNX = ROOT / "models" / "blazeface" / "blazeface.onnx"

# Files of an export that only fer-convert's own checks read (TensorFlow parity on the SavedModel,
# the embeddings' reference): the wheel leaves them out, and run-time manifest checks allow them to
# be absent (a present one is still checked). reference.json and reference_inputs.bin stay: the
# page's parity check fetches them.
EXPORT_BUILD_ONLY = ("saved_model/", "reference_embeddings.bin")


def build_only(rel: str) -> bool:
    """Whether an export-relative posix path is in EXPORT_BUILD_ONLY (a trailing / names a folder)."""
    return any(rel.startswith(p) if p.endswith("/") else rel == p for p in EXPORT_BUILD_ONLY)
