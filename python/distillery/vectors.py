"""Word vectors: a text model's token embedding table started from a GloVe or word2vec text file.

The file is streamed line by line (GloVe 840B is 5 GB) and only the vectors of the tokenizer's vocabulary are kept.

* **Formats.** GloVe: ``word v1 … vD`` per line. word2vec / fastText text (``.vec``): the same after a first line
  ``count dim`` (two integers), whose count must be the number of vectors that follow. UTF-8, a leading byte-order
  mark skipped, ``.gz`` read compressed, blank lines skipped, trailing whitespace ignored (word2vec's C tool ends each
  line with a space). D is the first vector line's (or the header's) dimension; every line must hold D values after
  its word, and the word is what comes before the last D fields, so a word may hold spaces (glove.840B has a few).
  Values are parsed on the lines that are used: a vocabulary token's.
* **Matching**, for each token of the model's tokenizer (``distillery.tokenizer``, the tokenizer.json the run
  carries): the line whose word is the token itself; else the first line (the most frequent, in these files' order)
  whose word equals the token case-insensitively (``str.lower`` on both sides), so a cased tokenizer meets GloVe 6B's
  lower-cased words and a lower-casing one meets glove.840B's cased words. A word-start mark (``Ġ`` of byte-level
  BPE, ``▁`` of SentencePiece / Metaspace) is dropped before matching. A continuation piece (WordPiece's ``##ing``:
  the tokenizer model's ``continuing_subword_prefix``) matches only a line holding exactly that piece, since the word
  ``ing`` is not the suffix; a tokenizer without such a prefix (the BPE and unigram ones fitted here) cannot tell a
  piece from a word, and its pieces match as words. Special tokens never match: the tokenizer.json's added tokens
  marked special, its unknown token ([UNK], <unk>) and the pad token.
* **The table.** Matched rows take their vectors; the pad row is set to zero (every text model masks it); every other
  row keeps its random start. ``freeze``: the table is not trained (its weight takes no gradient). In an
  ``embedding-bag`` only the token table is started; its hashed-bigram table trains as usual.
* **Coverage** (results.VectorCoverage): the share of the vocabulary matched, and of data.train's token occurrences.
  Nothing matched is an error: most likely the wrong file, or a vocabulary in another script or casing. The
  coverage is logged (the CLI shows it) and returned in the model's result (report.json, report.md).
* The vectors of the last file read are kept for the process: the models of one run that start from the same file
  (same path, size and modification time, the same tokenizer and width) read it once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Literal, Optional, cast

import numpy as np
import torch
from torch import nn

from .data import DataBundle
from .errors import ConfigError, DataError, utf8_line
from .progress import Progress
from .results import VectorCoverage
from .spec import ModelSpec, TransformerModel, WordVectors
from .text_models import EmbeddingBag, TextModel
from .tokenizer import UNK_NAMES

WORD_START = ("Ġ", "▁")  # byte-level BPE (GPT-2, RoBERTa) and Metaspace (SentencePiece) mark a word's first piece
MISSING_SHOWN = 10  # the most frequent unmatched tokens named in the coverage
CANCEL_EVERY = 100_000  # lines between checks for the caller's abort


@dataclass(frozen=True)
class Vocabulary:
    """The tokens that may take a vector: ``tokens`` (id, token), the special tokens left out; ``prefix`` is the
    tokenizer's continuation prefix (WordPiece's ``##``), or None."""

    tokens: tuple[tuple[int, str], ...]
    prefix: Optional[str]


