"""Average the weights of fine-tunes that share one starting point (a "model soup"), then re-estimate BN.

    python -m training.soup runs/a/last.pt runs/b/last.pt --out runs/ab-soup/best.pt
    python -m training.soup A.pt B.pt C.pt --weights 0.5 0.25 0.25 --out SOUP.pt

Fine-tunes of one checkpoint stay in one basin of the loss, so the mean of their weights is a model of
the same graph (same bytes, same speed per face) that often scores like their ensemble (Wortsman et al.
2022, "Model soups"). The sources must share model, hyper-parameters, classes and preprocessing. Every
tensor is averaged with --weights (default: equal); then BatchNorm's running mean and variance, which
do not average into the statistics of the averaged weights, are re-estimated over the Training faces
and their mirror images (eval-mode forward passes with cumulative BN statistics, no augmentation).
The result is written atomically with a fresh fingerprint; the sources' digests and weights go into its
metadata (`training.soup`). Score it with `bench/prior_frontier.py` (PublicTest only).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from fer_browser.cli import prog

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_derived
from .datasets import load_dataset
from .retrain_head import face_batches, write_derived

_SAME = ("model", "classes", "preprocessing", "label_set")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.soup"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", help="two or more checkpoints of one model and label set")
    p.add_argument("--out", type=Path, required=True, help="the averaged checkpoint (written atomically)")
    p.add_argument("--weights", type=float, nargs="+", help="one weight per checkpoint (default: equal); "
                   "they are normalised to sum to 1")
    p.add_argument("--csv", type=Path, help="FER2013 CSV for the BN statistics (default: found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--no-bn-refresh", action="store_true", help="keep the averaged BN statistics as they are")
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args(argv)
    if len(args.checkpoints) < 2:
        p.error("give at least two checkpoints to average")
    if args.weights is not None:
        if len(args.weights) != len(args.checkpoints):
            p.error(f"--weights has {len(args.weights)} values for {len(args.checkpoints)} checkpoints")
        if min(args.weights) < 0 or not np.isfinite(args.weights).all() or sum(args.weights) <= 0:
            p.error("--weights must be finite, >= 0 and not all 0")
    return args


def average_states(states: list[dict], weights: list[float]) -> dict:
    """The weighted mean of every floating-point tensor; integer buffers (BN's batch count) from the first."""
    keys = set(states[0])
    for i, s in enumerate(states[1:], 2):
        if set(s) != keys or any(s[k].shape != states[0][k].shape for k in keys):
            raise CheckpointError(f"checkpoint {i} has other tensors or shapes than checkpoint 1: not one graph")
    total = float(sum(weights))
    return {k: (sum(w / total * s[k].double() for w, s in zip(weights, states)).to(states[0][k].dtype)
                if states[0][k].is_floating_point() else states[0][k].clone()) for k in states[0]}


def refresh_batchnorm(model: torch.nn.Module, images, preprocessing: dict, batch_size: int) -> None:
    """Replace every BN layer's running statistics by their value over `images` and their mirrors."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every batch
    model.train()
    # only BN should see train mode: dropout off, so the statistics match what eval mode feeds BN
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        for x in face_batches(images, preprocessing, batch_size, "BN statistics"):
            model(x)
            model(torch.flip(x, dims=[-1]))
    model.eval()


def soup(args) -> dict:
    payloads = [load_checkpoint(p) for p in args.checkpoints]
    metas = [p["metadata"] for p in payloads]
    for path, meta in zip(args.checkpoints[1:], metas[1:]):
        for key in _SAME:
            if meta.get(key) != metas[0].get(key):
                raise CheckpointError(f"{path}: its {key} differs from {args.checkpoints[0]}'s; only checkpoints of "
                                      "one model and label set can be averaged")
    weights = list(args.weights or [1.0] * len(payloads))
    state = average_states([p["state_dict"] for p in payloads], weights)
    model, meta = model_from_checkpoint(payloads[0])
    model.load_state_dict(state)
    if not args.no_bn_refresh:
        split = load_dataset(args.csv, args.votes, None, meta["label_set"], progress=False).splits["Training"]
        refresh_batchnorm(model, split.images, meta["preprocessing"], args.batch_size)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    total = float(sum(weights))
    return save_derived(args.out, state, meta, "soup", {
        "sources": [{"weights_sha256": m["weights_sha256"], "weight": w / total} for m, w in zip(metas, weights)],
        "bn_refreshed": not args.no_bn_refresh})


def main(argv=None) -> int:
    args = parse_args(argv)
    return write_derived(soup, args, args.checkpoints)


if __name__ == "__main__":
    raise SystemExit(main())
