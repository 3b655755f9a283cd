"""The one orchestrator: train → checkpoint → ONNX export with its parity check → result file, and resume.

``trainTeacher()``, ``distill()`` and ``run()`` in TypeScript, and ``python -m
distillery``, all come through here (api.py is only the command table). A run's
data is loaded once (data.RunData, on first use) and every step takes it from
there. Each finished model's result (results.ModelResult) is written to
``outDir/results/<name>.json`` at once, so an interrupted run keeps what it
finished; with ``resume`` a finished model is kept as it is and an unfinished
one continues from its last epoch. Every artefact is written under ``outDir``
only, atomically.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import torch
from torch import nn

from . import distributed
from .augment import active as augment_active
from .checkpoints import LoadedModel, load_checkpoint, save_checkpoint
from .data import RunData, load_data, load_run_data, read_source, save_split
from .errors import ConfigError
from .export import export_onnx, metadata_props
from .guard import guard_variants
from .io import atomic_write, ensure_writable_dir, file_sha256, remove_stale_temporaries
from .models import build_for_task, count_parameters, flops_per_sample
from .onnx_teacher import OnnxTeacher as OnnxTeacherModule
from .onnx_teacher import parameter_count
from .precomputed import AnswersTeacher, answers_of
from .progress import Progress
from .quantize import quantize
from .results import (
    ExperimentResult,
    ExportResult,
    Json,
    LoadOptions,
    ModelResult,
    TeacherProvenance,
    WriteSplitResult,
    recorded,
    wire,
)
from .spec import (
    CheckpointTeacher,
    DataSpec,
    DistillRequest,
    ExperimentRequest,
    ExportOptions,
    ExportRequest,
    HuggingFaceOnnxTeacher,
    HuggingFaceTeacher,
    ModelSpec,
    OnnxTeacher,
    PrecomputedTeacher,
    Student,
    Teacher,
    TrainedTeacher,
    TrainTeacherRequest,
    WriteSplitRequest,
    to_json,
)
from .teachers import build_teacher, cached_outputs, check_compatible, onnx_teacher, teacher_summary
from .text import text_layout
from .text_teachers import (
    HfOnnxTeacher,
    TextTeacher,
    load_fine_tuned,
    retokenized,
    teacher_outputs,
)
from .text_teachers import parameter_count as text_parameter_count
from .train import Objective, fit, resolve_device, seed_everything, split_metrics
from .vectors import apply_vectors

# Where a student's teacher comes from: a Distillery checkpoint (.pt), a black-box ONNX file, a Hugging Face folder
# (read with its own tokenizer, text_teachers.py), or a called teacher's answers (precomputed.py).
TeacherSource = Union[str, OnnxTeacher, HuggingFaceOnnxTeacher, HuggingFaceTeacher, PrecomputedTeacher]
PARITY_ROWS = 16  # test rows the exported graph is checked on against PyTorch


@dataclass(frozen=True)
class Paths:
    """Where one model's artefacts go under the run folder."""

    checkpoint: str
    state: str
    states: str
    onnx: str
    result: str
    validation: str  # the kept epoch's predictions on the validation rows
    test_outputs: str  # a text teacher's probabilities on the test rows (the report cannot run it in Node)


@dataclass(frozen=True)
class Run:
    """What every model of one call shares. ``data`` is loaded on first use, once: a resumed run whose models are all
    finished never reads it."""

    spec: DataSpec
    out_dir: str
    device: torch.device
    resume: bool
    export: Union[ExportOptions, Literal[False]]

    @functools.cached_property
    def data(self) -> RunData:
        return load_run_data(self.spec, self.device)

    def paths(self, name: str) -> Paths:
        states = os.path.join(self.out_dir, "checkpoints")
        return Paths(
            checkpoint=os.path.join(states, f"{name}.pt"),
            state=os.path.join(states, f"{name}.state.pt"),
            states=states,
            onnx=os.path.join(self.out_dir, f"{name}.onnx"),
            result=os.path.join(self.out_dir, "results", f"{name}.json"),
            validation=os.path.join(self.out_dir, "results", f"{name}.validation.json"),
            test_outputs=os.path.join(self.out_dir, "results", f"{name}.test-outputs.json"),
        )


