"""spec.py: every request is parsed once, at the command boundary, into frozen typed objects.

The TypeScript zod schemas fill every default; the engine fills none. So a key that zod fills (or requires) must be
there — its absence is a ConfigError naming the full dotted path — an unknown key is refused, a value of the wrong
type is refused naming its field, and ``to_json`` gives back exactly the request that was parsed.
"""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest

from distillery import api, spec
from distillery.errors import ConfigError
from distillery.progress import Progress
from distillery.spec import (
    Adam,
    CheckpointTeacher,
    ConstantSchedule,
    DataSpec,
    DistillRequest,
    EnsembleTeacher,
    ExperimentRequest,
    ExportOptions,
    FileSource,
    MethodOptions,
    MlpModel,
    MnistSource,
    OnnxTeacher,
    Sgd,
    Student,
    TrainedTeacher,
    Training,
    TrainTeacherRequest,
    parse,
    to_json,
)
from helpers import (
    ZOD_DEFAULTS,
    augment_options,
    data_options,
    distill_request,
    experiment_request,
    file_source_options,
    method_options,
    mnist_source_options,
    model_options,
    onnx_teacher_options,
    student,
    train_teacher_request,
    trained_teacher,
    training_options,
)

# ------------------------------------------------------------------ complete requests, from zod_defaults.json only
# Every key in these is either filled by zod (its value is zod's default) or required by zod (outDir, a model, a
# student's name, a path): nothing optional is added, so deleting any one key must be refused.


def ensemble_teacher():
    checkpoint = {"type": "checkpoint", "name": "member", "path": "member.pt"}
    return {"type": "ensemble", "name": "teacher", "combine": "mean-logits", "members": [trained_teacher(), checkpoint]}


