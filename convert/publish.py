"""The whole conversion: build every artifact in a staging folder, run the gate, then publish.

The staging folder is a hidden sibling of DIR (same filesystem, so publishing is a rename); DIR is
replaced only after the model gate (convert/gates.py: the ONNX model reproduces the checkpoint's
recorded predictions and claimed accuracy) and the parity gate pass. manifest.json is written last,
in the staging folder, before the move. A failure at any point (or SIGTERM/SIGHUP) removes the
staging folder and the run's temp files and leaves DIR exactly as it was; what a SIGKILLed run left
is removed by the next run (convert/cleanup.py). Re-running is always safe.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from fer_browser.training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from fer_browser.core.manifest import check_manifest, file_sha256, write_manifest

from .artifacts import METADATA_FILE, read_metadata, write_metadata
from .backends import pytorch_outputs
from .cleanup import critical_section, private_tmp, remove_stale, removed_on_signal, staging_prefix
from .console import Steps
from .errors import ConvertError, GateFailed
from .parity import run_parity, summary
from .reference import DEFAULT_FACES, DEFAULT_SEED, MAX_FACES, build_reference, read_reference, write_reference

PARITY_FILE = "parity.json"
TOTAL_STEPS = 8


@contextmanager
def _step(steps: Steps, title: str):
    """Time the step; an unexpected failure inside a converter becomes a one-line ConvertError."""
    try:
        with steps(title):
            yield
    except (ConvertError, GateFailed, KeyboardInterrupt):
        raise
    except CheckpointError as exc:
        raise ConvertError(str(exc)) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConvertError(f"{title} failed: {type(exc).__name__}: {first}") from exc


def check_output(out: Path) -> None:
    """Refuse early (before minutes of work) if DIR cannot be written or is someone else's folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConvertError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / METADATA_FILE).is_file():
        raise ConvertError(f"{out}: folder is not empty and holds no converted model (no {METADATA_FILE}); "
                           "refusing to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.probe-{os.getpid()}-"))
    except (FileExistsError, NotADirectoryError):
        raise ConvertError(f"{out}: cannot write there (a parent path is a file, not a folder)") from None
    except OSError as exc:
        raise ConvertError(f"{out}: cannot write there ({exc.strerror or exc})") from None


def make_staging(out: Path) -> Path:
    staging = Path(tempfile.mkdtemp(dir=Path(out).parent, prefix=staging_prefix(out)))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would follow the folder into DIR
    return staging


def swap_folder(staging: Path, out: Path) -> None:
    """Swap staging into DIR with renames; on failure the old DIR is put back."""
    staging, out = Path(staging), Path(out)
    if not out.exists():
        os.replace(staging, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}-backup"
    shutil.rmtree(old, ignore_errors=True)
    with critical_section():  # SIGTERM between the two renames would leave no DIR at all
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old, out)
            raise
    shutil.rmtree(old, ignore_errors=True)


def accuracy_checked(gate: dict) -> bool:
    """metadata.json's "accuracy_checked": whether the model gate measured the claimed accuracy on labelled
    data (and it held). Without data (--synthetic, none found) only the checkpoint's own probe fingerprint
    was checked, which a re-saved checkpoint with wrong weights also reproduces."""
    return bool((gate.get("accuracy") or {}).get("passed"))


def gate_and_publish(staging: Path, out: Path, steps: Steps | None = None, model_gate: dict | None = None) -> dict:
    """Run the parity gate on a complete staging folder; strip the dataset faces from the reference;
    write parity.json, the final metadata.json and (last) manifest.json; publish into DIR only if
    every gate passed (else raise GateFailed, DIR untouched)."""
    staging = Path(staging)
    steps = steps or Steps(2)
    meta = read_metadata(staging)
    with _step(steps, "parity gate: ONNX Runtime, TF SavedModel, TF.js wasm in Chromium vs PyTorch"):
        ref = read_reference(staging)
        report = run_parity(staging, ref, meta.get("quantization"), embedding=meta["model"].get("embedding"))
        if model_gate is not None:
            report["model_gate"] = model_gate
            report["passed"] = report["passed"] and model_gate["passed"]
        public = ref.public()  # dataset faces gate the model but are never published
        if len(public.names) != len(ref.names):
            write_reference(public, staging)
        report["inputs"]["published"] = len(public.names)
        (staging / PARITY_FILE).write_text(json.dumps(report, indent=2))
        base = {k: v for k, v in meta.items() if k not in ("quantization", "versions", "source_checkpoint",
                                                           "conversion", "parity", "artifacts")}
        if model_gate is not None:
            base["accuracy_checked"] = accuracy_checked(model_gate)
        write_metadata(staging, base, meta.get("quantization"), meta.get("source_checkpoint"), report,
                       summary(report))
        write_manifest(staging)  # last: it lists every file above, metadata.json included
    if not report["passed"]:
        raise GateFailed(report, f"parity gate failed; {out} left unchanged")
    with _step(steps, f"publish into {out}"):
        check_manifest(staging)
        swap_folder(staging, out)
    return report


