"""`data.validation: { type: 'split', fraction }`: a deterministic, stratified hold-out of data.train."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distillery import api
from distillery.data import load_data, validation_split
from distillery.errors import DataError
from helpers import (
    data_spec,
    model_options,
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
