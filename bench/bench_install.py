"""What `pip install "fer-browser[EXTRA]"` costs: the wheel, the installed size, and how fast the API starts.

    python bench/bench_install.py [--ref HEAD] [--extra predict] [--runs 3] [--workdir /tmp]

Clones this repository at --ref (its node_modules linked in, so the wheel carries the npm files as
after `npm ci`), builds the wheel, installs it with the extra into a fresh venv from the package
index, then measures site-packages (`du -s`, in MiB as `du -h` shows; pip's and setuptools' own
files included), its biggest entries, and the medians of --runs fresh processes for
`import fer_browser` and for `from fer_browser import Recognizer; Recognizer()("photo.jpg")` (the
astronaut photo; import, model load and the first call). Not part of `python -m bench`: it downloads from the package index.
Times depend on the machine's load: compare refs in one sitting.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT = "import time; t = time.perf_counter(); import fer_browser; print(time.perf_counter() - t)"
FIRST_CALL = ("import time; t = time.perf_counter()\nfrom fer_browser import Recognizer\n"
              "faces = Recognizer()('photo.jpg')\nprint(time.perf_counter() - t)\nassert len(faces) == 1")


def run(*cmd, cwd=None) -> str:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, check=True, capture_output=True, text=True).stdout


def du_bytes(path: Path) -> int:
    return int(run("du", "-s", "-B1", path).split()[0])


def measure(ref: str, extra: str, runs: int, workdir: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fer-install-", dir=workdir))
    repo = tmp / "repo"
    run("git", "clone", "--quiet", ROOT, repo)
    run("git", "checkout", "--quiet", ref, cwd=repo)
    (repo / "node_modules").symlink_to(ROOT / "node_modules")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp / "dist", repo)
    (wheel,) = (tmp / "dist").glob("fer_browser-*.whl")
    run(sys.executable, "-m", "venv", tmp / "venv")
    py = tmp / "venv" / "bin" / "python"
    run(py, "-m", "pip", "install", "--quiet", "--no-cache-dir", f"{wheel}[{extra}]")
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    sizes = sorted(((du_bytes(p), p.name) for p in site.iterdir()), reverse=True)
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp / "photo.jpg", quality=95)
    times = {name: statistics.median(float(run(py, "-c", code, cwd=tmp).split()[0]) for _ in range(runs))
             for name, code in (("import_s", IMPORT), ("first_call_s", FIRST_CALL))}
    mib = lambda n: round(n / 2**20, 1)  # noqa: E731
    return {"ref": ref, "extra": extra, "wheel_mib": mib(wheel.stat().st_size), "site_packages_mib": mib(du_bytes(site)),
            "biggest_mib": {name: mib(n) for n, name in sizes[:8]}, **times, "folder": str(tmp)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", default="HEAD", help="commit to build (default: %(default)s)")
    p.add_argument("--extra", default="predict", help="the extra to install (default: %(default)s)")
    p.add_argument("--runs", type=int, default=3, help="fresh processes per timing; the median is shown")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = p.parse_args(argv)
    print(json.dumps(measure(args.ref, args.extra, args.runs, args.workdir), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
