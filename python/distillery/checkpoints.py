"""Checkpoints: a state_dict plus the JSON config that rebuilds its model.

Loaded with ``torch.load(weights_only=True)`` — no pickle of arbitrary
objects — so a checkpoint from elsewhere cannot run code. Configs travel as
JSON strings inside the file. An ensemble checkpoint holds all its members.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from .errors import CheckpointError, ConfigError
from .io import atomic_torch_save
from .models import build_for_task
from .spec import EnsembleModel, ModelSpec, parse, to_json

FORMAT = "distillery-checkpoint/1"


class Ensemble(nn.Module):
    """Combines members by the mean of their logits, or by the mean of their probabilities.

    For ``mean-probs`` it returns log(mean p): valid logits (softmax gives back the mean probabilities),
    so every method can treat an ensemble like any other teacher.
    """

    def __init__(self, members: list[nn.Module], combine: str, task: str):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine = combine
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([member(x).float() for member in self.members])
        if self.task == "regression" or self.combine == "mean-logits":
            return outputs.mean(dim=0)
        # log(mean p) computed as logsumexp(log p) - log(M): the same value, but a class that every member
        # gives a probability below float32's range stays finite instead of becoming -inf (NaN losses, failed parity).
        return torch.logsumexp(torch.log_softmax(outputs, dim=-1), dim=0) - math.log(len(self.members))


@dataclass
class LoadedModel:
    module: nn.Module
    task: str
    input_shape: list[int]
    num_outputs: int
    labels: list[str]
    normalization: Optional[dict[str, list[float]]]
    model_config: ModelSpec
    meta: dict[str, Any]
    path: str
    # How raw inputs become the model's input (TypeScript's encoding; see spec.DataSpec.preprocess), None for arrays.
    preprocess: Optional[dict[str, Any]] = None
    # A text model's tokenizer.json (text.read_tokenizer), exported as the metadata ``distillery.tokenizer``.
    tokenizer: Optional[str] = None


def save_checkpoint(
    path: str,
    *,
    module: nn.Module,
    model_config: ModelSpec,
    task: str,
    input_shape: list[int],
    num_outputs: int,
    labels: list[str],
    normalization: Optional[dict[str, list[float]]],
    meta: dict[str, Any],
    target_scale: Optional[dict[str, list[float]]] = None,
    preprocess: Optional[dict[str, Any]] = None,
    tokenizer: Optional[str] = None,
) -> None:
    payload: dict[str, Any] = {
        "format": FORMAT,
        "task": task,
        "inputShape": list(input_shape),
        "numOutputs": int(num_outputs),
        "labels": json.dumps(labels),
        "normalization": json.dumps(normalization),
        "meta": json.dumps(meta),
        "model": json.dumps(to_json(model_config)),
        "targetScale": json.dumps(target_scale),
        "preprocess": json.dumps(preprocess),
    }
    if tokenizer is not None:
        payload["tokenizer"] = tokenizer
    if isinstance(module, Ensemble):
        payload["members"] = [_cpu_state(member) for member in module.members]
    else:
        payload["state"] = _cpu_state(module)
    atomic_torch_save(path, payload)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu() for key, value in module.state_dict().items()}


def load_torch_file(path: str, map_location: Any = "cpu") -> dict[str, Any]:
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}", file=path)
    try:
        payload: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
        return payload
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not weights-only): {error}", file=path
        ) from error


def load_checkpoint(path: str, device: torch.device) -> LoadedModel:
    """Rebuilds the model (or ensemble) of a checkpoint, in eval mode, on ``device``."""
    payload = load_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Distillery checkpoint (format {FORMAT})", file=path)
    try:
        input_shape, num_outputs, task = list(payload["inputShape"]), int(payload["numOutputs"]), payload["task"]
        labels, normalization, meta = (
            json.loads(payload["labels"]),
            json.loads(payload["normalization"]),
            json.loads(payload["meta"]),
        )
        target_scale = (
            json.loads(payload["targetScale"]) if "targetScale" in payload else None
        )  # v0.1 classifiers had none
        preprocess = json.loads(payload["preprocess"]) if "preprocess" in payload else None  # nor v0.1 checkpoints
        tokenizer = payload.get("tokenizer")  # text models only
        if tokenizer is not None and not isinstance(tokenizer, str):
            raise TypeError("its tokenizer is not text")
        recorded = json.loads(payload["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: a damaged Distillery checkpoint ({type(error).__name__}: {error})", file=path
        ) from error
    try:
        model_config = parse(ModelSpec, recorded, "model")
        if isinstance(model_config, EnsembleModel):
            members = []
            for member_config, state in zip(model_config.members, payload["members"], strict=True):
                member = build_for_task(member_config, input_shape, num_outputs, target_scale, preprocess=preprocess)
                member.load_state_dict(state)
                members.append(member)
            module: nn.Module = Ensemble(members, model_config.combine, task)
        else:
            module = build_for_task(model_config, input_shape, num_outputs, target_scale, preprocess=preprocess)
            module.load_state_dict(payload["state"])
    except (
        ConfigError
    ) as error:  # e.g. a recorded `custom` module that is not an nn.Module class, or cannot be imported
        raise CheckpointError(
            f"{path}: its recorded model config cannot be built: {error.message}", file=path
        ) from error
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: the weights do not fit the recorded model config: {error}", file=path
        ) from error
    module.to(device).eval()
    return LoadedModel(
        module, task, input_shape, num_outputs, labels, normalization, model_config, meta, path, preprocess, tokenizer
    )
