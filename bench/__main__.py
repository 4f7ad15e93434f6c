"""Run every benchmark in bench/ in turn and print their tables.

    python -m bench [--model-dir DIR]

Each benchmark also runs alone (`python bench/<name>.py --help`). Numbers depend on the machine
and on its load: compare rows of one run, never numbers across machines or runs.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from fer_browser.paths import DEFAULT_MODEL_DIR

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="converted model directory")
    args = p.parse_args(argv)
    runs = [
        ["bench_training.py"],
        ["bench_inference.py", "--model-dir", str(args.model_dir)],
        ["bench_browser.py", "--model-dir", str(args.model_dir)],
        ["bench_accuracy.py", "--model-dir", str(args.model_dir)],
        ["bench_robustness.py", "--checkpoint", str(args.model_dir.resolve().parent / "checkpoint.pt")],
        ["bench_server.py", "--model-dir", str(args.model_dir)],
    ]
    failed = 0
    for script, *rest in runs:
        if not (HERE / script).is_file():
            continue
        print(f"\n## {script}\n", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / script), *rest], cwd=ROOT) != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
