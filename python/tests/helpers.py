"""Small builders shared by the tests.

The engine fills no default of its own: every request it gets was completed by the TypeScript zod schemas,
and ``spec.parse`` refuses one that lacks a key they fill. So the tests build their requests from
``zod_defaults.json`` (the zod-completed defaults of every option block, written by ``node scripts/contract.js``
— never edit it by hand) plus the values each test cares about, instead of restating a default here.

Naming: ``*_options`` return wire dicts (camelCase, as the bridge sends them); ``*_spec`` return the typed,
frozen objects that ``spec.parse`` makes of them, which the engine's functions take.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Optional

import numpy as np
import torch

from distillery import spec
from distillery.data import DataBundle, Split
from distillery.progress import Progress
from distillery.shards import DeviceRows

CPU = torch.device("cpu")
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(TESTS_DIR))

with open(os.path.join(TESTS_DIR, "zod_defaults.json"), encoding="utf8") as _handle:
    ZOD_DEFAULTS: dict[str, Any] = json.load(_handle)


# The ONNX opset zod gives `export.opset`: tests that call export_onnx directly pass it, as the pipeline does.
OPSET: int = ZOD_DEFAULTS["export"]["opset"]


def zod_default(*path: str) -> Any:
    """A fresh copy of one block of zod_defaults.json, e.g. ``zod_default("models", "mlp")``."""
    value: Any = ZOD_DEFAULTS
    for key in path:
        value = value[key]
    return copy.deepcopy(value)


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The defaults with ``overrides`` on top (a nested block given as an override replaces the default's whole
    block)."""
    return {**base, **copy.deepcopy(overrides)}


# ---------------------------------------------------------------- option blocks (wire dicts)


def training_options(**overrides: Any) -> dict[str, Any]:
    """The zod-completed ``training`` block, with ``overrides`` (camelCase keys) on top."""
    return _merged(zod_default("training"), overrides)


def model_options(kind: str, **overrides: Any) -> dict[str, Any]:
    """A complete model config of ``kind`` (mlp, lenet, resnet, custom)."""
    return _merged(zod_default("models", kind), overrides)


def method_options(kind: str, **overrides: Any) -> dict[str, Any]:
    """A complete method block of ``kind`` (hard-labels, soft-targets, …)."""
    return _merged(zod_default("methods", kind), overrides)


def source_options(kind: str, **overrides: Any) -> dict[str, Any]:
    """A complete data source of ``kind`` (mnist or file)."""
    return _merged(zod_default("sources", kind), overrides)


def mnist_source_options(split: str, **overrides: Any) -> dict[str, Any]:
    return source_options("mnist", split=split, **overrides)


def file_source_options(path: Any, **overrides: Any) -> dict[str, Any]:
    return source_options("file", path=str(path), **overrides)


def data_options(**overrides: Any) -> dict[str, Any]:
    """The zod-completed ``data`` block (the embedded MNIST, all of it) with ``overrides`` on top."""
    return _merged(zod_default("data"), overrides)


def mnist_data(train_limit: int = 512, test_limit: int = 128, **extra: Any) -> dict[str, Any]:
    """A data config for the first rows of the embedded MNIST's train and test splits."""
    return data_options(
        **{
            "train": mnist_source_options("train", limit=train_limit),
            "test": mnist_source_options("test", limit=test_limit),
            **extra,
        }
    )


def file_data(train: Any, test: Any, **extra: Any) -> dict[str, Any]:
    """A data config reading .npz/.npy files (paths, or complete source dicts)."""
    as_source = lambda s: s if isinstance(s, dict) else file_source_options(s)  # noqa: E731
    return data_options(train=as_source(train), test=as_source(test), **extra)


def export_options(**overrides: Any) -> dict[str, Any]:
    return _merged(zod_default("export"), overrides)


def evaluate_options(**overrides: Any) -> dict[str, Any]:
    return _merged(zod_default("evaluate"), overrides)


def onnx_teacher_options(**overrides: Any) -> dict[str, Any]:
    """A complete black-box teacher block (``type: onnx``)."""
    return _merged(zod_default("onnxTeacher"), overrides)


