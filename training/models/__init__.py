"""Models behind a registry by name: training, conversion and the web metadata all say `name`.

Every model takes (N, 1, 48, 48) float32 and returns log-probabilities (N, num_classes).
Models with an embedding (vgg, baseline, faceres: the last Linear layer's input) also have
`embed(x) -> (N, D)` and `classify(e) -> log-probs`, with forward(x) == classify(embed(x)); the
conversion exports it as a second output (has_embedding). attention's `embed` is a submodule (its
token conv, a state-dict key), so it stays single-output.
Each entry carries its default hyper-parameters and its default training recipe.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import OptionError
from .attention import AttentionCNN
from .baseline import BaselineCNN
from .faceres import FaceResFER
from .vgg import CompactVGG


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    description: str
    hparams: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)  # defaults for training.train's options


REGISTRY: dict[str, ModelSpec] = {}
DEFAULT_MODEL = "vgg"  # training.train's default: the shipped model's recipe (its time: MODEL_CARD.md, Training)


def register(spec: ModelSpec) -> None:
    REGISTRY[spec.name] = spec


register(ModelSpec(
    "baseline", BaselineCNN, "The seed's baseline CNN (7 conv + 3 FC, 1.6M parameters)",
    hparams={"dropout": 0.3},
    # The seed's recipe: 140 epochs, Adam, lr 1e-3 -> 1e-4 at 100 -> 1e-5 at 120, FERPlus majority labels.
    recipe={"label_set": "ferplus", "tta": False,
            "epochs": 140, "batch_size": 64, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
            "schedule": "step", "milestones": [100, 120], "gamma": 0.1, "label_smoothing": 0.0,
            "rotate": 10.0, "shift": 0.0, "scale": 0.0, "erase": 0.0}))

register(ModelSpec(
    "vgg", CompactVGG, "Compact VGG-style CNN with global pooling (about 0.66M parameters)",
    # One conv at 48x48, two per stage after: the full-size stage is what costs time in the
    # browser and in training, the narrow deep stages are where accuracy comes from (MODEL_CARD.md).
    hparams={"widths": [24, 48, 96, 192], "convs_per_stage": [1, 2, 2, 2], "dropout": 0.3},
    # The shipped model's recipe (make train-default, MODEL_CARD.md): FERPlus votes as soft targets.
    recipe={"label_set": "ferplus-soft", "tta": True,
            "epochs": 70, "batch_size": 64, "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05,
            "schedule": "onecycle", "milestones": [], "gamma": 0.1, "label_smoothing": 0.0,
            "rotate": 12.0, "shift": 0.08, "scale": 0.1, "erase": 0.25}))

register(ModelSpec(
    "attention", AttentionCNN,
    "CNN with squeeze-excitation stages and self-attention over the 6x6 feature tokens (about 0.63M parameters)",
    # Same width budget and recipe as vgg, so the two compare at equal parameters and epochs.
    hparams={"widths": [24, 48, 96, 192], "convs_per_stage": [1, 2, 2], "heads": 4, "attention_layers": 1,
             "dropout": 0.3},
    recipe=dict(REGISTRY["vgg"].recipe)))

register(ModelSpec(
    "faceres", FaceResFER,
    "HSE FaceRes (MobileNet v1 pretrained on VGGFace2 faces, from npm @vladmandic/human) with a new "
    "expression head; resizes the 48x48 input inside (about 3.2M parameters)",
    # 112 px, not FaceRes's 224: a quarter of the compute, what a CPU can fine-tune (bench_training).
    # pretrained=false: the same network from random init, the from-scratch comparison.
    hparams={"input_size": 112, "pretrained": True, "dropout": 0.3},
    # A pretrained trunk needs fewer epochs and a lower peak rate than vgg's 70 at 2e-3; otherwise vgg's recipe.
    recipe={**REGISTRY["vgg"].recipe, "epochs": 15, "lr": 5e-4}))


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(REGISTRY))}") from None


def build_model(name: str, num_classes: int, hparams: dict | None = None, weights_follow: bool = False) -> nn.Module:
    """The registered model. weights_follow: the caller loads a state dict next (a checkpoint), so a
    model built on pretrained weights (faceres) skips reading them: it loads without node_modules."""
    spec = get_spec(name)
    params = {**spec.hparams, **(hparams or {})}
    if "widths" in params:
        params["widths"] = tuple(params["widths"])
    if weights_follow and "pretrained" in params:
        params["read_pretrained"] = False
    return spec.build(num_classes=num_classes, **params)


def check_hparams(name: str, hparams: dict) -> None:
    """Refuse, with one OptionError line (a ValueError), hyper-parameters the model cannot run with, before any data
    is read: a zero width builds, and fails only inside the first forward pass. So the model is built
    and run once on one blank 48x48 input (milliseconds; the caller's random state is left as it was)."""
    spec = get_spec(name)
    if not isinstance(hparams, dict):
        raise OptionError(f"--hparams must be a JSON object such as {json.dumps(spec.hparams)}")
    for key, value in hparams.items():  # per-stage lists (widths, convs): said plainly, not as a torch error
        if isinstance(spec.hparams.get(key), (list, tuple)) and isinstance(value, (list, tuple)) \
                and any(isinstance(v, (int, float)) and v < 1 for v in value):
            raise OptionError(f"--hparams: {key} {json.dumps(value)}: every entry must be at least 1")
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            build_model(name, 2, hparams, weights_follow=True).eval()(torch.zeros(1, 1, 48, 48))
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OptionError(f"--hparams for model {name!r}: {first}") from None


def has_embedding(model: nn.Module) -> bool:
    """Whether the model defines embed/classify as methods (a submodule named `embed` does not count)."""
    return all(callable(getattr(type(model), name, None)) for name in ("embed", "classify"))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
