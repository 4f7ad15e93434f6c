"""Load test of server.py: waitress (the default) against Werkzeug's development server (--dev).

    .venv/bin/python bench/bench_server.py [--clients 50] [--requests 40] [--rounds 3] [--mix both]

Starts each server as `server.py --port 0` on 127.0.0.1 in turn and runs N concurrent clients
(threads, one keep-alive http.client connection each) that fetch the page's files round-robin:
mix `page` is every file the page loads (the page, its JS/CSS, TF.js and its wasm, the face
detector, the model); mix `small` only the files under 20 KB (per-request overhead). Prints a
markdown table per mix: requests/s, MB/s, median and p99 latency, errors (a refused connection,
a reset or any status but 200). Clients and server share this machine's CPUs, so compare rows of
one run, never numbers across machines or runs.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

SMALL = 20_000  # bytes: below this a file counts towards the `small` mix
SERVERS = {"waitress": [], "werkzeug --dev": ["--dev"]}


def page_files(model_dir: Path) -> dict[str, int]:
    """URL path -> size for every file server.py serves to the page."""
    from fer_browser.model_dir import load_model_dir
    from fer_browser.paths import VENDOR, WEB_DIR
    files = {"/": (WEB_DIR / "index.html").stat().st_size}
    for p in sorted(WEB_DIR.rglob("*")):
        if p.is_file() and p.name != "index.html":
            files["/" + p.relative_to(WEB_DIR).as_posix()] = p.stat().st_size
    for package, (folder, names) in sorted(VENDOR.items()):
        for name in sorted(names):
            files[f"/vendor/{package}/{name}"] = (folder / name).stat().st_size
    for name, data in sorted(load_model_dir(model_dir)[1].items()):
        files[f"/model/{name}"] = len(data)
    return files


def start(extra: list[str], model_dir: Path, threads: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", "0", "--model-dir", str(model_dir),
                             "--threads", str(threads), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # printed once the socket listens
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"error: server.py did not start: {line.strip() or 'no output'}")
    return proc, int(found.group(1))


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(port: int, paths: list[str], clients: int, requests: int) -> dict:
    """`clients` threads each send `requests` GETs; returns throughput, latency percentiles, errors."""
    latencies: list[float] = []
    errors = [0]
    received = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad, nbytes = [], 0, 0
        barrier.wait()
        for i in range(requests):
            path = paths[(k + i) % len(paths)]
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    bad += 1
                    continue
                nbytes += len(body)
                mine.append(time.perf_counter() - t0)
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad
            received[0] += nbytes

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"requests": clients * requests, "wall_s": wall, "rps": len(lat) / wall, "mbps": received[0] / wall / 1e6,
            "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"), "p99_ms": pct(0.99),
            "errors": errors[0]}


def main(argv=None) -> int:
    from fer_browser.model_dir import ModelDirError
    from fer_browser.server import DEFAULT_MODEL_DIR, DEFAULT_THREADS
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                   help="directory written by `python -m convert` (default: the shipped model)")
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--requests", type=int, default=40, help="requests per client and server (default 40)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per mix; the table shows medians (default 3)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"waitress worker threads (default {DEFAULT_THREADS}, server.py's default)")
    p.add_argument("--mix", choices=["page", "small", "both"], default="both", help="files to fetch (default both)")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 500 or args.requests < 1 or args.rounds < 1:
        p.error("--clients must be 1-500, --requests and --rounds at least 1")
    try:
        files = page_files(args.model_dir)
    except ModelDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mixes = {"page": sorted(files), "small": sorted(f for f, n in files.items() if n < SMALL)}
    chosen = ["page", "small"] if args.mix == "both" else [args.mix]
    load_before = os.getloadavg()[0]
    print(f"{args.clients} clients x {args.requests} requests per server, round and mix, 127.0.0.1, "
          f"{os.cpu_count()} CPUs, load average before: {load_before:.2f}\n", flush=True)
    for mix in chosen:
        paths = mixes[mix]
        mean_kb = sum(files[f] for f in paths) / len(paths) / 1024
        runs: dict[str, list[dict]] = {name: [] for name in SERVERS}
        for _ in range(args.rounds):  # servers alternate, so a change in the machine's load hits both
            for name, extra in SERVERS.items():
                proc, port = start(extra, args.model_dir, args.threads)
                try:
                    load(port, paths, min(args.clients, 5), 2)  # warm-up, untimed
                    runs[name].append(load(port, paths, args.clients, args.requests))
                finally:
                    stop(proc)
        print(f"mix {mix}: {len(paths)} files, mean {mean_kb:.0f} KB; median of {args.rounds} rounds\n")
        print("| server | req/s | MB/s | p50 ms | p99 ms | errors / requests |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, rs in runs.items():
            med = {k: statistics.median(r[k] for r in rs) for k in ("rps", "mbps", "p50_ms", "p99_ms")}
            print(f"| {name} | {med['rps']:.0f} | {med['mbps']:.0f} | {med['p50_ms']:.1f} | {med['p99_ms']:.1f} | "
                  f"{sum(r['errors'] for r in rs)} / {sum(r['requests'] for r in rs)} |", flush=True)
        print()
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on this machine share its CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