def trained_teacher(
    model: Optional[dict[str, Any]] = None,
    *,
    name: str = "teacher",
    training: Optional[dict[str, Any]] = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``type: train`` teacher: the model (default: zod's mlp), trained with ``training`` (default: zod's)."""
    return {
        "type": "train",
        "name": name,
        "model": model or model_options("mlp"),
        "training": training or training_options(),
        **extra,
    }


def student(
    name: str,
    model: Optional[dict[str, Any]] = None,
    method: Optional[dict[str, Any]] = None,
    training: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """A student block: zod's mlp, hard-labels and training unless given."""
    return {
        "name": name,
        "model": model or model_options("mlp"),
        "method": method or method_options("hard-labels"),
        "training": training or training_options(),
    }


# ---------------------------------------------------------------- whole requests (wire dicts)
# seed, device and resume are each test's own choice, so they are always written out; export is zod's unless given.


def train_teacher_request(
    out_dir: Any,
    teacher: dict[str, Any],
    *,
    data: Optional[dict[str, Any]] = None,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    export: Any = None,
) -> dict[str, Any]:
    return {
        "data": data or data_options(),
        "outDir": str(out_dir),
        "device": device,
        "seed": seed,
        "resume": resume,
        "export": export_options() if export is None else export,
        "teacher": teacher,
    }


def distill_request(
    out_dir: Any,
    student_block: dict[str, Any],
    *,
    teacher: Any = None,
    data: Optional[dict[str, Any]] = None,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    export: Any = None,
) -> dict[str, Any]:
    """``teacher``: a checkpoint path, an onnx teacher block, or None (the key is then absent, as zod leaves it)."""
    request = {
        "data": data or data_options(),
        "outDir": str(out_dir),
        "device": device,
        "seed": seed,
        "resume": resume,
        "export": export_options() if export is None else export,
        "student": student_block,
    }
    if teacher is not None:
        request["teacher"] = str(teacher) if isinstance(teacher, os.PathLike) else teacher
    return request


def experiment_request(
    out_dir: Any,
    teacher: dict[str, Any],
    students: list[dict[str, Any]],
    *,
    data: Optional[dict[str, Any]] = None,
    name: str = "experiment",
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    export: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "seed": seed,
        "device": device,
        "data": data or data_options(),
        "teacher": teacher,
        "students": students,
        "export": export or export_options(),
        "evaluate": evaluate_options(),
        "outDir": str(out_dir),
        "resume": resume,
    }


# ---------------------------------------------------------------- typed specs (what the engine's functions take)


def training_spec(**overrides: Any) -> spec.Training:
    return spec.parse(spec.Training, training_options(**overrides), "training")


def model_spec(kind: str, **overrides: Any) -> spec.ModelSpec:
    return spec.parse(spec.ModelSpec, model_options(kind, **overrides), "model")  # type: ignore[type-abstract]


def method_spec(kind: str, **overrides: Any) -> spec.MethodOptions:
    return spec.parse(spec.MethodOptions, method_options(kind, **overrides), "method")  # type: ignore[type-abstract]


def source_spec(kind: str, **overrides: Any) -> spec.Source:
    return spec.parse(spec.Source, source_options(kind, **overrides), "source")  # type: ignore[arg-type]


def data_spec(**overrides: Any) -> spec.DataSpec:
    """The typed data config: zod's defaults with ``overrides``; pass a whole data dict as ``data_spec(**config)``."""
    return spec.parse(spec.DataSpec, data_options(**overrides), "data")


def onnx_teacher_spec(**overrides: Any) -> spec.OnnxTeacher:
    return spec.parse(spec.OnnxTeacher, onnx_teacher_options(**overrides), "teacher")


# ---------------------------------------------------------------- in-memory data and numerics


def tiny_bundle(n_train: int = 96, n_test: int = 32, shape=(1, 8, 8), classes: int = 3, seed: int = 0) -> DataBundle:
    """An in-memory classification bundle of random images whose label is a function of the pixels."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, *shape, generator=generator)
    y = x.flatten(1)[:, :classes].argmax(dim=1).long()
    train, test = Split(DeviceRows(x[:n_train]), y[:n_train]), Split(DeviceRows(x[n_train:]), y[n_train:])
    return DataBundle(
        "classification", list(shape), classes, [str(i) for i in range(classes)], None, train, test, train, None
    )


def tiny_files(
    folder: Any, n_train: int = 96, n_test: int = 32, features: int = 8, classes: int = 3, seed: int = 0
) -> dict[str, Any]:
    """tiny_bundle's kind of data as .npz files (for the commands, which read files): returns the data config."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, features)).astype(np.float32)
    y = x[:, :classes].argmax(axis=1)
    np.savez(os.path.join(str(folder), "tiny-train.npz"), x=x[:n_train], y=y[:n_train])
    np.savez(os.path.join(str(folder), "tiny-test.npz"), x=x[n_train:], y=y[n_train:])
    return file_data(os.path.join(str(folder), "tiny-train.npz"), os.path.join(str(folder), "tiny-test.npz"))


def np_log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(np_log_softmax(z))


def state_dicts_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def damaged_copies(raw: bytes, seed: int, trials: int):
    """Byte-level damage, reproducibly: 8 random bytes overwritten, a truncation, or one flipped bit, in turn."""
    import random

    rng = random.Random(seed)
    for trial in range(trials):
        data = bytearray(raw)
        if trial % 3 == 0:
            position = rng.randrange(len(data))
            data[position : position + 8] = bytes(rng.randrange(256) for _ in range(8))
        elif trial % 3 == 1:
            data = data[: rng.randrange(len(data))]
        else:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        yield bytes(data)


class Recorder(Progress):
    """A progress sink that keeps every event (step events unthrottled), for assertions on what a command reported."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        super().__init__(self.events.append, min_interval_s=0.0)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("event") == kind]


def augment_options(**overrides: Any) -> dict[str, Any]:
    """A complete ``training.augment`` block (everything off) with ``overrides`` on top."""
    return _merged(zod_default("augment"), overrides)