COMPLETE = {
    "train_teacher, trained": (
        "train_teacher",
        TrainTeacherRequest,
        lambda out: train_teacher_request(out, trained_teacher()),
    ),
    "train_teacher, ensemble": (
        "train_teacher",
        TrainTeacherRequest,
        lambda out: train_teacher_request(out, ensemble_teacher()),
    ),
    "train_teacher, onnx": (
        "train_teacher",
        TrainTeacherRequest,
        lambda out: train_teacher_request(out, onnx_teacher_options()),
    ),
    "distill, checkpoint teacher": (
        "distill",
        DistillRequest,
        lambda out: distill_request(
            out,
            student(
                "s",
                model_options("lenet"),
                method_options("soft-targets"),
                training_options(optimizer={"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False}),
            ),
            teacher="teacher.pt",
        ),
    ),
    "distill, onnx teacher": (
        "distill",
        DistillRequest,
        lambda out: distill_request(
            out,
            student("s", model_options("resnet"), method_options("logit-regression")),
            teacher=onnx_teacher_options(),
        ),
    ),
    "run_experiment": (
        "run_experiment",
        ExperimentRequest,
        lambda out: experiment_request(
            out,
            trained_teacher(),
            [student("a"), student("b", model_options("mlp"), method_options("soft-targets"))],
            data=data_options(train=file_source_options("train.npz")),
        ),
    ),
}
# Keys that zod leaves optional: absent is fine (and None in Python), so they are not walked.
OPTIONAL = {"distill, checkpoint teacher": {"teacher"}, "distill, onnx teacher": {"teacher"}}


def key_paths(value, prefix=""):
    """The dotted path of every object key in ``value``, recursively (list items as ``[i]``, never deleted
    themselves)."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from key_paths(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_paths(item, f"{prefix}[{index}]")


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path):
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def without(request, path):
    broken = copy.deepcopy(request)
    *parents, last = _steps(path)
    target = broken
    for step in parents:
        target = target[step]
    del target[last]
    return broken


def with_value(request, path, value):
    changed = copy.deepcopy(request)
    *parents, last = _steps(path)
    target = changed
    for step in parents:
        target = target[step]
    target[last] = value
    return changed


def cancelled():
    """A progress that has been asked to stop: should a broken request ever get past the parser, the command
    stops at its first batch (Cancelled, not a ConfigError) instead of training."""
    progress = Progress()
    progress.request_cancel()
    return progress


# A union's member named in errors: _union tries only the members that take an object, so a missing key inside
# `export` (ExportOptions | false) or `teacher` (a path | an onnx teacher) is named itself, never just the union.
REPORTED_AT_THE_UNION: dict[str, dict[str, str]] = {"train_teacher": {}, "distill": {}, "run_experiment": {}}


def test_the_zod_defaults_cover_every_block_the_requests_are_built_from():
    assert set(ZOD_DEFAULTS) >= {
        "data",
        "sources",
        "training",
        "models",
        "methods",
        "export",
        "evaluate",
        "onnxTeacher",
    }
    assert set(ZOD_DEFAULTS["sources"]) == {"mnist", "file", "shards"}
    assert set(ZOD_DEFAULTS["models"]) == {
        "mlp",
        "lenet",
        "resnet",
        "wrn",
        "mobilenetv2",
        "custom",
        "embedding-bag",
        "textcnn",
        "bilstm",
        "transformer",
    }


@pytest.mark.parametrize("case", list(COMPLETE))
def test_a_complete_request_parses_into_frozen_typed_objects(tmp_path, case):
    _command, request_type, build = COMPLETE[case]
    request = build(tmp_path)
    parsed = parse(request_type, request)
    assert isinstance(parsed, request_type)
    seen = []

    def check(value, where):
        if dataclasses.is_dataclass(value):
            assert type(value).__dataclass_params__.frozen, where
            seen.append(type(value))
            for field in dataclasses.fields(value):
                check(getattr(value, field.name), f"{where}.{field.name}")
        else:
            assert not isinstance(value, (list, set)), f"{where} is mutable"  # lists become tuples
            for index, item in enumerate(value if isinstance(value, tuple) else ()):
                check(item, f"{where}[{index}]")

    check(parsed, "request")
    assert len(seen) >= 6  # the request, its data and their two sources, export, the teacher or student, …
    assert isinstance(parsed.data, DataSpec) and isinstance(parsed.data.train, (MnistSource, FileSource))
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.seed = 1  # type: ignore[misc]
    assert parse(request_type, request) == parsed  # value objects: the same request, the same parse


def test_the_parsed_objects_are_the_types_their_type_field_names(tmp_path):
    parsed = parse(ExperimentRequest, COMPLETE["run_experiment"][2](tmp_path))
    assert isinstance(parsed.teacher, TrainedTeacher) and parsed.teacher.method is None  # optional, absent: None
    assert isinstance(parsed.teacher.model, MlpModel) and parsed.teacher.model.hidden == ()
    assert isinstance(parsed.teacher.training, Training) and isinstance(parsed.teacher.training.optimizer, Adam)
    assert isinstance(parsed.teacher.training.schedule, ConstantSchedule)
    assert parsed.teacher.training.augment is None and parsed.teacher.training.clip_grad_norm is None
    assert (
        isinstance(parsed.data.train, FileSource)
        and parsed.data.train.labels_path is None
        and parsed.data.train.limit is None
    )
    assert isinstance(parsed.export, ExportOptions) and parsed.data.transfer is None and parsed.schema is None
    assert all(isinstance(s, Student) and isinstance(s.method, MethodOptions) for s in parsed.students)
    assert [s.method.type for s in parsed.students] == ["hard-labels", "soft-targets"]
    distill = parse(DistillRequest, COMPLETE["distill, checkpoint teacher"][2](tmp_path))
    assert distill.teacher == "teacher.pt" and isinstance(distill.student.training.optimizer, Sgd)
    assert isinstance(parse(DistillRequest, COMPLETE["distill, onnx teacher"][2](tmp_path)).teacher, OnnxTeacher)
    ensemble = parse(TrainTeacherRequest, COMPLETE["train_teacher, ensemble"][2](tmp_path)).teacher
    assert isinstance(ensemble, EnsembleTeacher)
    assert [type(member) for member in ensemble.members] == [TrainedTeacher, CheckpointTeacher]


@pytest.mark.parametrize("case", list(COMPLETE))
def test_every_key_zod_fills_is_required_and_its_absence_is_named(tmp_path, case):
    command, request_type, build = COMPLETE[case]
    request = build(tmp_path / "out")
    paths = [path for path in key_paths(request) if path not in OPTIONAL.get(case, set())]
    assert len(paths) > 25  # the walk went deep
    for path in paths:
        broken = without(request, path)
        with pytest.raises(ConfigError) as caught:
            api.COMMANDS[command](broken, cancelled())  # the command parses its request (request_type) first
        error = caught.value
        reported = REPORTED_AT_THE_UNION[command].get(path, path)
        assert error.field == reported, (path, error.message)
        assert error.message.startswith(f"{reported}: "), error.message
        if reported != path:
            continue
        if path.split(".")[-1] == "type":  # a union's tag: which member it is cannot be told, so none is guessed
            assert error.message.startswith(f"{path}: expected one of "), error.message
        else:
            assert error.message.startswith(f"{path}: missing; "), error.message
    with pytest.raises(ConfigError):
        parse(request_type, without(request, paths[-1]))
    assert not (tmp_path / "out").exists()  # nothing got past the parser, so no output folder was even made


@pytest.mark.parametrize("name", list(ZOD_DEFAULTS["methods"]))
def test_every_key_of_every_methods_options_is_required(name):
    block = student(name, method=method_options(name))
    assert isinstance(parse(Student, block, "students[3]").method, MethodOptions)
    for path in key_paths(block["method"], "method"):
        with pytest.raises(ConfigError) as caught:
            parse(Student, without(block, path), "students[3]")
        assert caught.value.field == f"students[3].{path}"


def test_the_missing_key_of_a_student_is_named_with_its_index(tmp_path):
    request = experiment_request(tmp_path, trained_teacher(), [student("a"), student("b")])
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["run_experiment"](without(request, "students[1].training.batchSize"), cancelled())
    assert caught.value.field == "students[1].training.batchSize"
    assert caught.value.message.startswith(
        "students[1].training.batchSize: missing; every request is completed by the TypeScript schemas"
    )


@pytest.mark.parametrize(
    "path",
    [
        "teacher",
        "data.transfer",
        "data.validation",
        "data.numClasses",
        "data.labels",
        "data.train.limit",
        "student.model.bottleneck",
        "student.training.clipGradNorm",
        "student.training.augment",
    ],
)
def test_keys_zod_leaves_optional_may_be_absent_and_are_none(tmp_path, path):
    request = distill_request(
        tmp_path,
        student(
            "s",
            model_options("mlp", hidden=[4], bottleneck=2),
            training=training_options(clipGradNorm=1.0, augment=augment_options(shift=1)),
        ),
        teacher="t.pt",
        data=data_options(
            train=mnist_source_options("train", limit=10),
            transfer=mnist_source_options("train", offset=10, labelled=False),
            validation=mnist_source_options("test", limit=5),
            numClasses=10,
            labels=[str(i) for i in range(10)],
        ),
    )
    complete = parse(DistillRequest, request)
    parsed = parse(DistillRequest, without(request, path))
    assert parsed != complete
    value = parsed
    for step in path.split("."):
        value = getattr(value, re.sub(r"(?<!^)(?=[A-Z])", "_", step).lower())  # camelCase key → snake_case field
    assert value is None


UNKNOWN = [
    "bogus",
    "data.bogus",
    "data.train.digitsDir",
    "data.train.requireLabels",
    "teacher.bogus",
    "teacher.model.bogus",
    "teacher.training.bogus",
    "teacher.training.optimizer.bogus",
    "teacher.training.schedule.bogus",
    "export.bogus",
    "evaluate.bogus",
    "students[0].bogus",
    "students[0].method.bogus",
    "students[0].training.augment.bogus",
]


@pytest.mark.parametrize("path", UNKNOWN)
def test_an_unknown_key_is_refused_naming_it(tmp_path, path):
    request = experiment_request(
        tmp_path, trained_teacher(), [student("a", training=training_options(augment=augment_options(shift=1)))]
    )
    broken = with_value(request, path, 1)
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["run_experiment"](broken, cancelled())
    assert caught.value.field == path
    assert caught.value.message.startswith(f"{path}: unknown field")


def test_the_old_request_keys_are_unknown_now(tmp_path):
    """teacherCheckpoint, teacherOnnx and where: `teacher` replaced them."""
    request = distill_request(tmp_path, student("s", method=method_options("soft-targets")), teacher="t.pt")
    for key, value in (
        ("teacherCheckpoint", "t.pt"),
        ("teacherOnnx", onnx_teacher_options()),
        ("where", "students[0]"),
    ):
        with pytest.raises(ConfigError) as caught:
            api.COMMANDS["distill"]({**request, key: value}, cancelled())
        assert caught.value.field == key and "unknown field" in caught.value.message


WRONG_TYPES = [
    ("seed", 1.5, "expected an integer"),
    ("seed", True, "expected an integer"),
    ("resume", "no", "expected true or false"),
    ("outDir", 3, "expected a string"),
    ("device", None, "expected a string, got null"),
    ("data.normalize", "minmax", "expected one of 'standard', 'none'"),
    ("data.train", "mnist", "unexpected value"),
    ("data.train.type", "s3", "expected one of 'mnist', 'file'"),
    ("data.train.offset", "0", "expected an integer"),
    ("data.labels", "0,1", "expected a list"),
    ("teacher.type", "distilled", "expected one of"),
    ("teacher.model.hidden", 16, "expected a list"),
    ("teacher.model.hidden", [16, "32"], "expected an integer"),  # named by its index: teacher.model.hidden[1]
    ("teacher.training.batchSize", "128", "expected an integer"),
    ("teacher.training.weightDecay", "0", "expected a number"),
    ("teacher.training.weightDecay", False, "expected a number"),
    ("teacher.training.optimizer.lr", None, "expected a number"),
    ("teacher.training.optimizer.type", "rmsprop", "expected one of 'sgd', 'adam', 'adamw'"),
    ("students", {}, "expected a list"),
    ("students[0]", [], "expected an object"),
    ("students[0].method.temperature", "hot", "expected a number"),
    ("students[0].method.type", "dark-knowledge", "expected one of"),
    ("export", True, "unexpected value True"),  # export: options, or false (checkpoints only)
    ("evaluate.benchmark", 1, "expected true or false"),
]


@pytest.mark.parametrize("path,value,message", WRONG_TYPES, ids=[f"{p}={v!r}" for p, v, _ in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(tmp_path, path, value, message):
    request = experiment_request(tmp_path, trained_teacher(), [student("a", method=method_options("soft-targets"))])
    with pytest.raises(ConfigError) as caught:
        api.COMMANDS["run_experiment"](with_value(request, path, value), cancelled())
    field = caught.value.field
    field_expected = f"{path}[1]" if path == "teacher.model.hidden" and isinstance(value, list) else path
    assert field == field_expected, caught.value.message
    assert caught.value.message.startswith(f"{field_expected}: ") and message in caught.value.message


def test_an_integer_valued_float_is_an_integer_and_an_integer_is_a_number():
    """JSON has one number type: 128.0 is a valid batch size, 0 a valid weight decay (as float)."""
    parsed = parse(Training, training_options(batchSize=128.0, weightDecay=0), "training")
    assert parsed.batch_size == 128 and isinstance(parsed.batch_size, int)
    assert parsed.weight_decay == 0.0 and isinstance(parsed.weight_decay, float)


def test_export_false_and_null_normalization_are_values_not_absences(tmp_path):
    request = train_teacher_request(tmp_path, onnx_teacher_options(normalization=None), export=False)
    parsed = parse(TrainTeacherRequest, request)
    assert parsed.export is False and parsed.teacher.normalization is None
    assert to_json(parsed) == request  # null written out: it is a value zod accepts, not a missing key
    with pytest.raises(ConfigError) as caught:
        parse(TrainTeacherRequest, without(request, "teacher.normalization"))
    assert caught.value.field == "teacher.normalization"
    with pytest.raises(ConfigError) as caught:
        parse(TrainTeacherRequest, {**request, "export": 0})
    assert caught.value.field == "export"


# ------------------------------------------------------------------ to_json(parse(X, d)) == d


def _with_every_optional_key(out):
    teacher = trained_teacher(
        model_options("mlp", hidden=[8, 4], bottleneck=3),
        method=method_options("targets", huberDelta=0.5),
        training=training_options(
            clipGradNorm=2.5,
            augment=augment_options(shift=2),
            schedule={"type": "step", "stepSize": 3, "gamma": 0.5, "warmupEpochs": 1},
        ),
    )
    data = data_options(
        train=file_source_options("x.npy", labelsPath="y.npy", limit=100),
        transfer=mnist_source_options("all", labelled=False),
        validation=mnist_source_options("test", offset=10, limit=20),
        numClasses=10,
        labels=list("abcdefghij"),
    )
    request = experiment_request(
        out,
        teacher,
        [
            student(
                "a",
                model_options("custom", kwargs={"width": 3, "nested": {"k": [1, 2]}}),
                method_options("regression-distillation", huberDelta=1.0),
            )
        ],
        data=data,
    )
    request["$schema"] = "https://example.org/experiment.schema.json"
    return request


ROUND_TRIPS = {
    **{case: (request_type, build) for case, (_command, request_type, build) in COMPLETE.items()},
    "every optional key": (ExperimentRequest, _with_every_optional_key),
    "onnx teacher with every option": (
        DistillRequest,
        lambda out: distill_request(
            out,
            student("s"),
            teacher=onnx_teacher_options(
                inputName="image",
                outputName="probs",
                sampleShape=[1, 28, 28],
                normalization={"mean": [0.0], "std": [255.0]},
            ),
        ),
    ),
    "no teacher, export false": (DistillRequest, lambda out: distill_request(out, student("s"), export=False)),
}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_to_json_gives_back_the_request_that_was_parsed(tmp_path, case):
    request_type, build = ROUND_TRIPS[case]
    request = build(tmp_path)
    parsed = parse(request_type, request)
    assert to_json(parsed) == request
    assert parse(request_type, to_json(parsed)) == parsed


def test_every_zod_default_block_parses_and_round_trips():
    blocks = [
        (spec.DataSpec, ZOD_DEFAULTS["data"]),
        (spec.Training, ZOD_DEFAULTS["training"]),
        (ExportOptions, ZOD_DEFAULTS["export"]),
        (spec.EvaluateOptions, ZOD_DEFAULTS["evaluate"]),
        (OnnxTeacher, ZOD_DEFAULTS["onnxTeacher"]),
        (spec.Distributed, ZOD_DEFAULTS["distributed"]),
    ]
    blocks += [(spec.Source, source) for source in ZOD_DEFAULTS["sources"].values()]
    blocks += [(spec.ModelSpec, model) for model in ZOD_DEFAULTS["models"].values()]
    blocks += [(MethodOptions, method) for method in ZOD_DEFAULTS["methods"].values()]
    for cls, block in blocks:
        assert to_json(parse(cls, block, "block")) == block, block


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_request_class_is_built_with_keyword_arguments_only():
    """A request class is built by ``parse`` or by hand; by hand, positional arguments would bind to fields by their
    order, which a new field silently shifts. Every field is keyword-only, so such a call fails at once."""
    classes = [value for value in vars(spec).values() if isinstance(value, type) and dataclasses.is_dataclass(value)]
    classes += [
        cls
        for base in (MethodOptions, spec.ModelSpec)
        for cls in _subclasses(base)
        # The engine's own classes: a test may register a throw-away method class of its own (test_registry.py).
        if dataclasses.is_dataclass(cls) and cls.__module__.startswith("distillery.")
    ]
    assert len(classes) > 40
    positional = [
        f"{cls.__name__}.{field.name}" for cls in classes for field in dataclasses.fields(cls) if not field.kw_only
    ]
    assert positional == []
    with pytest.raises(TypeError):
        spec.Sgd("sgd", 0.1, 0.9, False)  # type: ignore[misc]
