"""ONNX export: one self-contained file with a dynamic batch axis and the ``distillery.*`` metadata.

The file is written to a temporary name, checked against PyTorch with
onnxruntime (max |difference| within the tolerance), and only then renamed
into place — a failed or interrupted export leaves nothing under the final
name. docs/ARCHITECTURE.md lists the metadata keys.
"""

from __future__ import annotations

import contextlib
import copy
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
from .text import TextLayout, trimmed
from .text_models import TextModel

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
    tokenizer: Optional[str] = None,
) -> dict[str, str]:
    output_name = "values" if task == "regression" else "logits"
    # A text model's tokenizer.json travels inside it: the runtime encodes raw text with it (src/preprocess).
    extra = {} if tokenizer is None else {"distillery.tokenizer": tokenizer}
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
        **extra,
    }


class Normalized(nn.Module):
    """``module`` after the input normalisation ``(x - mean) / std``, in float32 as the engine's data loading does it.

    Exported so, the graph takes raw inputs and the runtime only validates and copies them
    (``distillery.normalizationInGraph``); the parity check runs this same module against the graph.
    """

    def __init__(
        self,
        module: nn.Module,
        normalization: dict[str, list[float]],
        input_shape: list[int],
        text: Optional[TextLayout] = None,
    ):
        super().__init__()
        self.module = module
        # A text row: only its fixed slots are standardised, inside the text model (a copy), so that the token ids
        # (any number of slots) go from the input straight to their integer cast.
        self.fixed = None if text is None else text.fixed
        if text is not None:
            self.module = copy.deepcopy(module)
            for part in self.module.modules():
                if isinstance(part, TextModel):
                    part.normalize_fixed(normalization["mean"], normalization["std"])
            input_shape = [text.fixed]
            normalization = {key: values[: text.fixed] for key, values in normalization.items()}
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
        if self.fixed is not None:
            outputs: torch.Tensor = self.module(x)
            return outputs
        outputs = self.module((x - self.mean) / self.std)
        return outputs

    def raw(self, rows: torch.Tensor) -> torch.Tensor:
        """Normalised rows (as the engine holds them) back to the raw inputs the graph takes."""
        if self.fixed is not None:
            return torch.cat([rows[:, : self.fixed] * self.std + self.mean, rows[:, self.fixed :]], dim=1)
        return rows * self.std + self.mean


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
    text: Optional[TextLayout] = None,
) -> ExportResult:
    """Exports ``module`` (moved to the CPU, eval mode) and returns the file's path, size, sha256, parity and opset.

    With ``normalization``, the graph applies it (``sample`` is then normalised rows, as the engine holds them).
    With ``text`` (a text model's layout, text.py) axis 1 is dynamic too — the runtime sends each batch as wide as
    its longest text — and parity is checked on token ids (test rows and random ids with pad tails), at full width
    and cut to the batch's longest text."""
    import onnx

    if text is not None and "distillery.tokenizer" not in metadata:
        raise ExportError(
            f"{metadata.get('distillery.name')}: a text model is exported with its tokenizer, and this checkpoint "
            "holds none (train it with data.tokenizerFile set)",
            file=path,
        )
    module = module.to("cpu").eval()
    if normalization is not None:
        wrapped = Normalized(module, normalization, input_shape, text).eval()
        if sample is not None and len(sample):
            sample = wrapped.raw(sample.cpu().float()[:PARITY_BATCH])  # back to raw inputs
        module = wrapped
        metadata = {**metadata, "distillery.normalizationInGraph": "true"}
    output_name = "values" if task == "regression" else "logits"
    # Dynamo specialises batch sizes 0 and 1: export with a larger batch to keep the axis dynamic.
    generator = torch.Generator().manual_seed(0)
    if text is None:
        example = torch.randn(PARITY_BATCH, *input_shape, generator=generator)
    else:
        example = text_rows(text, PARITY_BATCH, generator)
    dynamic: dict[int, Any] = {0: torch.export.Dim("batch")}
    if text is not None and text.length >= 2:  # as for the batch: a size-1 axis would be specialised
        dynamic[1] = torch.export.Dim("width", min=text.fixed + 1, max=text.fixed + text.length)
    check_batch = sample.cpu()[:PARITY_BATCH].float() if sample is not None and len(sample) else example
    if text is not None:
        check_batch = torch.cat([check_batch, text_rows(text, PARITY_BATCH, generator)])
    with atomic_path(path) as temporary:
        try:
            _forget_rnn_dispatch()
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
                    dynamic_shapes=(dynamic,),
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
        if text is not None and text.length >= 2:  # and as the runtime sends them: cut after their longest text
            short = check_batch[check_batch[:, text.fixed + text.length - 1] == text.pad]
            if len(short):
                cut = _parity(module, temporary, trimmed(short, text), relative=task == "regression")
                difference = max(difference, cut)
        if not difference <= tolerance:
            raise ExportError(
                f"ONNX parity check failed for {path}: max |onnxruntime - torch| = {difference:.3g} > {tolerance}",
                file=path,
                details={"parityMaxAbsDiff": difference},
            )
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return ExportResult(path, os.path.getsize(path), digest, difference, opset)


def _forget_rnn_dispatch() -> None:
    """Clears the dispatch caches of torch's LSTM and GRU ops before an export. With a dynamic axis, the exporter
    swaps in a while-loop decomposition of these ops for the export and restores the original after, but the op
    keeps the kernel it resolved the first time in its dispatch cache: a second export in the same process
    (torch 2.13) decomposes an LSTM step by step instead, and the graph's width axis comes out fixed at the example's
    width. Clearing the cache makes every export resolve the kernel afresh."""
    for packet in (torch.ops.aten.lstm, torch.ops.aten.gru):
        for overload in ("input", "data"):
            op = getattr(packet, overload, None)
            cache = getattr(op, "_dispatch_cache", None)
            if isinstance(cache, dict):
                cache.clear()


def text_rows(text: TextLayout, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` packed rows of a text layout: random fixed slots, then random ids in [0, V) with random pad tails (one
    row empty, one full)."""
    fixed = torch.randn(n, text.fixed, generator=generator)
    ids = torch.randint(0, text.vocab - 1, (n, text.length), generator=generator)
    ids += (ids >= text.pad).long()  # real tokens are never the pad id
    lengths = torch.randint(0, text.length + 1, (n,), generator=generator)
    lengths[0], lengths[-1] = 0, text.length
    ids[torch.arange(text.length)[None, :] >= lengths[:, None]] = text.pad
    return torch.cat([fixed, ids.float()], dim=1)


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
