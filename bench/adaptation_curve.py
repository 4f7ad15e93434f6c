"""Personal adaptation measured on FERPlus: accuracy against the number of recorded faces per class (k).

    .venv/bin/python bench/adaptation_curve.py --out reports/adaptation

Uses the shipped fitting (fer_browser/adaptation.py with web/adaptation.json) on the model's own embedding
(one pass per face, as the page runs it), FERPlus majority labels:
- a new domain: each strong shift (below) is applied to PublicTest and PrivateTest; k faces per class are
  drawn from shifted PublicTest, the profile is fitted on them, PrivateTest under the same shift is scored;
  beside it the model as trained and with the prior correction (tau = --tau, the metadata's prior).
  The "clean" row with k = 10 is the no-harm check: a profile fitted on unshifted faces. The "all" column
  fits on every shifted PublicTest face: the most a head on these features can give.
- a new class: FERPlus-8's contempt, which the 7-class model never learned, from --contempt Training faces
  plus k Training faces of each other class; contempt recall and the other classes' accuracy change on
  PublicTest + PrivateTest (29 contempt faces in all, so the recall moves in steps of 0.034).
Every figure is the mean over --draws seeded draws. Prints markdown tables; --out writes
adaptation.json and adaptation.png. About three minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

KS = (1, 3, 5, 10)


def strong_shifts() -> dict:
    """Compositions of bench_robustness's shifts: what a poor webcam does to a face all at once."""
    from bench_robustness import shifts
    s = shifts()
    return {
        "clean": s["clean"],
        "low light + blur": lambda im, rng: s["Gaussian blur (sigma 1 px)"](s["low light (gamma 2)"](im, rng), rng),
        "from 24 px + JPEG 30": lambda im, rng: s["JPEG quality 30"](s["upscaled from 24 px"](im, rng), rng),
        "contrast -40 % + rotation ±15°": lambda im, rng: s["rotation ±15°"](s["contrast -40 %"](im, rng), rng),
    }


def embed(model, images: np.ndarray, preprocessing: dict, batch: int = 512):
    """(embeddings, log-probabilities) in float64, one pass per face."""
    import torch

    from fer_browser.core.normalize import normalize
    emb, logp = [], []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(normalize(images[i:i + batch], preprocessing), dtype=np.float32))
            e = model.embed(x)
            emb.append(e.numpy().astype(np.float64))
            logp.append(model.classify(e).numpy().astype(np.float64))
    return np.concatenate(emb), np.concatenate(logp)


def draw(y: np.ndarray, k: int, rng: np.random.Generator, classes) -> np.ndarray:
    return np.concatenate([rng.choice(np.flatnonzero(y == c), min(k, int((y == c).sum())), replace=False)
                           for c in classes])


def scores(y, pred) -> dict:
    from sklearn.metrics import balanced_accuracy_score
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": float(balanced_accuracy_score(y, pred))}


