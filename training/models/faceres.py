"""The seed's "model pretrained with face data": HSE FaceRes, fine-tuned for expressions.

FaceRes (A. Savchenko, github.com/av-savchenko/HSE_FaceRec_tf, converted to TF.js by Human: npm
@vladmandic/human, MIT; its models/faceres.json names the origin) is a MobileNet v1 (alpha 1, ReLU6) trained on VGGFace2 identities, with age
and gender heads; input 224x224. The original's own code (facial_analysis.py there) feeds Caffe-style
pixels: BGR, 0..255 minus the ImageNet channel means, which `CAFFE_BGR_MEAN` keeps (Human feeds plain
RGB 0..255; for our grey faces only the mean differs, and on the test faces both give the same
gender and near embeddings). Its graph folds every batch norm: regular convs carry
the BN scale in their kernel, depthwise convs keep a separate per-channel Mul, and both end in an Add.
Here each becomes Conv2d + BatchNorm2d (scale, shift; running mean 0, var 1 - eps), which reproduces
the graph exactly in eval mode (tests/test_faceres_model.py runs the original with TF.js in Node).

The graph keeps no BN statistics to re-estimate from, so a pretrained trunk trains with frozen BN
statistics (its scales and shifts still learn, like detectron's FrozenBatchNorm); a random-init trunk
(pretrained=False, the from-scratch comparison) trains with ordinary batch statistics.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import TrainingError
from fer_browser.core.metadata import DEFAULT_INPUT, DEFAULT_PREPROCESSING
from fer_browser.core.tfjs_weights import read_graph_model

# MobileNet v1 after conv1 (32 channels, stride 2): (pointwise width, depthwise stride) per block.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
BN_EPS = 1e-3  # Keras' default, what the original trained with
EMBEDDING = 1024  # width of the pooled embedding (the graph's global_pooling/Mean)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # subtracted from B, G, R (input channels 0, 1, 2)


def _same_pads(size: int, stride: int, k: int = 3) -> tuple[int, int]:
    """TF 'SAME' padding (before, after): the extra pixel goes after, unlike PyTorch's symmetric pad."""
    total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv (regular or depthwise) + BN + ReLU6, padded like TF's SAME for a fixed input size."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, size: int, depthwise: bool = False):
        super().__init__()
        before, after = _same_pads(size, stride, k)
        self.out_size = math.ceil(size / stride)
        # An asymmetric SAME pad (p, p + 1) exports to ONNX with Concat ops. Instead pad p + stride on
        # every side and drop the first output row and column (and any extra at the end): one Slice.
        self.crop = before != after
        pad = before + stride if self.crop else before
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=pad, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.crop:
            x = x[:, :, 1:self.out_size + 1, 1:self.out_size + 1]
        return self.act(self.bn(x))


class FaceResTrunk(nn.Module):
    """(N, 3, S, S) pixels, as the graph's input (see CAFFE_BGR_MEAN) -> (N, 1024) pooled embedding."""

    def __init__(self, input_size: int = 224):
        super().__init__()
        layers, names = [ConvBN(3, 32, 3, 2, input_size)], ["conv1"]
        cin, size = 32, layers[0].out_size
        for i, (cout, stride) in enumerate(BLOCKS, 1):
            dw = ConvBN(cin, cin, 3, stride, size, depthwise=True)
            layers += [dw, ConvBN(cin, cout, 1, 1, dw.out_size)]
            names += [f"conv_dw_{i}", f"conv_pw_{i}"]
            cin, size = cout, dw.out_size
        self.layers = nn.Sequential(*layers)
        self.tf_names = names  # graph name of each layer, for load_graph_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).mean((2, 3))


