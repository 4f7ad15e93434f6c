"""fer_browser: facial-expression recognition trained in PyTorch and run offline in the browser.

Installed (`pip install .`), the project's folders live here as sub-packages
(`fer_browser.training`, `fer_browser.convert`, `fer_browser.predict`), so nothing with a generic
name such as `training` lands at the top of site-packages. In a checkout the same folders stay at
the top of the repo, where people know them; the line below lets `fer_browser.training` resolve to
`<repo>/training` there, so one import spelling works in both places.
"""
from __future__ import annotations

from pathlib import Path as _Path

_repo = _Path(__file__).resolve().parent.parent
if (_repo / "pyproject.toml").is_file() and (_repo / "training" / "__init__.py").is_file():
    __path__.append(str(_repo))  # noqa: F821  (a package's own __path__)
