"""Checkpoints: weights + metadata (+ optimizer/scheduler/RNG state for --resume), written atomically.

Trust: loading never runs code from the file. Before torch.load (weights_only=True: tensors and
plain values only; a pickle that needs any other global is refused) every zip member's CRC is
checked, and after it the weights' digest must equal the one recorded at save time. Format
"fer-checkpoint/2": metadata.weights_sha256 (see weights_digest) and metadata.probe (the model's
log-probabilities on the redistributable probe faces, training/probes.py) are added by save_checkpoint,
so every writer gets them. A re-save of the same weights (release, calibrate --write, upgrade) keeps
the recorded fingerprint after checking it on this machine, within the probes' tolerance: the faces
and the kernels of another CPU differ in the last bits, so the machine that saved it is never
replaced silently by this one. Older checkpoints are refused with the command that upgrades them:

    python -m training.checkpoint upgrade OLD.pt NEW.pt     # re-save (weights_only) with digest + probe
    python -m training.checkpoint check CHECKPOINT.pt       # verify one, print its digest
    python -m training.checkpoint release runs/x/last.pt models/NAME/checkpoint.pt   # weights + metadata only
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from fer_browser.cli import error

from fer_browser.core.atomic import atomic_open
from fer_browser.core.metadata import public_metadata, validate_metadata
from .models import build_model
from fer_browser.core.normalize import normalize
from .probes import FINGERPRINT_VERSION, PROBE_COUNT, PROBE_SEED, compare_fingerprint, fingerprint_record, probe_pixels

FORMAT = "fer-checkpoint/2"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, altered or lacks the metadata downstream steps need."""


def weights_digest(state_dict: dict) -> str:
    """sha256 over every tensor in name order: name, dtype, shape, raw bytes. Independent of the
    file's zip layout and of the device, so it names the weights themselves."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def probe_log_probs(state_dict: dict, meta: dict, count: int = PROBE_COUNT, seed: int = PROBE_SEED) -> np.ndarray:
    """The model's log-probabilities on the probe faces, computed here."""
    # fork the RNG: building the model draws initial weights, and a save in the middle of training
    # must not move the RNG that --resume restores (else a resumed run diverges)
    with torch.random.fork_rng(devices=[]):
        model = build_model(meta["model"]["name"], len(meta["classes"]), meta["model"].get("hparams"),
                            weights_follow=True)
    model.load_state_dict(state_dict)
    pixels, _ = probe_pixels(count, meta, seed)
    with torch.inference_mode():
        return model.eval()(torch.from_numpy(normalize(pixels, meta["preprocessing"]))).double().numpy()


def probe_fingerprint(state_dict: dict, meta: dict) -> dict:
    """The model's log-probabilities on the probe faces: what a converted model must reproduce."""
    return fingerprint_record(probe_log_probs(state_dict, meta))


_last_probe: tuple[str, str, np.ndarray] | None = None  # best.pt and last.pt of one epoch share the weights


def _fingerprint_for(path: Path, state: dict, meta: dict, digest: str) -> dict:
    """A fresh fingerprint for new weights; the recorded one, checked here, for a re-save of the same."""
    global _last_probe
    key = json.dumps([meta["model"], meta["classes"], meta["input"], meta["preprocessing"], meta["crop"]],
                     sort_keys=True)
    if _last_probe is None or _last_probe[:2] != (digest, key):
        try:
            _last_probe = (digest, key, probe_log_probs(state, meta))
        except (ValueError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{path}: the weights do not fit the model its metadata names ({exc})") from None
    recorded = meta.get("probe")
    if not (isinstance(recorded, dict) and meta.get("weights_sha256") == digest):
        return fingerprint_record(_last_probe[2])
    if recorded.get("count") != PROBE_COUNT or recorded.get("seed") != PROBE_SEED:
        raise CheckpointError(f"{path}: the recorded probe fingerprint is not of this version's probe set")
    check = compare_fingerprint(_last_probe[2], recorded)
    if not check["passed"]:
        raise CheckpointError(f"{path}: these weights do not reproduce the checkpoint's recorded fingerprint "
                              f"({check.get('error') or 'median |dlog p| %.3g' % check['median_max_abs_dlogp']}); "
                              "refusing to record a new one over it")
    # the same weights: keep the record (format 1 is rewritten in the current format, once checked)
    return copy.deepcopy(recorded) if recorded.get("version") == FINGERPRINT_VERSION else fingerprint_record(_last_probe[2])


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write payload (state_dict, metadata, any plain training state) with format, digest and probe."""
    if "state_dict" not in payload or "metadata" not in payload:
        raise CheckpointError(f"{path}: a checkpoint needs a state_dict and metadata")
    state = {k: v.detach().cpu().contiguous() for k, v in payload["state_dict"].items()}
    meta = public_metadata(payload["metadata"])
    digest = weights_digest(state)
    meta.update(probe=_fingerprint_for(path, state, meta, digest), weights_sha256=digest)
    with atomic_open(path) as fh:
        torch.save({**payload, "format": FORMAT, "state_dict": state, "metadata": meta}, fh)


def store_metadata(path: Path, key: str, record: dict, payload: dict | None = None) -> None:
    """Set metadata[key] = record in the checkpoint at `path` (its payload, if already loaded), validated,
    saved atomically with the same weights (so the same digest and kept fingerprint), and read back."""
    payload = payload if payload is not None else load_checkpoint(path)
    payload["metadata"] = validate_metadata({**payload["metadata"], key: record}, str(path))
    save_checkpoint(path, payload)
    load_checkpoint(path)


def check_archive(path: Path) -> None:
    """torch.load does not check CRCs: a flipped byte in a tensor would load as a wrong weight."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (not a valid zip archive: {exc})") from None
    except OSError as exc:  # permissions, a folder, an I/O error: say so, not "damaged"
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except Exception as exc:  # zlib/struct errors from a damaged member header
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged checkpoint: {bad} fails its CRC check (the file changed after it was written)")


