"""``dkd``: Decoupled Knowledge Distillation (Zhao et al., CVPR 2022).

The classic KD loss splits into TCKD — a binary KL over (target class, all the others) — and NCKD — a KL among the
non-target classes, which classic KD weighs down by (1 − p_target) exactly when the teacher is confident. DKD gives
the two their own weights: CE + warm-up · (α·TCKD + β·NCKD), both at temperature T and scaled by T². The warm-up
ramps the KD terms linearly over the first epochs, as the reference implementation (mdistiller) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register
from .soft_targets import standardized

# The reference masks the target logit by subtracting 1000 before the softmax: with standardised (or any finite
# float32) logits its probability underflows to 0, so the non-target distribution sums over the other classes.
MASK = 1000.0


@dataclass(frozen=True, kw_only=True)
class Dkd(MethodOptions):
    type: Literal["dkd"]
    alpha: float
    beta: float
    temperature: float
    warmup_epochs: int
    label_weight: float
    standardize_logits: bool


def binary(probabilities: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N, 2]: the target class's probability and the rest's."""
    p_target = probabilities.gather(1, target[:, None])
    return torch.cat([p_target, 1.0 - p_target], dim=1)


def dkd(options: Dkd, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    assert inputs.teacher is not None and inputs.labels is not None  # needsTeacher, needsLabels
    t, target = options.temperature, inputs.labels
    student = standardized(inputs.student.float()) if options.standardize_logits else inputs.student.float()
    teacher = standardized(inputs.teacher.float()) if options.standardize_logits else inputs.teacher.float()
    rows = student.shape[0]
    p_student = binary(F.softmax(student / t, dim=1), target)
    p_teacher = binary(F.softmax(teacher / t, dim=1), target)
    tckd = F.kl_div(torch.log(p_student.clamp_min(1e-30)), p_teacher, reduction="sum") * t * t / rows
    target_mask = F.one_hot(target, student.shape[1]).to(student.dtype) * MASK
    log_student_rest = F.log_softmax(student / t - target_mask, dim=1)
    p_teacher_rest = F.softmax(teacher / t - target_mask, dim=1)
    nckd = F.kl_div(log_student_rest, p_teacher_rest, reduction="sum") * t * t / rows
    warmup = min((inputs.epoch + 1) / options.warmup_epochs, 1.0) if options.warmup_epochs > 0 else 1.0
    hard = F.cross_entropy(inputs.student, target)
    total = options.label_weight * hard + warmup * (options.alpha * tckd + options.beta * nckd)
    return total, {"hard": hard.detach(), "tckd": tckd.detach(), "nckd": nckd.detach()}


register("dkd", Dkd, dkd, terms=("hard", "tckd", "nckd"))
