"""What the commands return, as typed dataclasses: the Python side of the zod result schemas in src/engine/commands.ts.

Each result is built by one helper in pipeline.py and goes on the wire (and into ``results/<name>.json``) through
``wire``: camelCase keys in field order, ``None`` as null — except a field whose default is ``None``, which is left
out when unset, as zod's ``.optional()`` wants. A recorded result read back for ``--resume`` is parsed by ``recorded``
with spec.py's parser, so a damaged file is a ConfigError naming the key, not a KeyError later.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional, TypeVar

from .spec import parse, to_json

Json = dict[str, Any]
R = TypeVar("R")


@dataclass(frozen=True)
class ExportResult:
    """An exported (or, for a black-box teacher, copied) .onnx file; ``opset`` None when it was copied."""

    path: str
    size_bytes: int
    sha256: str
    parity_max_abs_diff: float
    opset: Optional[int]


@dataclass(frozen=True)
class TeacherProvenance:
    """The teacher a student learnt from: its name, the sha256 of its file, and whether its outputs were cached."""

    name: str
    sha256: str
    outputs: Literal["cached", "online"]


@dataclass(frozen=True)
class LoadOptions:
    """How the TypeScript runtime runs a black-box teacher's .onnx the way the engine ran it."""

    input_name: str
    output_name: str
    sample_shape: tuple[int, ...]
    output_kind: str  # 'logits' or 'probabilities' (the zod schema refuses anything else)
    normalization: Optional[dict[str, list[float]]]


@dataclass(frozen=True)
class VariantGuard:
    """The accuracy guard of one quantised variant: both files on the same held-out rows (guard.py)."""

    split: Literal["validation", "train"]
    rows: int
    fp32_accuracy: float
    accuracy: float
    drop_points: float
    max_drop_points: float
    rejected: bool


@dataclass(frozen=True)
class VectorCoverage:
    """How much of a text model's vocabulary a word-vector file covered (vectors.py): ``field`` names the model's
    ``vectors`` block (``teacher.members[1].model.vectors``). ``vocabulary`` counts the tokens that may match (special
    tokens never do); ``lowercased`` of the ``matched`` ones matched in another casing. ``train_share``: the share of
    data.train's token occurrences (pads left out, [UNK] counted as uncovered) whose token got a vector. ``missing``:
    the most frequent tokens of data.train without one."""

    field: str
    path: str
    format: Literal["glove", "word2vec"]
    dim: int
    freeze: bool
    vocabulary: int
    matched: int
    lowercased: int
    share: float
    train_tokens: int
    train_share: float
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ModelResult:
    """A trained (or loaded) model: checkpoint, size, cost, history, and its .onnx once exported. The field order is
    the key order of ``results/<name>.json``. The first six fields say what the data was and where the model ran."""

    device: str
    task: Literal["classification", "regression"]
    input_shape: tuple[int, ...]
    num_outputs: int
    labels: tuple[str, ...]
    warnings: tuple[str, ...]
    name: str
    role: Literal["teacher", "student"]
    method: Optional[Json]
    teacher: Optional[TeacherProvenance]
    checkpoint: str
    params: int
    flops_per_sample: Optional[int]
    train_seconds: float
    history: tuple[Json, ...]
    metrics: Json
    load_options: Optional[LoadOptions]
    onnx: Optional[str]
    export: Optional[ExportResult]
    # Quantised variants (quantize.py's results, each with its guard); left out when none were asked for.
    variants: Optional[tuple[Json, ...]] = None
    # The kept epoch's predictions on the validation rows (``results/<name>.validation.json``, pipeline.py): the
    # per-row evidence that sweeps and auto choose on. Left out for a model trained without a validation split.
    validation_predictions: Optional[str] = None
    # Text models started from word vectors: their coverage, one entry per model (an ensemble's members each).
    vectors: Optional[tuple[VectorCoverage, ...]] = None
    # "texts": a teacher that reads raw texts with its own tokenizer (text_teachers.py); "outputs": a teacher given by
    # its answers (precomputed.py). Neither is exported (no .onnx the runtime could feed the data's rows); the report
    # measures it from its test outputs. Left out for every other model.
    inputs: Optional[Literal["texts", "outputs"]] = None
    # Such a teacher's class probabilities on the test rows (``results/<name>.test-outputs.json``), from which the
    # report measures it (src/experiment/run.ts); left out for every other model, and for answers without data.test.
    test_outputs: Optional[str] = None


@dataclass(frozen=True)
class ExperimentResult:
    """A whole experiment: the teacher, every student, and where the test split was written for the runtime."""

    device: str
    torch: str
    test_data: str
    teacher: ModelResult
    students: tuple[ModelResult, ...]
    warnings: tuple[str, ...]
    distributed: Optional[Json]


@dataclass(frozen=True)
class WriteSplitResult:
    """One split written to .npz: where, its row count and one sample's shape."""

    path: str
    n: int
    sample_shape: tuple[int, ...]


def wire(result: Any) -> Json:
    """A result dataclass as the JSON object its zod schema validates."""
    assert dataclasses.is_dataclass(result) and not isinstance(result, type)
    value: Json = to_json(result)
    return value


def recorded(cls: type[R], value: Json, where: str) -> R:
    """A result read back from its JSON file (``--resume``), checked field by field."""
    return parse(cls, value, where)
