"""``logit-regression``: Ba & Caruana 2014 (mimic learning)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register


@dataclass(frozen=True, kw_only=True)
class LogitRegression(MethodOptions):
    type: Literal["logit-regression"]


def logit_regression(_options: LogitRegression, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    """L2 regression of the teacher's logits: the mean squared error over the batch and the outputs. Needs no labels."""
    assert inputs.teacher is not None
    loss = F.mse_loss(inputs.student.float(), inputs.teacher.float())
    return loss, {"mimic": loss.detach()}


register("logit-regression", LogitRegression, logit_regression, terms=("mimic",))
