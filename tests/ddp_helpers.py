"""Run training.train as the ranks of a real process group (gloo on CPU), started from a test."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, argv: list[str], stop_after: int | None) -> None:
    # what torchrun sets for each worker
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from fer_browser.training import train as train_mod

    def hook(epoch):
        if epoch == stop_after:
            raise KeyboardInterrupt

    try:
        train_mod.train(train_mod.parse_args(argv), on_epoch_end=hook)
    except KeyboardInterrupt:
        pass


def spawn_training(argv: list[str], world: int = 2, stop_after: int | None = None) -> None:
    """training.train.train() in `world` spawned processes; stop_after=E interrupts after epoch E."""
    mp.spawn(_rank, args=(world, free_port(), argv, stop_after), nprocs=world, join=True)


def torchrun(argv: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run` (= torchrun) on training.train, as a user would start it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port",
           str(free_port()), "-m", "training.train", *argv]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