def convert(checkpoint: Path, out: Path, quantize: str | None = None, csv: Path | None = None,
            faces: int = DEFAULT_FACES, synthetic: bool = False, seed: int = DEFAULT_SEED,
            rewrite_graph: bool = True) -> dict:
    from .to_tfjs import QUANTIZATIONS

    if quantize not in (None, *QUANTIZATIONS):
        raise ConvertError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if faces < 1:
        raise ConvertError("--faces must be at least 1")
    if faces > MAX_FACES:
        raise ConvertError(f"--faces must be at most {MAX_FACES} (each face costs about 1 MB of memory "
                           f"in the gate; the default, {DEFAULT_FACES}, is enough)")
    if csv is not None and not Path(csv).is_file():
        raise ConvertError(f"{csv}: no such FER2013 CSV")
    checkpoint, out = Path(checkpoint), Path(out)
    check_output(out)
    remove_stale(out)  # what killed runs left beside DIR and in the temp dir
    steps = Steps(TOTAL_STEPS)
    with _step(steps, f"load checkpoint {checkpoint}"):
        payload = load_checkpoint(checkpoint)
        model, meta = model_from_checkpoint(payload)
        source = {"file": checkpoint.name, "sha256": file_sha256(checkpoint), "format": payload["format"],
                  "weights_sha256": meta["weights_sha256"]}
    with private_tmp():
        staging = make_staging(out)
        try:
            with removed_on_signal(staging):  # SIGTERM/SIGHUP: the handler removes it
                return _build_and_publish(model, meta, source, staging, out, steps, quantize, csv, faces, seed,
                                          synthetic, rewrite_graph)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _build_and_publish(model, meta, source, staging, out, steps, quantize, csv, faces, seed, synthetic,
                       rewrite_graph) -> dict:
    from .gates import failure, model_gate
    from .to_onnx import embedding_info, export_onnx, output_names
    from .to_savedmodel import export_savedmodel
    from .to_tfjs import export_tfjs

    with _step(steps, "reference inputs and PyTorch outputs"):
        embedding = embedding_info(model, meta)
        if embedding is not None:  # the graphs get a second output, named (and sized) in the metadata
            meta = {**meta, "model": {**meta["model"], "embedding": embedding}}
        ref = build_reference(meta, csv, faces, seed, synthetic)
        ref.pytorch_logprobs, ref.pytorch_embeddings = pytorch_outputs(model, ref.inputs)
        write_reference(ref, staging)
    with _step(steps, "PyTorch -> ONNX (legacy exporter, opset 12, ONNX checker)"):
        onnx_model = export_onnx(model, meta, staging / "model.onnx")
    with _step(steps, "model gate: ONNX Runtime reproduces the checkpoint's recorded predictions and accuracy"):
        gate = model_gate(staging / "model.onnx", meta, csv, use_data=not synthetic)
    if not gate["passed"]:
        raise GateFailed(None, f"{failure(gate)}; {out} left unchanged")
    with _step(steps, "ONNX -> TF SavedModel (onnx-tf)"):
        export_savedmodel(onnx_model, staging / "saved_model", meta)
    options = "".join([f", {quantize}" if quantize else "", ", layout rewrite" if rewrite_graph else ""])
    with _step(steps, f"SavedModel -> TF.js graph model (tensorflowjs{options})"):
        graph = export_tfjs(staging / "saved_model", staging / "tfjs", quantize, rewrite_graph, output_names(meta))
        # preliminary metadata: the page's model code reads it in the gate
        write_metadata(staging, {**meta, "tfjs_graph": graph, "accuracy_checked": accuracy_checked(gate)},
                       quantize, source)
    return gate_and_publish(staging, out, steps, gate)
