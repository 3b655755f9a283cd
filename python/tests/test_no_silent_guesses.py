"""No silent guesses about classes: non-contiguous labels, classes with one row, test classes training never shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distillery import api
from distillery.data import load_data
from distillery.errors import DataError
from helpers import data_spec, file_data, model_options, train_teacher_request, trained_teacher, training_options

CPU = torch.device("cpu")


def write(folder, name, y, features=4):
    path = folder / f"{name}.npz"
    rng = np.random.default_rng(len(y))
    np.savez(path, x=rng.normal(size=(len(y), features)).astype(np.float32), y=np.asarray(y))
    return str(path)


def data_for(tmp_path, train_y, test_y=(0, 1), **extra):
    return data_spec(**{**file_data(write(tmp_path, "train", train_y), write(tmp_path, "test", test_y)), **extra})


def test_labels_that_are_not_0_to_k_minus_1_are_an_error_not_a_2001_class_model(tmp_path):
    with pytest.raises(DataError) as caught:
        load_data(data_for(tmp_path, [0, 1000, 2000] * 4, [0, 1000]), CPU)
    assert caught.value.field == "data.train.y"
    assert "the class labels are {0, 1000, 2000} (3 classes), not 0..2" in caught.value.message
    assert "data.labels" in caught.value.message and "data.numClasses" in caught.value.message
    with pytest.raises(DataError, match=r"\{1, 2, 3\}"):  # 1-based labels would leave a phantom class 0
        load_data(data_for(tmp_path, [1, 2, 3] * 3, [1, 2]), CPU)


def test_declared_classes_may_be_absent_from_training(tmp_path):
    bundle = load_data(data_for(tmp_path, [0, 0, 2, 2], [0, 2], numClasses=3), CPU)
    assert bundle.num_outputs == 3
    bundle = load_data(data_for(tmp_path, [0, 0, 2, 2], [0, 2], labels=["cat", "dog", "eel"]), CPU)
    assert bundle.labels == ["cat", "dog", "eel"]


def test_a_class_with_one_training_row_is_an_error_with_the_count(tmp_path):
    with pytest.raises(DataError) as caught:
        load_data(data_for(tmp_path, [0, 0, 1], [0, 1]), CPU)
    assert "every class needs at least 2 training rows (class 1: 1 row; 3 rows in all)" in caught.value.message
    assert caught.value.details == {"thinClasses": {1: 1}}
    with pytest.raises(DataError, match="class 0: 1 row; 1 rows in all"):  # a training set of one row
        load_data(data_for(tmp_path, [0], [0], numClasses=2), CPU)


def test_a_test_class_that_training_never_shows_is_a_warning_in_the_result(tmp_path):
    data = file_data(write(tmp_path, "train", [0, 0, 1, 1] * 4), write(tmp_path, "test", [0, 1, 2, 2]))
    data = {**data, "numClasses": 3}
    request = train_teacher_request(
        tmp_path / "out",
        trained_teacher(model_options("mlp", hidden=[4]), training=training_options(epochs=1)),
        data=data,
        export=False,
    )
    result = api.call("train_teacher", request)
    assert result["warnings"] == ["data.test has classes that data.train never shows: 2 — no model can learn them"]
