"""Requests, parsed once into typed, frozen objects.

The TypeScript side validates every request with its zod schemas and fills
every default (src/config/schema.ts, src/engine/commands.ts): those schemas are
the only place a default is written. Here each request is parsed once, at the
command boundary, into the dataclasses below; no other module reads a raw
request dict. A key that zod fills must be present: a missing one is a
ConfigError naming it, never a guess. Only keys that zod leaves optional
(``.optional()``, no default) have a Python default, and it is always None.

Field names are snake_case here and camelCase on the wire; ``parse`` and
``to_json`` convert. Every field is keyword-only (``kw_only``): built by hand,
a request names each field, so a new field cannot silently shift the others. A
union of dataclasses is told apart by its ``type`` literal; a ``Variant`` base
class (e.g. ``MethodOptions``) stands for the union of all its subclasses, so a
new method's options class is found without being listed here.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")


# ---------------------------------------------------------------- the parser


class Variant:
    """Base of an open union: every dataclass subclass with a ``type: Literal[...]`` field is a member.
    ``members_module`` names a module that defines the members, imported before they are looked up."""

    members_module: typing.ClassVar[Optional[str]] = None


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _wire_key(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get("key") or camel(field.name))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def parse(cls: type[T], value: Any, where: str = "") -> T:
    """Parses a JSON value into ``cls`` (a dataclass), checking every field's type; errors name the field."""
    return typing.cast(T, _convert(cls, value, where))


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where or 'request'}: {message}", field=where or None)


def _literal_type(cls: type) -> tuple[Any, ...]:
    hint = typing.get_type_hints(cls).get("type")
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _variants(base: type[Variant]) -> dict[Any, type]:
    if base.members_module:
        importlib.import_module(base.members_module)
    found: dict[Any, type] = {}
    pending = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls):
            for literal in _literal_type(cls):
                found[literal] = cls
    return found


def _dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got {_kind(value)}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    known = {_wire_key(field) for field in fields}
    for key in value:
        if key not in known:
            raise _fail(_join(where, key), "unknown field")
    arguments: dict[str, Any] = {}
    for field in fields:
        key = _wire_key(field)
        if key not in value:
            if field.default is dataclasses.MISSING:
                raise _fail(
                    _join(where, key),
                    "missing; every request is completed by the TypeScript schemas, which fill "
                    "each default (write it out when calling the engine directly)",
                )
            continue
        arguments[field.name] = _convert(hints[field.name], value[key], _join(where, key))
    return cls(**arguments)


def _union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None:
        if type(None) in options:
            return None
        raise _fail(where, "must not be null")
    candidates = [option for option in options if option is not type(None)]
    if isinstance(value, dict):
        # Only members that take an object can fit: trying a str or a literal would hide the real error (a missing key).
        candidates = [option for option in candidates if _takes_object(option)] or candidates
    tagged = {
        literal: option
        for option in candidates
        if isinstance(option, type) and dataclasses.is_dataclass(option)
        for literal in _literal_type(option)
    }
    if tagged and isinstance(value, dict):
        if value.get("type") in tagged:
            return _dataclass(tagged[value.get("type")], value, where)
        others = [option for option in candidates if option not in tagged.values()]
        if not others:
            raise _fail(
                _join(where, "type"), f"expected one of {', '.join(map(repr, tagged))}, got {value.get('type')!r}"
            )
        candidates = others
    errors = []
    for option in candidates:
        try:
            return _convert(option, value, where)
        except ConfigError as error:
            errors.append(error)
    raise errors[0] if len(errors) == 1 else _fail(where, f"unexpected value {value!r}")