def vocabulary(tokenizer_json: str, size: int, pad: int) -> Vocabulary:
    """The tokens of a tokenizer.json below id ``size`` (the text column's vocabSize), its special tokens left out:
    its added tokens marked special, its model's unknown token (or one named like [UNK]), and the pad id's."""
    from tokenizers import Tokenizer

    parsed = json.loads(tokenizer_json)
    vocab = Tokenizer.from_str(tokenizer_json).get_vocab(with_added_tokens=True)
    model = parsed.get("model") or {}
    special = {str(token.get("content")) for token in parsed.get("added_tokens") or [] if token.get("special")}
    special.update(UNK_NAMES)
    if isinstance(model.get("unk_token"), str):
        special.add(model["unk_token"])
    prefix = model.get("continuing_subword_prefix") or None
    tokens = tuple(
        sorted(
            (int(i), token) for token, i in vocab.items() if token not in special and 0 <= int(i) < size and i != pad
        )
    )
    return Vocabulary(tokens=tokens, prefix=str(prefix) if prefix else None)


def _keys(token: str, prefix: Optional[str]) -> tuple[tuple[str, ...], Optional[str]]:
    """The words a token may match exactly, in order, and the case-folded word it may match else (None: none)."""
    if prefix and token.startswith(prefix) and len(token) > len(prefix):
        return (token,), None
    word = token[1:] if len(token) > 1 and token[0] in WORD_START else token
    exact = (token,) if word == token else (token, word)
    return exact, word.lower()


@dataclass
class _Read:
    format: Literal["glove", "word2vec"]
    dim: int
    exact: dict[str, np.ndarray]
    folded: dict[str, np.ndarray]


