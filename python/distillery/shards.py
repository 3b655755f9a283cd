"""Data larger than memory: inputs in memory-mapped ``.npy`` shards (a ``shards`` source), read in chunks.

The rows stay on disk. numpy maps each shard and the operating system pages in only what is touched, so a
transfer set many times the machine's memory trains like any other. What needs every row — the finiteness check
and the normalisation statistics — reads ``CHUNK_ROWS`` rows at a time; each training batch is gathered,
normalised and moved to the device when it is needed, one batch ahead on a worker thread, and on CUDA through
pinned memory so that the copy overlaps the step. Labels are small and are read whole. The same path serves data
that is in host memory but too large for the GPU (HostRows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Optional, Union

import numpy as np
import torch

from .errors import DataError

CHUNK_ROWS = 8192


class ShardArray:
    """The rows of several memory-mapped .npy files as one array, or a selection of them; nothing is read until
    rows are asked for. Indexing with a slice or an index array gives another (lazy) selection, as numpy views do."""

    def __init__(self, maps: list[np.ndarray], files: list[str], rows: Optional[np.ndarray] = None) -> None:
        self._maps, self.files = maps, files
        self._starts = np.cumsum([0] + [len(m) for m in maps])
        self._rows = rows  # positions in the concatenation; None: all of them, in order
        self.dtype = maps[0].dtype

    @classmethod
    def open(cls, paths: list[str], field: str) -> ShardArray:
        """Maps each file; every shard must be a numeric array with the first shard's sample shape and dtype."""
        maps: list[np.ndarray] = []
        for i, path in enumerate(paths):
            where = f"{field}[{i}]"
            if not os.path.exists(path):
                raise DataError(f"{where}: file not found: {path}", field=where, file=path)
            try:
                mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            except ValueError as error:  # object arrays cannot be mapped: they are pickles, refused anyway
                raise DataError(f"{where}: {path} cannot be memory-mapped (Python objects, or not an .npy file): {error}", field=where,
                                file=path) from error
            except OSError as error:
                raise DataError(f"{where}: {path} is not a readable .npy (corrupt or truncated?): {error}", field=where, file=path) from error
            if mapped.ndim < 2:
                raise DataError(f"{where}: {path} must hold rows of shape [N, ...features], got {list(mapped.shape)}", field=where, file=path)
            if maps and (mapped.shape[1:] != maps[0].shape[1:] or mapped.dtype != maps[0].dtype):
                raise DataError(f"{where}: {path} holds rows of {list(mapped.shape[1:])} {mapped.dtype}, but {paths[0]} holds "
                                f"{list(maps[0].shape[1:])} {maps[0].dtype}; every shard must match the first", field=where, file=path)
            maps.append(mapped)
        return cls(maps, list(paths))

    @property
    def shard_rows(self) -> list[int]:
        """Rows in each shard file, in order (whatever this selection holds)."""
        return [len(m) for m in self._maps]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self._maps[0].shape[1:])

    @property
    def ndim(self) -> int:
        return self._maps[0].ndim

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._rows is None else len(self._rows)

    def __getitem__(self, key: Union[slice, np.ndarray]) -> ShardArray:
        positions = np.arange(len(self))[key]
        rows = positions if self._rows is None else self._rows[positions]
        return ShardArray(self._maps, self.files, np.asarray(rows, dtype=np.int64))

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The rows at ``positions`` (of this selection), read from disk into one array, in that order."""
        rows = np.asarray(positions, dtype=np.int64) if self._rows is None else self._rows[positions]
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        out = np.empty((len(rows), *self._maps[0].shape[1:]), dtype=self.dtype)
        for s in np.unique(shard):
            mask = shard == s
            out[mask] = self._maps[s][rows[mask] - self._starts[s]]
        return out

    def chunks(self, size: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first position, rows) for consecutive blocks of ``size`` rows (default CHUNK_ROWS)."""
        size = size or CHUNK_ROWS
        for start in range(0, len(self), size):
            yield start, self.take(np.arange(start, min(start + size, len(self))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """All rows in memory: only for small selections (a sample for the accuracy guard)."""
        rows = self.take(np.arange(len(self)))
        return rows if dtype is None else rows.astype(dtype)


def check_finite(array: ShardArray, where: str) -> None:
    """The finiteness check of in-memory data, a chunk at a time, naming the first bad row."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    for start, rows in array.chunks():
        finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
        if not finite.all():
            raise DataError(f"{where}: x holds NaN or Infinity (first at row {start + int(np.argmin(finite))})", field=f"{where}.x",
                            file=array.files[0])


def normalization_stats(array: ShardArray, per_feature: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation in float64, two passes over the chunks (as numpy's mean/std, without the memory)."""
    features = int(np.prod(array.shape[1:]))
    total = np.zeros(features if per_feature else 1)
    for _, rows in array.chunks():
        flat = rows.reshape(len(rows), -1).astype(np.float64)
        total += flat.sum(axis=0) if per_feature else flat.sum()
    count = len(array) * (1 if per_feature else features)
    mean = total / count
    squares = np.zeros_like(total)
    for _, rows in array.chunks():
        centred = rows.reshape(len(rows), -1).astype(np.float64) - mean
        squares += (centred**2).sum(axis=0) if per_feature else (centred**2).sum()
    return mean, np.sqrt(squares / count)


class HostRows:
    """Rows already in host memory (normalised) that do not fit on the GPU: read a batch at a time like shards."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows, self.shape, self.dtype = rows, rows.shape, rows.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> np.ndarray:
        return self.rows[positions]


class MappedRows:
    """A split that is not on the training device — rows on disk (ShardArray), or in host memory when they do not
    fit on the GPU (HostRows): what the training loop and ``predict`` use in place of a tensor.

    ``rows[index]`` (an index tensor or a slice) reads, normalises and moves those rows to the device;
    ``split(n)`` walks every row in blocks, as ``Tensor.split`` does; ``batches(indices)`` reads one batch ahead.
    """

    def __init__(self, array: Union[ShardArray, HostRows], normalize: Callable[[np.ndarray], np.ndarray], device: torch.device) -> None:
        self.array, self.normalize, self.device = array, normalize, device
        self.shape = torch.Size(array.shape)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Union[slice, torch.Tensor]) -> torch.Tensor:
        return self._to_device(self._read(key))

    def split(self, size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self), size):
            yield self[start:start + size]

    def batches(self, indices: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(index, rows) for each index tensor, the next batch read from disk while the caller trains on this one."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="distillery-prefetch") as pool:
            pending: Optional[tuple[torch.Tensor, Future[torch.Tensor]]] = None
            for index in indices:
                ahead = (index, pool.submit(self._read, index))
                if pending is not None:
                    yield pending[0], self._to_device(pending[1].result())
                pending = ahead
            if pending is not None:
                yield pending[0], self._to_device(pending[1].result())

    def _read(self, key: Union[slice, torch.Tensor]) -> torch.Tensor:
        """Rows from disk, normalised, as a CPU tensor (pinned when they go to a GPU)."""
        positions = np.arange(len(self))[key] if isinstance(key, slice) else key.detach().cpu().numpy()
        rows = torch.from_numpy(self.normalize(self.array.take(positions)))
        return rows.pin_memory() if self.device.type == "cuda" else rows

    def _to_device(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.to(self.device, non_blocking=True) if self.device.type != "cpu" else rows

