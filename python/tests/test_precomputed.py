"""A teacher given by its answers (precomputed.py): the engine reads data.teacherOutputs row for row, through every
split the rows take, and distils from them exactly as from the model that gave them."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from distillery import api
from distillery.checkpoints import load_checkpoint
from distillery.errors import DataError
from helpers import (
    Recorder,
    distill_request,
    method_options,
    model_options,
    state_dicts_equal,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)

TRAINING = training_options(epochs=3, batchSize=32, optimizer={"type": "adam", "lr": 0.01})
SOFT = method_options("soft-targets", temperature=2, alpha=0.7)


def precomputed(kind, sha="0" * 64):
    return {"type": "precomputed", "name": "called", "kind": kind, "source": "function test", "sha256": sha}


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A trained teacher on tiny files, and its logits on the train and test rows."""
    folder = tmp_path_factory.mktemp("precomputed")
    data = tiny_files(folder)
    out = folder / "teacher"
    request = train_teacher_request(
        out, trained_teacher(model_options("mlp", hidden=[16]), training=TRAINING), data=data, export=False
    )
    checkpoint = api.COMMANDS["train_teacher"](request, Recorder())["checkpoint"]
    # on the rows as the engine feeds them (normalised), as a teacher you call answers its own inputs
    logits = {split: api.predict(checkpoint, data, split, "cpu")[0].astype(np.float32) for split in ("train", "test")}
    return folder, data, checkpoint, logits


def with_answers(folder, data, answers):
    """The data config with each split's answers written as data.teacherOutputs."""
    paths = {}
    for split, values in answers.items():
        paths[split] = os.path.join(str(folder), f"answers-{split}-{values.dtype}-{values.ndim}.npy")
        np.save(paths[split], values)
    return {**data, "teacherOutputs": paths}


def distilled(out, data, teacher, method=SOFT):
    block = student("s", model_options("mlp", hidden=[8]), method, TRAINING)
    result = api.COMMANDS["distill"](distill_request(out, block, teacher=teacher, data=data, export=False), Recorder())
    return result, load_checkpoint(result["checkpoint"], torch.device("cpu")).module


def test_logits_as_answers_distil_the_same_student_as_the_model_that_gave_them(taught, tmp_path):
    folder, data, checkpoint, logits = taught
    _, from_model = distilled(tmp_path / "model", data, checkpoint)
    result, from_answers = distilled(tmp_path / "answers", with_answers(folder, data, logits), precomputed("logits"))
    assert state_dicts_equal(from_model, from_answers)  # the same float32 logits: bit for bit the same student
    assert result["teacher"]["name"] == "called" and result["teacher"]["outputs"] == "cached"
    assert result["metrics"]["testAgreement"] > 0.5


def test_probabilities_are_read_as_their_log_so_softmax_at_t_is_hintons_soft_target(taught, tmp_path):
    folder, data, _, logits = taught
    probabilities = {k: torch.softmax(torch.from_numpy(v), dim=1).numpy() for k, v in logits.items()}
    _, from_logits = distilled(tmp_path / "logits", with_answers(folder, data, logits), precomputed("logits"))
    _, from_probs = distilled(
        tmp_path / "probs", with_answers(folder, data, probabilities), precomputed("probabilities")
    )
    # softmax(log p / T) = softmax(z / T): the same targets up to float rounding, so nearly the same weights
    for a, b in zip(from_logits.state_dict().values(), from_probs.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def test_labels_alone_train_the_student_on_them_as_pseudo_labels(taught, tmp_path):
    folder, data, _, logits = taught
    labels = {k: v.argmax(axis=1).astype(np.int64) for k, v in logits.items()}
    result, pseudo = distilled(tmp_path / "pseudo", with_answers(folder, data, labels), precomputed("labels"))
    # … which is the hard-labels student trained on the teacher's labels in place of the data's
    relabelled = {}
    for split in ("train", "test"):
        arrays = dict(np.load(data[split]["path"]))
        relabelled[split] = os.path.join(str(tmp_path), f"relabelled-{split}.npz")
        np.savez(relabelled[split], x=arrays["x"], y=labels[split] if split == "train" else arrays["y"])
    plain = {**data, "train": {**data["train"], "path": relabelled["train"]}}
    _, baseline = distilled(tmp_path / "baseline", plain, None, method_options("hard-labels"))
    assert state_dicts_equal(pseudo, baseline)
    assert result["metrics"]["testAgreement"] > 0.5


def test_answers_without_the_test_rows_leave_the_teachers_test_figures_out(taught, tmp_path):
    folder, data, _, logits = taught
    request = {
        "name": "e",
        "seed": 0,
        "device": "cpu",
        "data": with_answers(folder, data, {"train": logits["train"]}),
        "teacher": precomputed("logits"),
        "students": [student("s", model_options("mlp", hidden=[8]), SOFT, TRAINING)],
        "export": False,
        "evaluate": __import__("helpers").evaluate_options(),
        "outDir": str(tmp_path / "run"),
        "resume": False,
    }
    result = api.COMMANDS["run_experiment"](request, Recorder())
    teacher = result["teacher"]
    assert teacher["inputs"] == "outputs" and "testOutputs" not in teacher and teacher["onnx"] is None
    assert teacher["metrics"] == {} and teacher["params"] == 0
    assert "testAgreement" not in result["students"][0]["metrics"]


def test_answers_for_another_number_of_rows_name_the_file(taught, tmp_path):
    folder, data, _, logits = taught
    short = with_answers(folder, data, {"train": logits["train"][:-1], "test": logits["test"]})
    with pytest.raises(DataError) as caught:
        distilled(tmp_path / "short", short, precomputed("logits"))
    assert caught.value.field == "data.teacherOutputs.train"
    assert "95 answers for the 96 rows of data.train" in str(caught.value)
