"""MODEL_CARD.md's Hugging Face-style front matter: valid YAML whose figures are the shipped model's
own reports (one pass per face, as the page runs it), not numbers typed by hand."""
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "fer-default"


def front_matter() -> dict:
    text = (ROOT / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "MODEL_CARD.md must start with YAML front matter"
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_front_matter_figures_are_the_reports():
    card = front_matter()
    assert card["license"] == "mit" and (ROOT / "LICENSE").read_text().startswith("MIT")
    metrics = {m["type"]: m["value"] for r in card["model-index"][0]["results"] for m in r["metrics"]}
    private = json.loads((MODEL / "eval-no-tta" / "report.json").read_text())["splits"]["PrivateTest"]
    calibration = json.loads((MODEL / "calibration" / "calibration.json").read_text())["calibration"]
    assert metrics["accuracy"] == round(private["accuracy"], 4)
    assert metrics["f1"] == round(private["f1_weighted"], 4)
    assert metrics["ece"] == round(calibration["ece_after"], 4)
    # the temperature those figures describe is the one the served model carries
    served = json.loads((MODEL / "export" / "metadata.json").read_text())
    assert served["calibration"]["temperature"] == calibration["temperature"]
