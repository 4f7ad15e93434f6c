"""Where the `attention` model looks: its last self-attention block's weights drawn over faces.

    python bench/attention_maps.py CHECKPOINT --out reports/attention/attention_maps.png
    python bench/attention_maps.py CHECKPOINT --csv data/fer2013.csv.gz --out private/fer_maps.png   # FER faces: keep them out of git

For each face: the face, then the mean attention each of the 6x6 feature tokens receives (averaged
over heads and queries; AttentionCNN.attention_map), upsampled and laid over it, titled with the
model's answer. By default the faces are the redistributable probe faces (training/probes.py:
crops of scikit-image's public-domain/CC0 photos), so the figure may be committed; with --csv they
are the first PrivateTest faces of each class (FERPlus majority labels) — keep that figure out of
the repository, it shows dataset images.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pick_faces(meta: dict, csv: Path | None, count: int):
    """(faces uint8 (N,H,W), captions): probe faces, or one PrivateTest face per class from the CSV."""
    if csv is None:
        from fer_browser.training.probes import probe_pixels
        return probe_pixels(count, meta)
    from fer_browser.training.datasets import load_csv_dataset
    split = load_csv_dataset(csv, "ferplus", progress=False).splits["PrivateTest"]
    images = np.asarray(split.images)
    picks = [int(np.flatnonzero(split.labels == c)[0]) for c in range(len(meta["classes"]))
             if (split.labels == c).any()][:count]
    return images[picks], [f"PrivateTest: {meta['classes'][split.labels[i]]}" for i in picks]


def draw(faces, maps, captions, answers, path: Path) -> None:
    import cv2
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_browser.core.atomic import atomic_open
    n = len(faces)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for i in range(n):
        h, w = faces[i].shape
        heat = cv2.resize(maps[i] / maps[i].max(), (w, h), interpolation=cv2.INTER_CUBIC)
        axes[0, i].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[0, i].set_title(captions[i], fontsize=7)
        axes[1, i].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        axes[1, i].imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[1, i].set_title(answers[i], fontsize=7)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("attention received per 6x6 token (last self-attention block, mean over heads)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:  # never half a PNG
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a checkpoint of the `attention` model")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--csv", type=Path, help="draw FER2013 PrivateTest faces instead of the probe faces")
    p.add_argument("--faces", type=int, default=6, help="how many faces (default 6)")
    args = p.parse_args(argv)
    import torch

    from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint
    from fer_browser.training.errors import DataError
    from fer_browser.core.normalize import normalize
    try:
        model, meta = model_from_checkpoint(args.checkpoint)
        if not hasattr(model, "attention_map"):
            raise CheckpointError(f"{args.checkpoint}: model {meta['model']['name']!r} has no self-attention; "
                                  "pass a checkpoint of the `attention` model")
        faces, captions = pick_faces(meta, args.csv, args.faces)
    except (CheckpointError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with torch.inference_mode():
        probs = model(torch.from_numpy(normalize(faces, meta["preprocessing"]))).exp().numpy()
        maps = model.attention_map().numpy()
    answers = [f"{meta['classes'][k]} ({p[k]:.0%})" for p, k in zip(probs, probs.argmax(1))]
    draw(faces, maps, captions, answers, args.out)
    print(f"wrote {args.out} ({len(faces)} faces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
