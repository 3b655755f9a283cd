"""``regression-distillation``: a regression student learns the teacher's predictions, optionally mixed with the
targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register
from .supervised import distance


@dataclass(frozen=True, kw_only=True)
class RegressionDistillation(MethodOptions):
    type: Literal["regression-distillation"]
    target_weight: float
    huber_delta: Optional[float] = None


def regression_distillation(options: RegressionDistillation, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    """L2 (or Huber) to the teacher's predictions, mixed with the true targets by ``target_weight``
    (0: teacher only, 1: targets only)."""
    assert inputs.teacher is not None
    weight, student, targets = options.target_weight, inputs.student, inputs.labels
    terms: Terms = {}
    total = student.new_zeros((), dtype=torch.float32)
    # Without targets the teacher term takes full weight whatever target_weight says (as the soft term does for an
    # unlabelled transfer set); otherwise weight 1 with no targets would leave a constant, gradient-less 0.
    if weight < 1.0 or targets is None:
        mimic = distance(student, inputs.teacher, options.huber_delta)
        terms["mimic"] = mimic.detach()
        total = total + (1.0 - weight if targets is not None else 1.0) * mimic
    if targets is not None and weight > 0.0:
        supervised = distance(student, targets, options.huber_delta)
        terms["targets"] = supervised.detach()
        total = total + weight * supervised
    return total, terms


register("regression-distillation", RegressionDistillation, regression_distillation, terms=("mimic", "targets"))
