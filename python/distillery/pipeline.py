"""The one orchestrator: train → checkpoint → ONNX export with its parity check → result file, and resume.

``trainTeacher()``, ``distill()`` and ``run()`` in TypeScript, and ``python -m
distillery``, all come through here (api.py is only the command table). Each
finished model's result is written to ``outDir/results/<name>.json`` at once,
so an interrupted run keeps what it finished; with ``resume`` a finished
model is kept as it is and an unfinished one continues from its last epoch.
Every artefact is written under ``outDir`` only, atomically.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import torch

from . import distributed
from .augment import active as augment_active
from .checkpoints import load_checkpoint, save_checkpoint
from .data import DataBundle, load_data, read_source, save_split, validation_split
from .errors import ConfigError
from .export import export_onnx, metadata_props
from .guard import guard_variants, held_out_rows
from .io import atomic_write, ensure_writable_dir, file_sha256, remove_stale_temporaries
from .models import build_for_task, count_parameters, flops_per_sample
from .onnx_teacher import parameter_count
from .progress import Progress
from .quantize import quantize
from .spec import (
    DataSpec,
    DistillRequest,
    ExperimentRequest,
    ExportOptions,
    ExportRequest,
    OnnxTeacher,
    SplitValidation,
    Student,
    TrainedTeacher,
    TrainTeacherRequest,
    WriteSplitRequest,
    to_json,
)
from .teachers import build_teacher, cached_outputs, check_compatible, onnx_teacher, teacher_summary
from .train import Objective, fit, resolve_device, seed_everything

Result = dict[str, Any]
# Where a student's teacher comes from: a Distillery checkpoint (.pt), or a black-box ONNX file.
TeacherSource = Union[str, OnnxTeacher]


@dataclass(frozen=True)
class Run:
    """What every model of one call shares."""

    data: DataSpec
    out_dir: str
    device: torch.device
    resume: bool
    export: Union[ExportOptions, Literal[False]]

    def paths(self, name: str) -> dict[str, str]:
        return {
            "checkpoint": os.path.join(self.out_dir, "checkpoints", f"{name}.pt"),
            "state": os.path.join(self.out_dir, "checkpoints", f"{name}.state.pt"),
            "states": os.path.join(self.out_dir, "checkpoints"),
            "onnx": os.path.join(self.out_dir, f"{name}.onnx"),
            "result": os.path.join(self.out_dir, "results", f"{name}.json"),
        }


def _start(data: DataSpec, out_dir: str, device: str, resume: bool, export: Union[ExportOptions, Literal[False]]) -> Run:
    run = Run(data, out_dir, resolve_device(device), resume, export)
    if distributed.is_main():  # under torchrun, rank 0 alone writes; the others wait for it at each barrier
        ensure_writable_dir(out_dir)  # before any training: an unusable folder fails now, naming outDir
        remove_stale_temporaries(out_dir)  # what a killed run left half-written; never under a final name
    distributed.barrier()
    return run


# ---------------------------------------------------------------- the commands


def train_teacher(request: TrainTeacherRequest, progress: Progress) -> Result:
    """Trains (or loads, or assembles) the teacher, saves its checkpoint and exports it."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    return _finished_or(run, request.teacher.name, lambda: _teacher(run, request, progress), progress)


