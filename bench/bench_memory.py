"""Peak memory of training from a folder dataset, for growing dataset sizes, and from the FER CSV (issue 13).

    python bench/bench_memory.py [--sizes 20000 200000] [--steps 300] [--keep DIR]
    python bench/bench_memory.py --fer [--csv F --votes F] [--code . OTHER_CHECKOUT] [--steps 100]

For each size: writes N synthetic 48x48 PNG faces (7 classes, plus a 1,000-image val split) into
a temp folder, then runs, each in a fresh process, (1) the parallel decode into the on-disk cache
and (2) `python -m training.train --folder ... --epoch-steps STEPS` (vgg, batch 64, one epoch whose
batches are drawn from a shuffle of all N images), and reports each process's peak resident memory
(max RSS from wait4, the process plus its decode workers' largest). The images and cache are
deleted afterwards unless --keep.

--fer measures FER2013/FERPlus instead (--csv/--votes, default: found as training finds them), for
each checkout in --code (default: this one; give an export of another branch to compare loaders):
the decode alone into an empty cache, the same load again finding the cache (no torch: the data's
own cost), a first training run that decodes into an empty cache itself, and a second run that
finds the cache (ferplus labels, vgg, one epoch of --steps batches, then the
PublicTest pass). Each checkout gets its own empty cache folder.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _write_chunk(job: tuple[str, int, int]) -> int:
    """Faces as blurred noise with a class-specific bright band (learnable, compressible PNGs)."""
    folder, start, count = job
    rng = np.random.default_rng(start)
    for i in range(start, start + count):
        y = i % len(CLASSES)
        img = cv2.GaussianBlur(rng.normal(110, 40, (48, 48)), (5, 5), 0)
        img[3 + 6 * y:7 + 6 * y, 6:42] += 80
        out = Path(folder) / CLASSES[y] / f"{i:07d}.png"
        cv2.imwrite(str(out), np.clip(img, 0, 255).astype(np.uint8))
    return count


def make_folder(root: Path, n_train: int, n_val: int = 1000, chunk: int = 2000) -> None:
    jobs = []
    for split, n, offset in (("train", n_train, 0), ("val", n_val, 10_000_000)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True, exist_ok=True)
        jobs += [(str(root / split), offset + s, min(chunk, n - s)) for s in range(0, n, chunk)]
    with ProcessPoolExecutor(os.cpu_count()) as pool, tqdm(total=n_train + n_val, desc="writing PNGs",
                                                         unit=" img", file=sys.stderr) as bar:
        for done in pool.map(_write_chunk, jobs):
            bar.update(done)


def run_measured(cmd: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of a child process."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        print(err[-2000:], file=sys.stderr)
    return usage.ru_maxrss / 1024, time.time() - t0, proc.returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    p.add_argument("--steps", type=int, default=300, help="training batches per size")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch threads for training (default 1: a shared CPU)")
    p.add_argument("--workdir", type=Path, help="where to put the images (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the generated images and cache")
    p.add_argument("--fer", action="store_true", help="measure the FER2013/FERPlus CSV instead of folders")
    p.add_argument("--csv", type=Path, help="--fer: FER2013 CSV (default: ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="--fer: FERPlus fer2013new.csv (default: found likewise)")
    p.add_argument("--code", type=Path, nargs="+", default=[ROOT],
                   help="--fer: checkouts whose training.train to run (default: this one)")
    args = p.parse_args(argv)
    if args.fer:
        return fer_main(args)
    work = Path(tempfile.mkdtemp(prefix="fer-bench-memory-", dir=args.workdir))
    py = sys.executable
    rows = []
    try:
        for n in args.sizes:
            folder = work / f"faces-{n}"
            t0 = time.time()
            make_folder(folder, n)
            print(f"{n:,} images written in {time.time() - t0:.0f}s "
                  f"({sum(f.stat().st_size for f in folder.rglob('*.png')) / 2**20:.0f} MiB)", file=sys.stderr)
            env = {**os.environ, "FER_CACHE_DIR": str(work / "cache")}
            decode = run_measured([py, "-c", "import sys; from training.datasets import load_folder_dataset as l; "
                                   f"l(sys.argv[1], progress=True)", str(folder)], env)
            train = run_measured([py, "-m", "training.train", "--folder", str(folder), "--model", "vgg",
                                  "--epochs", "1", "--epoch-steps", str(args.steps), "--threads", str(args.threads), "--batch-size",
                                  str(args.batch_size), "--no-progress", "--out", str(work / f"run-{n}")], env)
            if decode[2] or train[2]:
                return 1
            rows.append((n, decode, train))
            shutil.rmtree(folder)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nvgg, batch {args.batch_size}, {args.steps} steps, {args.threads} torch thread(s)\n")
    print("| training images | decode: peak RSS | decode time | train: peak RSS | train time |")
    print("|---|---|---|---|---|")
    for n, (d_rss, d_s, _), (t_rss, t_s, _) in rows:
        print(f"| {n:,} | {d_rss:.0f} MiB | {d_s:.0f} s | {t_rss:.0f} MiB | {t_s:.0f} s |")
    return 0


def fer_main(args) -> int:
    sys.path.insert(0, str(ROOT))
    from fer_browser.training.datasets import find_default
    csv, votes = args.csv or find_default("fer2013.csv"), args.votes or find_default("fer2013new.csv")
    if csv is None or votes is None:
        print("error: no FER2013 CSV / FERPlus votes found; pass --csv and --votes", file=sys.stderr)
        return 2
    csv, votes = Path(csv).resolve(), Path(votes).resolve()
    work = Path(tempfile.mkdtemp(prefix="fer-bench-memory-", dir=args.workdir))
    py, rows = sys.executable, []
    decode_code = ("import sys; from training.datasets import load_csv_dataset as l; "
                   "l(sys.argv[1], 'ferplus', sys.argv[2], progress=True)")
    try:
        for i, code in enumerate(args.code):
            code = code.resolve()
            train = [py, "-m", "training.train", "--csv", str(csv), "--votes", str(votes), "--label-set", "ferplus",
                     "--model", "vgg", "--epochs", "1", "--epoch-steps", str(args.steps), "--threads",
                     str(args.threads), "--batch-size", str(args.batch_size), "--no-progress"]
            env = {**os.environ, "FER_CACHE_DIR": str(work / f"cache-{i}-decode")}
            decode = run_measured([py, "-c", decode_code, str(csv), str(votes)], env, cwd=code)
            load = run_measured([py, "-c", decode_code, str(csv), str(votes)], env, cwd=code)  # cache found
            env["FER_CACHE_DIR"] = str(work / f"cache-{i}")
            first = run_measured([*train, "--out", str(work / f"run-{i}-first")], env, cwd=code)
            again = run_measured([*train, "--out", str(work / f"run-{i}-again")], env, cwd=code)
            if decode[2] or load[2] or first[2] or again[2]:
                return 1
            rows.append((code, decode, load, first, again))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{csv.name} + {votes.name}, ferplus labels; vgg, batch {args.batch_size}, {args.steps} steps + "
          f"PublicTest, {args.threads} torch thread(s)\n")
    print("| code | decode alone: peak RSS | time | load from the cache alone: peak RSS | time "
          "| first run (decodes): peak RSS | time | second run (cached): peak RSS | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for code, *measured in rows:
        name = "this checkout" if code == ROOT else code.name
        print(f"| {name} | " + " | ".join(f"{rss:.0f} MiB | {sec:.0f} s" for rss, sec, _ in measured) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