def _start(
    data: DataSpec, out_dir: str, device: str, resume: bool, export: Union[ExportOptions, Literal[False]]
) -> Run:
    run = Run(data, out_dir, resolve_device(device), resume, export)
    if distributed.is_main():  # under torchrun, rank 0 alone writes; the others wait for it at each barrier
        ensure_writable_dir(out_dir)  # before any training: an unusable folder fails now, naming outDir
        remove_stale_temporaries(out_dir)  # what a killed run left half-written; never under a final name
    distributed.barrier()
    return run


# ---------------------------------------------------------------- the commands


def train_teacher(request: TrainTeacherRequest, progress: Progress) -> Json:
    """Trains (or loads, or assembles) the teacher, saves its checkpoint and exports it."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    return wire(
        _finished_or(
            run, request.teacher.name, lambda: _teacher(run, request.teacher, request.seed, progress), progress
        )
    )


def distill(request: DistillRequest, progress: Progress) -> Json:
    """Trains one student with its method — from the teacher when the method needs one — saves and exports it."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    train = functools.partial(_student, run, request.student, request.teacher, "student", request.seed, progress)
    return wire(_finished_or(run, request.student.name, train, progress))


def run_experiment(request: ExperimentRequest, progress: Progress) -> Json:
    """Teacher, every student, every export, and the test split on disk — as one call."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    test_path = os.path.join(run.out_dir, "data", "test.npz")
    if distributed.is_main():
        save_split(run.data.test.x.array, run.data.test.y, test_path)  # for the runtime's evaluation
    teacher = _finished_or(
        run, request.teacher.name, lambda: _teacher(run, request.teacher, request.seed, progress), progress
    )
    source: TeacherSource = (
        request.teacher
        if isinstance(request.teacher, (OnnxTeacher, HuggingFaceOnnxTeacher, HuggingFaceTeacher, PrecomputedTeacher))
        else teacher.checkpoint
    )
    students = []
    for index, student in enumerate(request.students):
        progress.check_cancel()
        # Each student its own seed stream, the same whatever the students before it; by its place in the plan when
        # TypeScript left a student out of this list (a labels twin, src/config/sweep.ts), so no seed shifts.
        seed = request.seed + 1000 * ((index if student.position is None else student.position) + 1)
        train = functools.partial(_student, run, student, source, f"students[{index}]", seed, progress)
        students.append(_finished_or(run, student.name, train, progress))
    warnings = sorted({warning for model in (teacher, *students) for warning in model.warnings})
    for warning in warnings:
        progress.emit({"event": "log", "message": f"warning: {warning}"})
    return wire(
        ExperimentResult(
            device=str(run.device),
            torch=torch.__version__,
            test_data=test_path,
            teacher=teacher,
            students=tuple(students),
            warnings=tuple(warnings),
            distributed=distributed.current().summary(),
        )
    )


def export_checkpoint(request: ExportRequest, _progress: Progress) -> Json:
    """Exports a checkpoint to ONNX with its metadata, after a parity check on rows of the data's test split."""
    loaded = load_checkpoint(request.checkpoint, torch.device("cpu"))
    sample = load_data(request.data, torch.device("cpu")).test.x[:PARITY_ROWS] if request.data is not None else None
    return wire(_export(loaded, request.path, request.export, sample))


def write_split(request: WriteSplitRequest, _progress: Progress) -> Json:
    """Writes one data split's raw arrays to .npz, for evaluation by the Python-free runtime."""
    source = getattr(request.data, request.split)
    if source is None:
        raise ConfigError(f"data.{request.split}: not configured", field=f"data.{request.split}")
    x, y = read_source(source, f"data.{request.split}")
    save_split(x, y, request.path)
    return wire(WriteSplitResult(path=request.path, n=len(x), sample_shape=tuple(x.shape[1:])))


# ---------------------------------------------------------------- one model each


