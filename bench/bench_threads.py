"""Training step time under different CPU threading settings, each in its own process.

    python bench/bench_threads.py [--settings 1 2 2:passive 2:GOMP_SPINCOUNT=10000] [--rounds 8] [--chunk 5]

OpenMP settings are read once when torch loads, so each setting runs in a worker process of its
own: `T` = torch.set_num_threads(T) with OMP_WAIT_POLICY and GOMP_SPINCOUNT unset (libgomp's
default: an idle thread spins about 300,000 times before it sleeps), `T:passive` adds
OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once), `T:NAME=VALUE,...` sets those variables.
Besides wall time per step the workers report their CPU time per step (spinning shows there). The workers take turns, --chunk steps each per
round (round-robin), so that other load on the machine hits them alike; each times full training
steps of the shipped model (vgg, channels-last, augmentation + forward + backward + AdamW, batch 64)
and the table gives medians and each setting's time relative to the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import sys, time, json, torch
sys.path.insert(0, sys.argv[1])
from fer_browser.training.augment import augment_batch
from fer_browser.core.metadata import DEFAULT_PREPROCESSING
from fer_browser.training.models import build_model
from fer_browser.core.normalize import normalize
torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0)
model = build_model("vgg", 7).to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=0.05)
gen = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (64, 48, 48), dtype=torch.uint8)
targets = torch.softmax(torch.randn(64, 7, generator=gen), 1)
print("ready", flush=True)
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        t0, c0 = time.perf_counter(), time.process_time()
        x = augment_batch(normalize(images, DEFAULT_PREPROCESSING), gen, rotate=12, shift=0.08, scale=0.1, erase=0.25)
        loss = -(targets * model(x.contiguous(memory_format=torch.channels_last))).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    print(json.dumps(times), flush=True)
"""


def start(setting: str) -> subprocess.Popen:
    threads, _, policy = setting.partition(":")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif policy:
        env.update(item.split("=", 1) for item in policy.split(","))
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(ROOT), threads], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"worker for {setting} failed to start")
    return proc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", default=["2", "2:GOMP_SPINCOUNT=10000", "2:passive", "1"])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--chunk", type=int, default=5, help="steps per worker per round")
    args = p.parse_args(argv)
    workers = {s: start(s) for s in args.settings}
    times = {s: [] for s in args.settings}
    try:
        for r in range(args.rounds + 1):  # round 0 warms up
            for s, proc in workers.items():
                proc.stdin.write(f"{args.chunk}\n")
                proc.stdin.flush()
                got = json.loads(proc.stdout.readline())
                if r:
                    times[s] += got
    finally:
        for proc in workers.values():
            proc.stdin.close()
            proc.wait()
    print(f"{os.cpu_count()} CPUs; median of {args.rounds * args.chunk} steps per setting "
          f"({args.rounds} rounds of {args.chunk}, after one warm-up round)\n")
    print("| setting | ms / step | images / s | time vs first | CPU ms / step |")
    print("|---|---|---|---|---|")
    base = statistics.median(t for t, _ in times[args.settings[0]])
    for s, ts in times.items():
        t, cpu = statistics.median(t for t, _ in ts), statistics.median(c for _, c in ts)
        print(f"| {s} | {t * 1000:.0f} | {64 / t:.0f} | {t / base:.2f} | {cpu * 1000:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