def _takes_object(hint: Any) -> bool:
    if hint is Any or typing.get_origin(hint) is dict:
        return True
    return isinstance(hint, type) and (dataclasses.is_dataclass(hint) or issubclass(hint, Variant))


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(args, value, where)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(arg, bool) for arg in args):
            raise _fail(where, f"expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _fail(where, f"expected a list, got {_kind(value)}")
        item = args[0] if args else Any
        return tuple(_convert(item, element, f"{where}[{index}]") for index, element in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, f"expected an object, got {_kind(value)}")
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, Variant) and not dataclasses.is_dataclass(hint):
        members = _variants(hint)
        if not isinstance(value, dict):
            raise _fail(where, f"expected an object, got {_kind(value)}")
        if value.get("type") not in members:
            raise _fail(
                _join(where, "type"),
                f"expected one of {', '.join(map(repr, sorted(members)))}, got {value.get('type')!r}",
            )
        return _dataclass(members[value["type"]], value, where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, where)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(where, f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _fail(where, f"expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(where, f"expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _fail(where, f"expected a string, got {_kind(value)}")
    raise TypeError(f"spec: no conversion for {hint!r}")  # a programming error in this module's dataclasses


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def to_json(value: Any) -> Any:
    """The wire form of a parsed object (camelCase keys, lists), e.g. to record a config in a checkpoint."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if item is None and field.default is None:
                continue  # an optional key that was absent stays absent
            out[_wire_key(field)] = to_json(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------- data


@dataclass(frozen=True, kw_only=True)
class MnistSource:
    type: Literal["mnist"]
    split: Literal["train", "test", "all"]
    offset: int
    labelled: bool
    limit: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class FileSource:
    type: Literal["file"]
    path: str
    x: str
    y: str
    offset: int
    labelled: bool
    labels_path: Optional[str] = None
    limit: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class ShardsSource:
    """Inputs too large for memory: .npy files read memory-mapped (shards.py); data.train and data.transfer only."""

    type: Literal["shards"]
    x: tuple[str, ...]
    offset: int
    labelled: bool
    y: Optional[tuple[str, ...]] = None
    limit: Optional[int] = None


InMemorySource = Union[MnistSource, FileSource]
Source = Union[MnistSource, FileSource, ShardsSource]


@dataclass(frozen=True, kw_only=True)
class SplitValidation:
    """A validation set held out of data.train: ``fraction`` of it, stratified by class, the same rows every run."""

    type: Literal["split"]
    fraction: float


@dataclass(frozen=True, kw_only=True)
class FoldValidation:
    """Fold ``fold`` of ``folds`` stratified, deterministic folds of data.train held out for validation (data.py
    ``fold_split``): what k-fold selection trains each fold's candidates with."""

    type: Literal["fold"]
    folds: int
    fold: int


# The validation kinds that hold rows out of data.train (rather than reading a file).
HeldOutValidation = Union[SplitValidation, FoldValidation]


@dataclass(frozen=True, kw_only=True)
class TextsPaths:
    """A table's raw text cells, per split: JSONL files (one JSON string per row, in row order) written beside its
    encoded arrays (src/data/table.ts), for the models whose tokenizer is not the data's (text_teachers.py)."""

    train: str
    test: str
    transfer: Optional[str] = None
    validation: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class TeacherOutputsPaths:
    """A called teacher's answers, per split: .npy files row for row with the split's source rows (src/teacher):
    float32 [rows, outputs] (probabilities or logits) or int64 [rows] (class indices); a split without one has none."""

    train: Optional[str] = None
    test: Optional[str] = None
    transfer: Optional[str] = None
    validation: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    task: Literal["classification", "regression"]
    train: Source
    test: InMemorySource
    normalize: Literal["standard", "none"]
    # How raw inputs (table rows, encoded images) became these arrays: fitted and applied by TypeScript
    # (src/preprocess), recorded verbatim in every model, never applied here.
    preprocess: Optional[dict[str, Any]]
    transfer: Optional[Source] = None
    validation: Union[InMemorySource, SplitValidation, FoldValidation, None] = None
    # The tokenizer.json of the preprocess spec's text column, stored in every exported model's metadata
    # (``distillery.tokenizer``) after its sha256 is checked against the spec's tokenizerSha256.
    tokenizer_file: Optional[str] = None
    # An augmented transfer set's .npy: the data.train row each data.transfer row was made from (src/data/augment.ts).
    transfer_origin: Optional[str] = None
    # The raw texts of a table's text column, per split; None for data without one.
    texts: Optional[TextsPaths] = None
    # The string that stands for a masked word in the transfer set's texts (the data tokenizer's unknown token): a
    # teacher with its own tokenizer reads its own mask (or unknown) token there instead.
    mask_token: Optional[str] = None
    # A called teacher's answers per split (a 'precomputed' teacher reads them); None without such a teacher.
    teacher_outputs: Optional[TeacherOutputsPaths] = None
    num_classes: Optional[int] = None
    labels: Optional[tuple[str, ...]] = None


# ---------------------------------------------------------------- models


class ModelSpec(Variant):
    """Any model config (by ``type``)."""


@dataclass(frozen=True, kw_only=True)
class MlpModel(ModelSpec):
    type: Literal["mlp"]
    hidden: tuple[int, ...]
    activation: Literal["relu", "tanh", "sigmoid", "gelu"]
    dropout: float
    input_dropout: float
    bottleneck: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class LeNetModel(ModelSpec):
    type: Literal["lenet"]
    channels: tuple[int, ...]
    hidden: tuple[int, ...]
    activation: Literal["relu", "tanh", "sigmoid", "gelu"]
    dropout: float


@dataclass(frozen=True, kw_only=True)
class ResNetModel(ModelSpec):
    type: Literal["resnet"]
    channels: tuple[int, ...]
    # Absent: the small ResNet, one block per stage. Given: He et al.'s CIFAR ResNet of that depth (6n + 2).
    depth: Optional[int] = None
    widen: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class WrnModel(ModelSpec):
    type: Literal["wrn"]
    depth: int
    widen: int
    dropout: float


@dataclass(frozen=True, kw_only=True)
class MobileNetV2Model(ModelSpec):
    type: Literal["mobilenetv2"]
    width: float
    dropout: float


@dataclass(frozen=True, kw_only=True)
class CustomModel(ModelSpec):
    type: Literal["custom"]
    module: str
    kwargs: dict[str, Any]


# Text models (text_models.py): they read the text layout from the data's preprocess spec (text.py).


@dataclass(frozen=True, kw_only=True)
class WordVectors:
    """A GloVe / word2vec text file that starts a text model's token embedding table (vectors.py)."""

    path: str
    freeze: bool


@dataclass(frozen=True, kw_only=True)
class EmbeddingBagModel(ModelSpec):
    type: Literal["embedding-bag"]
    dim: int
    buckets: int
    dropout: float
    vectors: Optional[WordVectors] = None


@dataclass(frozen=True, kw_only=True)
class TextCnnModel(ModelSpec):
    type: Literal["textcnn"]
    dim: int
    widths: tuple[int, ...]
    maps: int
    dropout: float
    vectors: Optional[WordVectors] = None


@dataclass(frozen=True, kw_only=True)
class BiLstmModel(ModelSpec):
    type: Literal["bilstm"]
    dim: int
    hidden: int
    head: tuple[int, ...]
    dropout: float
    vectors: Optional[WordVectors] = None


@dataclass(frozen=True, kw_only=True)
class TransformerModel(ModelSpec):
    type: Literal["transformer"]
    layers: int
    heads: int
    width: int
    ff: int
    dropout: float
    vectors: Optional[WordVectors] = None


TEXT_MODELS = (EmbeddingBagModel, TextCnnModel, BiLstmModel, TransformerModel)


@dataclass(frozen=True, kw_only=True)
class EnsembleModel(ModelSpec):
    """How a checkpoint records an ensemble teacher: its members' model configs (never written by users)."""

    type: Literal["ensemble"]
    combine: Literal["mean-logits", "mean-probs"]
    members: tuple[ModelSpec, ...]


# ---------------------------------------------------------------- training


@dataclass(frozen=True, kw_only=True)
class Sgd:
    type: Literal["sgd"]
    lr: float
    momentum: float
    nesterov: bool


@dataclass(frozen=True, kw_only=True)
class Adam:
    type: Literal["adam", "adamw"]
    lr: float


@dataclass(frozen=True, kw_only=True)
class ConstantSchedule:
    type: Literal["constant", "cosine"]
    warmup_epochs: int


@dataclass(frozen=True, kw_only=True)
class StepSchedule:
    type: Literal["step"]
    step_size: int
    gamma: float
    warmup_epochs: int


@dataclass(frozen=True, kw_only=True)
class ExponentialSchedule:
    type: Literal["exponential"]
    gamma: float
    warmup_epochs: int


@dataclass(frozen=True, kw_only=True)
class Augment:
    shift: int
    flip: bool
    noise: float
    mixup: float
    cutmix: float


@dataclass(frozen=True, kw_only=True)
class Training:
    epochs: int
    batch_size: int
    optimizer: Union[Sgd, Adam]
    weight_decay: float
    schedule: Union[ConstantSchedule, StepSchedule, ExponentialSchedule]
    checkpoint: Literal["last", "best"]
    mixed_precision: Literal["auto", "off", "bf16"]
    teacher_outputs: Literal["auto", "cached", "online"]
    compile: bool
    channels_last: bool
    clip_grad_norm: Optional[float] = None
    # 'auto' (a trained teacher's default): chosen from the data's sample shape and the model by augment.resolve
    augment: Union[Augment, Literal["auto"], None] = None


# ---------------------------------------------------------------- methods


class MethodOptions(Variant):
    """Any method's options (by ``type``). Each method module (``methods/``) defines its subclass."""

    members_module = f"{__package__}.methods"
    type: str


# ---------------------------------------------------------------- teachers and students


@dataclass(frozen=True, kw_only=True)
class TrainedTeacher:
    type: Literal["train"]
    name: str
    model: ModelSpec
    training: Training
    method: Optional[MethodOptions] = None


@dataclass(frozen=True, kw_only=True)
class CheckpointTeacher:
    type: Literal["checkpoint"]
    name: str
    path: str


@dataclass(frozen=True, kw_only=True)
class Normalization:
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class OnnxTeacher:
    type: Literal["onnx"]
    name: str
    path: str
    output_kind: Literal["auto", "logits", "probabilities"]
    normalization: Union[Literal["auto"], Normalization, None]
    input_name: Optional[str] = None
    output_name: Optional[str] = None
    sample_shape: Optional[tuple[int, ...]] = None


@dataclass(frozen=True, kw_only=True)
class HuggingFaceOnnxTeacher:
    """A Hugging Face ONNX text classifier folder (text_teachers.py), a black box with its own tokenizer."""

    type: Literal["huggingface-onnx"]
    name: str
    path: str
    max_length: Union[int, Literal["auto"]]
    batch_size: int
    output_name: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class HuggingFaceTeacher:
    """A Hugging Face checkpoint folder fine-tuned here on data.train's texts (text_teachers.py)."""

    type: Literal["huggingface"]
    name: str
    path: str
    max_length: Union[int, Literal["auto"]]
    epochs: int
    lr: float
    batch_size: int
    warmup: float
    weight_decay: float


@dataclass(frozen=True, kw_only=True)
class EnsembleTeacher:
    type: Literal["ensemble"]
    name: str
    combine: Literal["mean-logits", "mean-probs"]
    members: tuple[Union[TrainedTeacher, CheckpointTeacher], ...]


@dataclass(frozen=True, kw_only=True)
class PrecomputedTeacher:
    """A teacher given by its answers (src/teacher: a function, a module or a file of outputs), read per row from
    data.teacherOutputs (precomputed.py)."""

    type: Literal["precomputed"]
    name: str
    kind: Literal["probabilities", "logits", "labels"]
    source: str
    sha256: str


Teacher = Union[
    TrainedTeacher,
    CheckpointTeacher,
    EnsembleTeacher,
    OnnxTeacher,
    HuggingFaceOnnxTeacher,
    HuggingFaceTeacher,
    PrecomputedTeacher,
]


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A student that a sweep made: one of its group's candidates, chosen between on the validation split alone."""

    group: str
    overrides: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Student:
    name: str
    model: ModelSpec
    method: MethodOptions
    training: Training
    candidate: Optional[Candidate] = None
    position: Optional[int] = None  # its place in the plan, which seeds it; None: its index in the request


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    opset: int
    parity_tolerance: float
    quantize: tuple[Literal["int8-dynamic", "int8-static", "fp16"], ...]
    max_accuracy_drop: float


@dataclass(frozen=True, kw_only=True)
class SelectionOptions:
    """How sweeps and auto choose between candidates: read by TypeScript (src/experiment/selection.ts) alone."""

    folds: Union[int, Literal["auto", "off"]]
    min_validation_rows: int
    level: float


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    baselines: bool  # read by TypeScript (src/config/sweep.ts), which adds the baselines to the students
    selection: SelectionOptions
    top_k: int
    calibration_bins: int
    benchmark: bool


# ---------------------------------------------------------------- the commands' requests


@dataclass(frozen=True, kw_only=True)
class Empty:
    """hello and doctor take nothing."""


@dataclass(frozen=True, kw_only=True)
class TrainTeacherRequest:
    data: DataSpec
    out_dir: str
    device: str
    seed: int
    resume: bool
    export: Union[ExportOptions, Literal[False]]
    teacher: Teacher


@dataclass(frozen=True, kw_only=True)
class DistillRequest:
    data: DataSpec
    out_dir: str
    device: str
    seed: int
    resume: bool
    export: Union[ExportOptions, Literal[False]]
    student: Student
    teacher: Union[str, OnnxTeacher, HuggingFaceOnnxTeacher, HuggingFaceTeacher, PrecomputedTeacher, None] = None


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    checkpoint: str
    path: str
    export: ExportOptions
    data: Optional[DataSpec] = None


@dataclass(frozen=True, kw_only=True)
class QuantizeRequest:
    """One variant of an exported model; ``data`` (an .npz/.npy of raw input rows) calibrates int8-static."""

    model: str
    method: Literal["int8-dynamic", "int8-static", "fp16"]
    data: Optional[str] = None
    path: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class FitTokenizerRequest:
    """A tokenizer trained on a JSONL file of texts (tokenizer.py), or a user's tokenizer.json checked and copied."""

    kind: Literal["wordpiece", "bpe", "unigram", "file"]
    vocab_size: int
    lowercase: bool
    min_frequency: int
    out_path: str
    texts_path: Optional[str] = None
    file: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class WriteSplitRequest:
    data: DataSpec
    split: Literal["train", "test", "transfer", "validation"]
    path: str


@dataclass(frozen=True, kw_only=True)
class Distributed:
    """How torchrun launches the experiment (read by the launcher, distributed.py; the ranks ignore it)."""

    nproc_per_node: int
    nnodes: int
    node_rank: int
    hang_timeout_seconds: float
    timeout_seconds: float
    master_addr: Optional[str] = None
    master_port: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class ExperimentRequest:
    name: str
    seed: int
    device: str
    data: DataSpec
    teacher: Teacher
    students: tuple[Student, ...]
    # False: checkpoints only (k-fold selection's fold runs, src/experiment/folds.ts)
    export: Union[ExportOptions, Literal[False]]
    evaluate: EvaluateOptions
    out_dir: str
    resume: bool
    distributed: Optional[Distributed] = None
    schema: Optional[str] = dataclasses.field(default=None, metadata={"key": "$schema"})