def _teacher(run: Run, spec: Teacher, seed: int, progress: Progress) -> ModelResult:
    """Trains, loads or assembles the teacher and saves its checkpoint; a black-box (ONNX) teacher is its own file."""
    data, paths = run.data.bundle, run.paths(spec.name)
    started = time.perf_counter()
    teacher = build_teacher(spec, data, run.device, progress, seed=seed, state_dir=paths.states, resume=run.resume)
    metrics = teacher.fit.metrics if teacher.fit else teacher_summary(teacher, data)
    # Per-row evidence, like a student's: the teacher-not-better warning tests the teacher against the labels-trained
    # student on the same validation rows (src/experiment/warnings.ts), rather than by a normal approximation.
    validation = _write_validation_predictions(run, teacher.module, paths.validation)
    if isinstance(teacher.module, TextTeacher):  # its own tokenizer: recorded, never re-saved nor exported
        fine = teacher.fine_tuned
        if fine is None and answers_of(teacher.module, data.validation):  # its validation score (teacher-not-better)
            assert data.validation is not None
            outputs = teacher_outputs(teacher.module, data.validation)
            metrics = {**metrics, **split_metrics(outputs, data.validation, data.task, "validation")}
        result = _model_result(
            run,
            name=spec.name,
            role="teacher",
            method=None,
            provenance=None,
            checkpoint=spec.path if isinstance(spec, CheckpointTeacher) else teacher.module.path,
            params=0 if isinstance(teacher.module, AnswersTeacher) else text_parameter_count(teacher.module),
            flops=None,
            seconds=fine["seconds"] if fine else time.perf_counter() - started,
            history=fine["history"] if fine else [],
            metrics=fine["metrics"] if fine else metrics,
        )
        answers = isinstance(teacher.module, AnswersTeacher)
        test_outputs = (
            _write_test_outputs(run, teacher.module, paths.test_outputs)
            if answers_of(teacher.module, data.test)
            else None
        )
        return dataclasses.replace(
            result,
            validation_predictions=validation,
            inputs="outputs" if answers else "texts",
            test_outputs=test_outputs,
        )
    if isinstance(spec, OnnxTeacher):
        assert isinstance(teacher.module, OnnxTeacherModule)
        result = _model_result(
            run,
            name=spec.name,
            role="teacher",
            method=None,
            provenance=None,
            checkpoint=spec.path,
            params=parameter_count(spec.path),
            flops=None,
            seconds=0.0,
            history=[],
            metrics=metrics,
            load_options=teacher.module.load_options(),
        )
        return dataclasses.replace(result, validation_predictions=validation)
    assert teacher.model_config is not None
    method = to_json(spec.method) if isinstance(spec, TrainedTeacher) and spec.method is not None else None
    training = to_json(spec.training) if isinstance(spec, TrainedTeacher) else None
    meta = {
        "name": spec.name,
        "role": "teacher",
        "method": method,
        "teacher": None,
        "training": training,
        "metrics": metrics,
        "seed": seed,
    }
    _save(run, paths, teacher.module, teacher.model_config, meta)
    result = _model_result(
        run,
        name=spec.name,
        role="teacher",
        method=method,
        provenance=None,
        checkpoint=paths.checkpoint,
        params=count_parameters(teacher.module),
        flops=flops_per_sample(teacher.module, data.sample_shape),
        seconds=teacher.fit.seconds if teacher.fit else time.perf_counter() - started,
        history=teacher.fit.history if teacher.fit else [],
        metrics=metrics,
    )
    return dataclasses.replace(result, validation_predictions=validation, vectors=tuple(teacher.vectors) or None)


def _student(
    run: Run, student: Student, source: Optional[TeacherSource], where: str, seed: int, progress: Progress
) -> ModelResult:
    """Distilled students learn on the transfer set (default: the training data, possibly unlabelled); students whose
    method needs no teacher are baselines and learn on the labelled training data."""
    data = run.data.bundle
    objective = Objective(student.method, data.task, f"{where}.method")
    states = run.paths(student.name).states
    provenance = _teacher_for(objective, student, source, where, run.data, states) if objective.needs_teacher else None
    seed_everything(seed)
    module = build_for_task(
        student.model, data.sample_shape, data.num_outputs, data.target_scale, f"{where}.model", data.preprocess
    ).to(run.device)
    coverage = apply_vectors(module, student.model, data, f"{where}.model", progress)
    paths = run.paths(student.name)
    result = fit(
        module,
        data,
        student.training,
        objective,
        run.device,
        progress,
        phase="student",
        name=student.name,
        seed=seed,
        transfer=data.transfer if objective.needs_teacher else data.train,
        state_path=paths.state,
        resume=run.resume,
        test_metrics=student.candidate is None,
    )
    method, training = to_json(student.method), to_json(student.training)
    meta = {
        "name": student.name,
        "role": "student",
        "method": method,
        "teacher": None if provenance is None else to_json(provenance),
        "training": training,
        "metrics": result.metrics,
        "seed": seed,
    }
    _save(run, paths, module, student.model, meta)
    validation = _write_validation_predictions(run, module, paths.validation)
    return dataclasses.replace(
        _model_result(
            run,
            name=student.name,
            role="student",
            method=method,
            provenance=provenance,
            checkpoint=paths.checkpoint,
            params=count_parameters(module),
            flops=flops_per_sample(module, data.sample_shape),
            seconds=result.seconds,
            history=result.history,
            metrics=result.metrics,
        ),
        validation_predictions=validation,
        vectors=(coverage,) if coverage else None,
    )


