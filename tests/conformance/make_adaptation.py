"""Writes tests/conformance/adaptation.json: the personal-adaptation fit (fer_browser/adaptation.py, the
reference) on small seeded inputs, with its head and the probabilities it gives on held-out faces.
Read by tests/test_adaptation.py (Python) and tests/js/adaptation.test.mjs (web/lib/adaptation.js), which
must reproduce them to 1e-6. Run by hand, from the repository root, only when the math changes on purpose:

    .venv/bin/python tests/conformance/make_adaptation.py
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fer_browser.adaptation import AdaptationError, fit_head, head_probabilities, load_settings  # noqa: E402

VERSION = 1
D, K_MODEL = 12, 3


def faces(rng, n, shift):
    e = np.maximum(rng.normal(shift, 1.0, (n, D)), 0)  # post-ReLU, like the model's
    z = rng.normal(0, 2, (n, K_MODEL))
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return np.round(e, 6), np.round(lp, 6)


def case(name, seed, labels, n_classes, prior, hidden=(), same=False):
    rng = np.random.default_rng(seed)
    e, lp = faces(rng, len(labels), 0.5)
    if same:
        e[:] = e[0]
    te, tlp = faces(rng, 4, 0.5)
    settings = load_settings()
    out = {"name": name, "embeddings": e.tolist(), "log_probs": lp.tolist(), "labels": labels,
           "n_classes": n_classes, "prior": prior, "test_embeddings": te.tolist(), "test_log_probs": tlp.tolist(),
           "hidden": list(hidden)}
    try:
        head = fit_head(e, lp, np.array(labels), n_classes, prior, settings)
        out["head"] = head
        out["test_probabilities"] = head_probabilities(head, te, tlp, hidden).tolist()
    except AdaptationError as exc:
        out["error"] = str(exc)
    return out


def main():
    prior = [0.5, 0.3, 0.2]
    cases = [
        case("every model class recorded", 1, [0, 0, 0, 1, 1, 1, 2, 2, 2], 3, prior),
        case("one class recorded: only its logit moves", 2, [1, 1, 1, 1], 3, prior),
        case("a custom class beside a model class", 3, [3, 3, 3, 0, 0, 0], 4, prior),
        case("a hidden class", 4, [0, 0, 1, 1, 2, 2], 3, prior, hidden=[2]),
        case("no prior in the metadata", 5, [0, 0, 2, 2], 3, None),
        case("identical frames", 6, [0, 0, 1, 1], 3, prior, same=True),
        case("a custom class alone is refused", 7, [3, 3], 4, prior),
        case("a label outside the classes is refused", 8, [0, 5], 3, prior),
    ]
    doc = {"version": VERSION, "about": __doc__.split("\n\n")[0], "settings": load_settings()["fit"],
           "tolerance": 1e-6, "cases": cases}
    path = Path(__file__).with_name("adaptation.json")
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
