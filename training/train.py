"""Train a registered model on FER2013 / FERPlus (or a folder of images).

    python -m training.train --out runs/vgg                    # the shipped model's recipe (make train-default)
    python -m training.train --model baseline --label-set ferplus --out runs/baseline   # the seed's

Defaults come from the chosen model's recipe in the registry (training/models): without --model,
`vgg`'s, the recipe of the shipped model (70 epochs, AdamW, one-cycle lr peaking at 2e-3, FERPlus
vote distributions as soft targets, flip TTA for validation: about 70 minutes on 2 CPU cores);
`--model baseline` gives the seed's (140 epochs, Adam, lr 1e-3 -> 1e-4 at 100 -> 1e-5 at 120,
flip + rotation, FERPlus majority labels). `--model NAME --help` lists NAME's defaults; every option
overrides them. Writes OUT/last.pt (every epoch, with optimizer state, for --resume), OUT/best.pt
(best PublicTest accuracy), OUT/history.json (training and PublicTest loss and accuracy per epoch) and
OUT/training_curves.png.

Data-parallel on N processes (one per GPU, or CPU processes with gloo); --batch-size is the
global batch, split evenly over the processes:

    torchrun --nproc_per_node=N -m training.train --model vgg --label-set ferplus-soft --out runs/vgg
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

# Idle OpenMP threads spin 10,000 times, not libgomp's 300,000, before they sleep: on a CPU that
# other processes share, a spinning thread burns the time slice its partner needs and a step takes
# ~3x as long; alone, the shorter spin costs ~4 % (bench/bench_threads.py). libgomp reads it once,
# when torch loads; OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment take precedence.
# Same threads and kernels: the same weights.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fer_browser.cli import os_error, prog  # noqa: E402

from . import distributed
from .atomic import atomic_open
from .augment import augment_batch
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .datasets import Dataset, load_dataset
from .distill import describe_teachers, init_weights, mix_targets, teacher_probs
from .errors import DataError
from .labelsets import LABEL_SETS
from .metadata import build_metadata
from .metrics import plot_history, predict_probs
from .models import DEFAULT_MODEL, REGISTRY, build_model, check_hparams, count_parameters, get_spec
from .preprocess import normalize
from .rowstore import read_rows, take_rows

NEW_OPTION_DEFAULTS = {"precision": "fp32", "epoch_steps": None, "distill": None, "init": None, "logit_adjust": 0.0}
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "milestones", "gamma",
               "label_smoothing", "rotate", "shift", "scale", "erase")


def parse_args(argv=None) -> argparse.Namespace:
    """--model is read first, so the parser (and --help) carries that model's recipe as its defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", default=DEFAULT_MODEL)
    model = pre.parse_known_args(argv)[0].model
    args = build_parser(model if model in REGISTRY else DEFAULT_MODEL).parse_args(argv)  # full parser names a bad one
    args.out = args.out or Path("runs") / f"{args.model}-{args.label_set}"
    return args