def _write_validation_predictions(run: Run, module: nn.Module, path: str) -> Optional[str]:
    """The kept epoch's predictions on the validation rows, beside their targets, as JSON: the per-row evidence that
    sweeps and auto compare candidates on (src/experiment/selection.ts: paired tests on the same rows). Class
    indices for classification, one list of values per row for regression. None without a validation split."""
    data = run.data.bundle
    if data.validation is None or data.validation.y is None or not answers_of(module, data.validation):
        return None
    if distributed.is_main():  # every rank holds the same model; rank 0 alone writes
        outputs = teacher_outputs(module, data.validation)
        target = data.validation.y
        if data.task == "regression":
            prediction: list[Any] = outputs.reshape(len(outputs), -1).tolist()
            targets: list[Any] = target.reshape(len(target), -1).tolist()
        else:
            prediction, targets = outputs.argmax(dim=1).tolist(), target.tolist()
        _write_json(path, {"rows": len(targets), "prediction": prediction, "target": targets}, indent=None)
    return path


def _write_test_outputs(run: Run, module: TextTeacher, path: str) -> str:
    """A text teacher's outputs on the test rows, in their order (``results/<name>.test-outputs.json``): class
    probabilities, or a regression model's values. The runtime cannot feed it the data's rows, so the report measures
    it, and its students' agreement with it, from these (src/experiment/run.ts)."""
    data = run.data.bundle
    if distributed.is_main():  # rank 0 alone writes
        outputs = module.outputs(data.test).float()
        if data.task == "classification":
            content = {"rows": len(outputs), "probabilities": torch.softmax(outputs, dim=1).tolist()}
        else:
            content = {"rows": len(outputs), "values": outputs.reshape(len(outputs), -1).tolist()}
        _write_json(path, content, indent=None)
    return path


def _teacher_for(
    objective: Objective, student: Student, source: Optional[TeacherSource], where: str, data: RunData, states: str
) -> TeacherProvenance:
    """The student's teacher, checked against its method and attached to its objective."""
    if source is None:
        raise ConfigError(f"teacher: the '{student.method.type}' method of {where} needs a teacher", field="teacher")
    black_box = (OnnxTeacher, HuggingFaceOnnxTeacher, HuggingFaceTeacher, PrecomputedTeacher)
    if objective.reads_features and isinstance(source, black_box):
        raise ConfigError(
            f"{where}.method.type: '{student.method.type}' reads the teacher's layers, but an ONNX, Hugging Face or "
            "called teacher is a black box here; train or load the teacher as a Distillery checkpoint",
            field=f"{where}.method.type",
        )
    return _attach_teacher(objective, source, data, online=_online(student) or objective.reads_features, states=states)


def _online(student: Student) -> bool:
    """auto: cached once over the transfer set, unless the batch is augmented — then the teacher sees the same batch."""
    mode, augment = student.training.teacher_outputs, student.training.augment
    # 'auto' augmentation (zod gives it to teachers alone) may crop and flip: the teacher then sees the same batch.
    augmented = augment == "auto" or (augment is not None and augment_active(augment))
    return mode == "online" or (mode == "auto" and augmented)


