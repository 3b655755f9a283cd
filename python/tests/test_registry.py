"""The method registry (distillery/methods/): every method of the zod contract is registered and nothing else,
each one's traits come from contract.json, a method is refused on a task it does not serve — and a new method
is one options class, one loss function and one ``register`` call, with no change to the training loop."""

from __future__ import annotations

import gc
import json
import os
import re
from dataclasses import dataclass
from typing import Literal

import pytest
import torch
from torch import nn

from distillery import api, methods, spec
from distillery.errors import ConfigError
from distillery.methods import LossInputs, Preparation, Traits
from distillery.progress import Progress
from distillery.train import Objective
from helpers import (
    ZOD_DEFAULTS,
    distill_request,
    method_options,
    method_spec,
    model_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)

CONTRACT_FILE = os.path.join(os.path.dirname(methods.__file__), "contract.json")
with open(CONTRACT_FILE, encoding="utf8") as _handle:
    CONTRACT = json.load(_handle)
TASKS = ("classification", "regression")


# ------------------------------------------------------------------ the registry matches the zod contract


def test_every_method_of_the_contract_is_registered_and_vice_versa():
    assert set(methods.names()) == set(CONTRACT)
    assert methods.names() == sorted(CONTRACT)
    assert set(ZOD_DEFAULTS["methods"]) == set(CONTRACT)  # the zod schemas and contract.json list the same methods


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_methods_traits_are_its_contract_entry_and_its_options_parse(name):
    options = method_spec(name)  # zod's defaults for it, parsed: the registry's options class for that name
    method = methods.method_for(options)
    entry = CONTRACT[name]
    assert method.name == name and isinstance(options, method.options) and options.type == name
    assert method.traits == Traits(entry["needsTeacher"], entry["needsLabels"], tuple(entry["tasks"]))
    assert (method.needs_teacher, method.needs_labels) == (entry["needsTeacher"], entry["needsLabels"])
    assert spec.to_json(options) == method_options(name)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_methods_terms_are_among_those_it_declares(name):
    """A loss returns a total with a gradient and named, detached terms, each one of its registered ``terms``."""
    method = methods.method_for(method_spec(name))
    for task in method.traits.tasks:
        width = 4 if task == "classification" else 2
        student_outputs = torch.randn(6, width, generator=torch.Generator().manual_seed(1)).requires_grad_()
        teacher = torch.randn(6, width, generator=torch.Generator().manual_seed(2))
        auxiliary = None
        if method.prepare is not None:  # a feature method: real (tiny) networks, tapped by its prepare
            torch.manual_seed(3)
            student_net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, width))
            teacher_net = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, width))
            x = torch.randn(6, 5)
            auxiliary = method.prepare(method_spec(name), Preparation(student_net, teacher_net, x, "method"))
            teacher, student_outputs = teacher_net(x).detach(), student_net(x)
        labels = torch.tensor([0, 1, 2, 3, 0, 1]) if task == "classification" else torch.randn(6, width)
        for with_labels in (True, False) if not method.needs_labels else (True,):
            inputs = LossInputs(
                student_outputs,
                teacher if method.needs_teacher else None,
                labels if with_labels else None,
                task,
                0,
                3,
                auxiliary,
            )
            total, terms = method.loss(method_spec(name), inputs)
            assert total.shape == () and torch.isfinite(total) and total.requires_grad
            assert terms and set(terms) <= set(method.terms), (task, with_labels, set(terms))
            assert all(not value.requires_grad and value.shape == () for value in terms.values())


@pytest.mark.parametrize(
    "name,task", [(name, task) for name in sorted(CONTRACT) for task in TASKS if task not in CONTRACT[name]["tasks"]]
)
def test_check_task_refuses_a_method_on_a_task_it_does_not_serve(name, task):
    with pytest.raises(ConfigError) as caught:
        methods.check_task(method_spec(name), task, "students[2].method")
    assert caught.value.field == "students[2].method.type"
    assert f"'{name}' does not apply to {task} data" in caught.value.message
    # the objective checks it as it is made, before any batch
    with pytest.raises(ConfigError) as caught:
        Objective(method_spec(name), task, "teacher.method")
    assert caught.value.field == "teacher.method.type"


def test_check_task_accepts_every_task_a_method_serves():
    for name, entry in CONTRACT.items():
        for task in entry["tasks"]:
            assert methods.check_task(method_spec(name), task, "method").name == name


def test_a_method_is_registered_once_and_needs_a_contract_entry_or_traits():
    soft = methods.method_for(method_spec("soft-targets"))
    with pytest.raises(ValueError, match="registered twice"):
        methods.register("soft-targets", soft.options, soft.loss, terms=soft.terms)
    with pytest.raises(ValueError, match=re.escape("no entry in src/config/methods.ts")):
        methods.register("not-in-the-contract", soft.options, soft.loss, terms=soft.terms)
    assert "not-in-the-contract" not in methods.names()


