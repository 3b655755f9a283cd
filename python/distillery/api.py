"""The engine's commands: JSON-able dict in, JSON-able dict out.

The TypeScript facade calls these through the bridge with configs already
validated (and defaults filled) by its zod schemas; ``python -m distillery``
calls them with a resolved config file. Each command writes its artefacts
under ``outDir`` only, atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from typing import Any, Callable, Optional

import torch

from . import __version__
from .checkpoints import load_checkpoint, save_checkpoint
from .data import DataBundle, load_data, read_source, save_split
from .errors import ConfigError
from .export import export_onnx, metadata_props
from .io import atomic_write, ensure_writable_dir, remove_stale_temporaries
from .models import build_for_task, count_parameters, flops_per_sample
from .progress import Progress
from .onnx_teacher import parameter_count
from .teachers import build_teacher, cached_outputs, check_compatible, onnx_teacher, teacher_summary
from .train import Objective, fit, predict, resolve_device, seed_everything

Command = Callable[[dict[str, Any], Progress], dict[str, Any]]


# ---------------------------------------------------------------- environment


def hello(_request: dict[str, Any], _progress: Progress) -> dict[str, Any]:
    """Cheap handshake: versions and the default device."""
    return {
        "distillery": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "pid": os.getpid(),
    }


def doctor(_request: dict[str, Any], _progress: Progress) -> dict[str, Any]:
    report = hello(_request, _progress)
    report["cudaDevices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    report["threads"] = torch.get_num_threads()
    for package in ("numpy", "onnx", "onnxscript", "onnxruntime"):
        try:
            report[package] = __import__(package).__version__
        except ImportError:
            report[package] = None
    return report


# ---------------------------------------------------------------- paths


def _paths(out_dir: str, name: str) -> dict[str, str]:
    return {
        "checkpoint": os.path.join(out_dir, "checkpoints", f"{name}.pt"),
        "state": os.path.join(out_dir, "checkpoints"),
        "onnx": os.path.join(out_dir, f"{name}.onnx"),
        "result": os.path.join(out_dir, "results", f"{name}.json"),
    }


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: str, value: Any) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf8") as handle:
            json.dump(value, handle, indent=2)

    atomic_write(path, write)


# ---------------------------------------------------------------- teacher


def train_teacher(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Trains (or loads, or assembles) the teacher and saves it as a checkpoint."""
    device = resolve_device(request.get("device", "auto"))
    data = load_data(request["data"], device)
    spec, out_dir, seed = request["teacher"], request["outDir"], int(request.get("seed", 0))
    ensure_writable_dir(out_dir)  # before any training: an unusable folder fails now, naming outDir
    name = spec.get("name", "teacher")
    paths = _paths(out_dir, name)
    started = time.perf_counter()
    teacher = build_teacher(spec, data, device, progress, seed=seed, state_dir=paths["state"], resume=bool(request.get("resume")))
    metrics = teacher.fit.metrics if teacher.fit else teacher_summary(teacher, data)
    history = teacher.fit.history if teacher.fit else []
    if spec["type"] == "onnx":
        # A black-box teacher is used as it is: no checkpoint, the .onnx file is its own artefact.
        return {"name": name, "role": "teacher", "method": None, "checkpoint": spec["path"], "onnxTeacher": spec,
                "loadOptions": teacher.module.load_options(), "params": parameter_count(spec["path"]), "flopsPerSample": None,
                "trainSeconds": 0.0, "history": [], "metrics": metrics, "device": str(device), "task": data.task,
                "inputShape": data.sample_shape, "numOutputs": data.num_outputs}
    meta = {"name": name, "role": "teacher", "training": spec.get("training"), "metrics": metrics, "seed": seed}
    save_checkpoint(paths["checkpoint"], module=teacher.module, model_config=teacher.model_config, task=data.task,
                    input_shape=data.sample_shape, num_outputs=data.num_outputs, labels=data.labels,
                    normalization=data.normalization, meta=meta, target_scale=data.target_scale)
    return {
        "name": name,
        "role": "teacher",
        "method": None,
        "checkpoint": paths["checkpoint"],
        "params": count_parameters(teacher.module),
        "flopsPerSample": flops_per_sample(teacher.module, data.sample_shape),
        "trainSeconds": teacher.fit.seconds if teacher.fit else time.perf_counter() - started,
        "history": history,
        "metrics": metrics,
        "device": str(device),
        "task": data.task,
        "inputShape": data.sample_shape,
        "numOutputs": data.num_outputs,
    }


