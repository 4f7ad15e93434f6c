"""Re-fit only the classifier of a trained model on its frozen features, with re-weighted votes.

    python -m training.retrain_head runs/vgg/best.pt --out runs/vgg-head/best.pt
    python -m training.retrain_head CKPT --out NEW.pt --class-balance 0.5 --l2 1e-3 [--logit-adjust 0.5]

Decoupled classifier re-training (Kang et al. 2020, "cRT"): the features a network learns on a skewed
label set are fine; its last layer leans to the frequent classes. This keeps every weight but the last
linear layer, computes the embedding of every Training face and of its mirror image once (eval mode, no
other augmentation), and re-fits that layer full-batch with L-BFGS against the training targets (FERPlus
vote distributions for a soft label set), each face weighted by sum_c target_c * prior_c^-BETA (as
`training.train --class-balance`), plus L2 * |W - W_trained|^2 to stay near the trained layer. The result
is deterministic, has the same graph (so the same size and speed in every format) and is written as a
new checkpoint with a fresh fingerprint; the run's settings go into its metadata (`training.head_retrain`).
Compare it with `bench/prior_frontier.py`, which scores PublicTest only. About a minute on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from fer_browser.cli import error, prog

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_derived
from .datasets import load_dataset
from .errors import DataError
from .train import tau_value
from .trainer import vote_weights
from fer_browser.core.normalize import normalize


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=prog("python -m training.retrain_head"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a trained checkpoint whose model has an embedding and a last linear layer `fc` (vgg, faceres, attention)")
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint (written atomically)")
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--class-balance", type=tau_value, default=0.5, metavar="BETA",
                   help="face weight sum_c target_c * prior_c^-BETA (0: plain re-fit; 1: classes weigh alike); "
                        "default: %(default)s")
    p.add_argument("--logit-adjust", type=tau_value, default=0.0, metavar="TAU",
                   help="fit log p + TAU * log prior, as `training.train --logit-adjust` (default: %(default)s)")
    p.add_argument("--l2", type=float, default=1e-3, help="pull towards the trained layer (default: %(default)s)")
    p.add_argument("--steps", type=int, default=200, help="L-BFGS iterations (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args(argv)
    if args.l2 < 0 or not np.isfinite(args.l2):
        p.error(f"--l2 must be a finite number >= 0, got {args.l2}")
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    return args


def face_batches(images, preprocessing: dict, batch_size: int, desc: str):
    """The faces normalised as the model reads them, batch by batch (float32 tensors), with a progress bar."""
    from tqdm import tqdm
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", file=sys.stderr):
        yield torch.from_numpy(np.ascontiguousarray(normalize(np.asarray(images[start:start + batch_size]),
                                                              preprocessing), dtype=np.float32))


def embeddings(model, images, preprocessing: dict, batch_size: int) -> torch.Tensor:
    """(2N, D) float64: every face, then every face mirrored (the flip the training augmentation uses)."""
    out = {False: [], True: []}
    with torch.inference_mode():
        for x in face_batches(images, preprocessing, batch_size, "embeddings"):
            for flip in (False, True):
                out[flip].append(model.embed(torch.flip(x, dims=[-1]) if flip else x).double())
    return torch.cat(out[False] + out[True])


def fit_layer(x: torch.Tensor, targets: torch.Tensor, w0: torch.Tensor, b0: torch.Tensor, *, class_balance: float,
              logit_adjust: float, l2: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The re-fitted (weight, bias), starting from the trained ones; targets are (N, C) distributions."""
    prior = targets.mean(0).clamp_min(1e-6)
    weights = vote_weights(targets.float(), targets.shape[1], class_balance)
    weights = torch.ones(len(x), dtype=x.dtype) if weights is None else weights.to(x.dtype)
    adjust = logit_adjust * prior.log()
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logp = torch.log_softmax(x @ w.T + b + adjust, 1)
        loss = -(weights * (targets * logp).sum(1)).mean() + l2 * ((w - w0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def retrain(args) -> dict:
    payload = load_checkpoint(args.checkpoint)
    model, meta = model_from_checkpoint(payload)
    if not hasattr(model, "embed") or not isinstance(getattr(model, "fc", None), torch.nn.Linear):
        raise CheckpointError(f"model {meta['model']['name']!r} has no embedding and last linear layer `fc` to re-fit")
    split = load_dataset(args.csv, args.votes, None, meta["label_set"], progress=False).splits["Training"]
    targets = torch.from_numpy(np.asarray(split.soft, dtype=np.float64)) if split.soft is not None else \
        torch.nn.functional.one_hot(torch.from_numpy(split.labels).long(), len(meta["classes"])).double()
    x = embeddings(model, split.images, meta["preprocessing"], args.batch_size)
    w, b = fit_layer(x, torch.cat([targets, targets]), model.fc.weight.detach().double(), model.fc.bias.detach().double(),
                     class_balance=args.class_balance, logit_adjust=args.logit_adjust, l2=args.l2, steps=args.steps)
    state = {k: v.clone() for k, v in payload["state_dict"].items()}
    state["fc.weight"], state["fc.bias"] = w.to(state["fc.weight"].dtype), b.to(state["fc.bias"].dtype)
    return save_derived(args.out, state, meta, "head_retrain", {
        "from_weights_sha256": payload["metadata"]["weights_sha256"], "class_balance": args.class_balance,
        "logit_adjust": args.logit_adjust, "l2": args.l2, "steps": args.steps, "faces": int(len(x))})


def write_derived(make, args, sources: list) -> int:
    """The CLI tail of a derived checkpoint (this module, training.soup): make(args) writes args.out;
    bad input gets one line and exit 2, success names the weights and how to score them beside `sources`."""
    try:
        out = make(args)
    except (CheckpointError, DataError, OSError) as exc:
        return error(exc)
    print(f"wrote {args.out} (weights {out['metadata']['weights_sha256'][:12]}…); score it with "
          f"`python bench/prior_frontier.py {' '.join(map(str, sources))} {args.out}`")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return write_derived(retrain, args, [args.checkpoint])


if __name__ == "__main__":
    raise SystemExit(main())
