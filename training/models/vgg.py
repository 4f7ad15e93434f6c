"""A compact VGG-style CNN sized for the browser (well under a million parameters).

3x3 conv + BN + ReLU blocks (a count per stage), 2x2 max-pool after each stage, global average pooling,
one linear layer. Global average pooling keeps the classifier tiny and exports as one static op.

`ranks` (one entry per conv, 0 = a full 3x3 conv) makes a conv spatially separable and low-rank: a 3x1
conv down to r channels, then a 1x3 conv back up (Jaderberg et al. 2014), 3r(cin + cout) multiply-adds
per pixel instead of 9 cin cout. `python -m training.factorize` starts such a model from a trained
one's weights (the best rank-r approximation of each conv).
"""
from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, rank: int = 0) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False) if not rank else nn.Sequential(
        nn.Conv2d(cin, rank, (3, 1), padding=(1, 0), bias=False),
        nn.Conv2d(rank, cout, (1, 3), padding=(0, 1), bias=False))
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactVGG(nn.Module):
    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (24, 48, 96, 192),
                 convs_per_stage: int | tuple[int, ...] | list[int] = (1, 2, 2, 2), dropout: float = 0.3,
                 ranks: list[int] | None = None):
        super().__init__()
        # An int means that many convs per stage but one in the last; a list gives each stage's count.
        if isinstance(convs_per_stage, int):
            convs_per_stage = [convs_per_stage] * (len(widths) - 1) + [1]
        convs_per_stage = list(convs_per_stage)
        if len(convs_per_stage) != len(widths) or min(convs_per_stage) < 1:
            raise ValueError(f"convs_per_stage {convs_per_stage} must give >= 1 conv for each of the {len(widths)} "
                             f"stages in widths {list(widths)} (set both together)")
        ranks = list(ranks or [0] * sum(convs_per_stage))
        if len(ranks) != sum(convs_per_stage) or any(not isinstance(r, int) or r < 0 for r in ranks):
            raise ValueError(f"ranks {ranks} must give one whole number >= 0 (0 = a full conv) for each of the "
                             f"{sum(convs_per_stage)} convs")
        layers: list[nn.Module] = []
        cin, rank = 1, iter(ranks)
        for w, convs in zip(widths, convs_per_stage):
            for _ in range(convs):
                layers += _conv(cin, w, next(rank))
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, widths[-1]) pooled features: the penultimate embedding, the classifier's input."""
        # mean over H, W (not AdaptiveAvgPool2d + flatten): exports as one ReduceMean, where a
        # flatten turns into a dozen Shape/Slice/Reshape ops in the TF.js graph
        return self.features(x).mean((2, 3))

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.log_softmax(self.fc(self.dropout(e)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))
