"""Training throughput of one process vs N data-parallel processes (torchrun, gloo) on this machine.

    python bench/bench_ddp.py [--nproc 2] [--steps 60] [--repeats 1] [-- extra training.train options]

Runs the same short training (vgg recipe on FERPlus, one epoch capped at --steps global batches
of 64) as one process with N torch threads (or --single-threads) and as N torchrun processes with
one thread each,
alternating, and reports training images/s (validation excluded; training.train records it in
history.json). Output folders go to a temp dir that is deleted afterwards.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], out: Path) -> float:
    res = subprocess.run(cmd + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return json.loads((out / "history.json").read_text())[-1]["train_images_per_s"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--single-threads", type=int, help="torch threads of the single process (default: --nproc)")
    p.add_argument("extra", nargs="*", help="more training.train options (after --)")
    args = p.parse_args(argv)
    common = ["-m", "training.train", "--model", "vgg", "--label-set", "ferplus-soft", "--epochs", "1",
              "--epoch-steps", str(args.steps), "--batch-size", "64", "--no-progress", *args.extra]
    single_threads = args.single_threads or args.nproc
    single = [sys.executable, *common, "--threads", str(single_threads)]
    multi = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={args.nproc}", *common, "--threads", "1"]
    rates = {"1": [], "N": []}
    with tempfile.TemporaryDirectory(prefix="fer-bench-ddp-") as tmp:
        for i in range(args.repeats):
            rates["1"].append(run(single, Path(tmp) / f"one-{i}"))
            rates["N"].append(run(multi, Path(tmp) / f"ddp-{i}"))
    one, many = statistics.median(rates["1"]), statistics.median(rates["N"])
    print(f"vgg, global batch 64, {args.steps} steps, median of {args.repeats} alternating run(s)\n")
    print("| setup | training images / s |\n|---|---|")
    print(f"| 1 process, {single_threads} thread(s) | {one:.0f} |")
    print(f"| {args.nproc} processes (torchrun, gloo), 1 thread each | {many:.0f} |")
    print(f"\nratio {args.nproc} processes / 1 process: {many / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
