"""ONNX export: one self-contained file with a dynamic batch axis and the ``distillery.*`` metadata.

The file is written to a temporary name, checked against PyTorch with
onnxruntime (max |difference| within the tolerance), and only then renamed
into place — a failed or interrupted export leaves nothing under the final
name. docs/ARCHITECTURE.md lists the metadata keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from . import __version__
from .errors import ExportError
from .io import atomic_path
from .results import ExportResult

INPUT_NAME = "input"
PARITY_BATCH = 16


def metadata_props(
    *,
    name: str,
    role: str,
    task: str,
    input_shape: list[int],
    output_kind: str,
    normalization: Optional[dict[str, list[float]]],
    labels: list[str],
    model_config: dict[str, Any],
    method: Optional[dict[str, Any]],
    teacher: Optional[dict[str, Any]],
    training: Optional[dict[str, Any]],
    metrics: Optional[dict[str, Any]],
    params: int,
    flops: int,
    preprocess: Optional[dict[str, Any]] = None,
) -> dict[str, str]:
    output_name = "values" if task == "regression" else "logits"
    return {
        "distillery.version": __version__,
        "distillery.name": name,
        "distillery.role": role,
        "distillery.task": task,
        "distillery.input": json.dumps({"name": INPUT_NAME, "shape": input_shape, "dtype": "float32"}),
        "distillery.output": json.dumps({"name": output_name, "kind": output_kind}),
        "distillery.normalization": json.dumps(normalization),
        "distillery.labels": json.dumps(labels),
        "distillery.model": json.dumps(model_config),
        "distillery.method": json.dumps(method),
        "distillery.teacher": json.dumps(teacher),
        "distillery.training": json.dumps(training),
        "distillery.metrics": json.dumps(metrics),
        "distillery.params": str(params),
        "distillery.flopsPerSample": str(flops),
        "distillery.preprocess": json.dumps(preprocess),
    }


class Normalized(nn.Module):
    """``module`` after the input normalisation ``(x - mean) / std``, in float32 as the engine's data loading does it.

    Exported so, the graph takes raw inputs and the runtime only validates and copies them
    (``distillery.normalizationInGraph``); the parity check runs this same module against the graph.
    """

    def __init__(self, module: nn.Module, normalization: dict[str, list[float]], input_shape: list[int]):
        super().__init__()
        self.module = module
        features = int(np.prod(input_shape))
        mean = torch.tensor(normalization["mean"], dtype=torch.float32)
        std = torch.tensor(normalization["std"], dtype=torch.float32)
        if mean.numel() == features:
            mean, std = mean.reshape(input_shape), std.reshape(input_shape)
        elif mean.numel() > 1:  # one value per channel of [C, ...]
            mean, std = (t.reshape(-1, *([1] * (len(input_shape) - 1))) for t in (mean, std))
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.module((x - self.mean) / self.std)
        return outputs


def export_onnx(
    module: nn.Module,
    input_shape: list[int],
    path: str,
    metadata: dict[str, str],
    *,
    task: str,
    opset: int,
    tolerance: float = 1e-4,
    sample: Optional[torch.Tensor] = None,
    normalization: Optional[dict[str, list[float]]] = None,
) -> ExportResult:
    """Exports ``module`` (moved to the CPU, eval mode) and returns the file's path, size, sha256, parity and opset.

    With ``normalization``, the graph applies it (``sample`` is then normalised rows, as the engine holds them)."""
    import onnx

    module = module.to("cpu").eval()
    if normalization is not None:
        wrapped = Normalized(module, normalization, input_shape).eval()
        if sample is not None and len(sample):
            sample = sample.cpu().float()[:PARITY_BATCH] * wrapped.std + wrapped.mean  # back to raw inputs
        module = wrapped
        metadata = {**metadata, "distillery.normalizationInGraph": "true"}
    output_name = "values" if task == "regression" else "logits"
    # Dynamo specialises batch sizes 0 and 1: export with a larger batch to keep the axis dynamic.
    example = torch.randn(PARITY_BATCH, *input_shape, generator=torch.Generator().manual_seed(0))
    check_batch = sample.cpu()[:PARITY_BATCH].float() if sample is not None and len(sample) else example
    with atomic_path(path) as temporary:
        try:
            with _quiet():
                torch.onnx.export(
                    module,
                    (example,),
                    temporary,
                    dynamo=True,
                    external_data=False,
                    opset_version=opset,
                    input_names=[INPUT_NAME],
                    output_names=[output_name],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    verbose=False,
                )
            model = onnx.load(temporary)
            onnx.helper.set_model_props(model, metadata)
            onnx.save(model, temporary)
        except ExportError:
            raise
        except OSError:
            raise  # a full disk or an unwritable folder: atomic_path turns it into an OutputError naming the file
        except Exception as error:  # the exporter raises many types; all mean the same to the caller
            raise ExportError(
                f"ONNX export of {metadata.get('distillery.name')} failed: {type(error).__name__}: {error}", file=path
            ) from error
        difference = _parity(module, temporary, check_batch, relative=task == "regression")
        if not difference <= tolerance:
            raise ExportError(
                f"ONNX parity check failed for {path}: max |onnxruntime - torch| = {difference:.3g} > {tolerance}",
                file=path,
                details={"parityMaxAbsDiff": difference},
            )
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return ExportResult(path, os.path.getsize(path), digest, difference, opset)


def _parity(module: nn.Module, onnx_path: str, batch: torch.Tensor, relative: bool = False) -> float:
    """max |onnxruntime − torch| over a batch. For regression, divided by max(1, max |output|): real-valued targets
    can be large (prices, …) and float32 carries 7 digits, so an absolute 1e-4 would fail a correct export."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(batch).float().numpy()
    actual = session.run(None, {session.get_inputs()[0].name: batch.numpy().astype(np.float32)})[0]
    if not expected.size:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if relative else 1.0
    return float(np.max(np.abs(actual - expected))) / scale


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints progress and warnings; keep them out of the user's output."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        logger.setLevel(level)
