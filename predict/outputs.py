"""Output paths are checked before any work: never an input, never a folder the user did not ask for.

Two spellings of one file (a relative path, a symlink, a hard link) count as the same file: paths are
compared resolved, and existing files by device and inode (os.path.samefile).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import PredictError


class FileSet:
    """Files compared by resolved path and, where they exist, by device and inode."""

    def __init__(self, paths=()):
        self.resolved: set[Path] = set()
        self.inodes: set[tuple[int, int]] = set()
        for p in paths:
            self.add(p)

    def add(self, path) -> None:
        path = Path(path)
        self.resolved.add(path.resolve())
        try:
            st = os.stat(path)
            self.inodes.add((st.st_dev, st.st_ino))
        except OSError:
            pass

    def __contains__(self, path) -> bool:
        path = Path(path)
        if path.resolve() in self.resolved:
            return True
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.inodes


def check_output_file(path: Path, option: str, inputs: FileSet, others: FileSet | None = None) -> None:
    """A file the run will write: its folder must exist and be writable; it must not be a folder, an
    input, or another output of the same run. Raises PredictError with one line."""
    path = Path(path)
    if path in inputs:
        raise PredictError(f"{option} {path}: that is an input of this run; refusing to overwrite it")
    if others is not None and path in others:
        raise PredictError(f"{option} {path}: another output of this run is written there")
    if path.is_dir():
        raise PredictError(f"{option} {path}: is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise PredictError(f"{option} {path}: folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PredictError(f"{option} {path}: not writable")


def check_output_folder(path: Path, option: str) -> None:
    """A folder the run will create if needed: it must not be a file, and must be creatable/writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PredictError(f"{option} {path}: exists and is not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PredictError(f"{option} {path}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PredictError(f"{option} {path}: {existing} is not writable")