def build_parser(model: str = DEFAULT_MODEL) -> argparse.ArgumentParser:
    recipe = get_spec(model).recipe
    p = argparse.ArgumentParser(prog=prog("python -m training.train"),
                                description=__doc__.replace("python -m training.train", prog("python -m training.train")),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--csv", type=Path, help="FER2013 CSV (.csv or .csv.gz); default: found in ./data or ../shared/data")
    d.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (for ferplus label sets); default: found beside")
    d.add_argument("--folder", type=Path, action="append",
                   help="a folder <split>/<class>/*.png; alone it replaces the CSV, with --csv it adds to it; "
                        "repeat to combine several folders (their classes must match the run's or --class-map)")
    d.add_argument("--class-map", type=parse_class_map, default={},
                   help='JSON object or a .json file mapping folder class names to the run\'s class names, e.g. '
                        '\'{"happy": "happiness", "angry": "anger", "contempt": null}\' (null drops a class)')
    d.add_argument("--label-set", default=recipe["label_set"], choices=sorted(LABEL_SETS),
                   help=f"default: %(default)s ({model}'s recipe)")
    d.add_argument("--limit", type=int, help="use only the first N training images (quick experiments)")
    d.add_argument("--epoch-steps", type=int,
                   help="cap an epoch at N batches (each epoch still draws from a shuffle of all images)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(REGISTRY),
                   help=f"registered model; its recipe gives the defaults below (default: {DEFAULT_MODEL}, the "
                        "shipped model's recipe; `--model NAME --help` shows NAME's)")
    m.add_argument("--hparams", type=json.loads, default={},
                   help=f'model hyper-parameters as JSON, e.g. \'{{"dropout": 0.2}}\' ({model}\'s: '
                        f'{json.dumps(get_spec(model).hparams)})'.replace("%", "%%"))
    r = p.add_argument_group(f"recipe (defaults: {model}'s recipe in training/models)")
    r.add_argument("--epochs", type=int, default=recipe["epochs"], help=shown())
    r.add_argument("--batch-size", type=int, default=recipe["batch_size"],
                   help=shown("global batch: split evenly over the torchrun processes"))
    r.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default=recipe["optimizer"],
                   help=shown())
    r.add_argument("--lr", type=float, default=recipe["lr"], help=shown("learning rate (the peak, for a one-cycle schedule)"))
    r.add_argument("--weight-decay", type=float, default=recipe["weight_decay"], help=shown())
    r.add_argument("--schedule", choices=["step", "cosine", "onecycle"], default=recipe["schedule"],
                   help=shown())
    r.add_argument("--milestones", type=int, nargs="*", default=list(recipe["milestones"]),
                   help=shown("epochs where a step schedule multiplies lr by --gamma"))
    r.add_argument("--gamma", type=float, default=recipe["gamma"], help=shown())
    r.add_argument("--label-smoothing", type=float, default=recipe["label_smoothing"], help=shown())
    r.add_argument("--rotate", type=float, default=recipe["rotate"], help=shown("max rotation in degrees"))
    r.add_argument("--shift", type=float, default=recipe["shift"], help=shown("max shift as a fraction of the size"))
    r.add_argument("--scale", type=float, default=recipe["scale"], help=shown("max zoom in/out as a fraction"))
    r.add_argument("--erase", type=float, default=recipe["erase"], help=shown("probability of random erasing"))
    r.add_argument("--no-flip", action="store_true", help="disable horizontal flips")
    r.add_argument("--tta", action=argparse.BooleanOptionalAction, default=recipe["tta"],
                   help=f"validate with flip test-time augmentation (default: {'on' if recipe['tta'] else 'off'})")
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="autocast mixed precision (fp16 with a GradScaler, CUDA only); default fp32: on this "
                        "project's CPU (no AVX-512 BF16) bf16 is slower (bench/bench_training.py)")
    k = p.add_argument_group("distillation (training/distill.py)")
    k.add_argument("--teacher", type=Path, action="append", default=[],
                   help="a trained checkpoint whose flip-TTA probabilities on the training images become part of "
                        "the targets; repeat for an ensemble (their probabilities are averaged)")
    k.add_argument("--init", type=Path,
                   help="start from this checkpoint's weights (same model, hyper-parameters and classes) instead of "
                        "a random initialisation, e.g. to fine-tune a trained model against a teacher")
    k.add_argument("--logit-adjust", type=tau_value, default=0.0, metavar="TAU",
                   help="logit-adjusted loss (Menon et al. 2021): train on log p + TAU * log prior, so the plain "
                        "output leans TAU of the way from the training prior to balanced classes (0: off; 1: "
                        "balanced). prior = the mean training target; default: %(default)s")
    k.add_argument("--distill-alpha", type=float, default=0.5,
                   help="target = alpha * teacher + (1 - alpha) * label (default: %(default)s)")
    o = p.add_argument_group("run")
    o.add_argument("--out", type=Path, help="output folder (default: runs/<model>-<label-set>)")
    o.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    o.add_argument("--overwrite", action="store_true", help="start a new run even if OUT already holds checkpoints")
    o.add_argument("--no-sync-bn", action="store_true",
                   help="under torchrun: BatchNorm statistics per process instead of over the global batch")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    o.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); idle threads spin "
                                               "briefly (GOMP_SPINCOUNT=10000) unless OMP_WAIT_POLICY is set")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def shown(text: str = "") -> str:
    """Help text that ends with the option's default (the chosen model's recipe value)."""
    return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def tau_value(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 2.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number in [0, 2], got {text}")
    return value


def parse_class_map(text: str) -> dict:
    """--class-map: inline JSON or a path to a JSON file; {source class: run class or null}."""
    try:
        value = json.loads(Path(text).read_text() if text.endswith(".json") else text)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"not a JSON object or readable .json file ({exc})") from None
    if not isinstance(value, dict) or not all(isinstance(v, (str, type(None))) for v in value.values()):
        raise argparse.ArgumentTypeError('expected {"source class": "run class" or null, ...}')
    return value


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
    keep = RECIPE_KEYS + ("model", "hparams", "label_set", "limit", "epoch_steps", "seed", "tta", "precision",
                          "logit_adjust")
    cfg = {k: getattr(args, k) for k in keep}
    cfg["flip"] = not args.no_flip
    cfg["distill"] = getattr(args, "distill", None)  # set by _train from --teacher
    cfg["init"] = getattr(args, "init_record", None)  # set by _train from --init
    return cfg


