"""The seed's "attention model": a compact CNN whose later stages carry squeeze-excitation (channel
attention), topped by multi-head self-attention over the 6x6 grid of feature tokens.

Built for the whole conversion chain (ONNX opset 12 -> onnx-tf -> TF.js wasm): every reshape has
static sizes (no Shape/Gather ops), attention is explicit MatMuls (TF.js wasm has no Einsum), no
GridSample/spatial transformer (onnx-tf 1.10 has none), ReLU rather than GELU in the MLP.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .vgg import _conv


class SqueezeExcite(nn.Module):
    """Channel attention: global mean -> bottleneck -> sigmoid gate per channel."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.channels = channels
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * g.reshape(-1, self.channels, 1, 1)


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention + MLP block over a fixed number of tokens."""

    def __init__(self, dim: int, heads: int, tokens: int, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} must be divisible by heads {heads}")
        self.heads, self.head_dim, self.tokens = heads, dim // heads, tokens
        self.norm1 = nn.LayerNorm(dim)
        # three projections, not one sliced in three: onnx-tf turns each Slice into a dozen
        # SparseToDense/GatherNd ops in the TF.js graph
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.last_weights: torch.Tensor | None = None  # (N, heads, T, T), kept for attention maps

    def _split(self, t: torch.Tensor) -> torch.Tensor:  # (N, T, D) -> (N, heads, T, d), static sizes
        return t.reshape(-1, self.tokens, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        q, k, v = self._split(q), self._split(k), self._split(v)
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim), dim=-1)
        self.last_weights = w.detach()
        a = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(-1, self.tokens, self.heads * self.head_dim)
        x = x + self.proj(a)
        return x + self.mlp(self.norm2(x))


class AttentionCNN(nn.Module):
    """Conv stages (SE from the second on) down to 6x6, then self-attention over the 36 tokens."""

    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (24, 48, 96, 192),
                 convs_per_stage: tuple[int, ...] | list[int] = (1, 2, 2), heads: int = 4,
                 attention_layers: int = 1, dropout: float = 0.3):
        super().__init__()
        convs_per_stage = list(convs_per_stage)
        if len(convs_per_stage) != len(widths) - 1:
            raise ValueError(f"convs_per_stage {convs_per_stage} must give one count per conv stage: "
                             f"{len(widths) - 1} for widths {list(widths)} (the last width is the token width)")
        layers: list[nn.Module] = []
        cin = 1
        for i, (w, convs) in enumerate(zip(widths[:-1], convs_per_stage)):
            for _ in range(convs):
                layers += _conv(cin, w)
                cin = w
            if i > 0:
                layers.append(SqueezeExcite(w))
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = 48 // 2 ** (len(widths) - 1)
        self.tokens = side * side
        dim = self.dim = widths[-1]
        self.embed = nn.Sequential(*_conv(cin, dim))  # 3x3 conv as the token embedding
        self.pos = nn.Parameter(torch.zeros(1, self.tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(SelfAttention(dim, heads, self.tokens) for _ in range(attention_layers))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(self.features(x))                      # (N, D, 6, 6)
        x = x.reshape(-1, self.dim, self.tokens).permute(0, 2, 1)    # (N, 36, D) tokens
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.norm(x).mean(1)
        return self.log_softmax(self.fc(self.dropout(x)))

    def attention_map(self) -> torch.Tensor | None:
        """Mean attention each token receives in the last block, as (N, side, side), after a forward."""
        w = self.blocks[-1].last_weights if self.blocks else None
        if w is None:
            return None
        side = int(math.isqrt(self.tokens))
        return w.mean(1).mean(1).reshape(-1, side, side)
