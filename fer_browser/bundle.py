"""The page's own modules as one file (web/dist/, made by `npm run build`: npm/bundle.mjs), served
in place of the ~45 modules index.html lists, but only while it is current.

On a 2-core machine the page took its first click a few hundred ms late because ~50 small module
requests queued behind each other (issue 24; bench/bench_bytes.py). index.html still names every
module between two markers, so the page works from the sources alone; when web/dist/bundle.json
says the bundle was built from exactly the sources on disk now (sha256 of each) and its files match
their sha256 too, the server replaces that block with the bundle's one script tag and serves the
bundle's checked bytes from memory. Anything else (no build, a source edited since, a file changed)
serves the modules one by one, and the server says why at start-up.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

FORMAT = "fer-bundle/1"
BEGIN = "<!-- page modules:"
END = "<!-- /page modules -->"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # a file directly in dist/, never a path


@dataclass(frozen=True)
class Bundle:
    entry: str  # file name in dist/ of the module the page loads
    files: dict[str, bytes]  # dist/ file name -> its checked bytes
    sources: int  # how many sources went in


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_bundle(web_dir: Path) -> tuple[Bundle | None, str]:
    """(the bundle, "") when web_dir/dist holds one built from the sources on disk now, else
    (None, why not) in a few words."""
    dist = Path(web_dir) / "dist"
    try:
        manifest = json.loads((dist / "bundle.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "not built"
    except (OSError, ValueError) as err:
        return None, f"bundle.json unreadable ({err})"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None, f"bundle.json is not {FORMAT}"
    inputs, outputs, entry = manifest.get("inputs"), manifest.get("files"), manifest.get("entry")
    if not (isinstance(inputs, dict) and inputs and isinstance(outputs, dict) and entry in outputs):
        return None, "bundle.json lacks its inputs, files or entry"
    web = Path(web_dir).resolve()
    for rel, digest in sorted(inputs.items()):
        src = (web / rel).resolve()
        if web not in src.parents:
            return None, f"bundle.json names a source outside the page's folder: {rel}"
        try:
            if _sha256(src.read_bytes()) != digest:
                return None, f"{rel} changed since it was built"
        except OSError:
            return None, f"{rel} is gone since it was built"
    files = {}
    for name, digest in sorted(outputs.items()):
        if not _NAME.match(name):
            return None, f"bundle.json names an odd file: {name!r}"
        try:
            data = (dist / name).read_bytes()
        except OSError:
            return None, f"dist/{name} is missing"
        if _sha256(data) != digest:
            return None, f"dist/{name} does not match its sha256 in bundle.json"
        files[name] = data
    return Bundle(entry=entry, files=files, sources=len(inputs)), ""


def page_html(html: str, bundle: Bundle) -> str:
    """index.html with its block of page modules replaced by the bundle's one script tag."""
    start, end = html.find(BEGIN), html.find(END)
    if start < 0 or end < start:
        raise ValueError(f"index.html lacks the {BEGIN!r} ... {END!r} block")
    line_start = html.rfind("\n", 0, start) + 1
    indent = html[line_start:start]
    tag = f'<script type="module" src="dist/{bundle.entry}"></script>'
    return html[:line_start] + indent + tag + html[end + len(END):]