def _attach_teacher(
    objective: Objective, source: TeacherSource, run_data: RunData, *, online: bool, states: str
) -> TeacherProvenance:
    """Loads the teacher into the objective (with its outputs cached unless online); returns its provenance."""
    data = run_data.bundle
    module: nn.Module
    if isinstance(source, OnnxTeacher):
        module, name, path = onnx_teacher(source, data), source.name, source.path
    elif isinstance(source, HuggingFaceOnnxTeacher):
        module, name = HfOnnxTeacher(source), source.name
        path = module.path
    elif isinstance(source, HuggingFaceTeacher):
        module, name = load_fine_tuned(source, data, data.test.x.device, states), source.name
        path = module.path
    elif isinstance(source, PrecomputedTeacher):
        module, name = AnswersTeacher(source, data), source.name
        path = module.path
        # Labels alone: no soft targets to distil, so the student learns the teacher's labels (pseudo-labels).
        objective.pseudo_labels = source.kind == "labels"
    else:
        teacher = load_checkpoint(source, data.test.x.device)
        own_tokenizer = retokenized(teacher, data, "teacher")
        if own_tokenizer is None:
            check_compatible(teacher, data, "teacher")
        module, name, path = own_tokenizer or teacher.module, teacher.meta["name"], source
    if online and isinstance(module, TextTeacher):
        raise ConfigError(
            f"{name}: this teacher reads raw texts with its own tokenizer, so its outputs are cached over the "
            "transfer set; it cannot run online on the student's batches (set training.teacherOutputs: 'cached', no "
            "batch augmentation)",
            field="training.teacherOutputs",
        )
    objective.teacher = module
    if answers_of(module, data.test):
        objective.test_teacher_outputs = cached_outputs(path, module, data, "test", data.test)
    if data.validation is not None and answers_of(module, data.validation):
        objective.validation_teacher_outputs = cached_outputs(path, module, data, "validation", data.validation)
    if not online:
        objective.teacher_outputs = cached_outputs(path, module, data, "transfer", data.transfer)
    return TeacherProvenance(name=name, sha256=file_sha256(path), outputs="online" if online else "cached")


def _save(run: Run, paths: Paths, module: nn.Module, model_config: ModelSpec, meta: dict[str, Any]) -> None:
    """The model's checkpoint with everything that rebuilds and describes it (rank 0 alone writes)."""
    if not distributed.is_main():
        return
    data = run.data.bundle
    save_checkpoint(
        paths.checkpoint,
        module=module,
        model_config=model_config,
        task=data.task,
        input_shape=data.sample_shape,
        num_outputs=data.num_outputs,
        labels=data.labels,
        normalization=data.normalization,
        meta=meta,
        target_scale=data.target_scale,
        preprocess=run.spec.preprocess,
        tokenizer=data.tokenizer,
    )


def _model_result(
    run: Run,
    *,
    name: str,
    role: Literal["teacher", "student"],
    method: Optional[Json],
    provenance: Optional[TeacherProvenance],
    checkpoint: str,
    params: int,
    flops: Optional[int],
    seconds: float,
    history: list[dict[str, Any]],
    metrics: dict[str, Any],
    load_options: Optional[LoadOptions] = None,
) -> ModelResult:
    """The one builder of a model's result, before export (``onnx`` and ``export`` are filled in by
    ``_finished_or``)."""
    data = run.data.bundle
    task: Literal["classification", "regression"] = "regression" if data.task == "regression" else "classification"
    return ModelResult(
        device=str(run.device),
        task=task,
        input_shape=tuple(data.sample_shape),
        num_outputs=data.num_outputs,
        labels=tuple(data.labels),
        warnings=tuple(data.warnings),
        name=name,
        role=role,
        method=method,
        teacher=provenance,
        checkpoint=checkpoint,
        params=params,
        flops_per_sample=flops,
        train_seconds=seconds,
        history=tuple(history),
        metrics=metrics,
        load_options=load_options,
        onnx=None,
        export=None,
    )


# ---------------------------------------------------------------- finish: export, record, resume


def _finished_or(run: Run, name: str, train: Callable[[], ModelResult], progress: Progress) -> ModelResult:
    """The model's recorded result when resuming a run that finished it; else trains, exports and records it."""
    paths = run.paths(name)
    kept = _kept(run, paths.result)
    if kept is not None:
        progress.emit({"event": "log", "message": f"{name}: already finished, kept"})
        if kept.onnx is not None or run.export is False or kept.inputs is not None:
            return kept
    result = dataclasses.replace(kept if kept is not None else train(), onnx=None, export=None)
    progress.check_cancel()
    if not distributed.is_main():  # rank 0 exports and records; the others go on once it has
        distributed.barrier()
        return dataclasses.replace(result, onnx=paths.onnx if run.export is not False else None)
    if run.export is not False and result.inputs is None:  # a text or answers teacher is not exported
        result = _exported(run, result, run.export, paths, progress)
    _write_json(paths.result, wire(result))
    distributed.barrier()
    return result


