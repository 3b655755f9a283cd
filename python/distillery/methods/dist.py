"""``dist``: DIST, "Knowledge Distillation from A Stronger Teacher" (Huang et al., NeurIPS 2022).

Instead of matching the teacher's probabilities exactly (KL), the student matches their *relations*, by
Pearson correlation: across the classes of each sample (inter-class: the teacher's ranking of the classes)
and across the samples of the batch for each class (intra-class). Correlation ignores shifts and scales of
the distributions, which the paper argues is what lets a small student learn from a much stronger teacher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..spec import MethodOptions
from .registry import LossInputs, Terms, register

EPSILON = 1e-8  # as the reference implementation: keeps a constant row's correlation finite


@dataclass(frozen=True, kw_only=True)
class Dist(MethodOptions):
    type: Literal["dist"]
    temperature: float
    beta: float
    gamma: float
    label_weight: float


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b``."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    correlation: torch.Tensor = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + EPSILON)
    return correlation


def dist(options: Dist, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    assert inputs.teacher is not None
    t = options.temperature
    student = F.softmax(inputs.student.float() / t, dim=1)
    teacher = F.softmax(inputs.teacher.float() / t, dim=1)
    inter = t * t * (1.0 - pearson(student, teacher).mean())
    intra = t * t * (1.0 - pearson(student.T, teacher.T).mean())
    total = options.beta * inter + options.gamma * intra
    terms: Terms = {"inter": inter.detach(), "intra": intra.detach()}
    if inputs.labels is not None and options.label_weight > 0:
        hard = F.cross_entropy(inputs.student, inputs.labels)
        total = total + options.label_weight * hard
        terms["hard"] = hard.detach()
    return total, terms


register("dist", Dist, dist, terms=("inter", "intra", "hard"))
