"""The label baselines, no teacher: ``hard-labels`` (cross-entropy) and ``targets`` (L2 or Huber on real targets).

Each serves both tasks — on regression data ``hard-labels`` is L2 on the targets, on class labels ``targets``
is cross-entropy — so a teacher's loss follows from the data's task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register


@dataclass(frozen=True, kw_only=True)
class HardLabels(MethodOptions):
    type: Literal["hard-labels"]


@dataclass(frozen=True, kw_only=True)
class Targets(MethodOptions):
    type: Literal["targets"]
    huber_delta: Optional[float] = None


def distance(prediction: torch.Tensor, goal: torch.Tensor, huber_delta: Optional[float]) -> torch.Tensor:
    """L2 (mean squared error), or Huber when ``huber_delta`` is set."""
    if huber_delta is not None:
        return F.huber_loss(prediction.float(), goal.float(), delta=huber_delta)
    return F.mse_loss(prediction.float(), goal.float())


def supervised(inputs: LossInputs, huber_delta: Optional[float]) -> tuple[torch.Tensor, Terms]:
    assert inputs.labels is not None  # needsLabels: the loop checks before calling
    if inputs.task == "regression":
        loss = distance(inputs.student, inputs.labels, huber_delta)
        return loss, {"targets": loss.detach()}
    loss = F.cross_entropy(inputs.student, inputs.labels)
    return loss, {"hard": loss.detach()}


def hard_labels(_options: HardLabels, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    """Plain cross-entropy on the true labels: the baseline student trained without a teacher."""
    return supervised(inputs, None)


def targets(options: Targets, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    return supervised(inputs, options.huber_delta)


register("hard-labels", HardLabels, hard_labels, terms=("hard", "targets"))
register("targets", Targets, targets, terms=("targets", "hard"))
