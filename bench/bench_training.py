"""Training throughput (images per second) of registered models on this machine.

    python bench/bench_training.py [--models baseline vgg] [--batches 30] [--batch-size 64]
    python bench/bench_training.py --models vgg --formats channels-last --precision fp32 bf16
    python bench/bench_training.py --models vgg --formats channels-last --compile eager inductor \
        --optimizer-impl for-loop foreach fused --threads 1 2
    python bench/bench_training.py --models faceres --formats channels-last --hparams '{"input_size": 64}'

Times full training steps (augmentation + forward + backward + Adam) on random 48x48 uint8
faces, with and without channels-last memory format, in fp32 or under bfloat16 autocast
(torch.autocast('cpu', torch.bfloat16), what training.train --precision bf16 does), eager or
torch.compile'd (inductor; its compile time is the "first step" column), with Adam's for-loop,
foreach or fused implementation, and with the given torch thread counts (switched per step with
torch.set_num_threads); prints a markdown table of medians and each row's time relative to the
first row. Configurations alternate step by step (round-robin) so that other load on the machine
hits them alike.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer_browser.training.augment import augment_batch  # noqa: E402
from fer_browser.core.metadata import DEFAULT_PREPROCESSING  # noqa: E402
from fer_browser.training.models import build_model, count_parameters  # noqa: E402
from fer_browser.core.normalize import normalize  # noqa: E402

OPTIMIZER_IMPL = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def make_step(name: str, channels_last: bool, precision: str, compiled: bool, impl: str, threads: int | None,
              batch_size: int, hparams: dict):
    """A closure running one training step of a fresh model in this configuration."""
    torch.manual_seed(0)
    model = build_model(name, 7, hparams)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3, **OPTIMIZER_IMPL[impl])
    forward = torch.compile(model) if compiled else model
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 48, 48), dtype=torch.uint8)
    labels = torch.randint(0, 7, (batch_size,))

    def step() -> float:
        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        x = augment_batch(normalize(images, DEFAULT_PREPROCESSING), gen, rotate=10, shift=0.05, scale=0.05)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logp = forward(x)
        loss = F.nll_loss(logp.float(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t0
    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["baseline", "vgg"])
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--formats", nargs="+", default=["contiguous", "channels-last"], choices=["contiguous", "channels-last"])
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument("--compile", nargs="+", default=["eager"], choices=["eager", "inductor"],
                   help="eager, or the model wrapped in torch.compile (inductor)")
    p.add_argument("--optimizer-impl", nargs="+", default=["for-loop"], choices=list(OPTIMIZER_IMPL),
                   help="Adam's implementation (torch's CPU default is for-loop)")
    p.add_argument("--threads", type=int, nargs="+", default=[0], help="torch threads (default: torch's choice)")
    p.add_argument("--hparams", type=json.loads, default={},
                   help="model hyper-parameters as JSON for every model, e.g. '{\"input_size\": 64}' for faceres")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default, batch {args.batch_size}, "
          f"median of {args.batches} steps after 3 warm-up steps\n")
    print("| model | params | memory format | precision | compile | Adam | threads | first step s | ms / batch "
          "| images / s | time vs first row |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    default_threads = torch.get_num_threads()
    for name in args.models:
        configs = list(itertools.product(args.formats, args.precision, args.compile, args.optimizer_impl, args.threads))
        steps = {c: make_step(name, c[0] == "channels-last", c[1], c[2] == "inductor", c[3], c[4] or default_threads,
                              args.batch_size, args.hparams) for c in configs}
        times = {c: [] for c in configs}
        first = {}
        for i in range(args.batches + 3):
            for c in configs:
                t = steps[c]()
                if i == 0:
                    first[c] = t
                if i >= 3:
                    times[c].append(t)
        n = count_parameters(build_model(name, 7, args.hparams))
        base = statistics.median(times[configs[0]])
        for c, ts in times.items():
            t = statistics.median(ts)
            fmt, prec, comp, impl, threads = c
            print(f"| {name} | {n:,} | {fmt} | {prec} | {comp} | {impl} | {threads or default_threads} | "
                  f"{first[c]:.1f} | {t * 1000:.0f} | {args.batch_size / t:.0f} | {t / base:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
