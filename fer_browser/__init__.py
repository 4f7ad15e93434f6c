"""fer_browser: facial-expression recognition trained in PyTorch and run offline in the browser.

    from fer_browser import Recognizer
    faces = Recognizer()("photo.jpg")      # [RecognizedFace(box, label, confidence, probabilities, detector_score)]

Installed (`pip install .`), the project's folders live here as sub-packages
(`fer_browser.training`, `fer_browser.convert`, `fer_browser.predict`), so nothing with a generic
name such as `training` lands at the top of site-packages. In a checkout the same folders stay at
the top of the repo, where people know them; the line below lets `fer_browser.training` resolve to
`<repo>/training` there, so one import spelling works in both places.

Importing this package is cheap (standard library only): `Recognizer` is loaded on first use, so
`fer_browser.core.manifest` and the server never pull in NumPy or ONNX Runtime.
"""
from __future__ import annotations

from .paths import IN_CHECKOUT as _IN_CHECKOUT, ROOT as _ROOT

if _IN_CHECKOUT:
    __path__.append(str(_ROOT))  # noqa: F821  (a package's own __path__)

__version__ = "0.1.0"
__all__ = ["Recognizer", "RecognizedFace", "FaceBox", "PredictError", "MissingExtraError"]


def __getattr__(name: str):
    if name in __all__:
        from . import recognizer
        return getattr(recognizer, name)
    raise AttributeError(f"module 'fer_browser' has no attribute {name!r}")
