"""The export manifest: one file, `manifest.json`, that lists every file of a published model folder
with its size and sha256 — `metadata.json` included — so nothing served can change unnoticed.

Versioned (`schema`; web/schemas/manifest.schema.json, checked by fer_browser/schema.py). Pure standard library: the server, `convert verify` and the Python
Recognizer all check a folder with `check_manifest` before using anything in it. A changed,
missing or extra file, or any symbolic link, fails the check.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fer_browser.cli import command
from fer_browser.paths import build_only
from fer_browser.schema import SchemaError, validate

MANIFEST_FILE = "manifest.json"
SCHEMA = "fer-export-manifest/1"


class ManifestError(ValueError):
    """A model folder does not match its manifest (the message names the first offending file)."""


def json_problem(exc: Exception) -> str:
    """What is wrong with a JSON file, in a few words."""
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """(regular files, symlinks) below folder as posix paths relative to it; links are not followed."""
    files, links = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                links.append(rel)
            elif name in filenames and p.is_file():
                files.append(rel)
    return sorted(files), sorted(links)


def build_manifest(folder: Path) -> dict:
    folder = Path(folder)
    files, links = _walk(folder)
    if links:
        raise ManifestError(f"{folder}: refusing to publish a symbolic link ({links[0]})")
    entries = {rel: {"bytes": (folder / rel).stat().st_size, "sha256": file_sha256(folder / rel)}
               for rel in files if rel != MANIFEST_FILE}
    return {"schema": SCHEMA, "files": entries}


def write_manifest(folder: Path) -> dict:
    doc = build_manifest(folder)
    (Path(folder) / MANIFEST_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST_FILE
    if path.is_symlink() or not path.is_file():
        raise ManifestError(f"{folder}: no {MANIFEST_FILE}; re-export the model with `{command('convert')}`")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ManifestError(f"{path}: unreadable ({json_problem(exc)})") from None
    try:  # web/schemas/manifest.schema.json: the version, and a size and a sha256 for every file
        return validate(doc, "manifest", str(path))
    except SchemaError as exc:
        raise ManifestError(str(exc)) from None


def manifest_report(folder: Path, runtime: bool = False) -> dict:
    """Compare a folder with its manifest: changed, missing, extra files and symlinks. runtime: for
    a reader that uses the model, not convert's checks: build-only files (fer_browser.paths
    EXPORT_BUILD_ONLY, which the wheel does not ship) may be missing."""
    folder = Path(folder)
    expected = read_manifest(folder)["files"]
    files, links = _walk(folder)
    present = set(files) - {MANIFEST_FILE}
    changed = []
    for rel in sorted(present & set(expected)):
        want = expected[rel]
        p = folder / rel
        if p.stat().st_size != want.get("bytes") or file_sha256(p) != want.get("sha256"):
            changed.append(rel)
    missing = sorted(rel for rel in set(expected) - present - set(links) if not (runtime and build_only(rel)))
    extra = sorted(present - set(expected))
    report = {"checked": len(expected), "changed": changed, "missing": missing, "extra": extra,
              "symlinks": links}
    report["passed"] = bool(expected) and not (changed or missing or extra or links)
    return report


def check_manifest(folder: Path, runtime: bool = False) -> dict:
    """Raise ManifestError (one line, naming the file) unless the folder matches its manifest exactly
    (runtime: build-only files may be missing, see manifest_report)."""
    report = manifest_report(folder, runtime)
    for key, what in (("symlinks", "is a symbolic link"), ("changed", "does not match its sha256"),
                      ("missing", "is missing"), ("extra", "is not in the manifest")):
        if report[key]:
            more = f" (and {len(report[key]) - 1} more)" if len(report[key]) > 1 else ""
            raise ManifestError(f"{folder}: {report[key][0]} {what}{more}; the model folder was altered "
                                f"after export — re-export it with `{command('convert')}`")
    if not report["passed"]:
        raise ManifestError(f"{folder}: {MANIFEST_FILE} lists no files")
    return read_manifest(folder)
