"""Black-box teachers: any ONNX classifier, run with onnxruntime — no PyTorch code of the teacher needed.

The transfer set's tensors are normalised for the student; an ONNX teacher
wants its own input format. So the wrapper undoes the student's
normalisation (giving back raw values), applies the teacher's own (from its
``distillery.normalization`` metadata, or the config), reshapes each sample to
the teacher's input shape (e.g. NCHW [1,28,28]), and runs in chunks of the
model's fixed batch size when it has one (many exported models take batch 1).
A teacher that outputs probabilities gives log-probabilities, which are
valid logits for every method.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from .errors import ConfigError
from .results import LoadOptions
from .spec import Normalization
from .spec import OnnxTeacher as OnnxTeacherSpec

CHUNK = 1024


def teacher_session(path: str, where: str) -> Any:
    """An onnxruntime session on the CPU for the teacher file ``path``, or a ConfigError at ``{where}.path`` when
    onnxruntime cannot load it. (Also the Hugging Face ONNX teacher's, text_teachers.py.)"""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise ConfigError(
            f"{where}.path: {path} is not a loadable ONNX model: {error}", field=f"{where}.path", file=path
        ) from error


class OnnxTeacher(nn.Module):
    def __init__(
        self,
        path: str,
        *,
        student_normalization: Optional[dict[str, list[float]]],
        options: OnnxTeacherSpec,
        features: int,
        where: str = "teacher",
    ):
        super().__init__()
        if not os.path.exists(path):
            raise ConfigError(f"{where}.path: ONNX teacher not found: {path}", field=f"{where}.path", file=path)
        self.session = teacher_session(path, where)
        self.path = path
        metadata = self.session.get_modelmeta().custom_metadata_map
        model_input = self._input(options.input_name, where)
        self.input_name = model_input.name
        dims = list(model_input.shape)
        self.fixed_batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else None
        self.sample_shape = list(options.sample_shape or [d if isinstance(d, int) else -1 for d in dims[1:]])
        if -1 in self.sample_shape or math.prod(self.sample_shape) != features:
            raise ConfigError(
                f"{where}.sampleShape: the ONNX teacher's input {dims} does not fit samples of {features} values; "
                "give sampleShape",
                field=f"{where}.sampleShape",
                file=path,
            )
        self.output_name = options.output_name or self.session.get_outputs()[0].name
        self.output_kind = self._output_kind(options.output_kind, metadata)
        self.student_normalization = student_normalization
        self.teacher_normalization = self._normalization(options.normalization, metadata)

    @staticmethod
    def _normalization(requested: Any, metadata: dict[str, str]) -> Optional[dict[str, list[float]]]:
        """The teacher's own input normalisation: as configured, or (auto) from its distillery metadata, else none."""
        if isinstance(requested, Normalization):
            return {"mean": list(requested.mean), "std": list(requested.std)}
        if requested == "auto" and metadata.get("distillery.normalizationInGraph") == "true":
            return None  # the graph normalises its raw inputs itself
        if requested == "auto" and "distillery.normalization" in metadata:
            recorded: Optional[dict[str, list[float]]] = json.loads(metadata["distillery.normalization"])
            return recorded
        return None

    def _input(self, name: Optional[str], where: str) -> Any:
        inputs = self.session.get_inputs()
        if name is None:
            if len(inputs) != 1:
                raise ConfigError(
                    f"{where}.inputName: the model has {len(inputs)} inputs "
                    f"({', '.join(i.name for i in inputs)}); say which",
                    field=f"{where}.inputName",
                    file=self.path,
                )
            return inputs[0]
        for candidate in inputs:
            if candidate.name == name:
                return candidate
        raise ConfigError(
            f"{where}.inputName: no input '{name}' (it has: {', '.join(i.name for i in inputs)})",
            field=f"{where}.inputName",
            file=self.path,
        )

    def _output_kind(self, requested: str, metadata: dict[str, str]) -> str:
        if requested != "auto":
            return requested
        if "distillery.output" in metadata:
            return str(json.loads(metadata["distillery.output"])["kind"])
        import onnx

        graph = onnx.load(self.path, load_external_data=False).graph
        producer = next((node for node in graph.node if self.output_name in node.output), None)
        return "probabilities" if producer is not None and producer.op_type == "Softmax" else "logits"

    @staticmethod
    def _normalized(x: np.ndarray, norm: Optional[dict[str, list[float]]], inverse: bool) -> np.ndarray:
        if norm is None:
            return x
        flat = x.reshape(len(x), -1)
        mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
        if mean.size not in (1, flat.shape[1]):  # per-channel: expand over the pixels of each channel
            repeat = flat.shape[1] // mean.size
            mean, std = np.repeat(mean, repeat), np.repeat(std, repeat)
        out = flat * std + mean if inverse else (flat - mean) / std
        return out.reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self._normalized(x.detach().float().cpu().numpy(), self.student_normalization, inverse=True)
        prepared = (
            self._normalized(raw, self.teacher_normalization, inverse=False)
            .reshape(len(raw), *self.sample_shape)
            .astype(np.float32)
        )
        outputs = (
            [self._run(chunk) for chunk in np.array_split(prepared, max(1, math.ceil(len(prepared) / CHUNK)))]
            if len(prepared)
            else []
        )
        result = np.concatenate(outputs).reshape(len(prepared), -1) if outputs else np.zeros((0, 0), np.float32)
        if self.output_kind == "probabilities":
            result = np.log(np.clip(result, 1e-30, None))
        return torch.as_tensor(result, dtype=torch.float32, device=x.device)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch is None:
            outputs: np.ndarray = self.session.run([self.output_name], {self.input_name: batch})[0]
            return outputs
        rows = len(batch)
        padded = np.concatenate([batch, np.zeros((-rows % self.fixed_batch, *batch.shape[1:]), np.float32)])
        parts = [
            self.session.run([self.output_name], {self.input_name: padded[i : i + self.fixed_batch]})[0]
            for i in range(0, len(padded), self.fixed_batch)
        ]
        return np.concatenate(parts)[:rows]

    def load_options(self) -> LoadOptions:
        """What the TypeScript runtime needs to run this teacher the same way (StudentModel.load options)."""
        return LoadOptions(
            self.input_name, self.output_name, tuple(self.sample_shape), self.output_kind, self.teacher_normalization
        )


def parameter_count(path: str) -> int:
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return int(sum(math.prod(t.dims) for t in graph.initializer if t.data_type in (1, 10, 11, 16)))
