"""One training run (or one rank of it under torchrun): set-up, resume, one epoch, validate, save.

training/train.py is its command line. The Trainer reads the parsed options and never changes them:
what the run derives from them (the teachers' record, the --init record, the metadata) it keeps itself.
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import distributed
from fer_browser.core.atomic import atomic_open
from .augment import augment_batch
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .datasets import Dataset, load_dataset
from .distill import FeatureHints, describe_teachers, init_weights, mix_targets, teacher_probs
from .errors import OptionError
from fer_browser.core.metadata import build_metadata
from .metrics import plot_history, predict_probs
from .models import build_model, count_parameters, get_spec
from fer_browser.core.normalize import normalize
from .rowstore import read_rows, take_rows

NEW_OPTION_DEFAULTS = {"precision": "fp32", "epoch_steps": None, "distill": None, "init": None, "logit_adjust": 0.0,
                       "class_balance": 0.0, "mixup": 0.0}
RECIPE_KEYS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "milestones", "gamma",
               "label_smoothing", "rotate", "shift", "scale", "erase")


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


def config_of(args, distill: dict | None = None, init: dict | None = None) -> dict:
    """The run's configuration as recorded in the checkpoint (and compared on --resume); distill and
    init are the records made from --teacher and --init."""
    keep = RECIPE_KEYS + ("model", "hparams", "label_set", "limit", "epoch_steps", "seed", "tta", "precision",
                          "logit_adjust", "class_balance", "mixup")
    cfg = {k: getattr(args, k) for k in keep}
    cfg["flip"] = not args.no_flip
    cfg["distill"] = distill
    cfg["init"] = init
    return cfg


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def autocast_dtype(precision: str, device: str):
    """None for fp32; fp16 needs a GPU (and a GradScaler), bf16 works on both."""
    if precision == "fp32":
        return None
    if precision == "fp16" and not device.startswith("cuda"):
        raise OptionError("--precision fp16 needs CUDA; on the CPU use bf16 or fp32")
    if precision == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise OptionError("this GPU has no bfloat16; use --precision fp16")
    return torch.float16 if precision == "fp16" else torch.bfloat16


class Trainer:
    """Everything one run needs, set up from the options (and resumed from OUT/last.pt with --resume);
    run() trains the remaining epochs."""

    def __init__(self, args, world: distributed.World, device: str, data: Dataset | None = None):
        if args.batch_size % world.size:
            raise OptionError(f"--batch-size {args.batch_size} is the global batch and must divide evenly over "
                              f"{world.size} processes")
        self.args, self.world, self.device = args, world, device
        # before minutes of data loading
        self.distill = describe_teachers(args.teacher, args.distill_alpha, getattr(args, "distill_features", 0.0))
        self.cuda = device.startswith("cuda")
        self.amp_dtype = autocast_dtype(args.precision, device)
        if args.threads:
            torch.set_num_threads(args.threads)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.show = world.is_main and not args.no_progress
        if data is None:  # the first process on each machine decodes (and caches); the others then read the cache
            data = distributed.local_main_first(world, lambda: load_dataset(
                args.csv, args.votes, args.folder, args.label_set, progress=self.show, class_map=args.class_map))
        self.data = data
        self.train_split, self.val_split = data.splits["Training"], data.splits.get("PublicTest")
        if args.limit:
            self.train_split = self.train_split.head(args.limit)
        self._build_model()
        self.last_path, self.best_path = args.out / "last.pt", args.out / "best.pt"
        self.history, self.best_acc, self.start_epoch = [], -1.0, 1
        if args.resume:
            self.resume()
        self.model = distributed.wrap(self.model, world, device)
        if world.is_main:
            args.out.mkdir(parents=True, exist_ok=True)
            if world.active:
                print(f"data-parallel: {world.size} processes ({'nccl' if self.cuda else 'gloo'}), global batch "
                      f"{args.batch_size} = {self.local_batch} per process", file=sys.stderr)
        self._targets()

    def _build_model(self) -> None:
        """The model (with --init's weights), its metadata, optimizer, schedule, scaler and augmentation stream."""
        args, world, data = self.args, self.world, self.data
        torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        # --init and --resume load weights next: a pretrained model need not read its own first
        model = build_model(args.model, len(data.classes), args.hparams, weights_follow=bool(args.init or args.resume))
        self.init_record = init_weights(model, args.init, args.model, data.classes) if args.init else None
        self.meta = build_metadata(args.model, {**get_spec(args.model).hparams, **args.hparams},
                                   count_parameters(model), data.classes, data.label_set,
                                   training=config_of(args, self.distill, self.init_record), data=data.source)
        if world.active:
            torch.manual_seed(args.seed + world.rank)  # each rank its own dropout masks
            if not args.no_sync_bn:
                model = distributed.sync_batchnorm(model, self.device)
        # channels-last: measurably faster for 3x3 convs on this CPU (bench/bench_training.py) and the
        # layout tensor cores want under mixed precision on CUDA
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.optimizer = make_optimizer(args, self.model.parameters())
        self.local_batch = args.batch_size // world.size
        steps = math.ceil(math.ceil(len(self.train_split) / world.size) / self.local_batch)
        self.steps = min(steps, args.epoch_steps or steps)
        self.scheduler, self.per_batch = make_scheduler(args, self.optimizer, self.steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.gen = torch.Generator().manual_seed(args.seed)  # augmentation: the same stream on every rank

    def resume(self) -> None:
        """Continue from OUT/last.pt: weights, optimizer, schedule, scaler, RNG streams and history."""
        world = self.world
        state = distributed.broadcast_object(load_checkpoint(self.last_path) if world.is_main else None, world)
        # options added later count as their defaults, so runs begun before them still resume
        if {**NEW_OPTION_DEFAULTS, **state["metadata"]["training"]} != self.meta["training"]:
            raise CheckpointError(f"{self.last_path}: was trained with a different configuration; "
                                  "resume with the same options or choose another --out")
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.gen.set_state(state["generator"])
        restore_rng(state, world, self.cuda)
        self.history, self.best_acc, self.start_epoch = state["history"], state["best_acc"], state["epoch"] + 1
        if world.is_main:
            print(f"resuming {self.last_path} after epoch {state['epoch']}", file=sys.stderr)

    def _targets(self) -> None:
        """The training targets (the teachers' mixed in with --teacher), the hard labels and the
        logit adjustment."""
        args, split = self.args, self.train_split
        targets = torch.from_numpy(split.soft if split.soft is not None else split.labels)
        self.hints = None
        if self.distill and self.distill.get("features"):  # the teacher scores each batch as it is trained on
            self.hints = FeatureHints(args.teacher[0], distributed.unwrap(self.model), self.data.classes, self.device)
        elif self.distill:
            taught = teacher_probs(args.teacher, split.images, self.data.classes, self.device, progress=self.show)
            targets = torch.from_numpy(mix_targets(taught, split.labels, split.soft, args.distill_alpha))
        self.targets, self.hard = targets, torch.from_numpy(split.labels)
        # logit adjustment: the loss sees log p + tau * log prior, so the network itself learns to leave
        # the prior out of its output by that much (a constant per class: no change to the graph)
        self.adjust = None
        if args.logit_adjust:
            counts = targets.float().mean(0) if targets.dtype == torch.float32 else \
                torch.bincount(targets, minlength=len(self.data.classes)).float() / len(targets)
            self.adjust = (args.logit_adjust * torch.log(counts.clamp_min(1e-6))).to(self.device)
        # re-weighted votes: a face weighs sum_c target_c * prior_c^-beta (mean 1), so the rare classes'
        # votes count more without changing what a target says (beta 0: off; 1: every class weighs alike)
        self.weights = vote_weights(targets, len(self.data.classes), getattr(args, "class_balance", 0.0))

    def run(self, on_epoch_end=None) -> dict:
        """Train the remaining epochs; returns the final history entry. on_epoch_end(epoch) is a hook
        (tests use it to interrupt a run)."""
        for epoch in range(self.start_epoch, self.args.epochs + 1):
            t0 = time.time()
            total_loss, correct, seen = self.train_epoch(epoch)
            train_seconds = time.time() - t0
            total_loss, correct, seen = distributed.sum_across([total_loss, correct, seen], self.world)
            val_acc, val_loss = validate(distributed.unwrap(self.model), self.val_split, self.meta["preprocessing"],
                                         self.args.tta, self.device, self.world)
            entry = {"epoch": epoch, "train_loss": total_loss / seen, "train_acc": correct / seen,
                     "val_loss": val_loss, "val_acc": val_acc,
                     "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.time() - t0,
                     "train_images_per_s": seen / train_seconds}  # all processes together, validation excluded
            self.history.append(entry)
            improved = val_acc > self.best_acc
            self.best_acc = max(self.best_acc, val_acc) if not math.isnan(val_acc) else self.best_acc
            self.meta["metrics"] = {"best_val_acc": self.best_acc, "epochs_trained": epoch, "val_acc": val_acc}
            self.save(epoch, entry, improved)
            if on_epoch_end:
                on_epoch_end(epoch)
        return self.history[-1] if self.history else {}

    def train_epoch(self, epoch: int) -> tuple[float, int, int]:
        """One pass over this rank's share of the epoch's batches; returns this rank's (summed loss,
        correct, seen)."""
        args, world, device, model = self.args, self.world, self.device, self.model
        model.train()
        order = distributed.shard(distributed.epoch_order(len(self.train_split), args.seed, epoch), world)
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(range(self.steps), desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False,
                   disable=not self.show, file=sys.stderr)
        for b in bar:
            idx = order[b * self.local_batch:(b + 1) * self.local_batch]
            pixels = torch.from_numpy(read_rows(self.train_split.images, idx.numpy()))
            y = self.targets[idx]
            w = self.weights[idx] if self.weights is not None else None
            if self.cuda:  # page-locked host memory lets the copies overlap with compute
                pixels, y = pixels.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
            # this rank holds rows rank, rank+size, ... of the global batch (distributed.shard)
            rows = torch.arange(len(idx)) * world.size + world.rank if world.active else None
            x = augment_batch(normalize(pixels, self.meta["preprocessing"]), self.gen, flip=not args.no_flip,
                              rotate=args.rotate, shift=args.shift, scale=args.scale, erase=args.erase,
                              rows=rows, total=len(idx) * world.size)
            if getattr(args, "mixup", 0.0):  # mixup (Zhang et al. 2018): blend pairs of faces and their targets
                x, y, w = mix_batch(x, y, w, len(self.data.classes), args.mixup, self.gen)
            x = x.contiguous(memory_format=torch.channels_last)
            if self.hints is not None:  # consistent teaching: the teacher's view of this very crop
                base = y.float() if y.dtype == torch.float32 else F.one_hot(y.long(), len(self.data.classes)).float()
                y = args.distill_alpha * self.hints.teach(x) + (1 - args.distill_alpha) * base.to(device)
            amp_dtype = self.amp_dtype
            with torch.autocast(device.split(":")[0], dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None), \
                    (self.hints.watching() if self.hints is not None else contextlib.nullcontext()):
                logp = model(x)
            logp = logp.float()
            fit = logp if self.adjust is None else F.log_softmax(logp + self.adjust, 1)
            if y.dtype == torch.float32:  # soft targets: cross-entropy against the vote distribution
                per_face = -(y * fit).sum(1)
            else:
                per_face = F.cross_entropy(fit, y, label_smoothing=args.label_smoothing, reduction="none")
            loss = (per_face * w.to(per_face.device)).mean() if w is not None else per_face.mean()
            if self.hints is not None:
                loss = loss + args.distill_features * self.hints.loss()
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.per_batch:
                self.scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += (logp.argmax(1).cpu() == self.hard[idx]).sum().item()
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}")
        if not self.per_batch:
            self.scheduler.step()
        return total_loss, correct, seen

    def save(self, epoch: int, entry: dict, improved: bool) -> None:
        """OUT/last.pt (and OUT/best.pt when it improved), history.json and the curves; the main
        process writes, every rank takes part in gathering the RNG states."""
        world, meta = self.world, self.meta
        rng = distributed.gather_objects(rng_state(self.cuda), world)  # a collective: every rank takes part
        if not world.is_main:
            return
        out = self.args.out
        state_dict = {k: v.detach().cpu().contiguous() for k, v in distributed.unwrap(self.model).state_dict().items()}
        if improved or self.val_split is None:
            save_checkpoint(self.best_path, {"state_dict": state_dict,
                                             "metadata": {**meta, "metrics": {**meta["metrics"], "epoch": epoch}}})
        save_checkpoint(self.last_path, {"state_dict": state_dict, "metadata": meta,
                                         "optimizer": self.optimizer.state_dict(),
                                         "scheduler": self.scheduler.state_dict(), "generator": self.gen.get_state(),
                                         "torch_rng": rng[0]["torch"], "rank_rng": rng, "world_size": world.size,
                                         "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                                         "epoch": epoch, "history": self.history, "best_acc": self.best_acc})
        print(f"epoch {epoch:3d}/{self.args.epochs}  loss {entry['train_loss']:.4f}  train acc {entry['train_acc']:.4f}  "
              f"PublicTest loss {entry['val_loss']:.4f} acc {entry['val_acc']:.4f}  lr {entry['lr']:.2e}  "
              f"{entry['seconds']:.0f}s" + ("  *best*" if improved else ""), file=sys.stderr, flush=True)
        with atomic_open(out / "history.json", "w") as fh:  # never half a file after a crash
            fh.write(json.dumps(self.history, indent=1))
        plot_history(self.history, out / "training_curves.png")  # every epoch: an interrupted run has it too


def vote_weights(targets: torch.Tensor, n_classes: int, beta: float) -> torch.Tensor | None:
    """Per-face weights sum_c target_c * prior_c^-beta, normalised to mean 1 (None when beta is 0);
    the prior is the mean target. With beta 1 every class carries the same total weight."""
    if not beta:
        return None
    y = targets.float() if targets.dtype == torch.float32 else F.one_hot(targets.long(), n_classes).float()
    w = y @ y.mean(0).clamp_min(1e-6).pow(-beta)
    return w / w.mean()


def mix_batch(x, y, w, n_classes: int, alpha: float, gen: torch.Generator):
    """Mixup: one lambda ~ Beta(alpha, alpha) per batch, each face blended with a shuffled partner;
    hard labels become one-hot so the blended target is a distribution (per-face weights blend too)."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 1.0
    perm = torch.randperm(len(x), generator=gen)
    if y.dtype != torch.float32:
        y = F.one_hot(y.long(), n_classes).float()
    w = None if w is None else lam * w + (1 - lam) * w[perm]
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm], w


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
