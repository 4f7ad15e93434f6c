"""The seed's baseline CNN (Face_Emotion_CNN), layer for layer.

One change from the seed's code: `x.view(x.size(0), -1)` becomes `torch.flatten(x, 1)`, which
exports to ONNX as a single static Flatten op (the view form exports as Shape/Gather/Unsqueeze/
Concat/Reshape, which onnx-tf and TF.js handle badly: conversion notes, pitfall 4).
"""
from __future__ import annotations

import torch
from torch import nn


class BaselineCNN(nn.Module):
    def __init__(self, num_classes: int = 7, dropout: float = 0.3):
        super().__init__()
        self.cnn1 = nn.Conv2d(1, 8, kernel_size=3)
        self.cnn2 = nn.Conv2d(8, 16, kernel_size=3)
        self.cnn3 = nn.Conv2d(16, 32, kernel_size=3)
        self.cnn4 = nn.Conv2d(32, 64, kernel_size=3)
        self.cnn5 = nn.Conv2d(64, 128, kernel_size=3)
        self.cnn6 = nn.Conv2d(128, 256, kernel_size=3)
        self.cnn7 = nn.Conv2d(256, 256, kernel_size=3)
        self.relu = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.cnn1_bn = nn.BatchNorm2d(8)
        self.cnn2_bn = nn.BatchNorm2d(16)
        self.cnn3_bn = nn.BatchNorm2d(32)
        self.cnn4_bn = nn.BatchNorm2d(64)
        self.cnn5_bn = nn.BatchNorm2d(128)
        self.cnn6_bn = nn.BatchNorm2d(256)
        self.cnn7_bn = nn.BatchNorm2d(256)
        self.fc1 = nn.Linear(1024, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 256): the input of the last Linear layer (fc3)."""
        x = self.relu(self.pool1(self.cnn1_bn(self.cnn1(x))))
        x = self.relu(self.pool1(self.cnn2_bn(self.dropout(self.cnn2(x)))))
        x = self.relu(self.pool1(self.cnn3_bn(self.cnn3(x))))
        x = self.relu(self.pool1(self.cnn4_bn(self.dropout(self.cnn4(x)))))
        x = self.relu(self.pool2(self.cnn5_bn(self.cnn5(x))))
        x = self.relu(self.pool2(self.cnn6_bn(self.dropout(self.cnn6(x)))))
        x = self.relu(self.pool2(self.cnn7_bn(self.dropout(self.cnn7(x)))))
        x = torch.flatten(x, 1)
        x = self.relu(self.dropout(self.fc1(x)))
        return self.relu(self.dropout(self.fc2(x)))

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.log_softmax(self.fc3(e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))
