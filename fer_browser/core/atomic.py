"""Write files so a crash never leaves half of one: a temp file beside the target, renamed when complete.

Used for checkpoints and predict's outputs (the dataset caches publish whole folders the same way).
Only regular files are replaced so: `-` (stdout), a device (/dev/null) or a FIFO is written where it
is, since renaming a file over it would replace the node itself. A write that runs out of space
raises DiskFull, one line naming the file, and leaves no temp file behind.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # a full disk, the file-size limit, a full quota


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; finished outputs get the usual mode


class DiskFull(OSError):
    """Out of space (or over the file-size limit or quota) writing a file; str() is one line."""

    def __str__(self) -> str:
        return self.strerror


def disk_full(exc: BaseException, path) -> DiskFull | None:
    """DiskFull for `path` if `exc`, or an exception raised while it was handled, says the disk is full
    (torch.save reports a full disk as a RuntimeError raised while handling the OSError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return exc
        if isinstance(exc, OSError) and exc.errno in FULL:
            return DiskFull(exc.errno, f"{os.strerror(exc.errno).lower()} writing {path}")
        exc = exc.__cause__ or exc.__context__
    return None


def in_place(path) -> bool:
    """`-` (stdout) or an existing path that is not a regular file or folder: a device, FIFO or socket.
    Such a target is written where it is; a temp file renamed over it would replace the node (as
    root, `--json /dev/null` would replace the system's /dev/null with a regular file)."""
    if str(path) == "-":
        return True
    try:
        mode = os.stat(path).st_mode  # follows links: a link to /dev/null is written in place too
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def publish(tmp: Path, path: Path) -> None:
    """Move a finished temp file into place with normal permissions."""
    if in_place(path):  # the last guard: writers of special files never get here with a temp file
        raise OSError(errno.EEXIST, f"{path} is not a regular file; refusing to replace it")
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


class AtomicFile:
    """A file object (`.fh`) for `path`: on a temp file beside it, published by commit() and removed by
    discard(); or, for `-`, a device or a FIFO, on the target itself (commit and discard then only
    close it). A full disk raises DiskFull from either, with the temp file removed."""

    def __init__(self, path, mode: str = "wb", **kwargs):
        self.path, self.tmp = Path(path), None
        if str(path) == "-":
            self.fh = sys.stdout.buffer if "b" in mode else sys.stdout
        elif in_place(self.path):
            self.fh = open(self.path, mode, **kwargs)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            self.tmp = Path(tmp)
            try:
                self.fh = os.fdopen(fd, mode, **kwargs)
            except BaseException:
                os.close(fd)
                self.tmp.unlink(missing_ok=True)
                raise

    def _close(self) -> None:
        if str(self.path) == "-":
            self.fh.flush()  # stdout stays open for whoever prints next
        else:
            self.fh.close()  # flushes: a full disk often shows only here

    def commit(self) -> None:
        try:
            self._close()
            if self.tmp is not None:
                publish(self.tmp, self.path)
        except BaseException as exc:
            self.discard(exc)

    def discard(self, exc: BaseException | None = None) -> None:
        """Close without publishing; re-raise `exc` (as DiskFull when it is one) if given."""
        try:
            self._close()
        except OSError as close_exc:  # the buffer could not be flushed: the disk is full, or it failed before
            exc = exc or close_exc
        finally:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
        if exc is not None:
            full = disk_full(exc, self.path)
            if full is not None:
                raise full from None
            raise exc


@contextmanager
def atomic_open(path: Path, mode: str = "wb", **kwargs):
    """Yield a file object for `path`; a regular file is published only if the block completes."""
    out = AtomicFile(path, mode, **kwargs)
    try:
        yield out.fh
    except BaseException as exc:
        out.discard(exc)  # re-raises exc (as DiskFull when the disk is full)
    out.commit()


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
