"""Time and disk of the first command on a fresh clone: from `git clone` to the page answering.

    python bench/bench_first_run.py [--ref HEAD] [--command "make run PORT=0"] [--workdir /tmp]

Clones this repository at --ref into a new folder, runs --command there (it must end by serving the
page and printing its http://127.0.0.1:PORT/ URL, as `make run` does), polls GET / until it answers
200, then stops it and measures the folder (du, the clone's own files included). Prints a markdown
table. The setup downloads whatever pip and npm do not have cached locally, so the seconds depend
on the network and on the machine's load: compare two refs in one sitting, not across machines.
Before the fast `make run` (commit 0abba55), the equivalent command was
`make setup && .venv/bin/python server.py --port 0`.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(rb"http://127\.0\.0\.1:(\d+)/")


def du_bytes(path: Path) -> int:
    """Bytes on disk below path (like `du -s`, symlinks not followed)."""
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def first_run(ref: str, command: str, workdir: Path, timeout: float) -> dict:
    clone = Path(tempfile.mkdtemp(prefix="fer-first-run-", dir=workdir))
    try:
        t0 = time.monotonic()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone / "repo")], check=True)
        repo = clone / "repo"
        subprocess.run(["git", "checkout", "--quiet", ref], cwd=repo, check=True)
        before = du_bytes(repo)
        log = open(clone / "log.txt", "wb")
        proc = subprocess.Popen(["bash", "-c", command], cwd=repo, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
        found: list[int] = []

        def read() -> None:  # the setup's output goes to the log; the first URL is the server's
            for line in proc.stdout:
                log.write(line)
                m = URL.search(line)
                if m and not found:
                    found.append(int(m.group(1)))

        threading.Thread(target=read, daemon=True).start()
        try:
            while not (found and answers(found[0])):
                if proc.poll() is not None or time.monotonic() - t0 > timeout:
                    raise SystemExit(f"error: {command!r} ended or timed out before serving; see {clone}/log.txt")
                time.sleep(0.2)
            seconds = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
        envs = {p.name: du_bytes(p) for p in sorted(repo.iterdir())
                if p.name.startswith(".venv") or p.name == "node_modules"}
        result = {"ref": ref, "command": command, "seconds": seconds, "disk": du_bytes(repo),
                  "clone": before, "envs": envs}
        shutil.rmtree(clone)
        return result
    except BaseException:
        print(f"(left {clone} for inspection)", file=sys.stderr)
        raise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", default="HEAD", help="commit or branch to clone (default: HEAD)")
    p.add_argument("--command", default="make run PORT=0",
                   help="the first command, run in the clone (default: make run PORT=0)")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                   help="where the clone is made (default: the temp folder)")
    p.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds (default: 1800)")
    args = p.parse_args(argv)
    r = first_run(args.ref, args.command, args.workdir, args.timeout)
    mb = lambda b: f"{b / 1e6:,.0f} MB"  # noqa: E731
    print("| ref | command | seconds to a served page | disk after | of which clone | environments |")
    print("|---|---|---|---|---|---|")
    envs = ", ".join(f"{k} {mb(v)}" for k, v in r["envs"].items()) or "none"
    print(f"| {r['ref']} | `{r['command']}` | {r['seconds']:.0f} | {mb(r['disk'])} | {mb(r['clone'])} | {envs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