def mean_scores(rows: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for ax, key, label in zip(axes, ("accuracy", "balanced_accuracy"), ("accuracy", "balanced accuracy")):
        for j, (name, r) in enumerate(results.items()):
            color = f"C{j}"
            ax.plot(KS, [r["profile"][str(k)][key] for k in KS], "o-", color=color, label=name)
            ax.axhline(r["model"][key], color=color, linestyle="--", linewidth=1)
            ax.axhline(r["prior"][key], color=color, linestyle=":", linewidth=1)
        ax.set(xlabel="recorded faces per class (k)", ylabel=label, xticks=KS)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title + "\nsolid: with a profile; dashed: the model as trained; dotted: prior-corrected", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("models/fer-default/checkpoint.pt"))
    p.add_argument("--csv", type=Path, help="FER2013 CSV (default: found in ./data or ../shared/data)")
    p.add_argument("--votes", type=Path, help="FERPlus fer2013new.csv (default: found beside the CSV)")
    p.add_argument("--draws", type=int, default=5, help="seeded draws averaged per figure (default 5)")
    p.add_argument("--contempt", type=int, default=20, help="contempt Training faces for the new class (default 20)")
    p.add_argument("--tau", type=float, default=0.5, help="prior-correction strength of the comparison (default 0.5)")
    p.add_argument("--out", type=Path, help="write adaptation.json and adaptation.png here")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from fer_browser.adaptation import fit_head, head_probabilities, load_settings
    from fer_browser.training.checkpoint import CheckpointError, model_from_checkpoint
    from fer_browser.training.datasets import load_dataset
    from fer_browser.training.errors import DataError

    try:
        model, meta = model_from_checkpoint(args.checkpoint)
        data = load_dataset(args.csv, args.votes, None, "ferplus8")
    except (CheckpointError, DataError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if not hasattr(model, "embed"):
        print(f"error: model {meta['model']['name']!r} exposes no embedding", file=sys.stderr)
        return 2
    model.eval()
    settings = load_settings()
    prior = np.asarray(meta["prior"]["probabilities"]) if "prior" in meta else None
    contempt = list(data.classes).index("contempt")
    k_model = len(meta["classes"])
    split = {name: (np.asarray(data.splits[name].images[:len(data.splits[name])]), np.asarray(data.splits[name].labels))
             for name in ("Training", "PublicTest", "PrivateTest")}

    results = {}
    for s, (name, shift) in enumerate(tqdm(strong_shifts().items(), desc="shifts", unit="shift", file=sys.stderr)):
        feats = {}
        for part in ("PublicTest", "PrivateTest"):
            images, y = split[part]
            keep = y < k_model
            rng = np.random.default_rng([s, part == "PrivateTest"])
            e, lp = embed(model, np.stack([shift(im, rng) for im in images[keep]]), meta["preprocessing"])
            feats[part] = (e, lp, y[keep])
        (e_fit, lp_fit, y_fit), (e_test, lp_test, y_test) = feats["PublicTest"], feats["PrivateTest"]
        adjusted = lp_test - (args.tau * np.log(prior) if prior is not None else 0)
        r = {"model": scores(y_test, lp_test.argmax(1)), "prior": scores(y_test, adjusted.argmax(1)), "profile": {}}
        for k in KS:
            rows = []
            for d in range(args.draws):
                i = draw(y_fit, k, np.random.default_rng([d, k]), range(k_model))
                h = fit_head(e_fit[i], lp_fit[i], y_fit[i], k_model, prior, settings)
                rows.append(scores(y_test, head_probabilities(h, e_test, lp_test).argmax(1)))
            r["profile"][str(k)] = mean_scores(rows)
        # the ceiling of a head on these features: fitted on every shifted PublicTest face
        h = fit_head(e_fit, lp_fit, y_fit, k_model, prior, settings)
        r["profile_all"] = scores(y_test, head_probabilities(h, e_test, lp_test).argmax(1))
        results[name] = r

    # a new class: contempt from a few Training faces, scored on both test splits
    e_tr, lp_tr = embed(model, split["Training"][0], meta["preprocessing"])
    y_tr = split["Training"][1]
    test_imgs = np.concatenate([split["PublicTest"][0], split["PrivateTest"][0]])
    y_te = np.concatenate([split["PublicTest"][1], split["PrivateTest"][1]])
    e_te, lp_te = embed(model, test_imgs, meta["preprocessing"])
    others = y_te != contempt
    base_other = float((lp_te[others].argmax(1) == y_te[others]).mean())
    new_class = {"contempt_faces": args.contempt, "test_contempt_faces": int((~others).sum()),
                 "other_accuracy_model": base_other, "by_k_other": {}}
    y_tr8 = np.where(y_tr == contempt, k_model, y_tr)  # the custom class comes after the model's classes
    for k in (5, 10, 20):
        rows = []
        for d in range(args.draws):
            rng = np.random.default_rng([d, k, 8])
            i = np.concatenate([rng.choice(np.flatnonzero(y_tr == contempt), args.contempt, replace=False),
                                draw(y_tr, k, rng, range(k_model))])
            h = fit_head(e_tr[i], lp_tr[i], y_tr8[i], k_model + 1, prior, settings)
            pred = head_probabilities(h, e_te, lp_te).argmax(1)
            rows.append({"contempt_recall": float((pred[~others] == k_model).mean()),
                         "other_accuracy": float((pred[others] == y_te[others]).mean())})
        new_class["by_k_other"][str(k)] = mean_scores(rows)

    title = (f"{meta['model']['name']} ({args.checkpoint.name}): fitted on k shifted PublicTest faces per class, "
             f"scored on shifted PrivateTest, {args.draws} draws")
    print(title + "\n")
    print("| shift | model | prior τ=%g | " % args.tau + " | ".join(f"k = {k}" for k in KS) + " | all |")
    print("|---|" + "---:|" * (3 + len(KS)))
    fmt = lambda r: f"{r['accuracy']:.3f} / {r['balanced_accuracy']:.3f}"  # noqa: E731
    for name, r in results.items():
        print(f"| {name} | {fmt(r['model'])} | {fmt(r['prior'])} | "
              + " | ".join(fmt(r["profile"][str(k)]) for k in KS) + f" | {fmt(r['profile_all'])} |")
    print("\n(accuracy / balanced accuracy)\n")
    print(f"New class: contempt from {args.contempt} Training faces + k per other class; "
          f"{new_class['test_contempt_faces']} contempt faces in PublicTest + PrivateTest; "
          f"other classes' accuracy without a profile {base_other:.4f}\n")
    print("| k per other class | contempt recall | other classes' accuracy | change |\n|---:|---:|---:|---:|")
    for k, r in new_class["by_k_other"].items():
        print(f"| {k} | {r['contempt_recall']:.3f} | {r['other_accuracy']:.4f} | "
              f"{100 * (r['other_accuracy'] - base_other):+.2f} points |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "adaptation.json").write_text(json.dumps(
            {"checkpoint": args.checkpoint.name, "draws": args.draws, "tau": args.tau, "settings": settings["fit"],
             "shifts": results, "new_class": new_class}, indent=1) + "\n")
        plot(results, args.out / "adaptation.png", title)
        print(f"\nwrote {args.out / 'adaptation.json'} and adaptation.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
