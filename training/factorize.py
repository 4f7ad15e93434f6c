"""Make chosen convs of a trained `vgg` model low-rank: the starting point of a cheaper student.

    python -m training.factorize models/fer-default/checkpoint.pt --ranks 0 24 32 48 64 96 128 --out runs/lr/init.pt
    python -m training.train --hparams '{"ranks": [0, 24, 32, 48, 64, 96, 128]}' --init runs/lr/init.pt \\
        --teacher models/fer-default/checkpoint.pt --distill-alpha 0.7 --epochs 25 --lr 3e-4 --out runs/lr

Each conv with a rank r > 0 becomes a 3x1 conv to r channels followed by a 1x3 conv back to the
conv's outputs ("spatially separable" low rank, Jaderberg et al. 2014): 3r(cin + cout) multiply-adds per
pixel instead of 9 cin cout. Its weights start as the best rank-r approximation of the trained conv:
the truncated SVD of the kernel arranged as a (cin x 3 rows) by (cout x 3 columns) matrix. Unlike
pruning, every stage keeps its width, so the features the later layers read keep their number. The
accuracy drops at once and a short fine-tune against the original as teacher wins it back. The
source's digest, the ranks and the share of each kernel's energy kept go into the metadata
(`training.factorized_from`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fer_browser.cli import error, prog

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_derived
from .models import build_model


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.factorize"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a trained `vgg` checkpoint with full convs")
    p.add_argument("--ranks", type=int, nargs="+", required=True,
                   help="one per conv, in order: 0 keeps the conv, r >= 1 makes it rank r (at most 3 x its inputs "
                        "and 3 x its outputs)")
    p.add_argument("--out", type=Path, required=True, help="the factorized checkpoint (written atomically)")
    return p.parse_args(argv)


def separable(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """A (cout, cin, 3, 3) kernel as a (rank, cin, 3, 1) and a (cout, rank, 1, 3) kernel whose
    composition is its best rank-`rank` approximation; also the share of its energy kept."""
    cout, cin = weight.shape[:2]
    # rows: (input channel, kernel row); columns: (output channel, kernel column)
    u, s, vt = torch.linalg.svd(weight.double().permute(1, 2, 0, 3).reshape(cin * 3, cout * 3), full_matrices=False)
    root = s[:rank].sqrt()
    vertical = (u[:, :rank] * root).T.reshape(rank, cin, 3, 1)
    horizontal = (root[:, None] * vt[:rank]).reshape(rank, cout, 1, 3).permute(1, 0, 2, 3)
    kept = float((s[:rank] ** 2).sum() / (s ** 2).sum())
    return vertical.float().contiguous(), horizontal.float().contiguous(), kept


def factorize_state(model: torch.nn.Module, ranks: list[int]) -> tuple[dict, list]:
    """The state_dict of the same model with the ranked convs split; the energy kept per ranked conv."""
    named = [(n, m) for n, m in model.features.named_children() if isinstance(m, (torch.nn.Conv2d, torch.nn.Sequential))]
    if any(isinstance(m, torch.nn.Sequential) for _, m in named):
        raise CheckpointError("the checkpoint is factorized already; start from one with full convs")
    if len(ranks) != len(named):
        raise CheckpointError(f"--ranks gives {len(ranks)} ranks; the model has {len(named)} convs")
    state, kept = dict(model.state_dict()), []
    for (name, conv), rank in zip(named, ranks):
        if rank == 0:
            continue
        limit = 3 * min(conv.in_channels, conv.out_channels)
        if not 1 <= rank <= limit:
            raise CheckpointError(f"--ranks: conv features.{name} ({conv.in_channels} -> {conv.out_channels}) takes "
                                  f"a rank from 1 to {limit}, not {rank}")
        key = f"features.{name}"
        state[f"{key}.0.weight"], state[f"{key}.1.weight"], share = separable(state.pop(f"{key}.weight"), rank)
        kept.append({"conv": key, "rank": rank, "energy_kept": round(share, 4)})
    return state, kept


def factorize(args) -> dict:
    payload = load_checkpoint(args.checkpoint)
    model, meta = model_from_checkpoint(payload)
    if meta["model"]["name"] != "vgg":
        raise CheckpointError(f"{args.checkpoint}: factorizing knows the `vgg` model only, not {meta['model']['name']!r}")
    if not any(args.ranks):
        raise CheckpointError("--ranks are all 0: nothing to factorize")
    state, kept = factorize_state(model, list(args.ranks))
    hparams = {**(meta["model"].get("hparams") or {}), "ranks": list(args.ranks)}
    low = build_model("vgg", len(meta["classes"]), hparams, weights_follow=True)
    low.load_state_dict(state)  # proves the split weights fit the factorized graph exactly
    meta = {**meta, "model": {**meta["model"], "hparams": hparams, "parameters": sum(p.numel() for p in low.parameters())}}
    return save_derived(args.out, state, meta, "factorized_from", {
        "weights_sha256": payload["metadata"]["weights_sha256"], "ranks": list(args.ranks), "convs": kept})


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = factorize(args)
    except (CheckpointError, OSError) as exc:
        return error(exc)
    hp = out["metadata"]["model"]["hparams"]
    kept = ", ".join(f"{c['conv']} r={c['rank']}: {c['energy_kept']:.0%}" for c in out["metadata"]["training"]["factorized_from"]["convs"])
    print(f"wrote {args.out}: {out['metadata']['model']['parameters']:,} parameters; energy kept {kept}; fine-tune it "
          f"with `python -m training.train --hparams '{{\"ranks\": {hp['ranks']}}}' --init {args.out} "
          f"--teacher {args.checkpoint} ...`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
