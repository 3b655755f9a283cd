"""Teachers: trained here, loaded from a checkpoint, or an ensemble of several — and their cached outputs."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from .checkpoints import Ensemble, LoadedModel, load_checkpoint
from .data import DataBundle, Split
from .errors import ConfigError
from .methods.supervised import HardLabels
from .models import build_for_task
from .onnx_teacher import OnnxTeacher
from .precomputed import AnswersTeacher
from .progress import Progress
from .results import VectorCoverage
from .spec import (
    CheckpointTeacher,
    EnsembleModel,
    HuggingFaceOnnxTeacher,
    HuggingFaceTeacher,
    ModelSpec,
    PrecomputedTeacher,
    TrainedTeacher,
)
from .spec import OnnxTeacher as OnnxTeacherSpec
from .spec import Teacher as TeacherSpec
from .text_teachers import TextTeacher, build_huggingface, retokenized, teacher_outputs
from .train import FitResult, Objective, fit, seed_everything, split_metrics
from .vectors import apply_vectors


@dataclass
class Teacher:
    module: nn.Module
    # How to rebuild it from a checkpoint; None for a black-box (ONNX) teacher, which is its own file.
    model_config: Optional[ModelSpec]
    fit: Optional[FitResult] = None
    members: list[Teacher] = field(default_factory=list)
    # The word vectors' coverage of each text model trained here that started from them (an ensemble's members').
    vectors: list[VectorCoverage] = field(default_factory=list)
    # A fine-tuned text teacher's {history, metrics, seconds, bestEpoch} (text_teachers.py); None otherwise.
    fine_tuned: Optional[dict[str, Any]] = None


def check_compatible(loaded: LoadedModel, data: DataBundle, where: str) -> None:
    if loaded.input_shape != data.sample_shape:
        raise ConfigError(
            f"{where}: the checkpoint takes inputs of shape {loaded.input_shape}, the data has {data.sample_shape}",
            field=where,
            file=loaded.path,
        )
    if loaded.num_outputs != data.num_outputs:
        raise ConfigError(
            f"{where}: the checkpoint has {loaded.num_outputs} outputs, the data has {data.num_outputs} classes",
            field=where,
            file=loaded.path,
        )
    if loaded.task != data.task:
        raise ConfigError(
            f"{where}: the checkpoint is a {loaded.task} model, the data is {data.task}", field=where, file=loaded.path
        )


def build_teacher(
    spec: TeacherSpec,
    data: DataBundle,
    device: torch.device,
    progress: Progress,
    *,
    seed: int,
    state_dir: Optional[str],
    resume: bool,
    where: str = "teacher",
) -> Teacher:
    if isinstance(spec, TrainedTeacher):
        seed_everything(seed)
        module = build_for_task(
            spec.model, data.sample_shape, data.num_outputs, data.target_scale, f"{where}.model", data.preprocess
        ).to(device)
        coverage = apply_vectors(module, spec.model, data, f"{where}.model", progress)
        state_path = os.path.join(state_dir, f"{spec.name}.state.pt") if state_dir else None
        # No method: the plain supervised loss, which both label baselines give for the data's task.
        method = spec.method or HardLabels(type="hard-labels")
        result = fit(
            module,
            data,
            spec.training,
            Objective(method, data.task, f"{where}.method"),
            device,
            progress,
            phase="teacher",
            name=spec.name,
            seed=seed,
            state_path=state_path,
            resume=resume,
        )
        module.eval()
        return Teacher(module, spec.model, result, vectors=[coverage] if coverage else [])
    if isinstance(spec, CheckpointTeacher):
        loaded = load_checkpoint(spec.path, device)
        own_tokenizer = retokenized(loaded, data, f"{where}.path")
        if own_tokenizer is not None:  # a text model with its own tokenizer: a black box here, like the ONNX ones
            return Teacher(own_tokenizer, None)
        check_compatible(loaded, data, f"{where}.path")
        return Teacher(loaded.module, loaded.model_config)
    if isinstance(spec, (HuggingFaceOnnxTeacher, HuggingFaceTeacher)):
        text_module, fine_tuned = build_huggingface(
            spec, data, device, progress, seed=seed, state_dir=state_dir, resume=resume, where=where
        )
        return Teacher(text_module, None, fine_tuned=fine_tuned)
    if isinstance(spec, OnnxTeacherSpec):
        return Teacher(onnx_teacher(spec, data, where), None)
    if isinstance(spec, PrecomputedTeacher):
        return Teacher(AnswersTeacher(spec, data, where), None)
    members = []
    for index, member_spec in enumerate(spec.members):
        member_where = f"{where}.members[{index}]"
        member = build_teacher(
            member_spec,
            data,
            device,
            progress,
            seed=seed + index,
            state_dir=state_dir,
            resume=resume,
            where=member_where,
        )
        if isinstance(member.module, TextTeacher):
            raise ConfigError(
                f"{member_where}.path: a checkpoint with its own tokenizer reads raw texts; it cannot be an ensemble "
                "member (the members read the data's rows)",
                field=f"{member_where}.path",
            )
        if isinstance(member.module, Ensemble) or member.model_config is None:
            raise ConfigError(
                f"{member_where}: an ensemble checkpoint cannot be an ensemble member", field=member_where
            )
        members.append(member)
    module = Ensemble([m.module for m in members], spec.combine, data.task).to(device).eval()
    config = EnsembleModel(
        type="ensemble",
        combine=spec.combine,
        members=tuple(m.model_config for m in members if m.model_config is not None),
    )
    return Teacher(module, config, None, members, [coverage for member in members for coverage in member.vectors])


def onnx_teacher(spec: OnnxTeacherSpec, data: DataBundle, where: str = "teacher") -> OnnxTeacher:
    """An ONNX file as the teacher, checked against the data: its outputs must be one per class."""
    module = OnnxTeacher(
        spec.path,
        student_normalization=data.normalization,
        options=spec,
        features=math.prod(data.sample_shape),
        where=where,
    )
    width = module(data.test.x[:2]).shape[1]
    if width != data.num_outputs:
        raise ConfigError(
            f"{where}.path: the ONNX teacher gives {width} outputs, the data has {data.num_outputs} classes",
            field=f"{where}.path",
            file=spec.path,
        )
    return module


def teacher_summary(teacher: Teacher, data: DataBundle) -> dict[str, Any]:
    """Test metrics for a teacher, whatever its origin (none for one given by answers that do not cover data.test)."""
    if isinstance(teacher.module, AnswersTeacher) and not teacher.module.has_answers(data.test):
        return {}
    return split_metrics(teacher_outputs(teacher.module, data.test), data.test, data.task, "test")


# The teacher's outputs over a transfer set, computed once per (checkpoint, data) in this process, so
# a student epoch costs only the student. Keyed by the checkpoint's path and mtime.
_OUTPUTS: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()


def cached_outputs(
    teacher_path: str, module: nn.Module, data: DataBundle, split_name: str, split: Split
) -> torch.Tensor:
    key = (os.path.abspath(teacher_path), os.path.getmtime(teacher_path), data.key, split_name)
    if key not in _OUTPUTS:
        _OUTPUTS[key] = teacher_outputs(module, split)
        while len(_OUTPUTS) > 4:
            _OUTPUTS.popitem(last=False)
    return _OUTPUTS[key]
