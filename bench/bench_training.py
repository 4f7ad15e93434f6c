"""Training throughput (images per second) of registered models on this machine.

    python bench/bench_training.py [--models baseline vgg] [--batches 30] [--batch-size 64]

Times full training steps (augmentation + forward + backward + Adam) on random 48x48 uint8
faces, with and without channels-last memory format; prints a markdown table of medians.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training.augment import augment_batch  # noqa: E402
from training.metadata import DEFAULT_PREPROCESSING  # noqa: E402
from training.models import build_model, count_parameters  # noqa: E402
from training.preprocess import normalize  # noqa: E402


def step_times(name: str, channels_last: bool, batches: int, batch_size: int, hparams: dict) -> list[float]:
    torch.manual_seed(0)
    model = build_model(name, 7, hparams)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 48, 48), dtype=torch.uint8)
    labels = torch.randint(0, 7, (batch_size,))
    times = []
    for i in range(batches + 3):  # 3 warm-up steps
        t0 = time.perf_counter()
        x = augment_batch(normalize(images, DEFAULT_PREPROCESSING), gen, rotate=10, shift=0.05, scale=0.05)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.nll_loss(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["baseline", "vgg"])
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"median of {args.batches} steps\n")
    print("| model | params | memory format | ms / batch | images / s |")
    print("|---|---|---|---|---|")
    for name in args.models:
        for cl in (False, True):
            t = statistics.median(step_times(name, cl, args.batches, args.batch_size, {}))
            n = count_parameters(build_model(name, 7))
            print(f"| {name} | {n:,} | {'channels-last' if cl else 'contiguous'} | {t * 1000:.0f} | "
                  f"{args.batch_size / t:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
