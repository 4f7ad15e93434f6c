"""A compact VGG-style CNN sized for the browser (a few hundred thousand parameters).

Pairs of 3x3 conv + BN + ReLU per stage, 2x2 max-pool between stages, global average pooling,
one linear layer. Global pooling keeps the classifier tiny and exports as one static op.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactVGG(nn.Module):
    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (32, 64, 128, 160),
                 convs_per_stage: int = 2, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for i, w in enumerate(widths):
            for j in range(convs_per_stage if i < len(widths) - 1 else 1):
                layers += _conv(cin, w)
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        return self.log_softmax(self.fc(self.dropout(x)))