@contextmanager
def _open(path: str, field: str) -> Iterator[IO[bytes]]:
    try:
        handle = cast(IO[bytes], gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb"))  # noqa: SIM115
    except OSError as error:
        raise DataError(
            f"{field}: cannot read the word-vector file {path}: {error.strerror or error}", field=field, file=path
        ) from error
    try:
        yield handle
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{field}: cannot read {path}: {error}", field=field, file=path) from error
    finally:
        handle.close()


def _is_int(value: bytes) -> bool:
    return value.isdigit()


def _values(fields: list[bytes], path: str, field: str, number: int) -> np.ndarray:
    try:
        values = np.array(fields, dtype=np.float32)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    for index, raw in enumerate(fields):  # name the first value that is not a finite number
        try:
            good = math.isfinite(float(raw))
        except ValueError:
            good = False
        if not good:
            shown = raw.decode("utf-8", "replace")
            raise DataError(
                f"{path}, line {number}: value {index + 1} is {shown!r}, not a finite number",
                field=field,
                file=path,
                details={"line": number},
            )
    raise DataError(  # a value finite in float64 but not in float32 (e.g. 1e39)
        f"{path}, line {number}: a value outside float32's range", field=field, file=path, details={"line": number}
    )


def read_vectors(
    path: str, exact: set[str], folded: set[str], expect_dim: int, dim_field: str, field: str, progress: Progress
) -> _Read:
    """The vectors of the words in ``exact`` and, by lower-cased word (first line wins), of ``folded``; a file whose
    dimension is not ``expect_dim`` is a ConfigError naming ``dim_field``, found on its first line."""
    found_exact: dict[str, np.ndarray] = {}
    found_folded: dict[str, np.ndarray] = {}
    dim = 0
    declared: Optional[int] = None
    kind: Literal["glove", "word2vec"] = "glove"
    vectors = 0
    with _open(path, field) as handle:
        for number, raw in enumerate(handle, start=1):
            if number % CANCEL_EVERY == 0:
                progress.check_cancel()
            line = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            line = line.rstrip()
            if not line:
                continue
            if not dim:
                first = line.split()
                if len(first) == 2 and _is_int(first[0]) and _is_int(first[1]):
                    kind, declared, dim = "word2vec", int(first[0]), int(first[1])
                else:
                    dim = len(first) - 1
                if dim < 1:
                    raise DataError(
                        f"{path}, line {number}: not a word-vector line (a word, then its values)",
                        field=field,
                        file=path,
                        details={"line": number},
                    )
                if dim != expect_dim:
                    raise ConfigError(
                        f"{dim_field}: the embedding width is {expect_dim}, but the word vectors in {path} have "
                        f"{dim} dimensions; set {dim_field.rsplit('.', 1)[-1]} to {dim} or use vectors of "
                        f"{expect_dim} dimensions",
                        field=dim_field,
                        file=path,
                        details={"dim": dim, "expected": expect_dim},
                    )
                if kind == "word2vec":
                    continue
            rest: Optional[bytes] = None  # the values, when the line is the common one: single spaces, one word
            fields: list[bytes] = []
            if line.count(b" ") == dim and b"\t" not in line and b"  " not in line:
                cut = line.index(b" ")
                word_bytes, rest = line[:cut], line[cut + 1 :]
            else:
                fields = line.rsplit(None, dim)
                if len(fields) != dim + 1:
                    raise DataError(
                        f"{path}, line {number}: {len(fields) - 1} values after the word, expected {dim} (the "
                        f"dimension of {'its first line' if kind == 'glove' else 'its header'})",
                        field=field,
                        file=path,
                        details={"line": number},
                    )
                word_bytes, fields = fields[0], fields[1:]
            word = utf8_line(word_bytes, path, field, number)
            vectors += 1
            lowered = word.lower()
            wanted = word in exact and word not in found_exact
            wanted_folded = lowered in folded and lowered not in found_folded
            if wanted or wanted_folded:
                parsed = _values(rest.split(b" ") if rest is not None else fields, path, field, number)
                if wanted:
                    found_exact[word] = parsed
                if wanted_folded:
                    found_folded[lowered] = parsed
    if not dim:
        raise DataError(f"{field}: {path} holds no word vectors", field=field, file=path)
    if declared is not None and declared != vectors:
        raise DataError(
            f"{field}: {path} declares {declared} vectors in its first line but holds {vectors} (a truncated file?)",
            field=field,
            file=path,
        )
    return _Read(kind, dim, found_exact, found_folded)


# The last file read, by its identity and the vocabulary it was matched for: the teacher and students of one run that
# start from the same file read it once (one entry: a few MB of vectors, never the file).
_LAST_READ: dict[tuple[object, ...], _Read] = {}


def _identity(path: str, tokenizer: str, model: TextModel, dim: int) -> Optional[tuple[object, ...]]:
    try:
        stat = os.stat(path)
    except OSError:
        return None  # read_vectors names the error
    digest = hashlib.sha256(tokenizer.encode("utf-8")).hexdigest()
    return (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, digest, model.vocab, model.pad, dim)


def token_table(module: nn.Module) -> Optional[tuple[TextModel, nn.Embedding]]:
    """The text model inside ``module`` (behind a regression OutputScale) and its token embedding table."""
    for inner in module.modules():
        if isinstance(inner, EmbeddingBag):
            return inner, inner.tokens
        if isinstance(inner, TextModel):
            table = getattr(inner, "embedding", None)
            if isinstance(table, nn.Embedding):
                return inner, table
    return None


def apply_vectors(
    module: nn.Module, config: ModelSpec, data: DataBundle, where: str, progress: Progress
) -> Optional[VectorCoverage]:
    """Starts the token table of ``module`` (built from ``config`` at ``where``, e.g. ``students[0].model``) from its
    ``vectors`` file, freezes it when asked, and returns the coverage (also logged); None without ``vectors``."""
    vectors: Optional[WordVectors] = getattr(config, "vectors", None)
    if vectors is None:
        return None
    field = f"{where}.vectors"
    found = token_table(module)
    if found is None:  # every text family has a token table: a programming error if not
        raise ConfigError(f"{field}: this model has no token embedding table", field=field)
    model, table = found
    if data.tokenizer is None:
        raise ConfigError(
            f"{field}: word vectors are matched to the text column's tokenizer, and the data has none "
            "(data.tokenizerFile)",
            field="data.tokenizerFile",
        )
    vocab = vocabulary(data.tokenizer, model.vocab, model.pad)
    keys = {token: _keys(token, vocab.prefix) for _, token in vocab.tokens}
    dim_field = f"{where}.width" if isinstance(config, TransformerModel) else f"{where}.dim"
    identity = _identity(vectors.path, data.tokenizer, model, table.embedding_dim)
    read = _LAST_READ.get(identity) if identity is not None else None
    if read is None:
        progress.emit({"event": "log", "message": f"{field}: reading {vectors.path}"})
        read = read_vectors(
            vectors.path,
            {word for exact, _ in keys.values() for word in exact},
            {key for _, key in keys.values() if key is not None},
            table.embedding_dim,
            dim_field,
            f"{field}.path",
            progress,
        )
        _LAST_READ.clear()
        if identity is not None:
            _LAST_READ[identity] = read
    matched: dict[int, np.ndarray] = {}
    lowercased = 0
    for token_id, token in vocab.tokens:
        exact, folded = keys[token]
        vector = next((read.exact[word] for word in exact if word in read.exact), None)
        if vector is None and folded is not None and folded in read.folded:
            vector = read.folded[folded]
            lowercased += 1
        if vector is not None:
            matched[token_id] = vector
    if not matched:
        raise DataError(
            f"{field}.path: none of the tokenizer's {len(vocab.tokens)} tokens has a vector in {vectors.path} — "
            "probably the wrong file, or a vocabulary in another language, script or casing",
            field=f"{field}.path",
            file=vectors.path,
        )
    with torch.no_grad():
        ids = torch.tensor(sorted(matched), dtype=torch.long)
        rows = torch.from_numpy(np.stack([matched[int(i)] for i in ids])).to(table.weight.dtype)
        table.weight[ids.to(table.weight.device)] = rows.to(table.weight.device)
        table.weight[model.pad].zero_()
    if vectors.freeze:
        table.weight.requires_grad_(False)
    coverage = _coverage(field, vectors, read, vocab, matched, lowercased, model, data)
    progress.emit({"event": "log", "message": coverage_line(coverage)})
    return coverage


def _coverage(
    field: str,
    vectors: WordVectors,
    read: _Read,
    vocab: Vocabulary,
    matched: dict[int, np.ndarray],
    lowercased: int,
    model: TextModel,
    data: DataBundle,
) -> VectorCoverage:
    counts = torch.zeros(model.vocab, dtype=torch.long)
    for chunk in data.train.x.split(65_536):
        ids = chunk[:, model.fixed : model.fixed + model.length].long().flatten().cpu()
        counts += torch.bincount(ids.clamp(0, model.vocab - 1), minlength=model.vocab)
    counts[model.pad] = 0
    total = int(counts.sum())
    covered = int(counts[torch.tensor(sorted(matched), dtype=torch.long)].sum())
    names = dict(vocab.tokens)
    unmatched = [(int(counts[i]), i) for i in names if i not in matched and counts[i] > 0]
    missing = tuple(names[i] for _, i in sorted(unmatched, key=lambda item: (-item[0], item[1]))[:MISSING_SHOWN])
    return VectorCoverage(
        field=field,
        path=vectors.path,
        format=read.format,
        dim=read.dim,
        freeze=vectors.freeze,
        vocabulary=len(vocab.tokens),
        matched=len(matched),
        lowercased=lowercased,
        share=len(matched) / len(vocab.tokens),
        train_tokens=total,
        train_share=covered / total if total else 0.0,
        missing=missing,
    )


def coverage_line(coverage: VectorCoverage) -> str:
    """One line for the log and the CLI."""
    how = ", frozen" if coverage.freeze else ""
    casing = f" ({coverage.lowercased} in another casing)" if coverage.lowercased else ""
    return (
        f"{coverage.field}: {coverage.matched} of {coverage.vocabulary} tokens ({coverage.share:.1%}) have a vector "
        f"in {os.path.basename(coverage.path)}{casing}, {coverage.train_share:.1%} of data.train's tokens{how}"
    )


__all__ = ["Vocabulary", "apply_vectors", "coverage_line", "read_vectors", "token_table", "vocabulary"]
