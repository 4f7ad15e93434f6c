"""Writes tests/conformance/profile.json: a small valid profile (fer_browser/profile.py) for the shipped
model, fitted by fer_browser.adaptation.fit_head on seeded 4-value embeddings, with one custom class and
one hidden class. The base document of the "profile" golden cases in schema_cases.json (both validators)
and tests/test_profile.py's fixture. Run by hand, from the repository root, when the format changes:

    .venv/bin/python tests/conformance/make_profile.py
"""
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from fer_browser.adaptation import fit_head  # noqa: E402
from fer_browser.profile import make_profile  # noqa: E402

def main():
    meta = json.loads((ROOT / "models/fer-default/export/metadata.json").read_text())
    k_model = len(meta["classes"])
    d = meta["model"]["embedding"]["size"]  # the shipped model's: the fixture loads against it
    rng = np.random.default_rng(23)
    labels = np.array([0, 0, 0, 1, 1, 1, k_model, k_model, k_model])  # neutral, happiness, the custom "wink"
    e = np.round(np.maximum(rng.normal(0.5, 1.0, (len(labels), d)), 0), 6)
    z = rng.normal(0, 2, (len(labels), k_model))
    lp = np.round(z - np.log(np.exp(z).sum(1, keepdims=True)), 6)
    head = fit_head(e, lp, labels, k_model + 1, meta["prior"]["probabilities"])
    profile = make_profile(head, meta, custom=["wink"], hidden=["disgust"], created="2026-12-06T00:00:00+00:00")
    path = Path(__file__).with_name("profile.json")
    path.write_text(json.dumps(profile, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
