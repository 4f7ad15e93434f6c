"""Image rows read batch by batch from a uint8 (N,48,48) .npy file, so RAM does not grow with the data.

RowFile reads the rows a batch needs with positioned reads (os.pread) instead of mapping the file:
pages of an np.memmap that training touches count toward the process's resident memory, which then
climbs to the dataset's size over an epoch; pread pages stay in the kernel's page cache (shared by
all ranks, reclaimable). ConcatRows joins several sources; plain numpy arrays work everywhere too, and np.asarray() turns
either into one (for the tools that score a whole split at once).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class RowFile:
    """Read-only rows of a .npy array written by np.lib.format.open_memmap, optionally a subset."""

    def __init__(self, path: Path, rows: np.ndarray | None = None):
        self.path = Path(path)
        header = np.load(self.path, mmap_mode="r")  # parses the .npy header only
        self._offset, self._n, self._row_shape = header.offset, header.shape[0], header.shape[1:]
        self._row_bytes = int(np.prod(self._row_shape))
        del header
        self.rows = rows
        self._fd = None

    def __len__(self) -> int:
        return self._n if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple:
        return (len(self), *self._row_shape)

    dtype = np.dtype(np.uint8)

    def __array__(self, dtype=None, copy=None):  # np.asarray(rows): every row, read into RAM
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)

    def __getstate__(self):  # file descriptors do not travel to other processes
        return {**self.__dict__, "_fd": None}

    def __getitem__(self, sel) -> np.ndarray:
        if isinstance(sel, (int, np.integer)):
            return self[np.array([sel])][0]
        idx = np.arange(len(self))[sel] if isinstance(sel, slice) else np.asarray(sel, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        if self.rows is not None:
            idx = self.rows[idx]
        return self._read(idx).reshape(len(idx), *self._row_shape)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        """One pread per run of consecutive rows (a whole slice is one read)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((len(idx), self._row_bytes), np.uint8)
        if not len(idx):
            return out
        order = np.argsort(idx, kind="stable")
        srt = idx[order]
        cuts = np.flatnonzero(np.diff(srt) != 1) + 1
        buf = np.empty_like(out)
        for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(srt)]):
            size = (end - start) * self._row_bytes
            data = os.pread(self._fd, size, self._offset + int(srt[start]) * self._row_bytes)
            if len(data) != size:
                raise OSError(f"{self.path}: truncated cache file")
            buf[start:end] = np.frombuffer(data, np.uint8).reshape(end - start, self._row_bytes)
        out[order] = buf
        return out

    def subset(self, indices: np.ndarray) -> "RowFile":
        view = RowFile.__new__(RowFile)
        view.__dict__.update(self.__getstate__())
        base = np.arange(self._n) if self.rows is None else self.rows
        view.rows = base[np.asarray(indices, dtype=np.int64)]
        return view

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


class ConcatRows:
    """Several row sources (RowFile or arrays) seen as one."""

    def __init__(self, parts: list):
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def shape(self) -> tuple:
        return (len(self), *self.parts[0].shape[1:])

    dtype = np.dtype(np.uint8)

    def __getitem__(self, sel) -> np.ndarray:
        if isinstance(sel, (int, np.integer)):
            return self[np.array([sel])][0]
        idx = np.arange(len(self))[sel] if isinstance(sel, slice) else np.asarray(sel, dtype=np.int64)
        out = np.empty((len(idx), *self.shape[1:]), np.uint8)
        part = np.searchsorted(self.starts, idx, side="right") - 1
        for p in np.unique(part):
            mask = part == p
            out[mask] = read_rows(self.parts[p], idx[mask] - self.starts[p])
        return out

    __array__ = RowFile.__array__

    def subset(self, indices: np.ndarray) -> "ConcatRows":
        indices = np.asarray(indices, dtype=np.int64)
        if np.any(np.diff(indices) < 0):
            raise ValueError("ConcatRows.subset keeps the parts' order: pass sorted indices")
        part = np.searchsorted(self.starts, indices, side="right") - 1
        return ConcatRows([take_rows(self.parts[p], indices[part == p] - self.starts[p]) for p in np.unique(part)])


def read_rows(images, idx: np.ndarray) -> np.ndarray:
    """The rows idx as a contiguous uint8 array, from an array, a RowFile or a ConcatRows."""
    return np.ascontiguousarray(images[idx])


def take_rows(images, indices):
    """A subset that stays on disk for RowFile/ConcatRows (an array subset is a numpy copy or view)."""
    if isinstance(images, np.ndarray):
        return images[indices]
    return images.subset(np.arange(len(images))[indices] if isinstance(indices, slice) else indices)
