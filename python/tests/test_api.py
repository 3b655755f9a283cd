"""The commands (api.COMMANDS → pipeline.py): a tiny end-to-end experiment on the embedded MNIST, resume, and
unlabelled transfer sets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime
import pytest

from distillery import api, methods
from distillery.data import read_source
from distillery.errors import Cancelled, ConfigError
from distillery.progress import Progress
from helpers import (
    Recorder,
    data_spec,
    distill_request,
    experiment_request,
    method_options,
    mnist_data,
    mnist_source_options,
    model_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)

TRAINING = training_options(epochs=1, batchSize=64, optimizer={"type": "adam", "lr": 1e-3})
TEACHER = trained_teacher(model_options("mlp", hidden=[32]), training=TRAINING)
STUDENTS = [
    student("hard", model_options("mlp", hidden=[16]), method_options("hard-labels"), TRAINING),
    student(
        "soft-t4", model_options("mlp", hidden=[16]), method_options("soft-targets", temperature=4, alpha=0.9), TRAINING
    ),
    student("mimic", model_options("mlp", hidden=[24], bottleneck=6), method_options("logit-regression"), TRAINING),
]
NAMES = ["teacher", "hard", "soft-t4", "mimic"]


def experiment(out_dir, *, resume=False, data=None, students=STUDENTS):
    return experiment_request(out_dir, TEACHER, students, data=data or mnist_data(512, 128), resume=resume)


def run_experiment(request, progress):
    return api.COMMANDS["run_experiment"](request, progress)


def distill(request, progress):
    return api.COMMANDS["distill"](request, progress)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("experiment")
    progress = Recorder()
    result = run_experiment(experiment(out_dir), progress)
    return out_dir, result, progress


def test_run_experiment_writes_models_results_and_test_data(run):
    out_dir, result, progress = run
    for name in NAMES:
        assert (out_dir / f"{name}.onnx").is_file()
        assert (out_dir / "results" / f"{name}.json").is_file()
        assert (out_dir / "checkpoints" / f"{name}.pt").is_file()
    assert result["testData"] == str(out_dir / "data" / "test.npz")
    with np.load(out_dir / "data" / "test.npz") as arrays:
        raw_x, raw_y = read_source(data_spec(**mnist_data(512, 128)).test, "data.test")
        assert arrays["x"].dtype == np.uint8 and arrays["x"].shape == (128, 28, 28)  # raw pixels, not normalised
        assert np.array_equal(arrays["x"], raw_x) and np.array_equal(arrays["y"], raw_y)
    assert [s["name"] for s in result["students"]] == ["hard", "soft-t4", "mimic"]
    assert [e["name"] for e in progress.of("phase-start")] == NAMES
    assert all(e["samples"] == 512 for e in progress.of("phase-start"))


def test_results_on_disk_match_the_returned_results(run):
    out_dir, result, _ = run
    for entry in [result["teacher"], *result["students"]]:
        with open(out_dir / "results" / f"{entry['name']}.json", encoding="utf8") as handle:
            assert json.load(handle) == json.loads(json.dumps(entry))
        assert entry["onnx"] == str(out_dir / f"{entry['name']}.onnx")
        assert entry["export"]["parityMaxAbsDiff"] <= 1e-4
        assert len(entry["history"]) == 1 and 0.0 <= entry["metrics"]["testAccuracy"] <= 1.0
        assert entry["history"][0]["testNll"] > 0 and "testLoss" not in entry["history"][0]


def test_students_record_their_method_and_teacher(run):
    out_dir, result, _ = run
    teacher_sha = hashlib.sha256((out_dir / "checkpoints" / "teacher.pt").read_bytes()).hexdigest()
    hard, soft, mimic = result["students"]
    assert hard["teacher"] is None
    for distilled in (soft, mimic):
        assert distilled["teacher"]["name"] == "teacher" and distilled["teacher"]["sha256"] == teacher_sha
        assert distilled["teacher"]["outputs"] == "cached"  # no augmentation: outputs computed once
    assert "loss" in soft["history"][0] and set(soft["history"][0]["terms"]) == {"soft", "hard"}
    assert set(mimic["history"][0]["terms"]) == {"mimic"}
    assert hard["history"][0]["terms"]["hard"] == pytest.approx(hard["history"][0]["loss"], rel=1e-6)
    assert [s["method"] for s in (hard, soft, mimic)] == [s["method"] for s in STUDENTS]  # recorded as sent (complete)
    assert mimic["params"] == 784 * 6 + (6 * 24 + 24) + (24 * 10 + 10)
    assert mimic["flopsPerSample"] == 2 * (784 * 6 + 6 * 24 + 24 * 10)


def test_exported_models_carry_their_metadata_and_run(run):
    out_dir, _, _ = run
    with np.load(out_dir / "data" / "test.npz") as arrays:
        raw = arrays["x"][:7].astype(np.float32)
    for name in NAMES:
        model = onnx.load(str(out_dir / f"{name}.onnx"))
        props = {p.key: p.value for p in model.metadata_props}
        assert props["distillery.name"] == name
        assert props["distillery.role"] == ("teacher" if name == "teacher" else "student")
        norm = json.loads(props["distillery.normalization"])
        assert len(norm["mean"]) == 1 and 20 < norm["mean"][0] < 50  # raw MNIST pixels 0-255, scalar
        session = onnxruntime.InferenceSession(str(out_dir / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"input": (raw - norm["mean"][0]) / norm["std"][0]})[0]
        assert logits.shape == (7, 10) and np.isfinite(logits).all()
    assert json.loads(
        {p.key: p.value for p in onnx.load(str(out_dir / "soft-t4.onnx")).metadata_props}["distillery.method"]
    ) == {"type": "soft-targets", "temperature": 4, "alpha": 0.9, "standardizeLogits": False}


def test_resume_after_a_finished_run_trains_nothing(run):
    out_dir, first, _ = run
    stamps = {name: os.stat(out_dir / f"{name}.onnx").st_mtime_ns for name in NAMES}
    checkpoints = {name: os.stat(out_dir / "checkpoints" / f"{name}.pt").st_mtime_ns for name in NAMES}
    progress = Recorder()
    second = run_experiment(experiment(out_dir, resume=True), progress)
    assert progress.of("phase-start") == [] and progress.of("epoch") == [] and progress.of("step") == []
    kept = [e["message"] for e in progress.of("log") if "already finished, kept" in e["message"]]
    assert len(kept) == 4
    assert {name: os.stat(out_dir / f"{name}.onnx").st_mtime_ns for name in NAMES} == stamps
    assert {name: os.stat(out_dir / "checkpoints" / f"{name}.pt").st_mtime_ns for name in NAMES} == checkpoints
    assert second["students"] == json.loads(json.dumps(first["students"]))


def test_resume_trains_only_the_unfinished_model(run, tmp_path):
    out_dir = tmp_path / "copy"
    shutil.copytree(run[0], out_dir)
    for name in NAMES:  # the results name their files by absolute path: point them at the copy
        result_path = out_dir / "results" / f"{name}.json"
        result_path.write_text(result_path.read_text().replace(str(run[0]), str(out_dir)))
    os.remove(out_dir / "results" / "mimic.json")
    teacher_stamp = os.stat(out_dir / "teacher.onnx").st_mtime_ns
    progress = Recorder()
    run_experiment(experiment(out_dir, resume=True), progress)
    assert [e["name"] for e in progress.of("phase-start")] == ["mimic"]
    assert (out_dir / "results" / "mimic.json").is_file()
    assert os.stat(out_dir / "teacher.onnx").st_mtime_ns == teacher_stamp


UNLABELLED = mnist_data(512, 128, transfer=mnist_source_options("train", offset=512, limit=256, labelled=False))


def test_soft_targets_on_an_unlabelled_transfer_set_uses_only_the_soft_term(run, tmp_path):
    _, result, _ = run
    block = student(
        "soft-unlabelled",
        model_options("mlp", hidden=[16]),
        method_options("soft-targets", temperature=4, alpha=0.5),
        TRAINING,
    )
    progress = Recorder()
    distilled = distill(
        distill_request(
            tmp_path, block, teacher=result["teacher"]["checkpoint"], data=UNLABELLED, seed=1, export=False
        ),
        progress,
    )
    assert progress.of("phase-start")[0]["samples"] == 256  # trained on the transfer set, not the training split
    epoch = distilled["history"][0]
    assert "soft" in epoch["terms"] and "hard" not in epoch["terms"] and "trainAccuracy" not in epoch
    assert epoch["loss"] == pytest.approx(epoch["terms"]["soft"], rel=1e-6)  # weight 1, not alpha = 0.5
    assert (tmp_path / "checkpoints" / "soft-unlabelled.pt").is_file()


def test_a_baseline_student_learns_from_the_labelled_training_data_not_the_unlabelled_transfer_set(run, tmp_path):
    _, result, _ = run
    block = {**STUDENTS[0], "name": "hard-baseline"}
    progress = Recorder()
    trained = distill(
        distill_request(
            tmp_path, block, teacher=result["teacher"]["checkpoint"], data=UNLABELLED, seed=1, export=False
        ),
        progress,
    )
    assert progress.of("phase-start")[0]["samples"] == 512  # the labelled training split, not the 256 unlabelled rows
    assert "hard" in trained["history"][0]["terms"] and "trainAccuracy" in trained["history"][0]
    assert trained["teacher"] is None


def test_distillation_without_a_teacher_is_a_config_error(tmp_path):
    events = []
    with pytest.raises(ConfigError) as caught:
        distill(distill_request(tmp_path, STUDENTS[2], data=mnist_data(64, 32), export=False), Progress(events.append))
    assert caught.value.field == "teacher"
    assert "'logit-regression' method of student needs a teacher" in caught.value.message
    assert events == []  # refused before any training


def test_hello_and_doctor():
    hello = api.COMMANDS["hello"]({}, Progress())
    assert hello["distillery"] and hello["torch"] and hello["pid"] == os.getpid()
    doctor = api.COMMANDS["doctor"]({}, Progress())
    assert doctor["onnx"] == onnx.__version__ and doctor["onnxruntime"] == onnxruntime.__version__
    assert doctor["methods"] == methods.names() and "soft-targets" in doctor["methods"]
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["hello"]({"verbose": True}, Progress())  # hello takes nothing: an unknown key is refused
    assert caught.value.field == "verbose"


def test_call_is_the_one_dispatcher_and_takes_the_callers_progress():
    events: list[dict] = []
    progress = Progress(events.append)
    assert api.call("hello", {}, progress=progress)["pid"] == os.getpid()
    with pytest.raises(ConfigError) as caught:
        api.call("no-such-command", {})
    assert caught.value.field == "command" and "unknown engine command 'no-such-command'" in caught.value.message
    with pytest.raises(TypeError):
        api.call("hello", {}, events.append, progress=progress)


def test_a_cancel_requested_through_the_progress_stops_the_command(tmp_path):
    """What the bridge does on SIGUSR1: ``request_cancel()`` on the progress object it gave ``call``."""
    progress = Progress()
    progress.request_cancel()
    request = train_teacher_request(
        tmp_path / "out",
        trained_teacher(model_options("mlp", hidden=[4]), training=training_options(epochs=2)),
        data=tiny_files(tmp_path),
        export=False,
    )
    with pytest.raises(Cancelled):
        api.call("train_teacher", request, progress=progress)
