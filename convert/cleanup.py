"""Nothing left behind by an interrupted conversion.

- Every temporary file of a run (TF autograph's generated modules, the Chromium profile, Playwright's
  files) goes into one private folder, `fer-convert-<pid>-*` in the system temp dir, removed at the end.
- SIGTERM/SIGHUP remove the registered staging and temp folders in the handler itself and exit 130
  (raising KeyboardInterrupt instead is not reliable: it can land inside a library's gc callback,
  where Python ignores it); the publishing renames run with the handler deferred. Ctrl-C unwinds
  through the `finally` blocks as usual.
- A run killed with SIGKILL cannot clean up: the next run removes staging folders beside DIR and
  private temp folders whose process (the pid in the name) is gone.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from fer_browser.core.atomic import process_alive

TMP_PREFIX = "fer-convert-"
LEGACY_TMP_PREFIXES = ("fer-chromium-",)  # Chromium profiles of older versions, made directly in the temp dir
_PID = re.compile(r"-(\d+)-")
LEGACY_AGE_S = 3600


def staging_prefix(out: Path) -> str:
    return f".{Path(out).name}.staging-{os.getpid()}-"



def _stale(path: Path, prefix: str) -> bool:
    """Left by a process that is gone; a name without a pid (older versions) only when untouched for
    LEGACY_AGE_S, since another checkout may be using it right now."""
    match = _PID.match(path.name[len(prefix) - 1:])
    if match is None:
        try:
            return time.time() - path.stat().st_mtime > LEGACY_AGE_S
        except OSError:
            return False
    return int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1)))


def remove_stale(out: Path) -> list[Path]:
    """Staging, backup and probe folders of dead conversions beside DIR, and their temp folders."""
    out = Path(out)
    removed = []
    for kind in ("staging", "old", "probe"):
        prefix = f".{out.name}.{kind}-"
        for p in out.parent.glob(f"{prefix}*") if out.parent.is_dir() else []:
            if p.is_dir() and not p.is_symlink() and _stale(p, prefix):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    tmp = Path(tempfile.gettempdir())
    for prefix in (TMP_PREFIX, *LEGACY_TMP_PREFIXES):
        for p in tmp.glob(f"{prefix}*"):
            try:  # the shared temp dir: only our own folders; others may vanish while we look
                mine = p.is_dir() and not p.is_symlink() and p.stat().st_uid == os.getuid()
            except OSError:
                continue
            if mine and _stale(p, prefix):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


_REGISTERED: list[Path] = []  # removed by the signal handler: staging and private temp folders
_STATE = {"critical": 0, "pending": None}


@contextmanager
def removed_on_signal(path: Path):
    _REGISTERED.append(Path(path))
    try:
        yield Path(path)
    finally:
        _REGISTERED.remove(Path(path))


@contextmanager
def private_tmp():
    """Point tempfile and child processes (TMPDIR) at a fresh folder; remove it afterwards."""
    folder = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = folder, folder
    try:
        with removed_on_signal(Path(folder)):
            yield Path(folder)
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


def _terminate(signum, frame=None):
    if _STATE["critical"]:
        _STATE["pending"] = signum  # finish the rename first (critical_section)
        return
    for path in reversed(_REGISTERED):
        shutil.rmtree(path, ignore_errors=True)
    sys.stderr.write(f"error: interrupted (signal {signum}); the output directory was left as it was and "
                     "temporary files were removed\n")
    sys.stderr.flush()
    os._exit(130)


@contextmanager
def critical_section():
    """Signals wait until the block ends (a rename pair must not be cut in half)."""
    _STATE["critical"] += 1
    try:
        yield
    finally:
        _STATE["critical"] -= 1
        if not _STATE["critical"] and _STATE["pending"] is not None:
            _terminate(_STATE["pending"])


@contextmanager
def signals_interrupt():
    """SIGTERM and SIGHUP clean up and exit (see the module docstring) while the block runs."""
    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            saved[sig] = signal.signal(sig, _terminate)
        except ValueError:  # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
