"""Put several training runs side by side: PublicTest accuracy and loss per epoch on one figure,
and a table of each run's best epoch and epoch times.

    python -m training.compare_runs runs/fer-default runs/attention --out reports/vgg-vs-attention.png
    python -m training.compare_runs vgg=models/fer-default attention=runs/attention/history.json

A run is a training output folder (its history.json) or a history.json itself; `NAME=PATH` names its
line (default: the folder's name). Runs of different lengths are drawn as they are.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from fer_browser.cli import error

from fer_browser.core.atomic import atomic_open
from .errors import DataError


def load_history(path: Path) -> list[dict]:
    """A run's per-epoch records; a folder means its history.json. One-line DataError if unusable."""
    path = Path(path)
    file = path / "history.json" if path.is_dir() else path
    try:
        history = json.loads(file.read_text())
    except FileNotFoundError:
        raise DataError(f"{file}: no such file (give a training output folder or its history.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a training history ({exc})") from None
    if not isinstance(history, list) or not history or not all(
            isinstance(h, dict) and {"epoch", "val_acc"} <= h.keys() for h in history):
        raise DataError(f"{file}: not a training history (a list of epochs with 'epoch' and 'val_acc')")
    return history


def parse_run(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        path = Path(spec)
        return (path.parent.name if path.name == "history.json" else path.name) or spec, path
    return name, Path(path)


def summary(history: list[dict]) -> dict:
    best = max(history, key=lambda h: h["val_acc"])
    seconds = [h["seconds"] for h in history if "seconds" in h]
    return {"epochs": len(history), "best_epoch": best["epoch"], "best_val_acc": best["val_acc"],
            "last_val_acc": history[-1]["val_acc"],
            "median_epoch_s": statistics.median(seconds) if seconds else None,
            "total_min": sum(seconds) / 60 if seconds else None}


def table(runs: dict[str, list[dict]]) -> str:
    lines = ["| run | epochs | best PublicTest (epoch) | last epoch's | median s/epoch | total min |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, history in runs.items():
        s = summary(history)
        med = f"{s['median_epoch_s']:.0f}" if s["median_epoch_s"] is not None else "—"
        tot = f"{s['total_min']:.1f}" if s["total_min"] is not None else "—"
        lines.append(f"| {name} | {s['epochs']} | {s['best_val_acc']:.4f} ({s['best_epoch']}) | "
                     f"{s['last_val_acc']:.4f} | {med} | {tot} |")
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in runs.items():
        epochs = [h["epoch"] for h in history]
        line, = a1.plot(epochs, [h["val_acc"] for h in history], label=name)
        best = max(history, key=lambda h: h["val_acc"])
        a1.plot(best["epoch"], best["val_acc"], "o", color=line.get_color())
        if any("val_loss" in h for h in history):
            a2.plot(epochs, [h.get("val_loss", float("nan")) for h in history], color=line.get_color(), label=name)
        a2.plot(epochs, [h["train_loss"] if "train_loss" in h else float("nan") for h in history],
                color=line.get_color(), linestyle=":", label=f"{name} (training, augmented)")
    a1.set(xlabel="epoch", ylabel="accuracy", title="PublicTest accuracy (dot: best epoch)")
    a2.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss: PublicTest (solid), training (dotted)")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.compare_runs", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="[NAME=]RUN", help="training output folder or history.json")
    p.add_argument("--out", type=Path, help="PNG to write (default: only print the table)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runs = {}
        for spec in args.runs:
            name, path = parse_run(spec)
            if name in runs:
                raise DataError(f"two runs are named {name!r}; name them: NAME=PATH")
            runs[name] = load_history(path)
        if args.out and str(args.out) == "-":  # the PNG's bytes would land in the middle of the table
            raise DataError("--out -: stdout carries the table; give the figure a file name")
        print(table(runs))
        if args.out:
            plot(runs, args.out)
            print(f"wrote {args.out}", file=sys.stderr)
    except (DataError, OSError) as exc:
        return error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
