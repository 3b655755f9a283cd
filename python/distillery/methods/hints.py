"""``hints``: FitNets (Romero et al., ICLR 2015) — a student layer learns to predict a teacher layer.

A learned connector (a linear map for vectors, a 1×1 convolution for feature maps) takes the student's hint layer to
the teacher's guided layer's shape; the hint term is their mean squared error. FitNets trains the hint first and then
the whole student with KD; like torchdistill and mdistiller, this trains both at once:

    loss = hintWeight·MSE(connector(f_s), f_t) + alpha·T²·KL(teacher_T ‖ student_T) + (1 − alpha)·CE(student, labels)

(unlabelled batches: the hint and soft terms alone). Layers are named as in the model's ``named_modules()``; left
out, each side's is its penultimate representation — the input of its last linear layer — which every Distillery
model (MLP, LeNet, ResNet) has. The connector lives beside the student, trains with it, and is not part of the
exported model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..errors import ConfigError
from ..spec import MethodOptions
from .registry import LossInputs, Preparation, Terms, register
from .soft_targets import soft_term


@dataclass(frozen=True, kw_only=True)
class Hints(MethodOptions):
    type: Literal["hints"]
    hint_weight: float
    temperature: float
    alpha: float
    student_layer: Optional[str] = None
    teacher_layer: Optional[str] = None


class Tap:
    """Keeps the latest value seen at a layer: its output, or (for the default) the input of the last linear layer."""

    def __init__(self, model: nn.Module, layer: Optional[str], where: str) -> None:
        self.value: Optional[torch.Tensor] = None
        self.handle: RemovableHandle
        if layer is None:
            linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
            if not linears:
                raise ConfigError(
                    f"{where}: the model has no linear layer whose input could be its penultimate features; "
                    "name a layer",
                    field=where,
                )
            self.handle = linears[-1].register_forward_pre_hook(self._keep_input)
            return
        modules = dict(model.named_modules())
        if layer not in modules or layer == "":
            known = ", ".join(name for name in modules if name) or "(none)"
            raise ConfigError(f"{where}: no layer '{layer}' in this model (its layers: {known})", field=where)
        self.handle = modules[layer].register_forward_hook(self._keep_output)

    def _keep_input(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.value = inputs[0]

    def _keep_output(self, _module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor):
            raise ConfigError("a hint layer must output one tensor", field="method.studentLayer")
        self.value = output

    def latest(self) -> torch.Tensor:
        """The value of the latest forward pass (a mixed batch's loss reads it twice: once per label set)."""
        assert self.value is not None, "the tapped layer has not run yet"
        return self.value


class Connector(nn.Module):
    """Student features → the teacher's feature shape; owns the two taps and removes them when closed."""

    def __init__(
        self, student_tap: Tap, teacher_tap: Tap, student_shape: torch.Size, teacher_shape: torch.Size, where: str
    ) -> None:
        super().__init__()
        self.student_tap, self.teacher_tap = student_tap, teacher_tap
        self.teacher_shape = tuple(teacher_shape[1:])
        if len(student_shape) == 4 and len(teacher_shape) == 4:
            self.map: nn.Module = nn.Conv2d(student_shape[1], teacher_shape[1], kernel_size=1, bias=False)
            same = student_shape[2:] == teacher_shape[2:]
            self.spatial: Optional[tuple[int, int]] = None if same else (int(teacher_shape[2]), int(teacher_shape[3]))
        elif len(student_shape) == 2 and len(teacher_shape) == 2:
            self.map, self.spatial = nn.Linear(student_shape[1], teacher_shape[1]), None
        else:
            raise ConfigError(
                f"{where}: the student's hint layer gives {list(student_shape[1:])} per sample and the teacher's "
                f"{list(teacher_shape[1:])}; pair two vector layers or two feature-map layers",
                field=where,
            )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mapped = self.map(features)
        return F.adaptive_avg_pool2d(mapped, self.spatial) if self.spatial is not None else mapped

    def close(self) -> None:
        self.student_tap.handle.remove()
        self.teacher_tap.handle.remove()


def prepare(options: Hints, preparation: Preparation) -> nn.Module:
    """Taps both networks and sizes the connector by one traced forward pass of a small batch."""
    where = preparation.where
    student_tap = Tap(preparation.student, options.student_layer, f"{where}.studentLayer")
    teacher_tap = Tap(preparation.teacher, options.teacher_layer, f"{where}.teacherLayer")
    was_training = preparation.student.training
    with torch.no_grad():
        preparation.student.eval()
        preparation.student(preparation.sample)
        preparation.teacher(preparation.sample)
    preparation.student.train(was_training)
    student_shape, teacher_shape = student_tap.latest().shape, teacher_tap.latest().shape
    return Connector(student_tap, teacher_tap, student_shape, teacher_shape, where).to(preparation.sample.device)


def hints(options: Hints, inputs: LossInputs) -> tuple[torch.Tensor, Terms]:
    assert inputs.teacher is not None and isinstance(inputs.auxiliary, Connector)
    connector = inputs.auxiliary
    hint = F.mse_loss(connector(connector.student_tap.latest().float()), connector.teacher_tap.latest().float())
    soft = soft_term(inputs.student, inputs.teacher, options.temperature)
    terms = {"hint": hint.detach(), "soft": soft.detach()}
    total = options.hint_weight * hint + (options.alpha if inputs.labels is not None else 1.0) * soft
    if inputs.labels is not None:
        hard = F.cross_entropy(inputs.student, inputs.labels)
        total = total + (1.0 - options.alpha) * hard
        terms["hard"] = hard.detach()
    return total, terms


register("hints", Hints, hints, terms=("hint", "soft", "hard"), prepare=prepare)
