"""Black-box ONNX teachers: a foreign MNIST classifier (input 'image', NCHW [1,1,28,28], fixed batch 1,
softmax probabilities, pixels / 255, no metadata) used as a teacher with no PyTorch code of it."""

import os
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from distillery import api
from distillery.data import load_data
from distillery.errors import ConfigError
from distillery.progress import Progress
from distillery.spec import OnnxTeacher, parse
from distillery.teachers import Teacher, onnx_teacher, teacher_summary
from helpers import (
    CPU,
    REPO_ROOT,
    data_spec,
    distill_request,
    experiment_request,
    file_source_options,
    method_options,
    mnist_data,
    model_options,
    onnx_teacher_options,
    student,
    training_options,
)

FOREIGN = os.path.join(REPO_ROOT, "test", "fixtures", "foreign_mnist.onnx")
PIXELS_TO_UNIT = {"mean": [0.0], "std": [255.0]}
SPEC = onnx_teacher_options(name="foreign", path=FOREIGN, normalization=PIXELS_TO_UNIT)


def mnist(train_limit, test_limit):
    return load_data(data_spec(**mnist_data(train_limit, test_limit)), CPU)


def typed(options):
    return parse(OnnxTeacher, options, "teacher")


def test_the_wrapper_reads_the_model_as_it_is():
    data = mnist(64, 2000)
    teacher = onnx_teacher(typed(SPEC), data)
    assert teacher.fixed_batch == 1
    assert teacher.input_name == "image"
    assert teacher.sample_shape == [1, 28, 28]
    assert teacher.output_kind == "probabilities"  # found from the Softmax that produces the output


def test_its_outputs_are_the_log_of_the_models_probabilities_on_raw_inputs():
    data = mnist(64, 50)
    teacher = onnx_teacher(typed(SPEC), data)
    session = onnxruntime.InferenceSession(FOREIGN)
    from distillery.data import read_source

    raw_x, _ = read_source(data_spec(**mnist_data(64, 50)).test, "data.test")
    expected = np.concatenate(
        [session.run(None, {"image": (raw_x[i : i + 1, None] / 255).astype(np.float32)})[0] for i in range(50)]
    )
    np.testing.assert_allclose(teacher(data.test.x[:]).exp().numpy(), expected, atol=1e-5)


def test_its_accuracy_is_the_models_own():
    data = mnist(64, 2000)
    metrics = teacher_summary(Teacher(onnx_teacher(typed(SPEC), data), None), data)
    assert metrics["testAccuracy"] == pytest.approx(0.9275, abs=1e-3)  # as measured in make_foreign_mnist.py


def test_a_student_distils_from_it(tmp_path):
    progress = Progress()
    block = student(
        "from-onnx",
        model_options("mlp", hidden=[32]),
        method_options("soft-targets", temperature=4, alpha=0.9),
        training_options(epochs=3, batchSize=32, optimizer={"type": "adam", "lr": 0.003}),
    )
    result = api.COMMANDS["distill"](
        distill_request(tmp_path, block, teacher=SPEC, data=mnist_data(512, 200), export=False), progress
    )
    assert result["teacher"]["name"] == "foreign"
    assert result["teacher"]["outputs"] == "cached"
    assert result["metrics"]["testAgreement"] > 0.7
    assert result["metrics"]["testAccuracy"] > 0.7


def test_run_experiment_copies_the_teacher_and_says_how_to_load_it(tmp_path):
    students = [
        student(
            "s",
            model_options("mlp", hidden=[16]),
            method_options("logit-regression"),
            training_options(
                epochs=1, batchSize=32, optimizer={"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False}
            ),
        )
    ]
    request = experiment_request(tmp_path, SPEC, students, name="x", data=mnist_data(256, 100))
    result = api.COMMANDS["run_experiment"](request, Progress())
    teacher = result["teacher"]
    assert os.path.exists(teacher["onnx"]) and Path(teacher["onnx"]).read_bytes() == Path(FOREIGN).read_bytes()
    assert teacher["loadOptions"] == {
        "inputName": "image",
        "outputName": "probs",
        "sampleShape": [1, 28, 28],
        "outputKind": "probabilities",
        "normalization": PIXELS_TO_UNIT,
    }
    assert teacher["params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert teacher["flopsPerSample"] is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"path": "/nonexistent/teacher.onnx"}, "teacher.path"),
        ({"inputName": "pixels"}, "teacher.inputName"),
        ({"sampleShape": [1, 27, 27]}, "teacher.sampleShape"),
    ],
)
def test_bad_onnx_teacher_options_name_their_field(change, field):
    data = mnist(64, 20)
    with pytest.raises(ConfigError) as caught:
        onnx_teacher(typed({**SPEC, **change}), data)
    assert caught.value.field == field


def test_a_teacher_with_another_class_count_is_refused(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (40, 28, 28)).astype(np.uint8)
    np.savez(tmp_path / "three.npz", x=x, y=np.arange(40) % 3)
    source = file_source_options(tmp_path / "three.npz")
    data = load_data(data_spec(train=source, test=source), CPU)
    with pytest.raises(ConfigError) as caught:
        onnx_teacher(typed(SPEC), data)
    assert caught.value.field == "teacher.path"
    assert "10 outputs" in caught.value.message and "3 classes" in caught.value.message
