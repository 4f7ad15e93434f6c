"""Write files so a crash never leaves half of one: a temp file beside the target, renamed when complete.

Used for checkpoints and predict's outputs (the dataset caches publish whole folders the same way).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; finished outputs get the usual mode


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temp file into place with normal permissions."""
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


@contextmanager
def atomic_open(path: Path, mode: str = "wb", **kwargs):
    """Yield a file object on a temp file beside `path`; publish it only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        publish(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staged_folder(final: Path):
    """An empty folder beside `final` (named .tmp-PID, so a dead writer's leftovers can be found), moved
    into place when the block ends without error and removed when it does not. When another process
    published the same folder first, theirs is kept: caches are keyed by content, so both are equal."""
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this id still runs: staging folders name their writer's pid, and a
    dead writer's leftovers may be removed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
