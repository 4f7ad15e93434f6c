"""Data-parallel training helpers on torch.distributed: process group, sharding, reductions, sync BN.

training.train runs as one plain process, or as one of N processes started by `torchrun`
(which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT). Backends: NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


# The public differentiable all_reduce is marked deprecated in favour of a private module; it works.
warnings.filterwarnings("ignore", message="torch.distributed.nn.functional.all_reduce is deprecated")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str) -> tuple[World, str]:
    """Join the process group when started by torchrun; returns the world and this process's device."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"  # one GPU per process
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local_rank), device


def local_main_first(world: World, fn):
    """fn() on local rank 0 first (it fills the on-disk data cache), then on the other local ranks."""
    if not world.active:
        return fn()
    result = fn() if world.local_rank == 0 else None
    dist.barrier()
    return result if world.local_rank == 0 else fn()


def teardown(finished: bool) -> None:
    """Leave the process group. After a finished run every rank waits for the others first, so no rank
    tears its connections down while rank 0 is still writing (a gloo peer vanishing mid-run can abort)."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def shard(order: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's share of an epoch's order, as torch's DistributedSampler does it: padded by
    wrapping to a multiple of the world size, then every size-th index from `rank`. So batch b of
    every rank together is exactly batch b of a single process with the global batch size."""
    if not world.active:
        return order
    total = -(-len(order) // world.size) * world.size
    padded = torch.cat([order, order[:total - len(order)]]) if total > len(order) else order
    return padded[world.rank:total:world.size]


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation on every rank (seeded by seed and epoch, like DistributedSampler.set_epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def sum_across(values: list[float], world: World) -> list[float]:
    """Element-wise sum over all ranks (metrics: loss sums, correct counts, sample counts)."""
    if not world.active:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def gather_objects(obj, world: World) -> list:
    """Every rank's obj, in rank order, on every rank (per-rank RNG states for the checkpoint)."""
    if not world.active:
        return [obj]
    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, world: World):
    """Rank 0's obj on every rank (the resumed checkpoint: only rank 0 needs to see OUT)."""
    if not world.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose batch statistics span all ranks, for CPU/gloo, where torch's SyncBatchNorm
    refuses to run (it supports GPU tensors only). Sums are combined with torch's differentiable
    all_reduce, so autograd reduces the statistics' gradients too; the state_dict is BatchNorm2d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        x = x.float()  # statistics in fp32 also under bf16/fp16 autocast
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean  # biased, as BatchNorm normalises with
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape)


def sync_batchnorm(model: nn.Module, device: str) -> nn.Module:
    """Batch statistics over the global batch: torch's SyncBatchNorm on CUDA, CpuSyncBatchNorm on CPU."""
    if device.startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d and child.affine and child.track_running_stats and child.momentum:
            child.__class__ = CpuSyncBatchNorm  # same parameters and buffers, only forward differs
        else:
            sync_batchnorm(child, device)
    return model


def wrap(model: nn.Module, world: World, device: str) -> nn.Module:
    if not world.active:
        return model
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


__all__ = ["World", "setup", "teardown", "shard", "epoch_order", "sum_across", "gather_objects",
           "broadcast_object", "local_main_first", "sync_batchnorm", "wrap", "unwrap", "launched_by_torchrun"]