def check_options(args) -> None:
    """Values no run can use, refused in one line before the data is read (else a ZeroDivisionError
    or a torch error deep in the first step)."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    for option in ("limit", "epoch_steps"):  # 0 means no limit, as before; a negative one is nonsense
        value = getattr(args, option, None)
        if value is not None and value < 0:
            raise ValueError(f"--{option.replace('_', '-')} must be 0 (no limit) or more, got {value}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder; give a folder for the run")
    check_hparams(args.model, args.hparams)


def refuse_existing_out(args) -> None:
    """A new run must not silently replace another run's checkpoints (issue 10)."""
    if args.resume or args.overwrite:
        return
    found = [p.name for p in (args.out / "last.pt", args.out / "best.pt") if p.exists()]
    if found:
        raise CheckpointError(f"{args.out} already holds {' and '.join(found)}: continue that run with --resume, "
                              "start over with --overwrite, or choose another --out")


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def autocast_dtype(precision: str, device: str):
    """None for fp32; fp16 needs a GPU (and a GradScaler), bf16 works on both."""
    if precision == "fp32":
        return None
    if precision == "fp16" and not device.startswith("cuda"):
        raise ValueError("--precision fp16 needs CUDA; on the CPU use bf16 or fp32")
    if precision == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no bfloat16; use --precision fp16")
    return torch.float16 if precision == "fp16" else torch.bfloat16


# errors in what the user gave (data, checkpoint, options) or the machine refused (a full disk, a
# file that cannot be written: OSError): main() prints them in one line
USER_ERRORS = (DataError, CheckpointError, ValueError, OSError)