def _exported(run: Run, result: ModelResult, options: ExportOptions, paths: Paths, progress: Progress) -> ModelResult:
    """The result with its .onnx: exported with a parity check, or a black-box teacher's file copied; plus a student's
    quantised variants when asked for."""
    if result.load_options is not None:  # a black-box teacher: its own file, copied next to the students
        export = _copy_onnx(result.checkpoint, paths.onnx)
    else:
        progress.emit({"event": "log", "message": f"{result.name}: exporting to ONNX"})
        loaded = load_checkpoint(result.checkpoint, torch.device("cpu"))
        export = _export(loaded, paths.onnx, options, run.data.bundle.test.x[:PARITY_ROWS])
    variants = result.variants
    if options.quantize and result.role == "student":
        variants = tuple(_variants(run.data, options, result.name, paths.onnx, progress))
    return dataclasses.replace(result, onnx=paths.onnx, export=export, variants=variants)


def _export(loaded: LoadedModel, path: str, options: ExportOptions, sample: Optional[torch.Tensor]) -> ExportResult:
    """A loaded checkpoint to ONNX with its metadata; the parity check runs on ``sample`` (normalised rows) when
    given."""
    return export_onnx(
        loaded.module,
        loaded.input_shape,
        path,
        _metadata(loaded),
        task=loaded.task,
        opset=options.opset,
        tolerance=options.parity_tolerance,
        sample=sample,
        normalization=loaded.normalization,
        text=text_layout(loaded.preprocess, loaded.input_shape),
    )


def _metadata(loaded: LoadedModel) -> dict[str, str]:
    meta = loaded.meta
    return metadata_props(
        name=meta["name"],
        role=meta["role"],
        task=loaded.task,
        input_shape=loaded.input_shape,
        output_kind="values" if loaded.task == "regression" else "logits",
        normalization=loaded.normalization,
        labels=loaded.labels,
        model_config=to_json(loaded.model_config),
        method=meta["method"],
        teacher=meta["teacher"],
        training=meta["training"],
        metrics=meta["metrics"],
        params=count_parameters(loaded.module),
        flops=flops_per_sample(loaded.module, loaded.input_shape),
        preprocess=loaded.preprocess,
        tokenizer=loaded.tokenizer,
    )


def _variants(data: RunData, options: ExportOptions, name: str, onnx_path: str, progress: Progress) -> list[Json]:
    """The student's int8 / fp16 variants (quantize.py); int8-static calibrated on a sample of the transfer set
    (the training data when there is none), as raw rows like the runtime receives; then the accuracy guard."""
    calibration = data.calibration if "int8-static" in options.quantize else None
    # A shards transfer set stays a lazy ShardArray here: quantize() takes its sample of rows from it.
    rows: Any = None if calibration is None else calibration.rows
    file = calibration.file if calibration is not None and calibration.file else onnx_path
    variants = []
    for method in options.quantize:
        progress.check_cancel()
        progress.emit({"event": "log", "message": f"{name}: {method} variant"})
        variants.append(quantize(onnx_path, method, calibration=rows, calibration_file=file))
    rows = data.held_out
    if rows is not None:
        progress.emit(
            {"event": "log", "message": f"{name}: accuracy guard of the variants on {len(rows.y)} {rows.split} rows"}
        )
        guard_variants(onnx_path, variants, rows, options.max_accuracy_drop)
    return variants


def _kept(run: Run, result_file: str) -> Optional[ModelResult]:
    """With resume: the recorded result of a finished model, unless its .onnx has gone missing since."""
    if not run.resume or not os.path.exists(result_file):
        return None
    with open(result_file, encoding="utf8") as handle:
        kept = recorded(ModelResult, json.load(handle), result_file)
    return kept if kept.onnx is None or os.path.exists(kept.onnx) else None


def _copy_onnx(source: str, destination: str) -> ExportResult:
    """A black-box teacher's file, copied next to the students so the report can evaluate them all alike."""
    atomic_write(destination, lambda temporary: shutil.copyfile(source, temporary))
    return ExportResult(
        path=destination,
        size_bytes=os.path.getsize(destination),
        sha256=file_sha256(destination),
        parity_max_abs_diff=0.0,
        opset=None,
    )


def _write_json(path: str, value: Any, *, indent: Optional[int] = 2) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf8") as handle:
            json.dump(value, handle, indent=indent)

    atomic_write(path, write)
