"""Black-box ONNX teachers: a foreign MNIST classifier (input 'image', NCHW [1,1,28,28], fixed batch 1,
softmax probabilities, pixels / 255, no metadata) used as a teacher with no PyTorch code of it."""

import os

import numpy as np
import onnxruntime
import pytest
import torch

from distillery import api
from distillery.data import load_data
from distillery.errors import ConfigError
from distillery.progress import Progress
from distillery.teachers import onnx_teacher, teacher_summary, Teacher
from helpers import CPU, REPO_ROOT, mnist_data, training_options

FOREIGN = os.path.join(REPO_ROOT, "test", "fixtures", "foreign_mnist.onnx")
PIXELS_TO_UNIT = {"mean": [0.0], "std": [255.0]}
SPEC = {"type": "onnx", "name": "foreign", "path": FOREIGN, "outputKind": "auto", "normalization": PIXELS_TO_UNIT}


def test_the_wrapper_reads_the_model_as_it_is():
    data = load_data(mnist_data(64, 2000), CPU)
    teacher = onnx_teacher(SPEC, data)
    assert teacher.fixed_batch == 1
    assert teacher.input_name == "image"
    assert teacher.sample_shape == [1, 28, 28]
    assert teacher.output_kind == "probabilities"  # found from the Softmax that produces the output


def test_its_outputs_are_the_log_of_the_models_probabilities_on_raw_inputs():
    data = load_data(mnist_data(64, 50), CPU)
    teacher = onnx_teacher(SPEC, data)
    session = onnxruntime.InferenceSession(FOREIGN)
    from distillery.data import read_source
    raw_x, _ = read_source(mnist_data(64, 50)["test"], "data.test")
    expected = np.concatenate([session.run(None, {"image": (raw_x[i:i + 1, None] / 255).astype(np.float32)})[0] for i in range(50)])
    np.testing.assert_allclose(teacher(data.test.x).exp().numpy(), expected, atol=1e-5)


def test_its_accuracy_is_the_models_own():
    data = load_data(mnist_data(64, 2000), CPU)
    metrics = teacher_summary(Teacher(onnx_teacher(SPEC, data), {}), data)
    assert metrics["testAccuracy"] == pytest.approx(0.9275, abs=1e-3)  # as measured in make_foreign_mnist.py


def test_a_student_distils_from_it(tmp_path):
    progress = Progress()
    data = mnist_data(512, 200)
    result = api.distill({"data": data, "outDir": str(tmp_path), "device": "cpu", "seed": 0, "teacherCheckpoint": FOREIGN,
                          "teacherOnnx": SPEC, "student": {"name": "from-onnx", "model": {"type": "mlp", "hidden": [32]},
                          "method": {"type": "soft-targets", "temperature": 4, "alpha": 0.9}, "training": training_options(epochs=3, optimizer={"type": "adam", "lr": 0.003})}},
                         progress)
    assert result["teacher"]["name"] == "foreign"
    assert result["metrics"]["testAgreement"] > 0.7
    assert result["metrics"]["testAccuracy"] > 0.7


def test_run_experiment_copies_the_teacher_and_says_how_to_load_it(tmp_path):
    request = {"name": "x", "seed": 0, "device": "cpu", "outDir": str(tmp_path), "data": mnist_data(256, 100), "teacher": SPEC,
               "students": [{"name": "s", "model": {"type": "mlp", "hidden": [16]}, "method": {"type": "logit-regression"},
                             "training": training_options(epochs=1)}],
               "export": {"opset": 18, "parityTolerance": 1e-4}}
    result = api.run_experiment(request, Progress())
    teacher = result["teacher"]
    assert os.path.exists(teacher["onnx"]) and open(teacher["onnx"], "rb").read() == open(FOREIGN, "rb").read()
    assert teacher["loadOptions"] == {"inputName": "image", "outputName": "probs", "sampleShape": [1, 28, 28],
                                      "outputKind": "probabilities", "normalization": PIXELS_TO_UNIT}
    assert teacher["params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert teacher["flopsPerSample"] is None


@pytest.mark.parametrize("change, field", [
    ({"path": "/nonexistent/teacher.onnx"}, "teacher.path"),
    ({"inputName": "pixels"}, "teacher.inputName"),
    ({"sampleShape": [1, 27, 27]}, "teacher.sampleShape"),
])
def test_bad_onnx_teacher_options_name_their_field(change, field):
    data = load_data(mnist_data(64, 20), CPU)
    with pytest.raises(ConfigError) as caught:
        onnx_teacher({**SPEC, **change}, data)
    assert caught.value.field == field


def test_a_teacher_with_another_class_count_is_refused(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (40, 28, 28)).astype(np.uint8)
    np.savez(tmp_path / "three.npz", x=x, y=np.arange(40) % 3)
    source = {"type": "file", "path": str(tmp_path / "three.npz"), "x": "x", "y": "y", "offset": 0, "labelled": True}
    data = load_data({"task": "classification", "train": source, "test": source, "normalize": "standard"}, CPU)
    with pytest.raises(ConfigError) as caught:
        onnx_teacher(SPEC, data)
    assert caught.value.field == "teacher.path"
    assert "10 outputs" in caught.value.message and "3 classes" in caught.value.message
