"""The model folder the page loads, checked: complete, valid and unaltered since its manifest.json.

load_model_dir() reads every file the page may fetch into memory after checking that the folder has
them all, that metadata.json and parity.json follow their schemas (web/schemas), that the TF.js graph
outputs one value per class and that each file matches its sha256 in manifest.json. The server serves
only those bytes; bench tools check a folder with check_model_dir() before they start.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .cli import command
from .schema import SchemaError, validate

# Files of the model directory the page reads, besides the TF.js shards and the reference inputs
# (never the checkpoint, ONNX or SavedModel). parity.json is optional: without it the page uses
# the fp32 parity gate.
MODEL_FILES = ("metadata.json", "tfjs/model.json", "reference.json", "parity.json")


class ModelDirError(ValueError):
    """The model directory is missing, lacks a file the page needs or does not match its manifest."""


def convert_hint(model_dir: Path) -> str:
    ckpt = model_dir.parent / "checkpoint.pt" if model_dir.name == "export" else "CHECKPOINT.pt"
    return f"make it with: {command('convert')} {rel(ckpt)} --out {rel(model_dir)}"


def rel(p) -> str:
    """p relative to the working directory when it lies inside it (for messages), else as given."""
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _read_json(model_dir: Path, name: str):
    from fer_browser.core.manifest import json_problem

    try:
        return json.loads((model_dir / name).read_text())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ModelDirError(f"{rel(model_dir / name)} is unreadable ({json_problem(exc)}); "
                            f"{convert_hint(model_dir)}") from None


def load_model_dir(model_dir: Path) -> tuple[dict, dict[str, bytes]]:
    """(metadata, {path: bytes} of every file the page may fetch), after checking the folder is
    complete and matches its manifest; the bytes held are re-checked against the manifest's sha256."""
    from fer_browser.core.manifest import ManifestError, check_manifest

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelDirError(f"model directory {rel(model_dir)} does not exist; {convert_hint(model_dir)}")
    needed = ["metadata.json", "tfjs/model.json", "reference.json"]
    missing = [f for f in needed if not (model_dir / f).is_file()]
    if missing:
        raise ModelDirError(f"model directory {rel(model_dir)} is incomplete (missing {', '.join(missing)}); "
                            f"{convert_hint(model_dir)}")
    meta, graph, reference = (_read_json(model_dir, f) for f in needed)
    try:
        extra = [f"tfjs/{p}" for group in graph["weightsManifest"] for p in group["paths"]]
        extra.append(reference["inputs_file"])
    except (KeyError, TypeError) as exc:
        raise ModelDirError(f"model directory {rel(model_dir)} has a malformed tfjs/model.json or reference.json "
                            f"(no {exc}); {convert_hint(model_dir)}") from None
    missing = [f for f in extra if not isinstance(f, str) or not (model_dir / f).is_file()]
    if missing:
        raise ModelDirError(f"model directory {rel(model_dir)} is incomplete (missing {', '.join(map(str, missing))}); "
                            f"{convert_hint(model_dir)}")
    try:  # the one metadata validator (web/schemas/model-metadata.schema.json), as predict and the page use
        validate(meta, "model-metadata", f"{rel(model_dir)}/metadata.json")
    except SchemaError as exc:
        raise ModelDirError(str(exc)) from None
    emb = meta["model"].get("embedding")
    outputs = tfjs_output_size(graph, exclude=emb["output"] if emb else None)
    if outputs is not None and outputs != len(meta["classes"]):
        raise ModelDirError(f"{rel(model_dir)}: tfjs/model.json gives {outputs} outputs per face but metadata.json "
                            f"names {len(meta['classes'])} classes; {convert_hint(model_dir)}")
    if emb and emb["output"] not in ((graph.get("signature") or {}).get("outputs") or {}):
        raise ModelDirError(f"{rel(model_dir)}: metadata.json announces the output {emb['output']!r} but "
                            f"tfjs/model.json has no such output; {convert_hint(model_dir)}")
    try:
        listed = check_manifest(model_dir, runtime=True)["files"]  # an installed wheel has no saved_model/
    except ManifestError as exc:
        raise ModelDirError(str(exc)) from None
    files = {}
    for name in [*MODEL_FILES, *extra]:
        if name not in listed:  # also refuses "tfjs/../x": manifest keys are plain relative paths
            if name == "parity.json":
                continue
            raise ModelDirError(f"{rel(model_dir)}: {name} is not in manifest.json; re-export the model "
                                f"with `{command('convert')}`")
        data = (model_dir / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != listed[name].get("sha256"):  # changed since the check
            raise ModelDirError(f"{rel(model_dir)}: {name} does not match its sha256; the model folder "
                                f"is being altered")
        files[name] = data
    if "parity.json" in files:  # the page applies its TF.js thresholds
        try:
            validate(json.loads(files["parity.json"]), "parity-report", f"{rel(model_dir)}/parity.json")
        except ValueError as exc:  # SchemaError, or not JSON at all
            raise ModelDirError(str(exc) if isinstance(exc, SchemaError) else
                                f"{rel(model_dir)}/parity.json is unreadable ({exc})") from None
    return meta, files


def tfjs_output_size(graph: dict, exclude: str | None = None) -> int | None:
    """Classes the TF.js graph outputs per face, from its signature (None if it does not say): its
    "log_probs" output, else its one output other than `exclude` (the embedding), never by position."""
    try:
        outputs = graph["signature"]["outputs"]
        if "log_probs" in outputs:
            output = outputs["log_probs"]
        else:
            (output,) = [v for k, v in outputs.items() if k != exclude]
        size = int(output["tensorShape"]["dim"][-1]["size"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    return size if size > 0 else None


def check_model_dir(model_dir: Path) -> dict:
    """Return the parsed metadata.json if the directory holds everything the page loads, unaltered."""
    return load_model_dir(model_dir)[0]