def test_an_options_class_without_a_registered_method_is_named_as_unknown():
    @dataclass(frozen=True)
    class Unregistered(spec.MethodOptions):
        type: Literal["unregistered"]

    try:
        with pytest.raises(ConfigError) as caught:
            methods.method_for(Unregistered("unregistered"), "students[0].method")
        assert caught.value.field == "students[0].method.type"
        assert "unknown method 'unregistered'" in caught.value.message and "soft-targets" in caught.value.message
    finally:
        del Unregistered
        gc.collect()  # leaves no member of the MethodOptions union behind for other tests


# ------------------------------------------------------------------ adding a method, in a test


def _dummy_l1(options, inputs: LossInputs):
    """Mean absolute difference to the teacher's logits, times the options' weight."""
    assert inputs.teacher is not None  # needs_teacher: the loop hands it the teacher's outputs for the batch
    l1 = (inputs.student.float() - inputs.teacher.float()).abs().mean()
    return options.weight * l1, {"l1": l1.detach()}


@pytest.fixture
def dummy_l1():
    """Registers ``dummy-l1`` for one test, as a plugin would: its own options class, loss and traits."""

    @dataclass(frozen=True)
    class DummyL1(spec.MethodOptions):
        type: Literal["dummy-l1"]
        weight: float

    method = methods.register(
        "dummy-l1",
        DummyL1,
        _dummy_l1,
        terms=("l1",),
        traits=methods.Traits(needs_teacher=True, needs_labels=False, tasks=("classification",)),
    )
    try:
        yield method
    finally:
        methods.unregister("dummy-l1")
        del method, DummyL1
        gc.collect()  # the class is a member of the MethodOptions union while it lives: let it go


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    """A tiny trained teacher checkpoint, and the data it was trained on."""
    folder = tmp_path_factory.mktemp("registry")
    data = tiny_files(folder)
    training = training_options(epochs=8, batchSize=32, optimizer={"type": "adam", "lr": 0.01})
    request = train_teacher_request(
        folder / "out", trained_teacher(model_options("mlp", hidden=[32]), training=training), data=data, export=False
    )
    teacher = api.COMMANDS["train_teacher"](request, Progress())
    return data, teacher, folder


def test_a_method_added_in_a_test_trains_a_student_through_the_distill_command(dummy_l1, tiny_teacher):
    data, teacher, folder = tiny_teacher
    assert (
        "dummy-l1" in methods.names()
        and methods.method_for(spec.parse(spec.MethodOptions, {"type": "dummy-l1", "weight": 2.0})) is dummy_l1
    )
    block = student(
        "l1-student",
        model_options("mlp", hidden=[16]),
        {"type": "dummy-l1", "weight": 2.0},
        training_options(epochs=6, batchSize=32, optimizer={"type": "adam", "lr": 0.01}),
    )
    events = []
    result = api.COMMANDS["distill"](
        distill_request(folder / "students", block, teacher=teacher["checkpoint"], data=data, export=False),
        Progress(events.append),
    )
    history = result["history"]
    assert [set(epoch["terms"]) for epoch in history] == [{"l1"}] * 6  # its terms reach the history, by name
    assert all(epoch["loss"] == pytest.approx(2.0 * epoch["terms"]["l1"], rel=1e-5) for epoch in history)
    assert history[-1]["terms"]["l1"] < 0.7 * history[0]["terms"]["l1"]  # it learnt the teacher's logits
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["testAgreement"] > 0.5  # 3 classes: chance agreement is about 1/3
    assert result["method"] == {"type": "dummy-l1", "weight": 2.0}
    assert result["teacher"]["name"] == "teacher" and result["teacher"]["outputs"] == "cached"
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3, 4, 5, 6]


def test_the_added_methods_traits_are_enforced_like_any_others(dummy_l1, tiny_teacher):
    data, _, folder = tiny_teacher
    block = student("l1-student", method={"type": "dummy-l1", "weight": 1.0}, training=training_options(epochs=1))
    with pytest.raises(ConfigError) as caught:  # needs a teacher
        api.COMMANDS["distill"](distill_request(folder / "none", block, data=data, export=False), Progress())
    assert caught.value.field == "teacher" and "'dummy-l1' method" in caught.value.message
    with pytest.raises(ConfigError) as caught:  # serves classification only
        Objective(spec.parse(spec.MethodOptions, {"type": "dummy-l1", "weight": 1.0}), "regression", "student.method")
    assert caught.value.field == "student.method.type"
    with pytest.raises(ConfigError) as caught:  # its options are parsed like any method's
        spec.parse(spec.Student, {**block, "method": {"type": "dummy-l1"}}, "students[0]")
    assert caught.value.field == "students[0].method.weight"


def test_an_unregistered_method_is_gone(dummy_l1):
    methods.unregister("dummy-l1")
    assert "dummy-l1" not in methods.names()
    with pytest.raises(ConfigError) as caught:
        methods.method_for(dummy_l1.options("dummy-l1", 1.0), "students[0].method")
    assert caught.value.field == "students[0].method.type"
