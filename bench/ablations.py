"""Ablations of the shipped recipe: one change at a time, same model, same (short) schedule.

    python bench/ablations.py [--epochs 8] [--only soft hard] [--runs runs/ablations]

Each variant trains `vgg` (its registry recipe) with `python -m training.train`, then evaluates
best.pt on PublicTest and PrivateTest (Microsoft's majority labels) with and without flip TTA
(`python -m training.evaluate`). Prints a markdown table and writes it, with every report, under
reports/ablations/. A short schedule ranks the changes; it does not reproduce the shipped model's
accuracy (MODEL_CARD.md gives the full run). About 1 minute per epoch per variant on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_AUG = ["--rotate", "0", "--shift", "0", "--scale", "0", "--erase", "0"]
VARIANTS = {
    "soft": ("FERPlus vote distribution as targets, recipe augmentation (the shipped recipe)",
             ["--label-set", "ferplus-soft"]),
    "hard": ("majority label as target (one-hot), recipe augmentation", ["--label-set", "ferplus"]),
    "soft-flip-only": ("soft targets, flip only (no rotation, shift, zoom or erasing)",
                       ["--label-set", "ferplus-soft", *NO_AUG]),
}


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def main(argv=None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=8, help="epochs per variant (default 8)")
    p.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run only these variants")
    p.add_argument("--runs", type=Path, default=Path("runs/ablations"), help="training output folders")
    p.add_argument("--reports", type=Path, default=Path("reports/ablations"), help="reports and the table")
    args = p.parse_args(argv)
    py = sys.executable
    rows = []
    for name in args.only or list(VARIANTS):
        what, extra = VARIANTS[name]
        out = args.runs / name
        t0 = time.time()
        run([py, "-m", "training.train", "--model", "vgg", "--epochs", str(args.epochs), "--no-progress",
             "--out", str(out), *extra])
        minutes = (time.time() - t0) / 60
        acc = {}
        for tta in (False, True):
            rep = args.reports / (name + ("-tta" if tta else ""))
            run([py, "-m", "training.evaluate", str(out / "best.pt"), "--splits", "PublicTest", "PrivateTest",
                 "--label-set", "ferplus", "--out", str(rep), *(["--tta"] if tta else [])])
            splits = json.loads((rep / "report.json").read_text())["splits"]
            acc[tta] = {s: splits[s]["accuracy"] for s in splits}
        rows.append(f"| {name} | {what} | {acc[False]['PublicTest']:.4f} | {acc[False]['PrivateTest']:.4f} | "
                    f"{acc[True]['PublicTest']:.4f} | {acc[True]['PrivateTest']:.4f} | {minutes:.1f} |")
    table = "\n".join([f"vgg, {args.epochs} epochs each; accuracy on Microsoft's majority labels.\n",
                       "| variant | change | PublicTest | PrivateTest | PublicTest (flip TTA) | "
                       "PrivateTest (flip TTA) | train minutes |", "|---|---|---|---|---|---|---|", *rows])
    print(table)
    args.reports.mkdir(parents=True, exist_ok=True)
    (args.reports / "ablations.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
