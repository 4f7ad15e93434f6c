"""Cut a trained `vgg` model down to fewer channels per stage: the starting point of a cheaper student.

    python -m training.prune models/fer-default/checkpoint.pt --widths 16 32 64 128 --out runs/slim/init.pt
    python -m training.train --hparams '{"widths": [16, 32, 64, 128]}' --init runs/slim/init.pt \\
        --teacher models/fer-default/checkpoint.pt --distill-alpha 0.7 --epochs 15 --lr 1e-3 --out runs/slim

Structured pruning ("network slimming", Liu et al. 2017): in every conv + BN block the output channels
with the largest |BN scale| are kept, and the next conv (or the last linear layer) keeps only the inputs
that still exist. The result is an ordinary `vgg` checkpoint with the new widths: its accuracy drops at
once, and a short fine-tune against the original as teacher (`training.train --init ... --teacher ...`)
wins most of it back at a fraction of a from-scratch run's time. The cost per face falls roughly with
the square of the width ratio. The source's digest and the widths go into the metadata
(`training.pruned_from`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fer_browser.cli import error, prog

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_derived
from .models import build_model


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.prune"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a trained `vgg` checkpoint")
    p.add_argument("--widths", type=int, nargs="+", required=True, help="channels per stage, each >= 1 and at most the source's")
    p.add_argument("--out", type=Path, required=True, help="the pruned checkpoint (written atomically)")
    return p.parse_args(argv)


def prune_state(model: torch.nn.Module, widths: list[int]) -> dict:
    """The state_dict of the narrower model: every stage's convs keep their top-|gamma| channels."""
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in model.features if isinstance(m, torch.nn.BatchNorm2d)]
    # which stage each conv belongs to: a new stage starts after every MaxPool2d
    stage, stages = 0, []
    for m in model.features:
        if isinstance(m, torch.nn.Conv2d):
            stages.append(stage)
        elif isinstance(m, torch.nn.MaxPool2d):
            stage += 1
    old_widths = [convs[stages.index(s)].out_channels for s in range(stage)]
    if len(widths) != len(old_widths) or any(not 1 <= w <= o for w, o in zip(widths, old_widths)):
        raise CheckpointError(f"--widths {widths} must give one width per stage, each from 1 to the source's {old_widths}")
    state, keep_in = {}, torch.arange(1)
    names = {id(m): n for n, m in model.features.named_children()}
    for conv, bn, s in zip(convs, bns, stages):
        keep = torch.sort(torch.topk(bn.weight.detach().abs(), widths[s]).indices).values
        c, b = f"features.{names[id(conv)]}", f"features.{names[id(bn)]}"
        state[f"{c}.weight"] = conv.weight.detach()[keep][:, keep_in].clone()
        for t in ("weight", "bias", "running_mean", "running_var"):
            state[f"{b}.{t}"] = getattr(bn, t).detach()[keep].clone()
        state[f"{b}.num_batches_tracked"] = bn.num_batches_tracked.clone()
        keep_in = keep
    state["fc.weight"] = model.fc.weight.detach()[:, keep_in].clone()
    state["fc.bias"] = model.fc.bias.detach().clone()
    return state


def prune(args) -> dict:
    payload = load_checkpoint(args.checkpoint)
    model, meta = model_from_checkpoint(payload)
    if meta["model"]["name"] != "vgg":
        raise CheckpointError(f"{args.checkpoint}: pruning knows the `vgg` model only, not {meta['model']['name']!r}")
    if any((meta["model"].get("hparams") or {}).get("ranks") or []):
        raise CheckpointError(f"{args.checkpoint}: its convs are factorized (ranks); prune the full model, then factorize")
    state = prune_state(model, list(args.widths))
    hparams = {**(meta["model"].get("hparams") or {}), "widths": list(args.widths)}
    slim = build_model("vgg", len(meta["classes"]), hparams, weights_follow=True)
    slim.load_state_dict(state)  # proves the cut weights fit the narrower graph exactly
    meta = {**meta, "model": {**meta["model"], "hparams": hparams, "parameters": sum(p.numel() for p in slim.parameters())}}
    return save_derived(args.out, state, meta, "pruned_from", {
        "weights_sha256": payload["metadata"]["weights_sha256"], "widths": list(args.widths), "criterion": "bn_gamma_abs"})


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = prune(args)
    except (CheckpointError, OSError) as exc:
        return error(exc)
    print(f"wrote {args.out}: widths {list(args.widths)}, {out['metadata']['model']['parameters']:,} parameters; fine-tune it with "
          f"`python -m training.train --hparams '{{\"widths\": {list(args.widths)}}}' --init {args.out} "
          f"--teacher {args.checkpoint} ...`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
