"""Shared helpers for the Python benchmarks and reproductions (not part of the library, not part of `npm test`).

The benchmarks use the engine only through its public Python API, ``distillery.api``: ``api.call(command,
request, on_event)`` and ``api.predict(checkpoint, data, split)``. An engine request must be complete — every
key the TypeScript zod schemas fill by default written out (python/distillery/spec.py; the defaults are in
python/tests/zod_defaults.json), unknown keys refused — so every config built here spells each field out, and
``train_teacher_request``/``distill_request`` build whole requests, exactly as the TypeScript facade sends them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
OUT = os.environ.get("BENCH_OUT") or os.path.join(BENCH, "out")
FULL_MNIST = os.environ.get("DISTILLERY_FULL_MNIST") or os.path.abspath(
    os.path.join(ROOT, "..", "shared", "data", "mnist")
)

if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "python"))


# ---------------------------------------------------------------- configs


def mnist_source(split: str, **extra: Any) -> dict[str, Any]:
    return {"type": "mnist", "split": split, "offset": 0, "labelled": True, **extra}


def file_source(path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "file", "path": os.path.abspath(path), "x": "x", "y": "y", "offset": 0, "labelled": True, **extra}


def embedded_data(**extra: Any) -> dict[str, Any]:
    return {
        "task": "classification",
        "train": mnist_source("train"),
        "test": mnist_source("test"),
        "normalize": "standard",
        "preprocess": None,
        **extra,
    }


def full_data(**extra: Any) -> dict[str, Any]:
    return {
        "task": "classification",
        "train": file_source(os.path.join(FULL_MNIST, "train.npz")),
        "test": file_source(os.path.join(FULL_MNIST, "test.npz")),
        "normalize": "standard",
        "preprocess": None,
        **extra,
    }


def sgd(lr: float = 0.05) -> dict[str, Any]:
    return {"type": "sgd", "lr": lr, "momentum": 0.9, "nesterov": True}


def training(
    epochs: int,
    optimizer: Optional[dict[str, Any]] = None,
    *,
    batch_size: int = 128,
    shift: int = 0,
    schedule: str = "cosine",
    teacher_outputs: str = "auto",
    mixed_precision: str = "auto",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "epochs": epochs,
        "batchSize": batch_size,
        "optimizer": optimizer or sgd(),
        "weightDecay": 0,
        "schedule": {"type": schedule, "warmupEpochs": 0},
        "checkpoint": "last",
        "mixedPrecision": mixed_precision,
        "teacherOutputs": teacher_outputs,
        "compile": False,
        "channelsLast": False,
    }
    if shift:
        spec["augment"] = {"shift": shift, "flip": False, "noise": 0, "mixup": 0, "cutmix": 0}
    return spec


def mlp(hidden: list[int], **extra: Any) -> dict[str, Any]:
    return {"type": "mlp", "hidden": hidden, "activation": "relu", "dropout": 0, "inputDropout": 0, **extra}


HINTON_TEACHER = mlp([1200, 1200], dropout=0.5, inputDropout=0.2)


def teacher_spec(
    epochs: int, model: Optional[dict[str, Any]] = None, shift: int = 2, name: str = "teacher"
) -> dict[str, Any]:
    return {"type": "train", "name": name, "model": model or HINTON_TEACHER, "training": training(epochs, shift=shift)}


def student_spec(name: str, model: dict[str, Any], method: dict[str, Any], train: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "model": model, "method": method, "training": train}


# The zod default of the export block; pass it as ``export=`` when a benchmark needs the .onnx file.
EXPORT = {"opset": 18, "parityTolerance": 0.0001}


def train_teacher_request(
    data: dict[str, Any],
    out_dir: str,
    teacher: dict[str, Any],
    *,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    export: Any = False,
) -> dict[str, Any]:
    """A complete ``train_teacher`` request. ``export`` False (the default here): checkpoint only, no ONNX export."""
    return {
        "data": data,
        "outDir": out_dir,
        "device": device,
        "seed": seed,
        "resume": resume,
        "export": export,
        "teacher": teacher,
    }


def distill_request(
    data: dict[str, Any],
    out_dir: str,
    student: dict[str, Any],
    *,
    teacher: Any = None,
    device: str = "cpu",
    seed: int = 0,
    resume: bool = False,
    export: Any = False,
) -> dict[str, Any]:
    """A complete ``distill`` request; ``teacher`` is a checkpoint path (or an onnx-teacher block), absent when None
    (methods that learn from the labels alone need none)."""
    request = {
        "data": data,
        "outDir": out_dir,
        "device": device,
        "seed": seed,
        "resume": resume,
        "export": export,
        "student": student,
    }
    if teacher is not None:
        request["teacher"] = teacher
    return request


# ---------------------------------------------------------------- running the engine


class EpochLog:
    """A progress sink that prints one line per epoch (stderr), so background logs show where a run is."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __call__(self, event: dict[str, Any]) -> bool:
        if event.get("event") == "epoch":
            m = event["metrics"]
            extra = f" testErrors={m['testErrors']}" if "testErrors" in m else ""
            print(
                f"{self.prefix}[{event['name']}] epoch {event['epoch']}/{event['epochs']} loss={m['loss']:.4f}{extra} "
                f"{m['samplesPerSecond']:.0f} samples/s",
                file=sys.stderr,
                flush=True,
            )
        return False


