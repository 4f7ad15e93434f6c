"""Augmentation on whole batches of tensors (no per-image PIL round trips): fast on a 2-core CPU.

Random horizontal flip, rotation, shift and scale in one affine warp per batch (affine_grid +
grid_sample), plus optional random erasing. All randomness comes from the given generator so a
resumed run replays exactly the same augmentations.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment_batch(x: torch.Tensor, gen: torch.Generator, flip: bool = True, rotate: float = 0.0,
                  shift: float = 0.0, scale: float = 0.0, erase: float = 0.0) -> torch.Tensor:
    """x: (N,1,H,W) float. rotate in degrees, shift as a fraction of the size, scale as +-fraction."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = uniform(-rotate, rotate) * math.pi / 180
    zoom = 1.0 + uniform(-scale, scale)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    tx, ty = uniform(-shift, shift) * 2, uniform(-shift, shift) * 2
    if rotate or scale or shift or flip:
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if erase > 0:
        x = random_erase(x, gen, erase)
    return x


def random_erase(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Blank one random rectangle (2-20 % of the area) in a fraction p of the images."""
    n, _, h, w = x.shape
    apply = torch.rand(n, generator=gen) < p
    area = torch.rand(n, generator=gen) * 0.18 + 0.02
    aspect = torch.exp(torch.rand(n, generator=gen) * 1.6 - 0.8)
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w).long()
    y0 = (torch.rand(n, generator=gen) * (h - eh + 1)).long()
    x0 = (torch.rand(n, generator=gen) * (w - ew + 1)).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + eh).view(-1, 1, 1))
            & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + ew).view(-1, 1, 1)) & apply.view(-1, 1, 1))
    return x.masked_fill(mask.unsqueeze(1), 0.0)