def _read(path: Path) -> dict:
    """check_archive + torch.load(weights_only=True) + structure; no digest check (upgrade needs this)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if "Unsupported" in ln or "global" in ln.lower()),
                      str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise CheckpointError(f"{path}: refused: loading it would run code stored in the file ({detail}); "
                              "a checkpoint may hold only tensors and plain values") from None
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint made by training.train (no state_dict)")
    if not isinstance(payload["state_dict"], dict) or not all(
            isinstance(v, torch.Tensor) for v in payload["state_dict"].values()):
        raise CheckpointError(f"{path}: state_dict is not a mapping of tensors")
    if "metadata" not in payload:
        raise CheckpointError(f"{path}: checkpoint has no metadata; re-save it with training.train")
    try:
        validate_metadata(payload["metadata"], str(path))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    return payload


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    payload = _read(path)
    fmt = payload.get("format")
    if fmt is None:
        raise CheckpointError(f"{path}: old checkpoint format without a weights digest; upgrade it once with "
                              f"`python -m training.checkpoint upgrade {path} NEW.pt`")
    if fmt != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {fmt!r} (this version reads {FORMAT})")
    recorded = payload["metadata"].get("weights_sha256")
    if recorded != weights_digest(payload["state_dict"]):
        raise CheckpointError(f"{path}: weights do not match their recorded sha256 (the file was altered after it was saved)")
    bad = [k for k, t in payload["state_dict"].items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:  # a diverged run saves NaN weights with a valid digest: they would answer "nan" for every face
        raise CheckpointError(f"{path}: weights hold NaN or infinite values ({bad[0]}"
                              f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); the training run diverged")
    return payload


def save_derived(path: Path, state: dict, meta: dict, record_key: str, record: dict) -> dict:
    """Write weights made from other checkpoints (a re-fitted layer, an average, a pruned copy).

    What was measured on the source no longer holds and is dropped (its temperature, fingerprint,
    digest and training metrics: convert would otherwise check the new weights against the old
    accuracy); how the weights were made goes into metadata.training[record_key]. Written atomically
    with a fresh digest and probe; returns the checkpoint as re-loaded (and so verified) from disk."""
    meta = copy.deepcopy(meta)
    for stale in ("calibration", "probe", "weights_sha256", "metrics"):
        meta.pop(stale, None)
    meta["training"] = {**meta.get("training", {}), record_key: record}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(Path(path), {"state_dict": state, "metadata": meta})
    return load_checkpoint(Path(path))


def model_from_checkpoint(path_or_payload) -> tuple[torch.nn.Module, dict]:
    """Build the registered model named in the metadata, load its weights, put it in eval mode."""
    payload = path_or_payload if isinstance(path_or_payload, dict) else load_checkpoint(path_or_payload)
    meta = payload["metadata"]
    try:
        model = build_model(meta["model"]["name"], len(meta["classes"]), meta["model"].get("hparams"),
                            weights_follow=True)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit model {meta['model']['name']!r}: {first}") from None
    return model.eval(), meta


def upgrade(old: Path, new: Path) -> dict:
    """Re-save an old checkpoint (read with weights_only=True, so it cannot run code) in FORMAT."""
    payload = _read(old)
    if payload.get("format") == FORMAT:
        load_checkpoint(old)  # already current: only re-save it if it also checks out
    save_checkpoint(new, payload)
    return load_checkpoint(new)


def release(src: Path, dst: Path) -> dict:
    """Copy a checked checkpoint keeping only weights and metadata: what a shipped model carries.

    last.pt also holds the optimizer, scheduler, RNG states and history for --resume (three times
    the weights' size, and nothing a user of the model needs); the weights digest is unchanged."""
    payload = load_checkpoint(src)
    save_checkpoint(dst, {"state_dict": payload["state_dict"], "metadata": payload["metadata"]})
    return load_checkpoint(dst)  # re-read: CRCs and digest of what was written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.checkpoint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="re-save an older checkpoint in the current format (digest + probe)")
    up.add_argument("old", type=Path)
    up.add_argument("new", type=Path, help="output checkpoint (may be OLD itself: written atomically)")
    ck = sub.add_parser("check", help="check a checkpoint (zip CRCs, weights_only load, weights digest)")
    ck.add_argument("checkpoint", type=Path)
    rel = sub.add_parser("release", help="copy a checkpoint keeping only weights and metadata (drops the "
                                         "optimizer, scheduler and RNG states that last.pt keeps for --resume)")
    rel.add_argument("checkpoint", type=Path)
    rel.add_argument("out", type=Path, help="output checkpoint (may be CHECKPOINT itself: written atomically)")
    args = p.parse_args(argv)
    try:
        if args.command == "upgrade":
            payload = upgrade(args.old, args.new)
            print(f"wrote {args.new} ({FORMAT}, weights sha256 {payload['metadata']['weights_sha256']})")
        elif args.command == "release":
            payload = release(args.checkpoint, args.out)
            print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes: weights and metadata only; "
                  f"weights sha256 {payload['metadata']['weights_sha256']})")
        else:
            payload = load_checkpoint(args.checkpoint)
            model_from_checkpoint(payload)
            print(f"{args.checkpoint}: OK ({FORMAT}, {len(payload['state_dict'])} tensors, "
                  f"weights sha256 {payload['metadata']['weights_sha256']})")
    except (CheckpointError, OSError) as exc:  # OSError: e.g. an output folder that cannot be written
        return error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
