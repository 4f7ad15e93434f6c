"""A compact VGG-style CNN sized for the browser (well under a million parameters).

3x3 conv + BN + ReLU blocks (a count per stage), 2x2 max-pool after each stage, global average pooling,
one linear layer. Global average pooling keeps the classifier tiny and exports as one static op.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactVGG(nn.Module):
    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (24, 48, 96, 192),
                 convs_per_stage: int | tuple[int, ...] | list[int] = (1, 2, 2, 2), dropout: float = 0.3):
        super().__init__()
        # An int means that many convs per stage but one in the last; a list gives each stage's count.
        if isinstance(convs_per_stage, int):
            convs_per_stage = [convs_per_stage] * (len(widths) - 1) + [1]
        convs_per_stage = list(convs_per_stage)
        if len(convs_per_stage) != len(widths) or min(convs_per_stage) < 1:
            raise ValueError(f"convs_per_stage {convs_per_stage} must give >= 1 conv for each of the {len(widths)} "
                             f"stages in widths {list(widths)} (set both together)")
        layers: list[nn.Module] = []
        cin = 1
        for w, convs in zip(widths, convs_per_stage):
            for _ in range(convs):
                layers += _conv(cin, w)
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
