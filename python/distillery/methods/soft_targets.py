"""``soft-targets``: Hinton, Vinyals & Dean 2015."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register


@dataclass(frozen=True, kw_only=True)
class SoftTargets(MethodOptions):
    type: Literal["soft-targets"]
    temperature: float
    alpha: float
    standardize_logits: bool


def soft_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch.

    Hinton et al. 2015: the soft targets' gradients scale as 1/T², so
    multiplying by T² keeps their size about the same whatever T is, and the
    hard term's relative weight stays meaningful when T changes.
    """
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="batchmean")
    return kl * temperature * temperature


def standardized(logits: torch.Tensor) -> torch.Tensor:
    """Logit standardisation (Sun et al., CVPR 2024): each sample's logits as (z − mean) / std, so the student
    matches the teacher's logit *relations* rather than their range. As the reference: the unbiased std, plus 1e-7."""
    return (logits - logits.mean(dim=1, keepdim=True)) / (logits.std(dim=1, keepdim=True) + 1e-7)


def soft_targets(options: SoftTargets, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    """α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE(student at T=1, labels); with ``standardize_logits`` the soft term
    compares standardised logits (the hard term keeps the raw ones).

    With no labels (an unlabelled transfer set) only the soft term remains, at full weight.
    """
    assert inputs.teacher is not None
    student, teacher = inputs.student, inputs.teacher
    if options.standardize_logits:
        student, teacher = standardized(student.float()), standardized(teacher.float())
    soft = soft_term(student, teacher, options.temperature)
    if inputs.labels is None:
        return soft, {"soft": soft.detach()}
    hard = F.cross_entropy(inputs.student, inputs.labels)
    total = options.alpha * soft + (1.0 - options.alpha) * hard
    return total, {"soft": soft.detach(), "hard": hard.detach()}


register("soft-targets", SoftTargets, soft_targets, terms=("soft", "hard"))
