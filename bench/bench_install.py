"""What `pip install "fer-browser[EXTRA]"` costs: the wheel, the installed size, and how fast the API starts.

    python bench/bench_install.py [--ref BEFORE --ref HEAD] [--extra predict] [--runs 3] [--workdir /tmp]

Clones this repository at each --ref (its node_modules linked in, so the wheel carries the npm files as
after `npm ci`), builds the wheel, installs it with the extra into a fresh venv from the package
index, then measures site-packages (`du -s`, in MiB as `du -h` shows; pip's and setuptools' own
files included), its biggest entries, and the medians of --runs fresh processes for
`import fer_browser` and for `from fer_browser import Recognizer; Recognizer()("photo.jpg")` (the
astronaut photo; import, model load and the first call), the refs taking turns. Not part of
`python -m bench`: it downloads from the package index. Times depend on the machine's load: compare
refs in one run, never across runs.
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


def install(ref: str, extra: str, workdir: Path) -> dict:
    """Build ref's wheel and install it with the extra into a fresh venv; sizes, and the venv's python."""
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
    mib = lambda n: round(n / 2**20, 1)  # noqa: E731
    return {"ref": ref, "extra": extra, "wheel_mib": mib(wheel.stat().st_size), "site_packages_mib": mib(du_bytes(site)),
            "biggest_mib": {name: mib(n) for n, name in sizes[:8]}, "python": str(py)}


def time_starts(results: list[dict], runs: int, workdir: Path) -> None:
    """Median seconds of `runs` fresh processes per ref, the refs taking turns (a shared machine's
    load then weighs on each alike)."""
    from PIL import Image
    from skimage import data

    photo_dir = Path(tempfile.mkdtemp(prefix="fer-install-photo-", dir=workdir))
    Image.fromarray(data.astronaut()).save(photo_dir / "photo.jpg", quality=95)
    seen = {(i, name): [] for i in range(len(results)) for name in ("import_s", "first_call_s")}
    for _ in range(runs):
        for i, r in enumerate(results):
            for name, code in (("import_s", IMPORT), ("first_call_s", FIRST_CALL)):
                seen[i, name].append(float(run(r["python"], "-c", code, cwd=photo_dir).split()[0]))
    for (i, name), times in seen.items():
        results[i][name] = round(statistics.median(times), 3)
        results[i][name.replace("_s", "_range_s")] = [round(min(times), 3), round(max(times), 3)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", action="append", help="commit to build; repeat to compare (default: HEAD)")
    p.add_argument("--extra", default="predict", help="the extra to install (default: %(default)s)")
    p.add_argument("--runs", type=int, default=3, help="fresh processes per timing and ref; the median is shown")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = p.parse_args(argv)
    results = [install(ref, args.extra, args.workdir) for ref in args.ref or ["HEAD"]]
    time_starts(results, args.runs, args.workdir)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
