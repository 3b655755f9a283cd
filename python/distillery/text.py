"""The text layout of a table row, derived from its preprocess spec — never restated in a request.

A table whose preprocess (src/preprocess/spec.ts) has a column of type ``text`` is encoded by TypeScript into one
float32 row per example: ``[F fixed slots (numeric, boolean, one-hot) | L token-id slots]``, the ids written as
floats (exact below 2^24) and right-padded with the tokenizer's pad id. The engine derives the layout from the
spec and the arrays: L is the text column's ``maxLength``, F the row width minus L, V its ``vocabSize``, the pad id
its ``padId``. The runtime may send rows with fewer token slots (the longest text of its batch), so every text
model reads at most L token slots and is invariant to pad slots appended or removed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from .errors import ConfigError, DataError


@dataclass(frozen=True)
class TextLayout:
    """``fixed`` slots, then ``length`` token ids in [0, ``vocab``); ``pad`` fills the slots after a text's end."""

    fixed: int
    length: int
    vocab: int
    pad: int
    column: str


def text_column(preprocess: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The preprocess spec's text column, or None (no spec, an image spec, or a table without text)."""
    if not preprocess or preprocess.get("kind") != "table":
        return None
    columns = [column for column in preprocess.get("columns", []) if column.get("type") == "text"]
    if len(columns) > 1:
        names = ", ".join(repr(column.get("name")) for column in columns)
        raise DataError(f"data.preprocess: at most one text column per table, got {names}", field="data.preprocess")
    return columns[0] if columns else None


def text_layout(preprocess: Optional[dict[str, Any]], sample_shape: list[int]) -> Optional[TextLayout]:
    """The layout of rows of ``sample_shape`` under ``preprocess``, or None when they hold no text."""
    column = text_column(preprocess)
    if column is None:
        return None
    try:
        length, vocab, pad, name = (
            int(column["maxLength"]),
            int(column["vocabSize"]),
            int(column["padId"]),
            column["name"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"data.preprocess: the text column lacks maxLength, vocabSize or padId ({error})", field="data.preprocess"
        ) from error
    width = math.prod(sample_shape)
    if len(sample_shape) != 1 or width < length:
        raise DataError(
            f"data.preprocess: the text column {name!r} takes {length} token slots, but the rows have shape "
            f"{list(sample_shape)} (expected [fixed slots + {length}])",
            field="data.preprocess",
        )
    if not 0 <= pad < vocab:
        raise DataError(
            f"data.preprocess: the text column's padId {pad} is outside its vocabulary of {vocab}",
            field="data.preprocess",
        )
    return TextLayout(fixed=width - length, length=length, vocab=vocab, pad=pad, column=str(name))


def trimmed(rows: torch.Tensor, text: TextLayout) -> torch.Tensor:
    """The rows cut after the longest text among them (at least one token slot), as the runtime batches them: every
    text model is padding invariant, so the outputs are the same and a batch costs what its longest text costs."""
    ids = rows[:, text.fixed : text.fixed + text.length]
    real = (ids != text.pad).any(dim=0).nonzero()
    longest = int(real.max()) + 1 if len(real) else 1
    return rows[:, : text.fixed + longest]


def require_text(layout: Optional[TextLayout], kind: str, where: str) -> TextLayout:
    """A text model needs a text column."""
    if layout is None:
        raise ConfigError(
            f"{where}.type: '{kind}' is a text model, but the data has no text column (declare one in the csv "
            "source's `columns`, e.g. {review: 'text'})",
            field=f"{where}.type",
        )
    return layout


def read_tokenizer(preprocess: Optional[dict[str, Any]], path: Optional[str]) -> Optional[str]:
    """The tokenizer.json text of the preprocess spec's text column (None when it has none), read from ``path``
    (``data.tokenizerFile``), whose sha256 must be the column's ``tokenizerSha256``: every model carries this text in
    its metadata (``distillery.tokenizer``) and the runtime checks it against the same hash."""
    column = text_column(preprocess)
    if column is None:
        return None
    if path is None:
        raise ConfigError(
            f"data.tokenizerFile: the text column {column.get('name')!r} needs its tokenizer.json, which every "
            "model carries",
            field="data.tokenizerFile",
        )
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(
            f"data.tokenizerFile: cannot read {path}: {error}", field="data.tokenizerFile", file=path
        ) from error
    digest = hashlib.sha256(raw).hexdigest()
    if digest != column.get("tokenizerSha256"):
        raise DataError(
            f"data.tokenizerFile: {path} has sha256 {digest}, but the text column {column.get('name')!r} was encoded "
            f"with the tokenizer of sha256 {column.get('tokenizerSha256')}",
            field="data.tokenizerFile",
            file=path,
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"data.tokenizerFile: {path} is not UTF-8 text", field="data.tokenizerFile", file=path
        ) from error


@dataclass(frozen=True)
class EncodedTexts:
    """A batch of texts as a model with its own tokenizer takes them: int64 [N, T] ids right-padded with ``pad``,
    the attention mask (1 on real tokens) and the token type ids; T is ``pad_to``, else the batch's longest text."""

    input_ids: Any
    attention_mask: Any
    token_type_ids: Any


def encode_texts(
    tokenizer: Any,
    texts: list[str],
    *,
    max_length: int,
    pad: int,
    special_tokens: bool,
    truncation: str = "right",
    pad_to: Optional[int] = None,
    replace: Optional[tuple[str, str]] = None,
) -> EncodedTexts:
    """The one Python encoder of raw texts, with the Hugging Face ``tokenizers`` library (the reference
    implementation of tokenizer.json): at most ``max_length`` tokens (cut on ``truncation``'s side), with the
    tokenizer's post-processor ([CLS] … [SEP]) when ``special_tokens``. ``replace`` = (old, new): every ``old`` in
    the texts is written ``new`` first (a masked word: the data tokenizer's unknown token becomes this tokenizer's
    mask token). The student's inputs are encoded by TypeScript, never here."""
    import numpy as np

    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, direction=truncation)
    if replace is not None and replace[0] != replace[1]:
        texts = [text.replace(replace[0], replace[1]) for text in texts]
    encodings = tokenizer.encode_batch(texts, add_special_tokens=special_tokens) if texts else []
    width = pad_to if pad_to is not None else max([len(encoding.ids) for encoding in encodings] + [1])
    ids = np.full((len(texts), width), pad, dtype=np.int64)
    attention = np.zeros((len(texts), width), dtype=np.int64)
    types = np.zeros((len(texts), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        used = min(len(encoding.ids), width)
        ids[row, :used] = encoding.ids[:used]
        attention[row, :used] = 1
        types[row, :used] = encoding.type_ids[:used]
    return EncodedTexts(ids, attention, types)
