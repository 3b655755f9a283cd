"""pipeline.py through the commands, on a tiny file data set: train_teacher and distill export their model
themselves (unless ``export: false``), record ``results/<name>.json``, and keep a finished model on ``resume``."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import onnx
import pytest
import torch

from distillery import api
from distillery.checkpoints import load_checkpoint
from distillery.errors import ConfigError
from distillery.progress import Progress
from helpers import (
    Recorder,
    distill_request,
    export_options,
    method_options,
    model_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)

TRAINING = training_options(epochs=3, batchSize=32, optimizer={"type": "adam", "lr": 0.01})


def teacher_request(data, out_dir, **extra):
    return train_teacher_request(
        out_dir, trained_teacher(model_options("mlp", hidden=[16]), training=TRAINING), data=data, **extra
    )


def read_json(path):
    with open(path, encoding="utf8") as handle:
        return json.load(handle)


def test_train_teacher_and_distill_export_and_record_their_results(tmp_path):
    data = tiny_files(tmp_path)
    out = tmp_path / "out"
    teacher = api.COMMANDS["train_teacher"](teacher_request(data, out), Recorder())
    assert teacher["role"] == "teacher" and teacher["checkpoint"] == str(out / "checkpoints" / "teacher.pt")
    assert teacher["onnx"] == str(out / "teacher.onnx") and os.path.isfile(teacher["onnx"])  # exported by default
    assert teacher["export"]["path"] == teacher["onnx"] and teacher["export"]["opset"] == export_options()["opset"]
    assert teacher["export"]["parityMaxAbsDiff"] <= export_options()["parityTolerance"]
    assert read_json(out / "results" / "teacher.json") == json.loads(json.dumps(teacher))
    assert (teacher["task"], teacher["inputShape"], teacher["numOutputs"], teacher["labels"]) == (
        "classification",
        [8],
        3,
        ["0", "1", "2"],
    )

    block = student(
        "soft", model_options("mlp", hidden=[8]), method_options("soft-targets", temperature=2, alpha=0.5), TRAINING
    )
    distilled = api.COMMANDS["distill"](
        distill_request(out, block, teacher=teacher["checkpoint"], data=data, export=False), Recorder()
    )
    assert distilled["onnx"] is None and distilled["export"] is None and not (out / "soft.onnx").exists()
    assert read_json(out / "results" / "soft.json") == json.loads(json.dumps(distilled))
    sha = hashlib.sha256((out / "checkpoints" / "teacher.pt").read_bytes()).hexdigest()
    assert distilled["teacher"] == {"name": "teacher", "sha256": sha, "outputs": "cached"}
    assert distilled["method"] == block["method"] and len(distilled["history"]) == 3
    assert 0.0 <= distilled["history"][-1]["testAgreement"] <= 1.0

    # the export command on the student's checkpoint: its metadata carry what the student was trained with
    exported = api.COMMANDS["export"](
        {"checkpoint": distilled["checkpoint"], "path": str(out / "soft.onnx"), "export": export_options()}, Progress()
    )
    props = {p.key: p.value for p in onnx.load(exported["path"]).metadata_props}
    assert json.loads(props["distillery.method"]) == block["method"]
    assert json.loads(props["distillery.teacher"]) == distilled["teacher"]
    assert json.loads(props["distillery.training"]) == block["training"]

    # and predict gives the checkpoint's outputs on a split, with its labels
    outputs, labels = api.predict(distilled["checkpoint"], data, split="test", device="cpu")
    assert outputs.shape == (32, 3) and labels.shape == (32,)
    assert float(np.mean(outputs.argmax(axis=1) == labels)) == pytest.approx(distilled["metrics"]["testAccuracy"])


def test_resume_keeps_a_finished_model_and_without_resume_it_is_trained_again(tmp_path):
    data = tiny_files(tmp_path)
    out = tmp_path / "out"
    first = api.COMMANDS["train_teacher"](teacher_request(data, out, export=False), Recorder())
    stamp = os.stat(out / "checkpoints" / "teacher.pt").st_mtime_ns

    progress = Recorder()
    kept = api.COMMANDS["train_teacher"](teacher_request(data, out, export=False, resume=True), progress)
    assert kept == json.loads(json.dumps(first))
    assert progress.of("phase-start") == [] and progress.of("epoch") == []
    assert [e["message"] for e in progress.of("log")] == ["teacher: already finished, kept"]
    assert os.stat(out / "checkpoints" / "teacher.pt").st_mtime_ns == stamp

    progress = Recorder()
    api.COMMANDS["train_teacher"](teacher_request(data, out, export=False), progress)
    assert [e["epoch"] for e in progress.of("epoch")] == [1, 2, 3]  # resume: false trains from scratch


def test_resume_exports_a_finished_model_that_was_kept_without_an_export(tmp_path):
    data = tiny_files(tmp_path)
    out = tmp_path / "out"
    first = api.COMMANDS["train_teacher"](teacher_request(data, out, export=False), Recorder())
    assert first["onnx"] is None

    progress = Recorder()
    exported = api.COMMANDS["train_teacher"](teacher_request(data, out, resume=True), progress)
    assert progress.of("epoch") == []  # not trained again: only exported
    assert exported["onnx"] == str(out / "teacher.onnx") and os.path.exists(exported["onnx"])
    assert exported["history"] == first["history"]
    assert read_json(out / "results" / "teacher.json")["onnx"] == exported["onnx"]


def test_a_teacher_checkpoint_for_other_data_is_refused(tmp_path):
    small = tiny_files(tmp_path, classes=3)
    teacher = api.COMMANDS["train_teacher"](teacher_request(small, tmp_path / "a", export=False), Recorder())
    wide = tmp_path / "wide"
    wide.mkdir()
    other = tiny_files(wide, features=5)
    block = student("s", method=method_options("logit-regression"), training=TRAINING)
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["distill"](
            distill_request(tmp_path / "b", block, teacher=teacher["checkpoint"], data=other, export=False), Recorder()
        )
    assert caught.value.field == "teacher" and caught.value.file == teacher["checkpoint"]
    assert "inputs of shape [8]" in caught.value.message


def test_write_split_of_a_split_that_is_not_configured(tmp_path):
    data = tiny_files(tmp_path)
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["write_split"]({"data": data, "split": "validation", "path": str(tmp_path / "v.npz")}, Progress())
    assert caught.value.field == "data.validation"
    written = api.COMMANDS["write_split"]({"data": data, "split": "test", "path": str(tmp_path / "t.npz")}, Progress())
    assert written == {"path": str(tmp_path / "t.npz"), "n": 32, "sampleShape": [8]}


def test_call_runs_a_command_and_refuses_an_unknown_one():
    events = []
    assert api.call("hello", {}, events.append)["pid"] == os.getpid()
    with pytest.raises(ConfigError) as caught:
        api.call("train", {})
    assert caught.value.field == "command" and "train_teacher" in caught.value.message


def test_a_method_that_needs_a_teacher_without_one_is_refused_before_training(tmp_path):
    data = tiny_files(tmp_path)
    request = distill_request(
        tmp_path / "out", student("soft", method=method_options("soft-targets"), training=TRAINING), data=data
    )
    progress = Recorder()
    with pytest.raises(ConfigError) as caught:
        api.call("distill", request, progress.events.append)
    assert caught.value.field == "teacher"
    assert "'soft-targets' method of student needs a teacher" in caught.value.message
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_predict_refuses_an_unknown_split_before_loading_anything():
    with pytest.raises(ConfigError) as caught:
        api.predict("/nonexistent/teacher.pt", {}, split="tset", device="cpu")
    assert caught.value.field == "split" and "'tset'" in caught.value.message


def test_an_experiment_reads_its_data_once_and_the_held_out_rows_once_for_all_students(tmp_path, monkeypatch):
    """One RunData per run: the splits are built once, and the accuracy guard's rows are read once, not per student."""
    from collections import OrderedDict

    from distillery import data as data_module
    from helpers import experiment_request

    monkeypatch.setattr(data_module, "_CACHE", OrderedDict())
    reads: list[str] = []
    read_rows = data_module.read_rows
    monkeypatch.setattr(data_module, "read_rows", lambda source, where: reads.append(where) or read_rows(source, where))
    builds: list[object] = []
    build = data_module._build
    monkeypatch.setattr(data_module, "_build", lambda config, device: builds.append(config) or build(config, device))
    config = tiny_files(tmp_path)
    students = [
        student(name, model_options("mlp", hidden=[8]), method_options("soft-targets"), training=TRAINING)
        for name in ("a", "b")
    ]
    teacher = trained_teacher(model_options("mlp", hidden=[16]), training=TRAINING)
    api.call(
        "run_experiment",
        experiment_request(
            tmp_path / "run", teacher, students, data=config, export=export_options(quantize=["int8-dynamic"])
        ),
    )
    assert len(builds) == 1
    # data.train and data.test for the splits, then data.train once more for the guard's sample of it (two students)
    assert reads == ["data.train", "data.test", "data.train"]