# ---------------------------------------------------------------- student


def distill(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Trains one student from the teacher checkpoint with the student's method, and saves its checkpoint.

    Distilled students learn on the transfer set (default: the training data, possibly unlabelled);
    students without a teacher (hard-labels, targets) are baselines and learn on the labelled training data.
    """
    device = resolve_device(request.get("device", "auto"))
    data = load_data(request["data"], device)
    student, out_dir, seed = request["student"], request["outDir"], int(request.get("seed", 0))
    ensure_writable_dir(out_dir)
    where = request.get("where", "student")
    method = student["method"]
    objective = Objective(method, data.task)
    teacher_info: Optional[dict[str, Any]] = None
    if objective.needs_teacher:
        teacher_path = request.get("teacherCheckpoint")
        if not teacher_path:
            raise ConfigError(f"{where}.method: '{method['type']}' needs a teacher", field=f"{where}.method.type")
        if request.get("teacherOnnx"):
            teacher_module: torch.nn.Module = onnx_teacher({**request["teacherOnnx"], "path": teacher_path}, data)
            teacher_name = request["teacherOnnx"].get("name", "teacher")
        else:
            teacher = load_checkpoint(teacher_path, device)
            check_compatible(teacher, data, "teacher")
            teacher_module, teacher_name = teacher.module, teacher.meta.get("name", "teacher")
        objective.teacher = teacher_module
        objective.test_teacher_outputs = cached_outputs(teacher_path, teacher_module, data, "test", data.test)
        online = student["training"].get("teacherOutputs", "auto") == "online" or (
            student["training"].get("teacherOutputs", "auto") == "auto" and (student["training"].get("augment") or {}).get("shift", 0) > 0)
        if not online:
            objective.teacher_outputs = cached_outputs(teacher_path, teacher_module, data, "transfer", data.transfer)
        teacher_info = {"name": teacher_name, "sha256": _sha256(teacher_path), "outputs": "online" if online else "cached"}

    seed_everything(seed)
    module = build_for_task(student["model"], data.sample_shape, data.num_outputs, data.target_scale, f"{where}.model").to(device)
    name = student["name"]
    paths = _paths(out_dir, name)
    result = fit(module, data, student["training"], objective, device, progress, phase="student", name=name, seed=seed,
                 transfer=data.transfer if objective.needs_teacher else data.train, state_path=os.path.join(paths["state"], f"{name}.state.pt"), resume=bool(request.get("resume")))
    meta = {"name": name, "role": "student", "method": method, "teacher": teacher_info, "training": student["training"],
            "metrics": result.metrics, "seed": seed}
    save_checkpoint(paths["checkpoint"], module=module, model_config=student["model"], task=data.task, input_shape=data.sample_shape,
                    num_outputs=data.num_outputs, labels=data.labels, normalization=data.normalization, meta=meta,
                    target_scale=data.target_scale)
    return {
        "name": name,
        "role": "student",
        "method": method,
        "teacher": teacher_info,
        "checkpoint": paths["checkpoint"],
        "params": count_parameters(module),
        "flopsPerSample": flops_per_sample(module, data.sample_shape),
        "trainSeconds": result.seconds,
        "history": result.history,
        "metrics": result.metrics,
        "device": str(device),
    }


# ---------------------------------------------------------------- export


def export_model(request: dict[str, Any], _progress: Progress) -> dict[str, Any]:
    """Exports a checkpoint to ONNX with its metadata, after a parity check."""
    loaded = load_checkpoint(request["checkpoint"], torch.device("cpu"))
    meta = loaded.meta
    name = meta.get("name", os.path.splitext(os.path.basename(loaded.path))[0])
    metadata = metadata_props(
        name=name, role=meta.get("role", "student"), task=loaded.task, input_shape=loaded.input_shape,
        output_kind="values" if loaded.task == "regression" else "logits", normalization=loaded.normalization,
        labels=loaded.labels, model_config=loaded.model_config, method=meta.get("method"), teacher=meta.get("teacher"),
        training=meta.get("training"), metrics=meta.get("metrics"), params=count_parameters(loaded.module),
        flops=flops_per_sample(loaded.module, loaded.input_shape),
    )
    sample = None
    if request.get("data"):
        data = load_data(request["data"], torch.device("cpu"))
        sample = data.test.x[:16]
    export = request.get("export") or {}
    return export_onnx(loaded.module, loaded.input_shape, request["path"], metadata, task=loaded.task,
                       opset=export.get("opset", 18), tolerance=export.get("parityTolerance", 1e-4), sample=sample)


def write_split(request: dict[str, Any], _progress: Progress) -> dict[str, Any]:
    """Writes one data split's raw arrays to .npz, for evaluation by the Python-free runtime."""
    split = request["split"]
    source = request["data"].get(split)
    if source is None:
        raise ConfigError(f"data.{split}: not configured", field=f"data.{split}")
    x, y = read_source(source, f"data.{split}")
    save_split(x, y, request["path"])
    return {"path": request["path"], "n": int(len(x)), "sampleShape": list(x.shape[1:])}


# ---------------------------------------------------------------- the whole experiment


def run_experiment(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Teacher, every student, every export, and the test split on disk — as one call.

    Each finished model's result is saved under ``outDir/results`` at once, so an interrupted run keeps
    what it finished; with ``resume`` those models are not trained again and an unfinished one
    continues from its last epoch.
    """
    out_dir = request["outDir"]
    resume = bool(request.get("resume"))
    ensure_writable_dir(out_dir)
    remove_stale_temporaries(out_dir)  # what a killed run left half-written; never under a final name
    common = {"data": request["data"], "outDir": out_dir, "device": request.get("device", "auto"), "resume": resume}
    test_path = os.path.join(out_dir, "data", "test.npz")
    write_split({"data": request["data"], "split": "test", "path": test_path}, progress)

    teacher = _finished_or(resume, request["teacher"].get("name", "teacher"), out_dir, lambda: train_teacher(
        {**common, "teacher": request["teacher"], "seed": request.get("seed", 0)}, progress), request, progress)
    students = []
    for index, student in enumerate(request["students"]):
        progress.check_cancel()
        students.append(_finished_or(resume, student["name"], out_dir, lambda: distill(
            {**common, "student": student, "teacherCheckpoint": teacher["checkpoint"], "teacherOnnx": teacher.get("onnxTeacher"),
             "where": f"students[{index}]",
             # each student its own seed stream, the same whatever the students before it
             "seed": request.get("seed", 0) + 1000 * (index + 1)}, progress), request, progress))
    return {"device": str(resolve_device(request.get("device", "auto"))), "torch": torch.__version__, "testData": test_path,
            "teacher": teacher, "students": students}


def _finished_or(resume: bool, name: str, out_dir: str, train: Callable[[], dict[str, Any]], request: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
    paths = _paths(out_dir, name)
    if resume and os.path.exists(paths["result"]) and os.path.exists(paths["onnx"]):
        with open(paths["result"], encoding="utf8") as handle:
            result = json.load(handle)
        progress.emit({"event": "log", "message": f"{name}: already finished, kept"})
        return result
    result = train()
    progress.check_cancel()
    if result.get("onnxTeacher"):
        result["export"] = _copy_onnx(result["checkpoint"], paths["onnx"])
    else:
        progress.emit({"event": "log", "message": f"{name}: exporting to ONNX"})
        result["export"] = export_model({"checkpoint": result["checkpoint"], "path": paths["onnx"], "data": request["data"],
                                         "export": request.get("export")}, progress)
    result["onnx"] = paths["onnx"]
    _write_json(paths["result"], result)
    return result


def _copy_onnx(source: str, destination: str) -> dict[str, Any]:
    """A black-box teacher's file, copied next to the students so the report can evaluate them all alike."""
    import shutil

    atomic_write(destination, lambda temporary: shutil.copyfile(source, temporary))
    return {"path": destination, "sizeBytes": os.path.getsize(destination), "sha256": _sha256(destination),
            "parityMaxAbsDiff": 0.0, "opset": None}


COMMANDS: dict[str, Command] = {
    "hello": hello,
    "doctor": doctor,
    "train_teacher": train_teacher,
    "distill": distill,
    "export": export_model,
    "write_split": write_split,
    "run_experiment": run_experiment,
}
