"""Fixtures for the conversion tests: a small trained checkpoint, converted once per session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_browser.training.checkpoint import save_checkpoint
from fer_browser.training.labelsets import LABEL_SETS
from fer_browser.core.metadata import build_metadata
from fer_browser.training.models import build_model, count_parameters

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SMALL_VGG = {"widths": [8, 16, 24, 32], "convs_per_stage": 1, "dropout": 0.0}
TEST_FACES = 32  # synthetic faces in the test conversions (+ 4 edge inputs)


def make_checkpoint(path: Path, steps: int = 30, seed: int = 0, model_name: str = "vgg",
                    hparams: dict | None = None) -> Path:
    """A small model (VGG unless told) trained for a few steps on seeded synthetic images, so that its outputs are
    confident and differ between inputs (a fresh random net predicts nearly the same for all)."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on 2 shared cores one thread trains this tiny net ~3x faster
    classes = LABEL_SETS["ferplus"].classes
    hparams = SMALL_VGG if hparams is None else hparams
    model = build_model(model_name, len(classes), hparams)
    rng = np.random.default_rng(seed)
    # class k = a bright square at one of 7 positions on noise: learnable in a few steps
    images = rng.normal(0, 0.5, (256, 1, 48, 48)).astype(np.float32)
    labels = rng.integers(0, len(classes), 256)
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 3)
        images[i, 0, 4 + r * 14:14 + r * 14, 4 + c * 14:14 + c * 14] += 1.5
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(x), 32))
        loss = torch.nn.functional.nll_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    meta = build_metadata(model_name, hparams, count_parameters(model), classes, "ferplus")
    meta["metrics"] = {"note": "test checkpoint trained on synthetic squares"}
    save_checkpoint(path, {"state_dict": model.state_dict(), "metadata": meta})
    return path


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([PYTHON, "-m", "convert", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file's bytes by relative path: 'byte-identical' means equal dicts."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt")


@pytest.fixture(scope="session")
def converted(small_checkpoint, tmp_path_factory):
    """One real conversion through the CLI, reused by the tests: (model dir, completed process)."""
    out = tmp_path_factory.mktemp("convert") / "export"
    proc = run_cli(small_checkpoint, "--out", out, "--synthetic", "--faces", TEST_FACES)
    return out, proc


def tamper_tfjs_weights(model_dir: Path) -> Path:
    """Flip the sign of the last float32 weight tensor in the TF.js shard: the file still loads in
    TF.js and only the numbers change, so the parity comparison itself must catch it."""
    tfjs = Path(model_dir) / "tfjs"
    group = json.loads((tfjs / "model.json").read_text())["weightsManifest"][0]
    assert len(group["paths"]) == 1, group["paths"]
    offset, target = 0, None
    for w in group["weights"]:
        assert w["dtype"] in ("float32", "int32") and "quantization" not in w, w
        count = int(np.prod(w["shape"])) if w["shape"] else 1
        if w["dtype"] == "float32" and count >= 8:
            target = (offset // 4, count)
        offset += 4 * count
    shard = tfjs / group["paths"][0]
    data = np.fromfile(shard, "<f4")
    assert data.size * 4 == offset and target is not None
    start, count = target
    data[start:start + count] *= -1
    data.tofile(shard)
    return shard
