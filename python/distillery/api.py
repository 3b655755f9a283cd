"""The engine's command table: JSON-able dict in, JSON-able dict out.

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
from typing import Any, Callable, TypeVar

import torch

from . import __version__, methods, pipeline
from .progress import Progress
from .spec import DistillRequest, Empty, ExperimentRequest, ExportRequest, TrainTeacherRequest, WriteSplitRequest, parse

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
    report["cudaDevices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    report["threads"] = torch.get_num_threads()
    for package in ("numpy", "onnx", "onnxscript", "onnxruntime"):
        try:
            report[package] = __import__(package).__version__
        except ImportError:
            report[package] = None
    report["methods"] = methods.names()
    return report


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
    "run_experiment": command(ExperimentRequest, pipeline.run_experiment),
}
