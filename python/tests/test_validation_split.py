"""`data.validation: { type: 'split', fraction }`: a deterministic, stratified hold-out of data.train."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distillery import api
from distillery.data import fold_split, load_data, validation_split
from distillery.errors import ConfigError, DataError
from helpers import (
    data_spec,
    distill_request,
    experiment_request,
    file_data,
    method_options,
    model_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
    zod_default,
)

CPU = torch.device("cpu")


def split_of(fraction: float) -> dict:
    return {**zod_default("splitValidation"), "fraction": fraction}


def test_the_split_is_stratified_disjoint_complete_and_the_same_every_time():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    keep, held = validation_split(y, 0.2, "classification")
    again_keep, again_held = validation_split(y, 0.2, "classification")
    assert np.array_equal(keep, again_keep) and np.array_equal(held, again_held)
    assert not set(keep) & set(held) and sorted({*keep, *held}) == list(range(len(y)))
    assert [int((y[held] == c).sum()) for c in range(4)] == [10, 6, 3, 1]  # 20 % of each class
    assert list(held) == sorted(held) and list(keep) == sorted(keep)


def test_regression_targets_are_split_at_random_and_a_one_row_class_stays_in_training():
    keep, held = validation_split(np.linspace(0, 1, 40), 0.25, "regression")
    assert len(held) == 10 and len(keep) == 30
    _, held = validation_split(np.array([0, 0, 0, 0, 1]), 0.5, "classification")
    assert 4 not in held  # a class with one row cannot lose it


def test_load_data_holds_the_rows_out_of_training_and_normalises_from_the_rest(tmp_path):
    files = tiny_files(tmp_path, n_train=100)
    whole = load_data(data_spec(**files), CPU)
    held_out = load_data(data_spec(**{**files, "validation": split_of(0.1)}), CPU)
    assert held_out.validation is not None and held_out.validation.y is not None
    assert held_out.train.n + held_out.validation.n == whole.train.n == 100
    assert held_out.transfer.n == held_out.train.n  # the default transfer set is what the teacher trains on
    _, held = validation_split(np.load(files["train"]["path"])["y"], 0.1, "classification")
    raw = np.load(files["train"]["path"])["x"]
    keep = np.setdiff1d(np.arange(100), held)
    assert held_out.normalization is not None
    np.testing.assert_allclose(held_out.normalization["mean"], raw[keep].astype(np.float64).mean(axis=0), rtol=1e-6)


def test_checkpoint_best_chooses_on_the_split(tmp_path):
    files = tiny_files(tmp_path)
    training = training_options(epochs=3, batchSize=32, checkpoint="best")
    request = train_teacher_request(
        tmp_path / "out",
        trained_teacher(model_options("mlp", hidden=[8]), training=training),
        data={**files, "validation": split_of(0.2)},
        export=False,
    )
    result = api.call("train_teacher", request)
    assert all("validationAccuracy" in epoch for epoch in result["history"])
    best = max(result["history"], key=lambda epoch: epoch["validationAccuracy"])
    assert result["metrics"]["validationAccuracy"] == best["validationAccuracy"]


def test_a_split_that_holds_out_nothing_is_an_error_naming_the_fraction(tmp_path):
    files = tiny_files(tmp_path, n_train=30, classes=3)
    with pytest.raises(DataError) as caught:
        validation_split(np.array([0, 1, 2]), 0.1, "classification")
    assert caught.value.field == "data.validation.fraction"
    assert load_data(data_spec(**{**files, "validation": split_of(0.5)}), CPU).validation is not None


# ---------------------------------------------------------------- k-fold: `{ type: 'fold', folds, fold }`


def test_the_folds_partition_data_train_exactly_stratified_and_the_same_every_time():
    y = np.repeat(np.arange(3), [41, 23, 7])
    folds = [fold_split(y, 5, fold, "classification") for fold in range(5)]
    held = [set(held.tolist()) for _, held in folds]
    assert sorted(row for rows in held for row in rows) == list(range(len(y)))  # every row in exactly one fold
    for keep, rows in folds:
        assert not set(keep) & set(rows) and len(keep) + len(rows) == len(y)
        assert list(rows) == sorted(rows) and list(keep) == sorted(keep)
    for c, size in enumerate([41, 23, 7]):  # each class spread over the folds as evenly as it can be (±1)
        per_fold = [int((y[list(rows)] == c).sum()) for rows in held]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == size
    assert max(map(len, held)) - min(map(len, held)) <= 1
    again = fold_split(y, 5, 2, "classification")
    assert np.array_equal(again[1], folds[2][1])


def test_regression_folds_partition_the_rows_and_bad_folds_are_errors():
    held = np.concatenate([fold_split(np.linspace(0, 1, 23), 4, fold, "regression")[1] for fold in range(4)])
    assert sorted(held.tolist()) == list(range(23))
    with pytest.raises(DataError) as caught:
        fold_split(np.array([0, 1, 0]), 4, 0, "classification")
    assert caught.value.field == "data.validation.folds"
    with pytest.raises(ConfigError) as wrong:
        fold_split(np.array([0, 1, 0, 1]), 2, 2, "classification")
    assert wrong.value.field == "data.validation.fold"


def test_load_data_holds_out_one_fold(tmp_path):
    files = tiny_files(tmp_path, n_train=100)
    fold = {"type": "fold", "folds": 4, "fold": 1}
    bundle = load_data(data_spec(**{**files, "validation": fold}), CPU)
    assert bundle.validation is not None and bundle.validation.y is not None
    _, held = fold_split(np.load(files["train"]["path"])["y"], 4, 1, "classification")
    assert bundle.validation.n == len(held) == 25 and bundle.train.n == 75


def test_a_run_on_one_fold_records_each_students_validation_predictions_without_exporting(tmp_path):
    files = tiny_files(tmp_path, n_train=90)
    quick = training_options(epochs=1, batchSize=32)
    request = experiment_request(
        tmp_path / "fold-1",
        trained_teacher(model_options("mlp", hidden=[8]), training=quick),
        [student("s", model_options("mlp", hidden=[4]), training=quick)],
        data={**files, "validation": {"type": "fold", "folds": 3, "fold": 1}},
    )
    request["export"] = False  # k-fold selection's fold runs: checkpoints and validation predictions only
    result = api.call("run_experiment", request)
    (model,) = result["students"]
    assert model["onnx"] is None
    with open(model["validationPredictions"], encoding="utf8") as handle:
        evidence = json.load(handle)
    assert evidence["rows"] == len(evidence["prediction"]) == len(evidence["target"]) == 30
    right = sum(p == t for p, t in zip(evidence["prediction"], evidence["target"], strict=True))
    assert right / 30 == pytest.approx(model["metrics"]["validationAccuracy"])
    with open(result["teacher"]["validationPredictions"], encoding="utf8") as handle:  # the teacher's, for its warnings
        assert json.load(handle)["rows"] == 30


def test_regression_validation_predictions_are_values_per_row_in_real_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (100.0 + 10.0 * x[:, :2]).astype(np.float32)  # two targets, far from 0: real units, not standardised
    np.savez(tmp_path / "train.npz", x=x[:90], y=y[:90])
    np.savez(tmp_path / "test.npz", x=x[90:], y=y[90:])
    data = {
        **file_data(tmp_path / "train.npz", tmp_path / "test.npz", task="regression"),
        "validation": split_of(0.2),
    }
    request = distill_request(
        tmp_path / "out",
        student("r", model_options("mlp", hidden=[4]), method_options("targets"), training_options(epochs=1)),
        data=data,
        export=False,
    )
    result = api.call("distill", request)
    with open(result["validationPredictions"], encoding="utf8") as handle:
        evidence = json.load(handle)
    prediction, target = np.array(evidence["prediction"]), np.array(evidence["target"])
    assert prediction.shape == target.shape == (18, 2)
    assert np.sqrt(np.mean((prediction - target) ** 2)) == pytest.approx(result["metrics"]["validationRmse"], rel=1e-5)