def train(args, data: Dataset | None = None, on_epoch_end=None) -> dict:
    """Run (or resume) training, as one process or as one rank under torchrun; returns the final
    history entry. on_epoch_end(epoch) is a hook (tests use it to interrupt a run)."""
    check_options(args)
    refuse_existing_out(args)
    world, device = distributed.setup(pick_device(args.device))
    finished = False
    try:
        result = _train(args, data, on_epoch_end, world, device)
        finished = True
        return result
    except Exception as exc:
        if world.active and not isinstance(exc, USER_ERRORS):  # say which rank failed and why now:
            # leaving the group can abort this process before Python prints the traceback
            print(f"rank {world.rank} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        raise
    finally:
        distributed.teardown(finished)


def _train(args, data, on_epoch_end, world: distributed.World, device: str) -> dict:
    if args.batch_size % world.size:
        raise ValueError(f"--batch-size {args.batch_size} is the global batch and must divide evenly over "
                         f"{world.size} processes")
    args.distill = describe_teachers(args.teacher, args.distill_alpha)  # before minutes of data loading
    cuda = device.startswith("cuda")
    amp_dtype = autocast_dtype(args.precision, device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True
    show = world.is_main and not args.no_progress
    if data is None:  # the first process on each machine decodes (and caches); the others then read the cache
        data = distributed.local_main_first(world, lambda: load_dataset(
            args.csv, args.votes, args.folder, args.label_set, progress=show, class_map=args.class_map))
    train_split, val_split = data.splits["Training"], data.splits.get("PublicTest")
    if args.limit:
        train_split = train_split.head(args.limit)

    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    # --init and --resume load weights next: a pretrained model need not read its own first
    model = build_model(args.model, len(data.classes), args.hparams, weights_follow=bool(args.init or args.resume))
    args.init_record = init_weights(model, args.init, args.model, data.classes) if args.init else None
    meta = build_metadata(args.model, {**get_spec(args.model).hparams, **args.hparams}, count_parameters(model),
                          data.classes, data.label_set, training=config_of(args), data=data.source)
    if world.active:
        torch.manual_seed(args.seed + world.rank)  # each rank its own dropout masks
        if not args.no_sync_bn:
            model = distributed.sync_batchnorm(model, device)
    # channels-last: measurably faster for 3x3 convs on this CPU (bench/bench_training.py) and the
    # layout tensor cores want under mixed precision on CUDA
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(args, model.parameters())
    local_batch = args.batch_size // world.size
    steps = math.ceil(math.ceil(len(train_split) / world.size) / local_batch)
    steps = min(steps, args.epoch_steps or steps)
    scheduler, per_batch = make_scheduler(args, optimizer, steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    gen = torch.Generator().manual_seed(args.seed)  # augmentation: the same stream on every rank
    history, best_acc, start_epoch = [], -1.0, 1

    last_path, best_path = args.out / "last.pt", args.out / "best.pt"
    if args.resume:
        state = distributed.broadcast_object(load_checkpoint(last_path) if world.is_main else None, world)
        # options added later count as their defaults, so runs begun before them still resume
        if {**NEW_OPTION_DEFAULTS, **state["metadata"]["training"]} != meta["training"]:
            raise CheckpointError(f"{last_path}: was trained with a different configuration; "
                                  "resume with the same options or choose another --out")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        gen.set_state(state["generator"])
        restore_rng(state, world, cuda)
        history, best_acc, start_epoch = state["history"], state["best_acc"], state["epoch"] + 1
        if world.is_main:
            print(f"resuming {last_path} after epoch {state['epoch']}", file=sys.stderr)
    model = distributed.wrap(model, world, device)
    if world.is_main:
        args.out.mkdir(parents=True, exist_ok=True)
        if world.active:
            print(f"data-parallel: {world.size} processes ({'nccl' if cuda else 'gloo'}), global batch "
                  f"{args.batch_size} = {local_batch} per process", file=sys.stderr)

    targets = torch.from_numpy(train_split.soft if train_split.soft is not None else train_split.labels)
    if args.distill:
        taught = teacher_probs(args.teacher, train_split.images, data.classes, device, progress=show)
        targets = torch.from_numpy(mix_targets(taught, train_split.labels, train_split.soft, args.distill_alpha))
    hard = torch.from_numpy(train_split.labels)
    # logit adjustment: the loss sees log p + tau * log prior, so the network itself learns to leave
    # the prior out of its output by that much (a constant per class: no change to the graph)
    adjust = None
    if args.logit_adjust:
        counts = targets.float().mean(0) if targets.dtype == torch.float32 else \
            torch.bincount(targets, minlength=len(data.classes)).float() / len(targets)
        adjust = (args.logit_adjust * torch.log(counts.clamp_min(1e-6))).to(device)
    pre = meta["preprocessing"]
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0 = time.time()
        order = distributed.shard(distributed.epoch_order(len(train_split), args.seed, epoch), world)
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False,
                   disable=not show, file=sys.stderr)
        for b in bar:
            idx = order[b * local_batch:(b + 1) * local_batch]
            pixels = torch.from_numpy(read_rows(train_split.images, idx.numpy()))
            y = targets[idx]
            if cuda:  # page-locked host memory lets the copies overlap with compute
                pixels, y = pixels.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
            # this rank holds rows rank, rank+size, ... of the global batch (distributed.shard)
            rows = torch.arange(len(idx)) * world.size + world.rank if world.active else None
            x = augment_batch(normalize(pixels, pre), gen, flip=not args.no_flip, rotate=args.rotate,
                              shift=args.shift, scale=args.scale, erase=args.erase,
                              rows=rows, total=len(idx) * world.size)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.split(":")[0], dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logp = model(x)
            logp = logp.float()
            fit = logp if adjust is None else F.log_softmax(logp + adjust, 1)
            if y.dtype == torch.float32:  # soft targets: cross-entropy against the vote distribution
                loss = -(y * fit).sum(1).mean()
            else:
                loss = F.cross_entropy(fit, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if per_batch:
                scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += (logp.argmax(1).cpu() == hard[idx]).sum().item()
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}")
        if not per_batch:
            scheduler.step()
        train_seconds = time.time() - t0
        total_loss, correct, seen = distributed.sum_across([total_loss, correct, seen], world)
        val_acc, val_loss = validate(distributed.unwrap(model), val_split, pre, args.tta, device, world)
        entry = {"epoch": epoch, "train_loss": total_loss / seen, "train_acc": correct / seen,
                 "val_loss": val_loss, "val_acc": val_acc,
                 "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - t0,
                 "train_images_per_s": seen / train_seconds}  # all processes together, validation excluded
        history.append(entry)
        improved = val_acc > best_acc
        best_acc = max(best_acc, val_acc) if not math.isnan(val_acc) else best_acc
        meta["metrics"] = {"best_val_acc": best_acc, "epochs_trained": epoch, "val_acc": val_acc}
        rng = distributed.gather_objects(rng_state(cuda), world)  # a collective: every rank takes part
        if world.is_main:
            state_dict = {k: v.detach().cpu().contiguous() for k, v in distributed.unwrap(model).state_dict().items()}
            if improved or val_split is None:
                save_checkpoint(best_path, {"state_dict": state_dict,
                                            "metadata": {**meta, "metrics": {**meta["metrics"], "epoch": epoch}}})
            save_checkpoint(last_path, {"state_dict": state_dict, "metadata": meta, "optimizer": optimizer.state_dict(),
                                        "scheduler": scheduler.state_dict(), "generator": gen.get_state(),
                                        "torch_rng": rng[0]["torch"], "rank_rng": rng, "world_size": world.size,
                                        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                                        "epoch": epoch, "history": history, "best_acc": best_acc})
            print(f"epoch {epoch:3d}/{args.epochs}  loss {entry['train_loss']:.4f}  train acc {entry['train_acc']:.4f}  "
                  f"PublicTest loss {val_loss:.4f} acc {val_acc:.4f}  lr {entry['lr']:.2e}  {entry['seconds']:.0f}s"
                  + ("  *best*" if improved else ""), file=sys.stderr, flush=True)
            with atomic_open(args.out / "history.json", "w") as fh:  # never half a file after a crash
                fh.write(json.dumps(history, indent=1))
            plot_history(history, args.out / "training_curves.png")  # every epoch: an interrupted run has it too
        if on_epoch_end:
            on_epoch_end(epoch)
    return history[-1] if history else {}


def validate(model, split, pre: dict, tta: bool, device: str, world: distributed.World) -> tuple[float, float]:
    """PublicTest accuracy and loss (cross-entropy against the same targets as training: the vote
    distribution for soft label sets, else the label; of the flip-averaged probabilities with TTA).
    Under DDP each rank scores every size-th image and the sums are added up."""
    if split is None or not len(split):
        return float("nan"), float("nan")
    mine = np.arange(world.rank, len(split), world.size)
    probs = predict_probs(model, take_rows(split.images, mine), pre, tta_flip=tta, device=device)
    correct = loss = 0.0
    if len(mine):
        correct = float((probs.argmax(1) == split.labels[mine]).sum())
        logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
        if split.soft is not None:
            loss = float(-(split.soft[mine] * logp).sum())
        else:
            loss = float(-logp[np.arange(len(mine)), split.labels[mine]].sum())
    correct, loss, count = distributed.sum_across([correct, loss, float(len(mine))], world)
    return correct / count, loss / count


def rng_state(cuda: bool) -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if cuda else None}


def restore_rng(state: dict, world: distributed.World, cuda: bool) -> None:
    """Each rank continues its own dropout stream; a different process count cannot replay exactly."""
    ranks = state.get("rank_rng") or ([{"torch": state["torch_rng"], "cuda": None}] if "torch_rng" in state else None)
    if ranks and len(ranks) == world.size:  # (checkpoints from before DDP hold torch_rng only)
        torch.set_rng_state(ranks[world.rank]["torch"])
        if cuda and ranks[world.rank]["cuda"] is not None:
            torch.cuda.set_rng_state(ranks[world.rank]["cuda"])
        return
    if world.is_main:
        print(f"warning: the checkpoint was written by {state.get('world_size', 1)} process(es), this run has "
              f"{world.size}: training continues, but dropout masks will not replay exactly", file=sys.stderr)
    torch.manual_seed(int(state["metadata"]["training"].get("seed", 0)) * 1000 + int(state["epoch"]) + world.rank)


def main(argv=None) -> int:
    args = parse_args(argv)
    main_rank = int(os.environ.get("RANK", 0)) == 0
    try:
        final = train(args)
    except KeyboardInterrupt:
        if main_rank:
            print(f"\ninterrupted; the last complete epoch is in {args.out / 'last.pt'}: continue with the same "
                  "command plus --resume", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if main_rank or not isinstance(exc, CheckpointError):
            print(f"error: {os_error(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    if not main_rank:
        return 0
    history = json.loads((args.out / "history.json").read_text()) if (args.out / "history.json").is_file() else []
    best = max(history, key=lambda r: r["val_acc"], default={})
    print(f"done: PublicTest accuracy {final.get('val_acc', float('nan')):.4f} at the last epoch, best "
          f"{best.get('val_acc', float('nan')):.4f} at epoch {best.get('epoch', '?')} (best.pt); "
          f"checkpoints in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
