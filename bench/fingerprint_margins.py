"""How far the probe fingerprint's statistic sits from what another CPU does and from wrong weights.

    python bench/fingerprint_margins.py [--checkpoint models/fer-default/checkpoint.pt]

Regenerates the probe faces, perturbs them the way another machine's kernels could (pixels one grey
level off, grayscale weights off by 1e-7) and changes the weights the way a bug would (swapped
classifier rows, flipped or negated convolutions, another model), and prints, for each, the gate's
statistic (median over faces of max |delta log p|) and top-1 agreement beside the gate's limits
(training/probes.py). PyTorch only: the gate runs ONNX Runtime on the same numbers.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_browser.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from fer_browser.training.models import build_model  # noqa: E402
from fer_browser.core.normalize import normalize  # noqa: E402
from fer_browser.training.probes import (MEDIAN_LOGP_TOLERANCE, PROBE_COUNT,  # noqa: E402
                                         TOP1_MIN_AGREEMENT,
                                         compare_fingerprint, fingerprint_record, probe_pixels)

ROOT = Path(__file__).resolve().parents[1]


def _pixel_noise(pixels: np.ndarray, per_face: int, rng) -> np.ndarray:
    out = pixels.astype(np.int16)
    for face in out:
        idx = rng.choice(face.size, per_face, replace=False)
        face.flat[idx] += rng.choice(np.array([-1, 1], np.int16), per_face)
    return np.clip(out, 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=ROOT / "models/fer-default/checkpoint.pt")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    payload = load_checkpoint(args.checkpoint)
    model, meta = model_from_checkpoint(payload)
    pixels, _ = probe_pixels(PROBE_COUNT, meta)

    def logp(m, px, md=meta):
        with torch.inference_mode():
            return m(torch.from_numpy(normalize(px, md["preprocessing"]))).double().numpy()

    record = fingerprint_record(logp(model, pixels))  # recorded here, so each row shows its change alone
    rows, rng = [], np.random.default_rng(args.seed)
    for k in (1, 5, 20):
        rows.append((f"{k} pixels ±1 on every face", logp(model, _pixel_noise(pixels, k, rng))))
    noisy = copy.deepcopy(meta)
    noisy["preprocessing"]["grayscale_weights"] = [w * (1 + 1e-7) for w in noisy["preprocessing"]["grayscale_weights"]]
    rows.append(("grayscale weights × (1 + 1e-7)", logp(model, probe_pixels(PROBE_COUNT, noisy)[0])))

    sd = payload["state_dict"]
    last = [k for k in sd if sd[k].ndim == 2][-1].rsplit(".", 1)[0]
    convs = [k for k in sd if sd[k].ndim == 4]
    classes = meta["classes"]

    def with_weights(change) -> np.ndarray:
        s2 = {k: v.clone() for k, v in sd.items()}
        change(s2)
        model.load_state_dict(s2)
        return logp(model, pixels)

    def swap(a, b):
        def go(s2):
            for key in (f"{last}.weight", f"{last}.bias"):
                s2[key][[a, b]] = s2[key][[b, a]].clone()
        return go

    for a, b in (("neutral", "happiness"), ("disgust", "fear"), ("anger", "disgust")):
        if a in classes and b in classes:
            rows.append((f"classifier rows {a}/{b} swapped", with_weights(swap(classes.index(a), classes.index(b)))))
    rows.append(("first conv flipped left-right", with_weights(lambda s2: s2.__setitem__(convs[0], s2[convs[0]].flip(-1)))))
    rows.append(("first conv negated", with_weights(lambda s2: s2.__setitem__(convs[0], -s2[convs[0]]))))
    rows.append(("classifier weights × 1.02", with_weights(lambda s2: s2.__setitem__(f"{last}.weight", s2[f"{last}.weight"] * 1.02))))
    torch.manual_seed(0)
    other = build_model(meta["model"]["name"], len(classes), meta["model"].get("hparams")).eval()
    rows.append(("another model (fresh initialisation)", logp(other, pixels)))

    print(f"gate: median max|dlog p| <= {MEDIAN_LOGP_TOLERANCE:g} and top-1 >= {TOP1_MIN_AGREEMENT:.0%} "
          f"({PROBE_COUNT} probe faces, {args.checkpoint.name})\n")
    print("| change | median max\\|Δlog p\\| | worst face | top-1 agreement | gate |")
    print("|---|---:|---:|---:|---|")
    for name, lp in rows:
        c = compare_fingerprint(lp, record)
        print(f"| {name} | {c['median_max_abs_dlogp']:.2e} | {c['max_abs_dlogp']:.2e} | {c['top1_agreement']:.3f} | "
              f"{'pass' if c['passed'] else 'FAIL'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
