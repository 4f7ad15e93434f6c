"""Train a registered model on FER2013 / FERPlus (or a folder of images).

    python -m training.train --model baseline --label-set ferplus --out runs/baseline

Defaults come from the model's recipe in the registry (for `baseline`: the seed's 140 epochs,
Adam, lr 1e-3 -> 1e-4 at 100 -> 1e-5 at 120, flip + rotation); every option overrides it.
Writes OUT/last.pt (every epoch, with optimizer state, for --resume), OUT/best.pt (best
PublicTest accuracy), OUT/history.json and OUT/training_curves.png.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .augment import augment_batch
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .datasets import Dataset, load_dataset
from .errors import DataError
from .labelsets import LABEL_SETS
from .metadata import build_metadata
from .metrics import plot_history, predict_probs
from .models import REGISTRY, build_model, count_parameters, get_spec
from .preprocess import normalize

RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "milestones", "gamma",
               "label_smoothing", "rotate", "shift", "scale", "erase")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--csv", type=Path, help="FER2013 CSV (.csv or .csv.gz); default: found in ./data or ../shared/data")
    d.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (for ferplus label sets); default: found beside")
    d.add_argument("--folder", type=Path, help="train from a folder <split>/<class>/*.png instead of the CSV")
    d.add_argument("--label-set", default="ferplus", choices=sorted(LABEL_SETS), help="default: ferplus")
    d.add_argument("--limit", type=int, help="use only the first N training images (quick experiments)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="baseline", choices=sorted(REGISTRY), help="registered model (default: baseline)")
    m.add_argument("--hparams", type=json.loads, default={}, help='model hyper-parameters as JSON, e.g. \'{"dropout": 0.2}\'')
    r = p.add_argument_group("recipe (defaults: the model's recipe in training/models)")
    r.add_argument("--epochs", type=int)
    r.add_argument("--batch-size", type=int)
    r.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    r.add_argument("--lr", type=float)
    r.add_argument("--weight-decay", type=float)
    r.add_argument("--schedule", choices=["step", "cosine", "onecycle"])
    r.add_argument("--milestones", type=int, nargs="*", help="epochs where a step schedule multiplies lr by --gamma")
    r.add_argument("--gamma", type=float)
    r.add_argument("--label-smoothing", type=float)
    r.add_argument("--rotate", type=float, help="max rotation in degrees")
    r.add_argument("--shift", type=float, help="max shift as a fraction of the size")
    r.add_argument("--scale", type=float, help="max zoom in/out as a fraction")
    r.add_argument("--erase", type=float, help="probability of random erasing")
    r.add_argument("--no-flip", action="store_true", help="disable horizontal flips")
    r.add_argument("--tta", action="store_true", help="validate with flip test-time augmentation")
    o = p.add_argument_group("run")
    o.add_argument("--out", type=Path, help="output folder (default: runs/<model>-<label-set>)")
    o.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    o.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    recipe = get_spec(args.model).recipe
    for key in RECIPE_KEYS:
        if getattr(args, key) is None:
            setattr(args, key, recipe[key])
    args.out = args.out or Path("runs") / f"{args.model}-{args.label_set}"
    return args


def make_optimizer(args, params):
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.SGD(params, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer, steps_per_epoch: int):
    """Returns (scheduler, per_batch): step schedules move per epoch, the others per batch."""
    if args.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, args.milestones, args.gamma), False
    total = args.epochs * steps_per_epoch
    if args.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total), True
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=total, pct_start=0.15), True


def config_of(args) -> dict:
    keep = RECIPE_KEYS + ("model", "hparams", "label_set", "limit", "seed", "tta")
    cfg = {k: getattr(args, k) for k in keep}
    cfg["flip"] = not args.no_flip
    return cfg


def train(args, data: Dataset | None = None, on_epoch_end=None) -> dict:
    """Run (or resume) training; returns the final history entry. on_epoch_end(epoch) is a hook."""
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = data or load_dataset(args.csv, args.votes, args.folder, args.label_set, progress=not args.no_progress)
    train_split, val_split = data.splits["Training"], data.splits.get("PublicTest")
    if args.limit:
        train_split.images, train_split.labels = train_split.images[:args.limit], train_split.labels[:args.limit]
        if train_split.soft is not None:
            train_split.soft = train_split.soft[:args.limit]

    model = build_model(args.model, len(data.classes), args.hparams).to(device)
    channels_last = device == "cpu"  # measurably faster for 3x3 convs on CPU (bench/bench_training.py)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    meta = build_metadata(args.model, {**get_spec(args.model).hparams, **args.hparams}, count_parameters(model),
                          data.classes, data.label_set, training=config_of(args), data=data.source)
    optimizer = make_optimizer(args, model.parameters())
    steps = math.ceil(len(train_split) / args.batch_size)
    scheduler, per_batch = make_scheduler(args, optimizer, steps)
    gen = torch.Generator().manual_seed(args.seed)
    history, best_acc, start_epoch = [], -1.0, 1

    last_path, best_path = args.out / "last.pt", args.out / "best.pt"
    if args.resume:
        state = load_checkpoint(last_path)
        if state["metadata"]["training"] != meta["training"]:
            raise CheckpointError(f"{last_path}: was trained with a different configuration; "
                                  "resume with the same options or choose another --out")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, best_acc, start_epoch = state["history"], state["best_acc"], state["epoch"] + 1
        print(f"resuming {last_path} after epoch {state['epoch']}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)

    images = torch.from_numpy(train_split.images)
    targets = torch.from_numpy(train_split.soft if train_split.soft is not None else train_split.labels)
    hard = torch.from_numpy(train_split.labels)
    pre = meta["preprocessing"]
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0 = time.time()
        order = torch.randperm(len(images), generator=gen)
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False,
                   disable=args.no_progress, file=sys.stderr)
        for b in bar:
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            x = augment_batch(normalize(images[idx], pre), gen, flip=not args.no_flip, rotate=args.rotate,
                              shift=args.shift, scale=args.scale, erase=args.erase)
            x = x.to(device, memory_format=torch.channels_last) if channels_last else x.to(device)
            y = targets[idx].to(device)
            logp = model(x)
            if y.dtype == torch.float32:  # soft targets: cross-entropy against the vote distribution
                loss = -(y * logp).sum(1).mean()
            else:
                loss = F.cross_entropy(logp, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += (logp.argmax(1).cpu() == hard[idx]).sum().item()
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}")
        if not per_batch:
            scheduler.step()
        val_acc = float("nan")
        if val_split is not None and len(val_split):
            probs = predict_probs(model, val_split.images, pre, tta_flip=args.tta, device=device)
            val_acc = float((probs.argmax(1) == val_split.labels).mean())
        entry = {"epoch": epoch, "train_loss": total_loss / seen, "train_acc": correct / seen, "val_acc": val_acc,
                 "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - t0}
        history.append(entry)
        improved = val_acc > best_acc
        best_acc = max(best_acc, val_acc) if not math.isnan(val_acc) else best_acc
        meta["metrics"] = {"best_val_acc": best_acc, "epochs_trained": epoch, "val_acc": val_acc}
        state_dict = {k: v.contiguous() for k, v in model.state_dict().items()}
        if improved or val_split is None:
            save_checkpoint(best_path, {"state_dict": state_dict, "metadata": {**meta, "metrics": {**meta["metrics"], "epoch": epoch}}})
        save_checkpoint(last_path, {"state_dict": state_dict, "metadata": meta, "optimizer": optimizer.state_dict(),
                                    "scheduler": scheduler.state_dict(), "generator": gen.get_state(),
                                    "torch_rng": torch.get_rng_state(), "epoch": epoch, "history": history,
                                    "best_acc": best_acc})
        print(f"epoch {epoch:3d}/{args.epochs}  loss {entry['train_loss']:.4f}  train acc {entry['train_acc']:.4f}  "
              f"PublicTest acc {val_acc:.4f}  lr {entry['lr']:.2e}  {entry['seconds']:.0f}s"
              + ("  *best*" if improved else ""), file=sys.stderr, flush=True)
        (args.out / "history.json").write_text(json.dumps(history, indent=1))
        if on_epoch_end:
            on_epoch_end(epoch)
    plot_history(history, args.out / "training_curves.png")
    return history[-1] if history else {}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        final = train(args)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the last complete epoch is in {args.out / 'last.pt'}: continue with the same "
              "command plus --resume", file=sys.stderr)
        return 130
    except (DataError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    history = json.loads((args.out / "history.json").read_text()) if (args.out / "history.json").is_file() else []
    best = max(history, key=lambda r: r["val_acc"], default={})
    print(f"done: PublicTest accuracy {final.get('val_acc', float('nan')):.4f} at the last epoch, best "
          f"{best.get('val_acc', float('nan')):.4f} at epoch {best.get('epoch', '?')} (best.pt); "
          f"checkpoints in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
