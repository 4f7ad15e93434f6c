"""Train a registered model on FER2013 / FERPlus (or a folder of images).

    python -m training.train --out runs/vgg                    # the shipped model's recipe (make train-default)
    python -m training.train --model baseline --label-set ferplus --out runs/baseline   # the seed's

Defaults come from the chosen model's recipe in the registry (training/models): without --model,
`vgg`'s, the recipe of the shipped model (70 epochs, AdamW, one-cycle lr peaking at 2e-3, FERPlus
vote distributions as soft targets, flip TTA for validation; its time: MODEL_CARD.md, Training);
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
import os
import sys
import traceback
from pathlib import Path

# Idle OpenMP threads spin 10,000 times, not libgomp's 300,000, before they sleep: on a CPU that
# other processes share, a spinning thread burns the time slice its partner needs and a step takes
# ~3x as long; alone, the shorter spin costs ~4 % (bench/bench_threads.py). libgomp reads it once,
# when torch loads; OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment take precedence.
# Same threads and kernels: the same weights.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from fer_browser.cli import os_error, prog  # noqa: E402

from . import distributed  # noqa: E402
from .checkpoint import CheckpointError  # noqa: E402
from .datasets import Dataset  # noqa: E402
from .errors import OptionError, TrainingError  # noqa: E402
from .labelsets import LABEL_SETS  # noqa: E402
from .models import DEFAULT_MODEL, REGISTRY, check_hparams, get_spec  # noqa: E402
from .trainer import Trainer, pick_device  # noqa: E402


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
    k.add_argument("--class-balance", type=tau_value, default=0.0, metavar="BETA",
                   help="re-weighted votes: each face weighs sum_c target_c * prior_c^-BETA (normalised to mean 1), "
                        "so rare classes' votes count more (0: off; 1: every class weighs alike); default: %(default)s")
    k.add_argument("--mixup", type=tau_value, default=0.0, metavar="ALPHA",
                   help="mixup: blend each batch's faces and targets in pairs with lambda ~ Beta(ALPHA, ALPHA) "
                        "(0: off; 0.2-0.4 is usual); default: %(default)s")
    k.add_argument("--distill-alpha", type=float, default=0.5,
                   help="target = alpha * teacher + (1 - alpha) * label (default: %(default)s)")
    k.add_argument("--distill-features", type=float, default=0.0, metavar="BETA",
                   help="also match the one --teacher's conv blocks (a student made by training.factorize from it): "
                        "the teacher scores every augmented batch as the student sees it, and BETA times the blocks' "
                        "relative squared error joins the loss (0: off; 1 in the README's runs); default: %(default)s")
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


def check_options(args) -> None:
    """Values no run can use, refused in one line before the data is read (else a ZeroDivisionError
    or a torch error deep in the first step)."""
    if args.batch_size < 1:
        raise OptionError(f"--batch-size must be at least 1, got {args.batch_size}")
    for option in ("limit", "epoch_steps"):  # 0 means no limit, as before; a negative one is nonsense
        value = getattr(args, option, None)
        if value is not None and value < 0:
            raise OptionError(f"--{option.replace('_', '-')} must be 0 (no limit) or more, got {value}")
    if args.out.exists() and not args.out.is_dir():
        raise OptionError(f"--out {args.out}: exists and is not a folder; give a folder for the run")
    check_hparams(args.model, args.hparams)


def refuse_existing_out(args) -> None:
    """A new run must not silently replace another run's checkpoints (issue 10)."""
    if args.resume or args.overwrite:
        return
    found = [p.name for p in (args.out / "last.pt", args.out / "best.pt") if p.exists()]
    if found:
        raise CheckpointError(f"{args.out} already holds {' and '.join(found)}: continue that run with --resume, "
                              "start over with --overwrite, or choose another --out")


# errors in what the user gave (data, options, set-up: TrainingError; a checkpoint: CheckpointError) or
# the machine refused (a full disk, a file that cannot be written: OSError): main() prints them in one
# line. Anything else is a bug and shows its traceback.
USER_ERRORS = (TrainingError, CheckpointError, OSError)


def train(args, data: Dataset | None = None, on_epoch_end=None) -> dict:
    """Run (or resume) training, as one process or as one rank under torchrun; returns the final
    history entry. on_epoch_end(epoch) is a hook (tests use it to interrupt a run)."""
    check_options(args)
    refuse_existing_out(args)
    world, device = distributed.setup(pick_device(args.device))
    finished = False
    try:
        result = Trainer(args, world, device, data).run(on_epoch_end)
        finished = True
        return result
    except Exception as exc:
        if world.active and not isinstance(exc, USER_ERRORS):  # say which rank failed and why now:
            # leaving the group can abort this process before Python prints the traceback
            print(f"rank {world.rank} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        raise
    finally:
        distributed.teardown(finished)


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