class FaceResHeads(nn.Module):
    """The graph's own heads on the embedding: feats (256, ReLU) -> age (100-way softmax), gender (sigmoid)."""

    def __init__(self):
        super().__init__()
        self.feats, self.age, self.gender = nn.Linear(EMBEDDING, 256), nn.Linear(256, 100), nn.Linear(256, 1)

    def forward(self, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        f = torch.relu(self.feats(emb))
        return {"embedding": emb, "age": torch.softmax(self.age(f), 1), "gender": torch.sigmoid(self.gender(f))}


def _copy(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(f"faceres weights: {name} has shape {value.shape}, the module expects {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value, np.float32)))


def load_graph_weights(trunk: FaceResTrunk, heads: FaceResHeads | None = None, model_json=None) -> None:
    """Copy FaceRes's weights from its TF.js files into the modules; ValueError if the graph differs."""
    from fer_browser.paths import FACERES_JSON

    model_json = Path(model_json or FACERES_JSON)
    if not model_json.is_file():
        # a wheel never carries these files (not served): training faceres needs a checkout
        raise TrainingError(f"faceres needs the pretrained weights of npm @vladmandic/human ({model_json.name} "
                         "not found): run `npm ci` in a checkout of the repository")
    graph, w = read_graph_model(model_json)
    nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
    for layer, name in zip(trunk.layers, trunk.tf_names):
        depthwise = name.startswith("conv_dw")
        node = nodes[f"{name}/depthwise" if depthwise else f"{name}_bn/batchnorm_1/mul_1"]
        strides = [int(s) for s in node["attr"]["strides"]["list"]["i"]]
        if strides[1:3] != [layer.conv.stride[0]] * 2:
            raise ValueError(f"faceres weights: {name} has strides {strides}, the module expects {layer.conv.stride}")
        if not np.allclose([w[f"{name}_relu/Cast"], w[f"{name}_relu/Const_1"]], [6.0, 0.0]):
            raise ValueError(f"faceres weights: {name}'s activation is not ReLU6")
        if depthwise:  # TF (kh, kw, C, 1) -> torch (C, 1, kh, kw); BN scale is a separate Mul
            kernel, scale = w[f"{name}/depthwise_kernel"].transpose(2, 3, 0, 1), w[f"{name}_bn/batchnorm_1/mul"]
        else:  # TF (kh, kw, Cin, Cout) -> torch (Cout, Cin, kh, kw); BN scale already folded in
            kernel = w[f"{name}/convolution/merged_input"].transpose(3, 2, 0, 1)
            scale = np.ones(kernel.shape[0], np.float32)
        _copy(layer.conv.weight, kernel, name)
        _copy(layer.bn.weight, scale, f"{name} BN scale")
        _copy(layer.bn.bias, w[f"{name}_bn/batchnorm_1/sub"], f"{name} BN shift")
        layer.bn.running_mean.zero_()
        layer.bn.running_var.fill_(1.0 - BN_EPS)  # (x - 0) / sqrt(var + eps) = x
    if heads is not None:
        for name in ("feats", "age", "gender"):
            linear = getattr(heads, name)
            tf_name = "age_pred" if name == "age" else "gender_pred" if name == "gender" else name
            _copy(linear.weight, w[f"{tf_name}/kernel"].T, f"{tf_name}/kernel")
            _copy(linear.bias, w[f"{tf_name}/bias"], f"{tf_name}/bias")


class FaceResNet(nn.Module):
    """The whole original at 224 px, for checking the port: (N, 3, 224, 224) -> embedding, age, gender."""

    def __init__(self, model_json=None):
        super().__init__()
        self.trunk, self.heads = FaceResTrunk(224), FaceResHeads()
        load_graph_weights(self.trunk, self.heads, model_json)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.trunk(x))


def bilinear_matrix(out_size: int, in_size: int) -> torch.Tensor:
    """(out, in) matrix M with M @ column = bilinear resize, half-pixel centres (F.interpolate,
    align_corners=False). A constant MatMul exports to ONNX/TF.js more simply than Resize."""
    m = torch.zeros(out_size, in_size)
    for i in range(out_size):
        src = max((i + 0.5) * in_size / out_size - 0.5, 0.0)
        i0 = min(int(src), in_size - 1)
        i1, frac = min(i0 + 1, in_size - 1), src - i0
        m[i, i0] += 1.0 - frac
        m[i, i1] += frac
    return m


class FaceResFER(nn.Module):
    """Our standard input (N, 1, 48, 48), normalised grayscale -> log-probabilities (N, classes).

    Resizes to input_size (224 is FaceRes's own; smaller is cheaper on a CPU, the trunk is fully
    convolutional), undoes our normalisation to 0..255 and repeats the grey into B, G and R minus
    their Caffe means.
    """

    def __init__(self, num_classes: int = 7, input_size: int = 112, pretrained: bool = True,
                 dropout: float = 0.3, read_pretrained: bool = True):
        super().__init__()
        if not 32 <= int(input_size) <= 448:
            raise ValueError(f"faceres input_size must be 32..448 px, got {input_size}")
        src = DEFAULT_INPUT["height"]
        if DEFAULT_INPUT["width"] != src:
            raise ValueError("faceres expects a square model input")
        resize = bilinear_matrix(int(input_size), src)
        self.register_buffer("resize", resize, persistent=False)
        self.register_buffer("resize_t", resize.t().contiguous(), persistent=False)
        # x = (pixels / scale - mean) / std  ->  pixels = x * std * scale + mean * scale, then minus
        # each channel's Caffe mean
        p = DEFAULT_PREPROCESSING
        self.register_buffer("gain", torch.full((1, 3, 1, 1), p["std"] * p["pixel_scale"]), persistent=False)
        offset = torch.tensor(CAFFE_BGR_MEAN).reshape(1, 3, 1, 1)
        self.register_buffer("offset", p["mean"] * p["pixel_scale"] - offset, persistent=False)
        self.trunk = FaceResTrunk(int(input_size))
        self.frozen_bn = bool(pretrained)  # a pretrained trunk trains with frozen BN, also when loaded from a checkpoint
        if pretrained and read_pretrained:
            load_graph_weights(self.trunk)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(EMBEDDING, num_classes)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def train(self, mode: bool = True) -> "FaceResFER":
        super().train(mode)
        if self.frozen_bn:  # pretrained statistics are baked into the weights: never batch statistics
            for m in self.trunk.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):  # SyncBatchNorm too (DDP)
                    m.eval()
        return self

    def trunk_input(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 48, 48) model input -> (N, 3, S, S) Caffe-style pixels, what FaceRes was trained on."""
        x = torch.matmul(torch.matmul(self.resize, x), self.resize_t)
        return x * self.gain + self.offset  # broadcasting 1 -> 3 channels: no Concat/Expand in the export

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1024): FaceRes's pooled embedding, the expression head's input."""
        return self.trunk(self.trunk_input(x))

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.log_softmax(self.fc(self.dropout(e)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))