def progress(prefix: str = "") -> EpochLog:
    """An ``on_event`` sink for ``api.call`` that logs every epoch to stderr."""
    return EpochLog(prefix)


# ---------------------------------------------------------------- plain PyTorch references (no engine code)


def read_split(data: dict[str, Any], split: str, folder: str) -> tuple[Any, Any]:
    """One split's raw arrays (x, y or None), as the engine reads them: written by the ``write_split`` command."""
    import numpy as np

    from distillery import api

    path = os.path.join(folder, f"{split}.npz")
    api.call("write_split", {"data": data, "split": split, "path": path})
    with np.load(path) as arrays:
        return arrays["x"], (arrays["y"] if "y" in arrays.files else None)


def standardize(x: Any, reference: Any) -> Any:
    """``normalize: "standard"`` as the engine applies it: one mean/std over all pixels for images (2+ dims per
    sample), per feature for vectors; statistics from ``reference`` (the training split)."""
    import numpy as np

    flat = reference.reshape(len(reference), -1).astype(np.float64)
    if reference.ndim >= 3:
        mean, std = np.array([flat.mean()]), np.array([flat.std()])
    else:
        mean, std = flat.mean(axis=0), flat.std(axis=0)
    std = np.where(std < 1e-8, 1.0, std)
    values = x.reshape(len(x), -1).astype(np.float32)
    return ((values - mean.astype(np.float32)) / std.astype(np.float32)).reshape(x.shape)


def plain_mlp(config: dict[str, Any], input_shape: list[int], num_outputs: int) -> Any:
    """The network a complete ``mlp`` model config describes, built in plain PyTorch with the engine's layer layout:
    Flatten, [Dropout(inputDropout)], then per hidden layer [Linear to the bottleneck, no bias (first layer only)],
    Linear, activation, [Dropout(dropout)]; then the output Linear — in a ``layers`` Sequential, so its state_dict
    keys (``layers.N.*``) are those of an engine checkpoint of the same config."""
    import math

    import torch
    from torch import nn

    if config["type"] != "mlp":
        raise SystemExit(f"only mlp models are rebuilt in plain PyTorch here, not '{config['type']}'")
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[config["activation"]]
    layers: list[nn.Module] = [nn.Flatten()]
    if config["inputDropout"] > 0:
        layers.append(nn.Dropout(config["inputDropout"]))
    width = math.prod(input_shape)
    for index, units in enumerate(config["hidden"]):
        if index == 0 and config.get("bottleneck"):
            layers.append(nn.Linear(width, config["bottleneck"], bias=False))
            width = config["bottleneck"]
        layers += [nn.Linear(width, units), activation()]
        if config["dropout"] > 0:
            layers.append(nn.Dropout(config["dropout"]))
        width = units
    layers.append(nn.Linear(width, num_outputs))

    class PlainMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)

    return PlainMLP()


# ---------------------------------------------------------------- machine and output


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    lscpu = None
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    # the whole lscpu output: which CPU a session gets varies, and its flags (VNNI, AMX, bf16) decide the figures
    info: dict[str, Any] = {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "lscpu": lscpu}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torchThreads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        with open("/proc/loadavg", encoding="utf8") as handle:
            info["loadavgAtStart"] = handle.read().split()[:3]
    except OSError:
        pass
    return info


def write_json(name: str, value: dict[str, Any]) -> str:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf8") as handle:
        json.dump(
            {
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv),
                "machine": machine(),
                **value,
            },
            handle,
            indent=2,
        )
    print(f"\nwrote {os.path.relpath(path, os.getcwd())}")
    return path


def table(rows: Iterable[Iterable[Any]], header: list[str]) -> str:
    body = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])


def mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, std


def ensure_embedded_teacher(epochs: int = 30, seed: int = 0, path: Optional[str] = None) -> str:
    """The demo's teacher (2x1200 + dropout, 2 px jitter, 30 epochs) on the embedded digits, trained once and shared
    by the sweeps and the Ba & Caruana runs: bench/out/teacher-embedded/checkpoints/teacher.pt."""
    from distillery import api

    if path:
        return path
    out_dir = os.path.join(OUT, "teacher-embedded")
    checkpoint = os.path.join(out_dir, "checkpoints", "teacher.pt")
    if not os.path.exists(checkpoint):
        print(f"training the shared embedded teacher ({epochs} epochs) -> {checkpoint}", file=sys.stderr, flush=True)
        api.call(
            "train_teacher",
            train_teacher_request(embedded_data(), out_dir, teacher_spec(epochs), seed=seed),
            progress("shared "),
        )
    return checkpoint
