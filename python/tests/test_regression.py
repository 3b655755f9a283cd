"""Regression: targets are learnt standardised behind an OutputScale layer, and everything outside the net —
losses, metrics, teachers, checkpoints, the exported ONNX — is in the targets' own units."""

import numpy as np
import onnxruntime
import pytest
import torch

from distillery import api
from distillery.checkpoints import load_checkpoint
from distillery.data import load_data
from distillery.models import OutputScale
from distillery.progress import Progress
from helpers import CPU, training_options


def regression_files(tmp_path, offset=1000.0, scale=250.0):
    """y = offset + scale * (a smooth function of x): far from zero mean / unit variance on purpose."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = (offset + scale * (np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2])).astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x[:500], y=y[:500])
    np.savez(tmp_path / "test.npz", x=x[500:], y=y[500:])
    source = lambda name: {"type": "file", "path": str(tmp_path / name), "x": "x", "y": "y", "offset": 0, "labelled": True}  # noqa: E731
    return {"task": "regression", "train": source("train.npz"), "test": source("test.npz"), "normalize": "standard"}, y[:500]


def train_teacher(config, out):
    return api.train_teacher({"data": config, "outDir": str(out), "device": "cpu", "seed": 0, "teacher": {
        "type": "train", "name": "teacher", "model": {"type": "mlp", "hidden": [32]},
        "training": training_options(epochs=15, optimizer={"type": "adam", "lr": 0.01})}}, Progress())


def test_the_bundle_records_the_target_scale(tmp_path):
    config, train_y = regression_files(tmp_path)
    data = load_data(config, CPU)
    assert data.target_scale["mean"][0] == pytest.approx(float(train_y.mean()), rel=1e-5)
    assert data.target_scale["std"][0] == pytest.approx(float(train_y.std()), rel=1e-4)
    assert float(data.train.y.mean()) == pytest.approx(float(train_y.mean()), rel=1e-5)  # targets stay in real units


def test_far_off_targets_train_quickly_and_everything_is_in_real_units(tmp_path):
    config, train_y = regression_files(tmp_path)
    out = tmp_path / "out"
    teacher = train_teacher(config, out)
    # Without standardisation a fresh net starts ~1000 off and 15 short epochs leave it far away; with it the
    # RMSE ends well below the targets' own spread.
    assert teacher["metrics"]["testRmse"] < 0.5 * float(train_y.std())
    loaded = load_checkpoint(teacher["checkpoint"], CPU)
    assert isinstance(loaded.module, OutputScale)
    exported = api.export_model({"checkpoint": teacher["checkpoint"], "path": str(out / "teacher.onnx")}, Progress())
    test = np.load(tmp_path / "test.npz")
    data = load_data(config, CPU)
    session = onnxruntime.InferenceSession(exported["path"])
    onnx_values = session.run(None, {"input": data.test.x.numpy()})[0].reshape(-1)
    rmse = float(np.sqrt(np.mean((onnx_values - test["y"]) ** 2)))
    assert rmse == pytest.approx(teacher["metrics"]["testRmse"], rel=1e-4)  # the ONNX model outputs real units


def test_a_distilled_regression_student_learns_the_teachers_real_valued_outputs(tmp_path):
    config, train_y = regression_files(tmp_path)
    out = tmp_path / "out"
    teacher = train_teacher(config, out)
    student = api.distill({"data": config, "outDir": str(out), "device": "cpu", "seed": 1, "teacherCheckpoint": teacher["checkpoint"],
                           "student": {"name": "s", "model": {"type": "mlp", "hidden": [16]},
                                       "method": {"type": "regression-distillation", "targetWeight": 0.0},
                                       "training": training_options(epochs=15, optimizer={"type": "adam", "lr": 0.01})}}, Progress())
    assert student["metrics"]["testRmseToTeacher"] < 0.3 * float(train_y.std())
    assert student["metrics"]["testRmse"] < 0.6 * float(train_y.std())