def distill(request: DistillRequest, progress: Progress) -> Result:
    """Trains one student with its method — from the teacher when the method needs one — saves and exports it."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    return _finished_or(run, request.student.name,
                        lambda: _student(run, request.student, request.teacher, "student", request.seed, progress), progress)


def run_experiment(request: ExperimentRequest, progress: Progress) -> Result:
    """Teacher, every student, every export, and the test split on disk — as one call."""
    run = _start(request.data, request.out_dir, request.device, request.resume, request.export)
    test_path = os.path.join(run.out_dir, "data", "test.npz")
    if distributed.is_main():
        write_split(WriteSplitRequest(request.data, "test", test_path), progress)
    teacher_request = TrainTeacherRequest(request.data, request.out_dir, request.device, request.seed, request.resume,
                                          request.export, request.teacher)
    teacher = _finished_or(run, request.teacher.name, lambda: _teacher(run, teacher_request, progress), progress)
    source: TeacherSource = request.teacher if isinstance(request.teacher, OnnxTeacher) else teacher["checkpoint"]
    students = []
    for index, student in enumerate(request.students):
        progress.check_cancel()
        # Each student its own seed stream, the same whatever the students before it.
        seed = request.seed + 1000 * (index + 1)
        train = functools.partial(_student, run, student, source, f"students[{index}]", seed, progress)
        students.append(_finished_or(run, student.name, train, progress))
    warnings = sorted({warning for model in (teacher, *students) for warning in model["warnings"]})
    for warning in warnings:
        progress.emit({"event": "log", "message": f"warning: {warning}"})
    return {"device": str(run.device), "torch": torch.__version__, "testData": test_path, "teacher": teacher, "students": students,
            "warnings": warnings, "distributed": distributed.current().summary()}


def export_checkpoint(request: ExportRequest, _progress: Progress) -> Result:
    """Exports a checkpoint to ONNX with its metadata, after a parity check on rows of the data's test split."""
    loaded = load_checkpoint(request.checkpoint, torch.device("cpu"))
    meta = loaded.meta
    metadata = metadata_props(
        name=meta["name"], role=meta["role"], task=loaded.task, input_shape=loaded.input_shape,
        output_kind="values" if loaded.task == "regression" else "logits", normalization=loaded.normalization,
        labels=loaded.labels, model_config=to_json(loaded.model_config), method=meta["method"], teacher=meta["teacher"],
        training=meta["training"], metrics=meta["metrics"], params=count_parameters(loaded.module),
        flops=flops_per_sample(loaded.module, loaded.input_shape), preprocess=loaded.preprocess,
    )
    sample = load_data(request.data, torch.device("cpu")).test.x[:16] if request.data is not None else None
    return export_onnx(loaded.module, loaded.input_shape, request.path, metadata, task=loaded.task,
                       opset=request.export.opset, tolerance=request.export.parity_tolerance, sample=sample,
                       normalization=loaded.normalization)


def write_split(request: WriteSplitRequest, _progress: Progress) -> Result:
    """Writes one data split's raw arrays to .npz, for evaluation by the Python-free runtime."""
    source = getattr(request.data, request.split)
    if source is None:
        raise ConfigError(f"data.{request.split}: not configured", field=f"data.{request.split}")
    x, y = read_source(source, f"data.{request.split}")
    save_split(x, y, request.path)
    return {"path": request.path, "n": len(x), "sampleShape": list(x.shape[1:])}


# ---------------------------------------------------------------- one model each


def _teacher(run: Run, request: TrainTeacherRequest, progress: Progress) -> Result:
    data = load_data(run.data, run.device)
    spec, paths = request.teacher, run.paths(request.teacher.name)
    started = time.perf_counter()
    teacher = build_teacher(spec, data, run.device, progress, seed=request.seed, state_dir=paths["states"], resume=run.resume)
    metrics = teacher.fit.metrics if teacher.fit else teacher_summary(teacher, data)
    history = teacher.fit.history if teacher.fit else []
    common = _data_fields(data, run.device)
    if isinstance(spec, OnnxTeacher):
        # A black-box teacher is used as it is: no checkpoint, the .onnx file is its own artefact.
        load_options = teacher.module.load_options()  # type: ignore[operator]
        return {**common, "name": spec.name, "role": "teacher", "method": None, "teacher": None, "checkpoint": spec.path,
                "params": parameter_count(spec.path), "flopsPerSample": None, "trainSeconds": 0.0, "history": [],
                "metrics": metrics, "loadOptions": load_options}
    assert teacher.model_config is not None
    method = to_json(spec.method) if isinstance(spec, TrainedTeacher) and spec.method is not None else None
    training = to_json(spec.training) if isinstance(spec, TrainedTeacher) else None
    meta = {"name": spec.name, "role": "teacher", "method": method, "teacher": None, "training": training, "metrics": metrics,
            "seed": request.seed}
    if distributed.is_main():
        save_checkpoint(paths["checkpoint"], module=teacher.module, model_config=teacher.model_config, task=data.task,
                        input_shape=data.sample_shape, num_outputs=data.num_outputs, labels=data.labels,
                        normalization=data.normalization, meta=meta, target_scale=data.target_scale, preprocess=run.data.preprocess)
    return {**common, "name": spec.name, "role": "teacher", "method": method, "teacher": None, "checkpoint": paths["checkpoint"],
            "params": count_parameters(teacher.module), "flopsPerSample": flops_per_sample(teacher.module, data.sample_shape),
            "trainSeconds": teacher.fit.seconds if teacher.fit else time.perf_counter() - started, "history": history,
            "metrics": metrics, "loadOptions": None}


