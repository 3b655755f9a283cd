"""Where a split's rows live, behind two interfaces, so that no caller branches on the kind of storage.

``RowStorage`` is a source's raw rows as read (not normalised): ``ArrayRows`` in memory, or ``ShardArray``,
memory-mapped ``.npy`` shards (a ``shards`` source). Each checks its own finiteness, computes its normalisation
statistics and becomes a ``RowSource``: the split's normalised float32 rows for the training device, either
``DeviceRows`` (a resident tensor) or ``MappedRows`` (rows on disk, or in host memory when they do not fit on the
GPU, read a batch at a time). The training loop and ``predict`` use a ``RowSource`` alike.

Shards stay on disk. numpy maps each shard and the operating system pages in only what is touched, so a
transfer set many times the machine's memory trains like any other. What needs every row — the finiteness check
and the normalisation statistics — reads ``CHUNK_ROWS`` rows at a time; each training batch is gathered,
normalised and moved to the device when it is needed, one batch ahead on a worker thread, and on CUDA through
pinned memory so that the copy overlaps the step. Labels are small and are read whole. The same path serves data
that is in host memory but too large for the GPU (HostRows).
"""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Optional, Union

import numpy as np
import torch

from .errors import DataError

CHUNK_ROWS = 8192
DEVICE_DATA_SHARE = 0.5  # a split may take this share of the GPU's free memory; the model and activations need the rest

Normalization = Optional[dict[str, list[float]]]
RowKey = Union[slice, np.ndarray]


def apply_normalization(x: np.ndarray, norm: Normalization) -> np.ndarray:
    """Raw rows as float32, less the mean and over the standard deviation (scalar, or one per feature)."""
    values = x.astype(np.float32)
    if norm is None:
        return values
    shape = values.shape
    flat = values.reshape(len(values), -1)
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    normalised: np.ndarray = ((flat - mean) / std).reshape(shape)
    return normalised


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a split of ``nbytes`` (float32) is kept resident on ``device``: always on the CPU; on a GPU when it
    takes at most DEVICE_DATA_SHARE of the free memory — else it stays on the host and is copied a batch ahead."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_SHARE * free


# ---------------------------------------------------------------- row sources: normalised rows for the device


