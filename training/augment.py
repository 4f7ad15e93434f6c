"""Augmentation on whole batches of tensors (no per-image PIL round trips): fast on a 2-core CPU.

Random horizontal flip, rotation, shift and scale in one affine warp per batch (affine_grid +
grid_sample), plus optional random erasing. All randomness comes from the given generator so a
resumed run replays exactly the same augmentations. Under data-parallel training every process
draws the parameters for the whole global batch from the same generator and keeps its own rows,
so N processes augment each image exactly as one process would.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_batch(x: torch.Tensor, gen: torch.Generator, flip: bool = True, rotate: float = 0.0,
                  shift: float = 0.0, scale: float = 0.0, erase: float = 0.0,
                  rows: torch.Tensor | None = None, total: int | None = None) -> torch.Tensor:
    """x: (N,1,H,W) float. rotate in degrees, shift as a fraction of the size, scale as +-fraction.
    rows/total: x holds rows `rows` of a global batch of `total` images (data-parallel training)."""
    n = x.shape[0]
    rand = _drawer(gen, n, rows, total)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return rand() * (hi - lo) + lo

    angle = uniform(-rotate, rotate) * math.pi / 180
    zoom = 1.0 + uniform(-scale, scale)
    sign = torch.where(rand() < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    tx, ty = uniform(-shift, shift) * 2, uniform(-shift, shift) * 2
    if rotate or scale or shift or flip:
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
        theta = theta.to(x.device, x.dtype)  # parameters come from a CPU generator; x may live on a GPU
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if erase > 0:
        x = random_erase(x, gen, erase, rows, total)
    return x


def _drawer(gen: torch.Generator, n: int, rows: torch.Tensor | None, total: int | None):
    """rand() -> n uniforms: this batch's rows of a draw for the whole (global) batch."""
    if rows is None:
        return lambda: torch.rand(n, generator=gen)
    return lambda: torch.rand(total, generator=gen)[rows]


def random_erase(x: torch.Tensor, gen: torch.Generator, p: float, rows: torch.Tensor | None = None,
                 total: int | None = None) -> torch.Tensor:
    """Blank one random rectangle (2-20 % of the area) in a fraction p of the images."""
    n, _, h, w = x.shape
    rand = _drawer(gen, n, rows, total)
    apply = rand() < p
    area = rand() * 0.18 + 0.02
    aspect = torch.exp(rand() * 1.6 - 0.8)
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w).long()
    y0 = (rand() * (h - eh + 1)).long()
    x0 = (rand() * (w - ew + 1)).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + eh).view(-1, 1, 1))
            & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + ew).view(-1, 1, 1)) & apply.view(-1, 1, 1))
    return x.masked_fill(mask.unsqueeze(1).to(x.device), 0.0)