def _student(run: Run, student: Student, source: Optional[TeacherSource], where: str, seed: int, progress: Progress) -> Result:
    """Distilled students learn on the transfer set (default: the training data, possibly unlabelled); students whose
    method needs no teacher are baselines and learn on the labelled training data."""
    data = load_data(run.data, run.device)
    objective = Objective(student.method, data.task, f"{where}.method")
    provenance = None
    if objective.needs_teacher:
        if source is None:
            raise ConfigError(f"teacher: the '{student.method.type}' method of {where} needs a teacher", field="teacher")
        if objective.reads_features and isinstance(source, OnnxTeacher):
            raise ConfigError(f"{where}.method.type: '{student.method.type}' reads the teacher's layers, but an ONNX teacher is a "
                              "black box; train or load the teacher as a Distillery checkpoint", field=f"{where}.method.type")
        provenance = _attach_teacher(objective, source, data, online=_online(student) or objective.reads_features)
    seed_everything(seed)
    module = build_for_task(student.model, data.sample_shape, data.num_outputs, data.target_scale, f"{where}.model").to(run.device)
    paths = run.paths(student.name)
    result = fit(module, data, student.training, objective, run.device, progress, phase="student", name=student.name, seed=seed,
                 transfer=data.transfer if objective.needs_teacher else data.train, state_path=paths["state"], resume=run.resume,
                 test_metrics=student.candidate is None)
    method, training = to_json(student.method), to_json(student.training)
    meta = {"name": student.name, "role": "student", "method": method, "teacher": provenance, "training": training,
            "metrics": result.metrics, "seed": seed}
    if distributed.is_main():
        save_checkpoint(paths["checkpoint"], module=module, model_config=student.model, task=data.task, input_shape=data.sample_shape,
                        num_outputs=data.num_outputs, labels=data.labels, normalization=data.normalization, meta=meta,
                        target_scale=data.target_scale, preprocess=run.data.preprocess)
    return {**_data_fields(data, run.device), "name": student.name, "role": "student", "method": method, "teacher": provenance,
            "checkpoint": paths["checkpoint"], "params": count_parameters(module),
            "flopsPerSample": flops_per_sample(module, data.sample_shape), "trainSeconds": result.seconds,
            "history": result.history, "metrics": result.metrics, "loadOptions": None}


def _online(student: Student) -> bool:
    """auto: cached once over the transfer set, unless the batch is augmented — then the teacher sees the same batch."""
    mode, augment = student.training.teacher_outputs, student.training.augment
    return mode == "online" or (mode == "auto" and augment is not None and augment_active(augment))


def _attach_teacher(objective: Objective, source: TeacherSource, data: DataBundle, *, online: bool) -> dict[str, Any]:
    """Loads the teacher into the objective (with its outputs cached unless online); returns its provenance."""
    path = source.path if isinstance(source, OnnxTeacher) else source
    if isinstance(source, OnnxTeacher):
        module: torch.nn.Module = onnx_teacher(source, data)
        name = source.name
    else:
        teacher = load_checkpoint(path, data.test.x.device)
        check_compatible(teacher, data, "teacher")
        module, name = teacher.module, teacher.meta["name"]
    objective.teacher = module
    objective.test_teacher_outputs = cached_outputs(path, module, data, "test", data.test)
    if not online:
        objective.teacher_outputs = cached_outputs(path, module, data, "transfer", data.transfer)
    return {"name": name, "sha256": file_sha256(path), "outputs": "online" if online else "cached"}


