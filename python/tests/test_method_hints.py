"""``hints`` (FitNets): the hint term against a hand computation, the taps and the connector, and a real distill
run — the connector trains, resumes from the epoch state, and is not part of the exported student."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from distillery import api, methods
from distillery.errors import ConfigError
from distillery.methods import LossInputs, Preparation
from helpers import (
    Recorder,
    distill_request,
    method_options,
    method_spec,
    model_options,
    np_log_softmax,
    np_softmax,
    onnx_teacher_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)

TRAINING = training_options(epochs=3, batchSize=32, optimizer={"type": "adam", "lr": 0.01})


def nets(width=3):
    torch.manual_seed(0)
    return (
        nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, width)),
        nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, width)),
    )


def test_hints_match_a_hand_computation_on_the_penultimate_features():
    options = method_spec("hints", hintWeight=2.0, temperature=3.0, alpha=0.6)
    hints = methods.method_for(options)
    student_net, teacher_net = nets()
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(4))
    connector = hints.prepare(options, Preparation(student_net, teacher_net, x, "method"))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    s_out, t_out = student_net(x), teacher_net(x).detach()
    total, terms = hints.loss(options, LossInputs(s_out, t_out, labels, "classification", 0, 3, connector))

    # by hand: the default taps are the inputs of each net's last Linear (after its last ReLU)
    f_s = torch.relu(student_net[0](x)).detach().numpy()
    f_t = torch.relu(teacher_net[2](torch.relu(teacher_net[0](x)))).detach().numpy()
    w, b = connector.map.weight.detach().numpy(), connector.map.bias.detach().numpy()
    hint = np.mean((f_s @ w.T + b - f_t) ** 2)
    s, t = s_out.detach().numpy(), t_out.numpy()
    kl = np.sum(np_softmax(t / 3) * (np_log_softmax(t / 3) - np_log_softmax(s / 3)), axis=1).mean() * 9
    ce = -np_log_softmax(s)[np.arange(7), labels.numpy()].mean()
    assert float(terms["hint"]) == pytest.approx(hint, rel=1e-5)
    assert float(total.detach()) == pytest.approx(2.0 * hint + 0.6 * kl + 0.4 * ce, rel=1e-5)

    # unlabelled: hint and soft terms alone, the soft one at full weight
    total, terms = hints.loss(options, LossInputs(s_out, t_out, None, "classification", 0, 3, connector))
    assert set(terms) == {"hint", "soft"} and float(total.detach()) == pytest.approx(2.0 * hint + kl, rel=1e-5)
    connector.close()
    assert not student_net[2]._forward_pre_hooks and not teacher_net[4]._forward_pre_hooks  # nothing left hooked


def test_named_layers_and_their_errors():
    student_net, teacher_net = nets()
    x = torch.randn(4, 5)
    hints = methods.method_for(method_spec("hints"))
    where = Preparation(student_net, teacher_net, x, "students[0].method")
    connector = hints.prepare(method_spec("hints", studentLayer="0", teacherLayer="3"), where)
    assert isinstance(connector.map, nn.Linear) and (connector.map.in_features, connector.map.out_features) == (8, 6)
    connector.close()
    with pytest.raises(ConfigError) as error:
        hints.prepare(
            method_spec("hints", teacherLayer="layers.9"),
            Preparation(student_net, teacher_net, x, "students[0].method"),
        )
    assert error.value.field == "students[0].method.teacherLayer"
    assert "no layer 'layers.9'" in str(error.value) and "its layers: 0, 1, 2, 3, 4" in str(error.value)


def test_cnn_pairs_get_a_1x1_convolution_and_mismatched_kinds_are_refused():
    student_net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    teacher_net = nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4 * 4, 3)
    )
    x = torch.randn(3, 1, 8, 8)
    hints = methods.method_for(method_spec("hints"))
    connector = hints.prepare(
        method_spec("hints", studentLayer="1", teacherLayer="1"), Preparation(student_net, teacher_net, x, "m")
    )
    assert isinstance(connector.map, nn.Conv2d) and connector.map.kernel_size == (1, 1)
    student_net(x), teacher_net(x)
    assert connector(connector.student_tap.latest()).shape == connector.teacher_tap.latest().shape == (3, 16, 4, 4)
    connector.close()
    with pytest.raises(ConfigError, match="pair two vector layers or two feature-map layers"):
        hints.prepare(method_spec("hints", studentLayer="1"), Preparation(student_net, teacher_net, x, "m"))


def test_hints_distill_trains_the_connector_resumes_and_exports_the_student_alone(tmp_path):
    data = tiny_files(tmp_path)
    teacher = api.COMMANDS["train_teacher"](
        train_teacher_request(
            tmp_path / "t",
            trained_teacher(model_options("mlp", hidden=[16, 12]), training=TRAINING),
            data=data,
            export=False,
        ),
        Recorder(),
    )
    block = student("hinted", model_options("mlp", hidden=[8]), method_options("hints"), TRAINING)
    whole = api.COMMANDS["distill"](
        distill_request(tmp_path / "a", block, teacher=teacher["checkpoint"], data=data), Recorder()
    )
    assert whole["teacher"]["outputs"] == "online"  # a feature method reads the teacher's layers on every batch
    assert {"hint", "soft", "hard"} == set(whole["history"][-1]["terms"])
    assert (
        whole["history"][-1]["terms"]["hint"] < whole["history"][0]["terms"]["hint"]
    )  # the connector and student learn the hint

    # the exported student is the MLP alone: no connector (a 8 → 12 linear map to the teacher's penultimate layer)
    graph = onnx.load(whole["onnx"]).graph
    assert whole["params"] == (8 * 8 + 8) + (8 * 3 + 3)
    shapes = [list(init.dims) for init in graph.initializer]
    assert [8, 8] in shapes or [8, 8][::-1] in shapes  # the student's first layer is there
    assert [12, 8] not in shapes and [8, 12] not in shapes and [12] not in shapes

    # stopped after 2 of 3 epochs and resumed: the same weights as the uninterrupted run (the connector is in the state)
    first = dict(block, training=dict(TRAINING, epochs=2))
    api.COMMANDS["distill"](
        distill_request(tmp_path / "b", first, teacher=teacher["checkpoint"], data=data, export=False), Recorder()
    )
    os.remove(tmp_path / "b" / "results" / "hinted.json")
    resumed = api.COMMANDS["distill"](
        distill_request(tmp_path / "b", block, teacher=teacher["checkpoint"], data=data, export=False, resume=True),
        Recorder(),
    )
    assert resumed["metrics"]["loss"] == pytest.approx(whole["metrics"]["loss"], rel=1e-6)
    assert resumed["history"][-1]["terms"]["hint"] == pytest.approx(whole["history"][-1]["terms"]["hint"], rel=1e-6)


def test_an_onnx_teacher_or_a_model_without_a_linear_layer_is_refused(tmp_path):
    data = tiny_files(tmp_path)
    block = student("hinted", model_options("mlp", hidden=[8]), method_options("hints"), TRAINING)
    with pytest.raises(ConfigError) as error:
        api.COMMANDS["distill"](
            distill_request(
                tmp_path / "o",
                block,
                teacher=onnx_teacher_options(path=str(tmp_path / "t.onnx")),
                data=data,
                export=False,
            ),
            Recorder(),
        )
    assert error.value.field == "student.method.type"
    assert "an ONNX, Hugging Face or called teacher is a black box" in str(error.value)
    assert not (tmp_path / "o" / "checkpoints").exists()
    convolutional = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    with pytest.raises(
        ConfigError, match="no linear layer whose input could be its penultimate features; name a layer"
    ):
        hints = methods.method_for(method_spec("hints"))
        hints.prepare(method_spec("hints"), Preparation(convolutional, convolutional, torch.randn(1, 1, 5, 5), "m"))
