"""Where one epoch of the shipped recipe's training (python -m training.train) spends its time.

    python bench/bench_epoch.py [--batches 40] [--val-images 3589] [--threads N]

On the real data (the FER2013 CSV + FERPlus votes, found as training.train finds them): times each
part of a training step as training.train runs it (batch read from the on-disk row store,
normalize + augmentation, forward, loss, backward, AdamW step + one-cycle lr, bookkeeping), then the
once-per-epoch parts (PublicTest validation with flip TTA, last.pt + best.pt checkpoints,
history.json, the training-curves plot), and projects them to one full epoch. Prints a markdown
table of medians.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer_browser.training.augment import augment_batch  # noqa: E402
from fer_browser.training.checkpoint import save_checkpoint  # noqa: E402
from fer_browser.training.datasets import load_dataset  # noqa: E402
from fer_browser.core.metadata import build_metadata  # noqa: E402
from fer_browser.training.metrics import plot_history, predict_probs  # noqa: E402
from fer_browser.training.models import DEFAULT_MODEL, build_model, count_parameters, get_spec  # noqa: E402
from fer_browser.core.normalize import normalize  # noqa: E402
from fer_browser.training.rowstore import read_rows, take_rows  # noqa: E402

STEP_PARTS = ["read", "augment", "forward", "backward", "optimizer", "bookkeeping"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=40, help="training steps timed (after 3 warm-up steps)")
    p.add_argument("--val-images", type=int, help="PublicTest images to validate on (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="times the per-epoch parts are run")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_spec(DEFAULT_MODEL)
    recipe = spec.recipe
    data = load_dataset(label_set=recipe["label_set"], progress=False)
    train, val = data.splits["Training"], data.splits["PublicTest"]
    if args.val_images:
        val = type(val)(take_rows(val.images, slice(0, args.val_images)), val.labels[:args.val_images],
                        None if val.soft is None else val.soft[:args.val_images])
    torch.manual_seed(0)
    model = build_model(DEFAULT_MODEL, len(data.classes)).to(memory_format=torch.channels_last)
    meta = build_metadata(DEFAULT_MODEL, spec.hparams, count_parameters(model), data.classes, data.label_set,
                          training={}, data=data.source)
    pre = meta["preprocessing"]
    bs = recipe["batch_size"]
    steps_per_epoch = math.ceil(len(train) / bs)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe["lr"], total_steps=recipe["epochs"] * steps_per_epoch,
                                                pct_start=0.15)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    targets = torch.from_numpy(train.soft)
    hard = torch.from_numpy(train.labels)
    times = {k: [] for k in STEP_PARTS}
    model.train()
    total_loss = correct = 0.0
    for b in range(args.batches + 3):
        t = [time.perf_counter()]
        idx = order[b * bs:(b + 1) * bs]
        pixels = torch.from_numpy(read_rows(train.images, idx.numpy()))
        y = targets[idx]
        t.append(time.perf_counter())
        x = augment_batch(normalize(pixels, pre), gen, rotate=recipe["rotate"], shift=recipe["shift"],
                          scale=recipe["scale"], erase=recipe["erase"]).contiguous(memory_format=torch.channels_last)
        t.append(time.perf_counter())
        logp = model(x)
        loss = -(y * logp).sum(1).mean()
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        sched.step()
        t.append(time.perf_counter())
        total_loss += loss.item() * len(idx)
        correct += (logp.argmax(1) == hard[idx]).sum().item()
        t.append(time.perf_counter())
        if b >= 3:
            for k, a, z in zip(STEP_PARTS, t, t[1:]):
                times[k].append(z - a)

    once = {"validate (flip TTA)": [], "checkpoints (last + best)": [], "history.json + plot": []}
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}
               for e in range(1, 36)]  # a mid-run history (35 epochs) to plot
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            predict_probs(model, take_rows(val.images, np.arange(len(val))), pre, tta_flip=True)
            t1 = time.perf_counter()
            sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
            save_checkpoint(out / "best.pt", {"state_dict": sd, "metadata": meta})
            save_checkpoint(out / "last.pt", {"state_dict": sd, "metadata": meta, "optimizer": opt.state_dict(),
                                              "scheduler": sched.state_dict(), "generator": gen.get_state(),
                                              "history": history})
            t2 = time.perf_counter()
            (out / "history.json").write_text(json.dumps(history, indent=1))
            plot_history(history, out / "training_curves.png")
            t3 = time.perf_counter()
            for k, a, z in zip(once, (t0, t1, t2), (t1, t2, t3)):
                once[k].append(z - a)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {bs}, {steps_per_epoch} steps "
          f"per epoch; training parts: median of {args.batches} steps after 3 warm-up steps; per-epoch parts: "
          f"median of {args.repeats} ({len(val)} PublicTest images)\n")
    rows = [(k, statistics.median(v), statistics.median(v) * steps_per_epoch) for k, v in times.items()]
    rows += [(k, statistics.median(v), statistics.median(v)) for k, v in once.items()]
    epoch = sum(r[2] for r in rows)
    print("| part | ms each | s per epoch | share |")
    print("|---|---|---|---|")
    for k, each, per_epoch in rows:
        print(f"| {k} | {each * 1000:.1f} | {per_epoch:.1f} | {per_epoch / epoch:.0%} |")
    print(f"| **projected epoch** | | {epoch:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
