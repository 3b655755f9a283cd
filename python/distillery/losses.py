"""The student's losses — one small function per method.

Each returns ``(total, terms)``: the loss to minimise and its named parts
(detached) for the per-epoch metrics.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

Terms = dict[str, torch.Tensor]


def hard_labels(student_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, Terms]:
    """Plain cross-entropy on the true labels: the baseline student trained without a teacher."""
    loss = F.cross_entropy(student_logits, labels)
    return loss, {"hard": loss.detach()}


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


def soft_targets(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: Optional[torch.Tensor],
                 temperature: float, alpha: float) -> tuple[torch.Tensor, Terms]:
    """Hinton's distillation loss: α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE(student at T=1, labels).

    With no labels (an unlabelled transfer set) only the soft term remains, at full weight.
    """
    soft = soft_term(student_logits, teacher_logits, temperature)
    if labels is None:
        return soft, {"soft": soft.detach()}
    hard = F.cross_entropy(student_logits, labels)
    total = alpha * soft + (1.0 - alpha) * hard
    return total, {"soft": soft.detach(), "hard": hard.detach()}


def logit_regression(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> tuple[torch.Tensor, Terms]:
    """Ba & Caruana 2014 (mimic learning): L2 regression of the teacher's logits — the mean squared error
    over the batch and the outputs. Needs no labels."""
    loss = F.mse_loss(student_logits.float(), teacher_logits.float())
    return loss, {"mimic": loss.detach()}


def regression_targets(student_outputs: torch.Tensor, teacher_outputs: Optional[torch.Tensor],
                       targets: Optional[torch.Tensor], weight_on_targets: float, huber_delta: Optional[float] = None
                       ) -> tuple[torch.Tensor, Terms]:
    """Regression distillation: L2 to the teacher's predictions, mixed with the true targets by
    ``weight_on_targets`` (0: teacher only, 1: targets only). Huber instead of L2 when ``huber_delta`` is set."""

    def distance(prediction: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        if huber_delta is not None:
            return F.huber_loss(prediction.float(), goal.float(), delta=huber_delta)
        return F.mse_loss(prediction.float(), goal.float())

    terms: Terms = {}
    total = student_outputs.new_zeros((), dtype=torch.float32)
    # Without targets the teacher term takes full weight whatever weight_on_targets says (as the soft term does
    # for an unlabelled transfer set); otherwise weight 1 with no targets would leave a constant, gradient-less 0.
    if teacher_outputs is not None and (weight_on_targets < 1.0 or targets is None):
        mimic = distance(student_outputs, teacher_outputs)
        terms["mimic"] = mimic.detach()
        total = total + (1.0 - weight_on_targets if targets is not None else 1.0) * mimic
    if targets is not None and (weight_on_targets > 0.0 or teacher_outputs is None):
        supervised = distance(student_outputs, targets)
        terms["targets"] = supervised.detach()
        total = total + (weight_on_targets if teacher_outputs is not None else 1.0) * supervised
    return total, terms