class RowSource(ABC):
    """A split's normalised float32 rows, as the training loop and ``predict`` read them, whatever holds them.

    ``rows[index]`` (an index tensor or a slice) gives those rows on the device; ``split(n)`` walks every row in
    blocks, as ``Tensor.split`` does; ``batches(indices)`` gives (index, rows) for each batch of an epoch."""

    shape: torch.Size
    device: torch.device

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, key: Union[slice, torch.Tensor]) -> torch.Tensor: ...

    @abstractmethod
    def split(self, size: int) -> Iterator[torch.Tensor]: ...

    @abstractmethod
    def batches(self, indices: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


class DeviceRows(RowSource):
    """Rows resident on the training device as one tensor: a batch is an index into it, nothing is copied ahead."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor, self.shape, self.device = tensor, tensor.shape, tensor.device

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, key: Union[slice, torch.Tensor]) -> torch.Tensor:
        return self.tensor[key]

    def split(self, size: int) -> Iterator[torch.Tensor]:
        return iter(torch.split(self.tensor, size))

    def batches(self, indices: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((index, self.tensor[index]) for index in indices)


# ---------------------------------------------------------------- row storage: raw rows as read


class RowStorage(ABC):
    """A source's raw rows as read (not normalised): what loading checks, measures and turns into a RowSource.

    ``storage[key]`` (a slice or an index array) is another storage of those rows, as numpy views are;
    ``array`` is what a caller outside loading gets: a numpy array, or the lazy ShardArray itself."""

    dtype: np.dtype[Any]

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]: ...

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def select(self, key: RowKey) -> RowStorage:
        """The rows at ``key`` (a slice or an index array), as storage of the same kind."""

    @property
    @abstractmethod
    def array(self) -> Union[np.ndarray, ShardArray]: ...

    @abstractmethod
    def check_finite(self, where: str, file: Optional[str]) -> None:
        """Raises a DataError naming the first row that holds NaN or Infinity."""

    @abstractmethod
    def normalization_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation in float64: one value for images (samples of 2+ dims), one per feature else."""

    @abstractmethod
    def on_device(self, norm: Normalization, device: torch.device) -> RowSource:
        """The rows normalised for ``device``: resident when they fit, else read a batch at a time."""


class ArrayRows(RowStorage):
    """Rows read whole into memory (an .npz/.npy file, the embedded digits)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array, self.dtype = array, array.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    def __len__(self) -> int:
        return len(self._array)

    def select(self, key: RowKey) -> ArrayRows:
        return ArrayRows(self._array[key])

    @property
    def array(self) -> np.ndarray:
        return self._array

    def check_finite(self, where: str, file: Optional[str]) -> None:
        x = self._array
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
            raise DataError(f"{where}: x holds NaN or Infinity (first at row {bad})", field=f"{where}.x", file=file)

    def normalization_stats(self) -> tuple[np.ndarray, np.ndarray]:
        flat = self._array.reshape(len(self._array), -1).astype(np.float64)
        if self.ndim >= 3:
            return np.array([flat.mean()]), np.array([flat.std()])
        return flat.mean(axis=0), flat.std(axis=0)

    def on_device(self, norm: Normalization, device: torch.device) -> RowSource:
        rows = apply_normalization(self._array, norm)
        if not fits_on_device(rows.nbytes, device):  # stays in host memory; batches go over pinned memory
            return MappedRows(HostRows(rows), lambda batch: batch, device)
        return DeviceRows(torch.as_tensor(rows, device=device))


class ShardArray(RowStorage):
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
                raise DataError(
                    f"{where}: {path} cannot be memory-mapped (Python objects, or not an .npy file): {error}",
                    field=where,
                    file=path,
                ) from error
            except OSError as error:
                raise DataError(
                    f"{where}: {path} is not a readable .npy (corrupt or truncated?): {error}", field=where, file=path
                ) from error
            if mapped.ndim < 2:
                raise DataError(
                    f"{where}: {path} must hold rows of shape [N, ...features], got {list(mapped.shape)}",
                    field=where,
                    file=path,
                )
            if maps and (mapped.shape[1:] != maps[0].shape[1:] or mapped.dtype != maps[0].dtype):
                raise DataError(
                    f"{where}: {path} holds rows of {list(mapped.shape[1:])} {mapped.dtype}, but {paths[0]} holds "
                    f"{list(maps[0].shape[1:])} {maps[0].dtype}; every shard must match the first",
                    field=where,
                    file=path,
                )
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
        return int(self._maps[0].ndim)

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._rows is None else len(self._rows)

    def __getitem__(self, key: RowKey) -> ShardArray:
        positions = np.arange(len(self))[key]
        rows = positions if self._rows is None else self._rows[positions]
        return ShardArray(self._maps, self.files, np.asarray(rows, dtype=np.int64))

    def select(self, key: RowKey) -> ShardArray:
        return self[key]

    @property
    def array(self) -> ShardArray:
        return self  # stays lazy: callers take the rows they need

    def check_finite(self, where: str, file: Optional[str]) -> None:
        check_finite(self, where)

    def normalization_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return normalization_stats(self, per_feature=self.ndim < 3)

    def on_device(self, norm: Normalization, device: torch.device) -> RowSource:
        """Stays on disk; batches are read, normalised and moved as they are needed."""
        return MappedRows(self, functools.partial(apply_normalization, norm=norm), device)

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
            raise DataError(
                f"{where}: x holds NaN or Infinity (first at row {start + int(np.argmin(finite))})",
                field=f"{where}.x",
                file=array.files[0],
            )


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


def storage_of(array: Union[np.ndarray, ShardArray]) -> RowStorage:
    """Raw rows that a caller holds as an array (a public helper's argument) as storage: loading itself never needs
    this, it reads each source into its own kind of storage."""
    return array if isinstance(array, ShardArray) else ArrayRows(array)


class HostRows:
    """Rows already in host memory (normalised) that do not fit on the GPU: read a batch at a time like shards."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows, self.shape, self.dtype = rows, rows.shape, rows.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> np.ndarray:
        taken: np.ndarray = self.rows[positions]
        return taken


class MappedRows(RowSource):
    """A split that is not on the training device — rows on disk (ShardArray), or in host memory when they do not
    fit on the GPU (HostRows): what the training loop and ``predict`` use in place of a tensor.

    ``rows[index]`` (an index tensor or a slice) reads, normalises and moves those rows to the device;
    ``split(n)`` walks every row in blocks, as ``Tensor.split`` does; ``batches(indices)`` reads one batch ahead.
    """

    def __init__(
        self, array: Union[ShardArray, HostRows], normalize: Callable[[np.ndarray], np.ndarray], device: torch.device
    ) -> None:
        self.array, self.normalize, self.device = array, normalize, device
        self.shape = torch.Size(array.shape)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Union[slice, torch.Tensor]) -> torch.Tensor:
        return self._to_device(self._read(key))

    def split(self, size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self), size):
            yield self[start : start + size]

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
