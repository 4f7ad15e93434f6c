"""Nothing left behind by an interrupted conversion.

- Every temporary file of a run (TF autograph's generated modules, the Chromium profile, Playwright's
  files) goes into one private folder, `fer-convert-<pid>-*` in the system temp dir, removed at the end.
- SIGTERM/SIGHUP become KeyboardInterrupt, so the `finally` blocks that remove the staging folder run.
- A run killed with SIGKILL cannot clean up: the next run removes staging folders beside DIR and
  private temp folders whose process (the pid in the name) is gone.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = "fer-convert-"
LEGACY_TMP_PREFIXES = ("fer-chromium-",)  # Chromium profiles of older versions, made directly in the temp dir
_PID = re.compile(r"-(\d+)-")
LEGACY_AGE_S = 3600


def staging_prefix(out: Path) -> str:
    return f".{Path(out).name}.staging-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(path: Path, prefix: str) -> bool:
    """Left by a process that is gone; a name without a pid (older versions) only when untouched for
    LEGACY_AGE_S, since another checkout may be using it right now."""
    match = _PID.match(path.name[len(prefix) - 1:])
    if match is None:
        try:
            return time.time() - path.stat().st_mtime > LEGACY_AGE_S
        except OSError:
            return False
    return int(match.group(1)) != os.getpid() and not _alive(int(match.group(1)))


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
            if p.is_dir() and not p.is_symlink() and p.owner() == _user() and _stale(p, prefix):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


@contextmanager
def private_tmp():
    """Point tempfile and child processes (TMPDIR) at a fresh folder; remove it afterwards."""
    folder = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = folder, folder
    try:
        yield Path(folder)
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def signals_interrupt():
    """SIGTERM and SIGHUP unwind like Ctrl-C (finally blocks run) while the block runs."""
    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            saved[sig] = signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