def test_a_recorded_result_reads_back_as_its_typed_result_and_writes_the_same_json(tmp_path):
    from distillery.results import ModelResult, recorded, wire

    result = api.call("train_teacher", teacher_request(tiny_files(tmp_path), tmp_path / "out"))
    path = tmp_path / "out" / "results" / "teacher.json"
    typed = recorded(ModelResult, read_json(path), str(path))
    assert isinstance(typed, ModelResult) and typed.export is not None and typed.export.opset == 18
    assert json.dumps(wire(typed)) == json.dumps(read_json(path)) == json.dumps(result)
    with pytest.raises(ConfigError, match="surprise: unknown field"):
        recorded(ModelResult, {**read_json(path), "surprise": 1}, str(path))


def test_the_teacher_writes_its_per_row_validation_predictions_like_a_student(tmp_path):
    # The teacher-not-better warning pairs them with the labels student's (exact McNemar, src/experiment/warnings.ts).
    data = {**tiny_files(tmp_path), "validation": {"type": "split", "fraction": 0.25}}
    out = tmp_path / "out"
    teacher = api.COMMANDS["train_teacher"](teacher_request(data, out, export=False), Recorder())
    assert teacher["validationPredictions"] == str(out / "results" / "teacher.validation.json")
    written = read_json(teacher["validationPredictions"])
    assert written["rows"] == len(written["prediction"]) == len(written["target"]) == 24
    right = sum(p == t for p, t in zip(written["prediction"], written["target"], strict=True))
    assert right / written["rows"] == pytest.approx(teacher["metrics"]["validationAccuracy"])

    # without a validation split there is nothing to write
    plain = api.COMMANDS["train_teacher"](teacher_request(tiny_files(tmp_path), tmp_path / "plain"), Recorder())
    assert (
        "validationPredictions" not in plain
        and not (tmp_path / "plain" / "results" / "teacher.validation.json").exists()
    )


def test_a_student_is_seeded_by_its_place_in_the_plan_when_one_before_it_is_left_out(tmp_path):
    # TypeScript leaves a labels twin out of the list (src/config/sweep.ts engineStudents) and gives the students
    # after it their `position`: their seeds must be those they had with the twin in the list.
    from helpers import experiment_request

    students = [student("a", training=TRAINING), {**student("b", training=TRAINING), "position": 5}]
    teacher = trained_teacher(model_options("mlp", hidden=[16]), training=TRAINING)
    api.call(
        "run_experiment", experiment_request(tmp_path / "run", teacher, students, data=tiny_files(tmp_path), seed=7)
    )

    def seed(name: str) -> int:
        return load_checkpoint(str(tmp_path / "run" / "checkpoints" / f"{name}.pt"), torch.device("cpu")).meta["seed"]

    assert (seed("a"), seed("b")) == (7 + 1000, 7 + 6000)
