"""Regression: targets are learnt standardised behind an OutputScale layer, and everything outside the net —
losses, metrics, teachers, checkpoints, the exported ONNX — is in the targets' own units."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest

from distillery import api
from distillery.checkpoints import load_checkpoint
from distillery.data import load_data
from distillery.errors import ConfigError
from distillery.models import OutputScale
from distillery.progress import Progress
from helpers import (
    CPU,
    data_spec,
    distill_request,
    file_data,
    method_options,
    model_options,
    student,
    train_teacher_request,
    trained_teacher,
    training_options,
)

# 500 rows in batches of 32: 16 steps per epoch (the zod default of 128 would give 4, too few for these epochs).
TRAINING = training_options(epochs=15, batchSize=32, optimizer={"type": "adam", "lr": 0.01})


def regression_files(tmp_path, offset=1000.0, scale=250.0):
    """y = offset + scale * (a smooth function of x): far from zero mean / unit variance on purpose."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = (offset + scale * (np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2])).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x[:500], y=y[:500])
    np.savez(tmp_path / "test.npz", x=x[500:], y=y[500:])
    return file_data(tmp_path / "train.npz", tmp_path / "test.npz", task="regression"), y[:500]


def train_teacher(config, out, export=False):
    teacher = trained_teacher(model_options("mlp", hidden=[32]), training=TRAINING)
    return api.COMMANDS["train_teacher"](
        train_teacher_request(out, teacher, data=config, export=None if export else False), Progress()
    )


def test_the_bundle_records_the_target_scale(tmp_path):
    config, train_y = regression_files(tmp_path)
    data = load_data(data_spec(**config), CPU)
    assert data.target_scale["mean"][0] == pytest.approx(float(train_y.mean()), rel=1e-5)
    assert data.target_scale["std"][0] == pytest.approx(float(train_y.std()), rel=1e-4)
    assert float(data.train.y.mean()) == pytest.approx(float(train_y.mean()), rel=1e-5)  # targets stay in real units


def test_far_off_targets_train_quickly_and_everything_is_in_real_units(tmp_path):
    config, train_y = regression_files(tmp_path)
    out = tmp_path / "out"
    teacher = train_teacher(config, out, export=True)  # train_teacher exports the teacher itself
    # Without standardisation a fresh net starts ~1000 off and 15 short epochs leave it far away; with it the
    # RMSE ends well below the targets' own spread.
    assert teacher["metrics"]["testRmse"] < 0.5 * float(train_y.std())
    assert teacher["method"] is None  # no method given: the supervised loss of the data's task
    assert set(teacher["history"][0]["terms"]) == {"targets"}  # … which on regression data is L2 on the targets
    loaded = load_checkpoint(teacher["checkpoint"], CPU)
    assert isinstance(loaded.module, OutputScale)
    assert teacher["onnx"] == str(out / "teacher.onnx") == teacher["export"]["path"]
    props = {p.key: p.value for p in onnx.load(teacher["onnx"]).metadata_props}
    assert props["distillery.task"] == "regression" and json.loads(props["distillery.output"])["kind"] == "values"
    test = np.load(tmp_path / "test.npz")
    session = onnxruntime.InferenceSession(teacher["onnx"])
    assert props["distillery.normalizationInGraph"] == "true"  # the graph takes raw rows and normalises them itself
    onnx_values = session.run(None, {"input": test["x"].astype(np.float32)})[0].reshape(-1)
    rmse = float(np.sqrt(np.mean((onnx_values - test["y"]) ** 2)))
    assert rmse == pytest.approx(teacher["metrics"]["testRmse"], rel=1e-4)  # the ONNX model outputs real units


def test_a_distilled_regression_student_learns_the_teachers_real_valued_outputs(tmp_path):
    config, train_y = regression_files(tmp_path)
    out = tmp_path / "out"
    teacher = train_teacher(config, out)
    request = distill_request(
        out,
        student(
            "s",
            model_options("mlp", hidden=[16]),
            method_options("regression-distillation", targetWeight=0.0),
            TRAINING,
        ),
        teacher=teacher["checkpoint"],
        data=config,
        seed=1,
        export=False,
    )
    distilled = api.COMMANDS["distill"](request, Progress())
    assert distilled["metrics"]["testRmseToTeacher"] < 0.3 * float(train_y.std())
    assert distilled["metrics"]["testRmse"] < 0.6 * float(train_y.std())
    assert set(distilled["history"][-1]["terms"]) == {"mimic"}  # target weight 0: the teacher's predictions only
    assert distilled["onnx"] is None and distilled["export"] is None  # export: false


def test_a_classification_method_on_regression_data_is_refused_before_training(tmp_path):
    config, _ = regression_files(tmp_path)
    events = []
    request = distill_request(
        tmp_path / "out",
        student("s", method=method_options("soft-targets")),
        teacher=str(tmp_path / "t.pt"),
        data=config,
        export=False,
    )
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["distill"](request, Progress(events.append))
    assert caught.value.field == "student.method.type"
    assert "'soft-targets' does not apply to regression data" in caught.value.message
    assert events == []
