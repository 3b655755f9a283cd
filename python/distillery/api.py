"""The engine's public Python API: the command table, ``call``, and ``predict`` for a checkpoint.

Commands take a JSON-able dict and return one.

Each command parses its request once into typed objects (spec.py) and hands
them to the orchestrator (pipeline.py); nothing else reads a raw request. The
TypeScript side calls these through the bridge with requests its zod schemas
completed (src/engine/commands.ts has the same names); ``python -m
distillery`` calls them with a complete request file, such as the
``resolved-config.json`` that ``distillery run`` writes.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import numpy as np
import torch

from . import __version__, methods, pipeline
from .checkpoints import load_checkpoint
from .data import load_data
from .errors import ConfigError
from .progress import Progress, Sink
from .quantize import quantize as quantize_model
from .quantize import read_calibration
from .spec import (
    DataSpec,
    DistillRequest,
    Empty,
    ExperimentRequest,
    ExportRequest,
    FitTokenizerRequest,
    QuantizeRequest,
    TrainTeacherRequest,
    WriteSplitRequest,
    parse,
)
from .tokenizer import fit_tokenizer
from .train import predict as predict_outputs
from .train import resolve_device

Command = Callable[[dict[str, Any], Progress], dict[str, Any]]
R = TypeVar("R")


def hello(_request: Empty, _progress: Progress) -> dict[str, Any]:
    """Cheap handshake: versions and the default device."""
    return {
        "distillery": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "pid": os.getpid(),
    }


def doctor(request: Empty, progress: Progress) -> dict[str, Any]:
    report = hello(request, progress)
    report["cudaDevices"] = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    report["threads"] = torch.get_num_threads()
    for package in ("numpy", "onnx", "onnxscript", "onnxruntime"):
        try:
            report[package] = __import__(package).__version__
        except ImportError:
            report[package] = None
    report["methods"] = methods.names()
    return report


def quantize(request: QuantizeRequest, _progress: Progress) -> dict[str, Any]:
    """One int8 or fp16 variant of an exported .onnx, next to it (or at ``path``)."""
    calibration = read_calibration(request.data) if request.data is not None else None
    return quantize_model(
        request.model, request.method, request.path, calibration=calibration, calibration_file=request.data
    )


def command(request_type: type[R], handler: Callable[[R, Progress], dict[str, Any]]) -> Command:
    """A command that parses its raw request into ``request_type`` once, then runs ``handler``."""
    return lambda raw, progress: handler(parse(request_type, raw), progress)


COMMANDS: dict[str, Command] = {
    "hello": command(Empty, hello),
    "doctor": command(Empty, doctor),
    "train_teacher": command(TrainTeacherRequest, pipeline.train_teacher),
    "distill": command(DistillRequest, pipeline.distill),
    "export": command(ExportRequest, pipeline.export_checkpoint),
    "write_split": command(WriteSplitRequest, pipeline.write_split),
    "quantize": command(QuantizeRequest, quantize),
    "run_experiment": command(ExperimentRequest, pipeline.run_experiment),
    "fit_tokenizer": command(FitTokenizerRequest, fit_tokenizer),
}


def call(
    command: str, request: dict[str, Any], on_event: Optional[Sink] = None, *, progress: Optional[Progress] = None
) -> dict[str, Any]:
    """Runs one engine command in this process: the one dispatcher, for the bridge, ``python -m distillery`` and the
    benchmarks. ``request`` must be complete (every default written out), e.g. a ``resolved-config.json``.

    ``on_event`` receives the progress events. A caller that cancels the call from outside (the bridge, on SIGUSR1)
    passes its own ``progress`` instead and calls its ``request_cancel()``."""
    if on_event is not None and progress is not None:
        raise TypeError("call: pass on_event or progress, not both")
    if command not in COMMANDS:
        raise ConfigError(
            f"command: unknown engine command '{command}' (known: {', '.join(sorted(COMMANDS))})", field="command"
        )
    return COMMANDS[command](request, progress if progress is not None else Progress(on_event))


def predict(checkpoint: str, data: dict[str, Any], split: str, device: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """A checkpoint's outputs (logits, or values for regression) on one split of a complete data config, with that
    split's labels or targets (None when it has none), as numpy arrays. ``device``: auto, cpu, cuda or cuda:N."""
    if split not in ("train", "test", "transfer", "validation"):
        raise ConfigError(f"split: expected train, test, transfer or validation, got {split!r}", field="split")
    spec = parse(DataSpec, data, "data")
    where = resolve_device(device)
    bundle = load_data(spec, where)
    rows = getattr(bundle, split)
    if rows is None:
        raise ConfigError(f"data.{split}: not configured", field=f"data.{split}")
    outputs = predict_outputs(load_checkpoint(checkpoint, where).module, rows.x)
    return outputs.cpu().numpy(), None if rows.y is None else rows.y.cpu().numpy()