def _data_fields(data: DataBundle, device: torch.device) -> Result:
    return {"device": str(device), "task": data.task, "inputShape": data.sample_shape, "numOutputs": data.num_outputs,
            "labels": data.labels, "warnings": data.warnings}


# ---------------------------------------------------------------- finish: export, record, resume


def _finished_or(run: Run, name: str, train: Callable[[], Result], progress: Progress) -> Result:
    """The model's recorded result when resuming a run that finished it; else trains, exports and records it."""
    paths = run.paths(name)
    kept = _kept(run, paths["result"])
    if kept is not None:
        progress.emit({"event": "log", "message": f"{name}: already finished, kept"})
        if kept["onnx"] is not None or run.export is False:
            return kept
    result = kept or train()
    progress.check_cancel()
    result["onnx"], result["export"] = None, None
    if not distributed.is_main():  # rank 0 exports and records; the others go on once it has
        distributed.barrier()
        result["onnx"] = paths["onnx"] if run.export is not False else None
        return result
    if run.export is not False:
        if result["loadOptions"] is not None:  # a black-box teacher: its own file, copied next to the students
            result["export"] = _copy_onnx(result["checkpoint"], paths["onnx"])
        else:
            progress.emit({"event": "log", "message": f"{name}: exporting to ONNX"})
            result["export"] = export_checkpoint(ExportRequest(result["checkpoint"], paths["onnx"], run.export, run.data), progress)
        result["onnx"] = paths["onnx"]
        if run.export.quantize and result["role"] == "student":
            result["variants"] = _variants(run, name, paths["onnx"], progress)
    _write_json(paths["result"], result)
    distributed.barrier()
    return result


def _variants(run: Run, name: str, onnx_path: str, progress: Progress) -> list[Result]:
    """The student's int8 / fp16 variants (quantize.py); int8-static calibrated on a sample of the transfer set
    (the training data when there is none), as raw rows like the runtime receives."""
    assert run.export is not False
    calibration, source = None, run.data.transfer or run.data.train
    if "int8-static" in run.export.quantize:
        calibration, labels = read_source(source, "data.transfer" if run.data.transfer is not None else "data.train")
        if run.data.transfer is None and isinstance(run.data.validation, SplitValidation) and labels is not None:
            # never the held-out rows the accuracy guard reads: calibrate on the rows trained on
            calibration = calibration[validation_split(labels, run.data.validation.fraction, run.data.task)[0]]
    variants = []
    for method in run.export.quantize:
        progress.check_cancel()
        progress.emit({"event": "log", "message": f"{name}: {method} variant"})
        variants.append(quantize(onnx_path, method, calibration=calibration, calibration_file=getattr(source, "path", onnx_path)))
    rows = held_out_rows(run.data)
    if rows is not None:
        progress.emit({"event": "log", "message": f"{name}: accuracy guard of the variants on {len(rows.y)} {rows.split} rows"})
        guard_variants(onnx_path, variants, rows, run.export.max_accuracy_drop)
    return variants


def _kept(run: Run, result_file: str) -> Optional[Result]:
    """With resume: the recorded result of a finished model, unless its .onnx has gone missing since."""
    if not run.resume or not os.path.exists(result_file):
        return None
    with open(result_file, encoding="utf8") as handle:
        kept: Result = json.load(handle)
    return kept if kept["onnx"] is None or os.path.exists(kept["onnx"]) else None


def _copy_onnx(source: str, destination: str) -> Result:
    """A black-box teacher's file, copied next to the students so the report can evaluate them all alike."""
    atomic_write(destination, lambda temporary: shutil.copyfile(source, temporary))
    return {"path": destination, "sizeBytes": os.path.getsize(destination), "sha256": file_sha256(destination),
            "parityMaxAbsDiff": 0.0, "opset": None}


def _write_json(path: str, value: Any) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf8") as handle:
            json.dump(value, handle, indent=2)

    atomic_write(path, write)
