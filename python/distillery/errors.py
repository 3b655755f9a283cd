"""Typed errors that cross the bridge as JSON envelopes.

Every error the engine raises on purpose is a ``DistilleryError``: it names
the config field or file at fault so the TypeScript side can raise a typed
error with the same information.
"""

from __future__ import annotations

from typing import Any


class DistilleryError(Exception):
    """Base class: ``field`` is a config path (``students[1].method.temperature``), ``file`` a path."""

    def __init__(
        self, message: str, *, field: str | None = None, file: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.file = file
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "field": self.field,
            "file": self.file,
            "details": self.details,
        }


class ConfigError(DistilleryError):
    """A config value that is wrong for the data or the model it meets."""


class DataError(DistilleryError):
    """A dataset file that is missing, unreadable, or holds the wrong arrays."""


class CheckpointError(DistilleryError):
    """A checkpoint that is missing, corrupt, or of another format."""


class TrainingDivergedError(DistilleryError):
    """The loss became NaN or infinite; ``details`` holds epoch and step."""


class ExportError(DistilleryError):
    """ONNX export failed, or its outputs did not match PyTorch's."""


class OutputError(DistilleryError):
    """An output file or folder could not be written."""


class Cancelled(DistilleryError):
    """The caller asked to stop (AbortSignal, Ctrl-C)."""

    def __init__(self, message: str = "cancelled by the caller", **kwargs: Any):
        super().__init__(message, **kwargs)


class QuantizationError(DistilleryError):
    """A quantised or fp16 variant could not be made: no or wrong calibration data, an op the converter cannot take."""


def utf8_line(line: bytes, path: str, field: str, number: int) -> str:
    """Line ``number`` (from 1) of the text file ``path`` decoded as UTF-8, or a DataError naming the file, the line
    and the first invalid byte."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}, line {number}: invalid UTF-8 at byte {error.start}",
            field=field,
            file=path,
            details={"line": number},
        ) from error
