"""A teacher given by its answers: a function or module the TypeScript side called, or a file of outputs it read and
checked (src/teacher). Its answers arrive row for row beside each split's source rows (data.teacherOutputs, read in
data.py), so they follow the rows through every split, hold-out and fold that the engine makes."""

from __future__ import annotations

from typing import Optional

import torch

from .data import DataBundle, Split
from .errors import ConfigError
from .spec import PrecomputedTeacher
from .text_teachers import TextTeacher

# log(0) would make a class the teacher ruled out impossible for a student at any temperature; a floor this low keeps
# softmax(log p) equal to p within float32's resolution.
_LOG_FLOOR = 1e-12


class AnswersTeacher(TextTeacher):
    """Answers as outputs: probabilities become log-probabilities (softmax(log p / T) is Hinton's p at temperature T),
    logits (or a regression teacher's values) stay as they are, and labels become one-hot log-probabilities, which the
    objective reads back as pseudo-labels (train.Objective.pseudo_labels)."""

    def __init__(self, spec: PrecomputedTeacher, data: DataBundle, where: str = "teacher") -> None:
        super().__init__()
        self.spec, self.where, self.num_outputs = spec, where, data.num_outputs
        paths = data.teacher_outputs
        path = None if paths is None else (paths.transfer or paths.train)
        if path is None:
            raise ConfigError(
                f"{where}: a precomputed teacher reads its answers from data.teacherOutputs, which has none for the "
                "transfer set (data.teacherOutputs.transfer, or .train when data.transfer is absent)",
                field="data.teacherOutputs",
            )
        self.path = path

    def has_answers(self, split: Split) -> bool:
        return split.teacher is not None

    def outputs(self, split: Split) -> torch.Tensor:
        if split.teacher is None:
            raise ConfigError(
                f"{self.where}: the teacher's answers do not cover this split (data.teacherOutputs)",
                field="data.teacherOutputs",
            )
        answers = split.teacher
        if self.spec.kind == "labels":
            one_hot = torch.nn.functional.one_hot(answers.long().reshape(-1), self.num_outputs).float()
            return torch.log(one_hot.clamp_min(_LOG_FLOOR))
        values = answers.float().reshape(len(answers), -1)
        return torch.log(values.clamp_min(_LOG_FLOOR)) if self.spec.kind == "probabilities" else values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError(
            f"{self.where}: this teacher is given by its answers on the data's rows, so it cannot run on the "
            "student's batches (training.teacherOutputs 'online', batch augmentation, or a feature method)",
            field=self.where,
        )


def answers_of(module: torch.nn.Module, split: Optional[Split]) -> bool:
    """Whether a teacher has outputs for this split: every teacher does, except one given by answers that do not
    cover it (a file of outputs for the transfer set alone)."""
    if split is None:
        return False
    return not isinstance(module, AnswersTeacher) or module.has_answers(split)
