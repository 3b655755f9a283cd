"""``fit_tokenizer``: a subword tokenizer trained on data.train's texts, or a user's tokenizer.json checked.

TypeScript (src/data) writes the training texts as JSONL — one JSON string per line, never raw lines, since texts
may hold newlines — and encodes every split itself with the same tokenizer.json (src/preprocess). This module only
makes or checks that file, with the Hugging Face ``tokenizers`` library:

* ``wordpiece``, ``bpe``, ``unigram``: trained with ``[PAD]`` = 0 and ``[UNK]`` = 1 for every kind; a BERT-like
  normaliser (NFD, lowercase, strip accents) when ``lowercase``, else NFC; the BERT pre-tokenizer (whitespace and
  punctuation); no post-processor, so no ``[CLS]``/``[SEP]``. Training is deterministic: the same texts give the
  same tokenizer.json bytes (the texts are sorted, the trainers run on one thread).
* ``file``: the user's tokenizer.json, loaded by ``tokenizers`` (a file that is not one is a typed error) and copied
  byte for byte to ``outPath``; its pad id is its padding's, else that of ``[PAD]``/``<pad>``.

The result gives the vocabulary size, the file's sha256 (recorded in the preprocess spec and checked by the
runtime against the copy in the model's metadata), and the pad and unknown ids.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any, Optional

from .errors import ConfigError, DataError, utf8_line
from .io import atomic_write, file_sha256
from .progress import Progress
from .spec import FitTokenizerRequest

PAD, UNK = "[PAD]", "[UNK]"
SPECIAL_TOKENS = [PAD, UNK]  # ids 0 and 1, in this order, for every trained kind
PAD_NAMES = (PAD, "<pad>", "<PAD>", "[pad]")  # a user's tokenizer without padding settings: its pad token by name
UNK_NAMES = (UNK, "<unk>", "<UNK>", "[unk]")


def read_texts(path: str, field: str = "textsPath") -> list[str]:
    """The texts of a JSONL file: one JSON string (or null: an empty text) per line, split on '\\n' alone.

    ``str.splitlines`` would also split on U+2028, U+0085, \\x1c … — characters a JSON string may hold raw."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(f"{field}: cannot read {path}: {error}", field=field, file=path) from error
    texts = []
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    for number, line in enumerate(lines, start=1):
        decoded = utf8_line(line, path, field, number)
        if decoded.endswith("\r"):
            decoded = decoded[:-1]
        try:
            value = json.loads(decoded)
        except ValueError as error:
            raise DataError(
                f"{path}, line {number}: not a JSON string ({error})", field=field, file=path, details={"line": number}
            ) from error
        if value is not None and not isinstance(value, str):
            raise DataError(
                f"{path}, line {number}: expected a JSON string (or null), got {type(value).__name__}",
                field=field,
                file=path,
                details={"line": number},
            )
        texts.append(value or "")
    return texts


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The trainers' parallel word counting can order ties differently run to run: keep them on one thread."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def train_tokenizer(texts: list[str], kind: str, vocab_size: int, lowercase: bool, min_frequency: int) -> Any:
    """A ``tokenizers.Tokenizer`` of ``kind`` trained on ``texts`` (see the module's docstring for its parts)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    normalizer = (
        normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
        if lowercase
        else normalizers.NFC()
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer: Any = None
    if kind == "wordpiece":
        # The library's WordPiece trainer numbers the '##' pieces in hash order, so equal counts merge in a different
        # order run to run: the same merges are made here, with ties broken by the pieces' text.
        counts = _word_counts(texts, normalizer, pre_tokenizer)
        tokenizer = Tokenizer(models.WordPiece(_wordpiece_vocab(counts, vocab_size, min_frequency), unk_token=UNK))
        tokenizer.decoder = decoders.WordPiece()
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    elif kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        # The unigram trainer has no minimum frequency: pieces are pruned by likelihood down to vocab_size.
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK, show_progress=False
        )
    else:
        raise ConfigError(f"kind: expected wordpiece, bpe, unigram or file, got {kind!r}", field="kind")
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    if trainer is not None:
        with _one_thread():
            tokenizer.train_from_iterator(sorted(texts), trainer=trainer, length=len(texts))
        if kind == "unigram":
            tokenizer = Tokenizer.from_str(_canonical_unigram(tokenizer.to_str()))
    for token, expected in ((PAD, 0), (UNK, 1)):
        if tokenizer.token_to_id(token) != expected:  # the trainers put special tokens first; a guard, not a guess
            raise ConfigError(f"kind: the {kind} trainer gave {token} the id {tokenizer.token_to_id(token)}")
    return tokenizer


def _word_counts(texts: list[str], normalizer: Any, pre_tokenizer: Any) -> dict[str, int]:
    """How often each word (after normalisation and pre-tokenization, as encoding will split it) occurs."""
    counts: dict[str, int] = {}
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _wordpiece_vocab(counts: dict[str, int], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """WordPiece's vocabulary as the library's trainer makes it (BPE merges over words whose inner characters carry
    the '##' prefix), made deterministic: the most frequent pair merges first, equal counts in the pieces' order.
    Every character is kept; merging stops at ``vocab_size`` or when no pair occurs ``min_frequency`` times."""
    words = sorted(counts)
    symbols = [[word[0], *("##" + char for char in word[1:])] for word in words]
    weight = [counts[word] for word in words]
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_TOKENS, *sorted({piece for pieces in symbols for piece in pieces}, key=_piece_key)]:
        vocab.setdefault(token, len(vocab))
    pairs: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for index, pieces in enumerate(symbols):
        for pair in itertools.pairwise(pieces):
            pairs[pair] = pairs.get(pair, 0) + weight[index]
            where.setdefault(pair, set()).add(index)
    heap = [(-count, pair) for pair, count in pairs.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -negative or -negative <= 0:
            continue  # a stale entry: the pair's count changed since it was pushed
        if -negative < min_frequency:
            break
        first, second = pair
        merged = first + second[2:] if second.startswith("##") else first + second
        vocab.setdefault(merged, len(vocab))
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair, set())):
            pieces, count = symbols[index], weight[index]
            for old in itertools.pairwise(pieces):
                pairs[old] -= count
                changed.add(old)
            out, position = [], 0
            while position < len(pieces):
                if position + 1 < len(pieces) and (pieces[position], pieces[position + 1]) == pair:
                    out.append(merged)
                    position += 2
                else:
                    out.append(pieces[position])
                    position += 1
            symbols[index] = out
            for new in itertools.pairwise(out):
                pairs[new] = pairs.get(new, 0) + count
                where.setdefault(new, set()).add(index)
                changed.add(new)
        pairs.pop(pair, None)
        for item in sorted(changed):
            if pairs.get(item, 0) > 0:
                heapq.heappush(heap, (-pairs[item], item))
    return vocab


def _piece_key(piece: str) -> tuple[bool, str]:
    """Whole-word characters first, then the '##' ones, each in code-point order (as the library lists them)."""
    return piece.startswith("##"), piece


def _canonical_unigram(serialized: str) -> str:
    """The unigram trainer appends the characters its pieces do not cover with scores just below the lowest
    (min − 0.0001·i), in hash order: they are put in character order, so the same texts give the same file."""
    document = json.loads(serialized)
    vocab = document["model"]["vocab"]
    lowest = min(score for _, score in vocab[len(SPECIAL_TOKENS) :]) if len(vocab) > len(SPECIAL_TOKENS) else 0.0
    group = [
        index
        for index, (piece, score) in enumerate(vocab)
        if index >= len(SPECIAL_TOKENS) and len(piece) == 1 and score <= lowest + 0.0001 * (len(vocab) + 1)
    ]
    pieces = sorted(vocab[index][0] for index in group)
    scores = sorted((vocab[index][1] for index in group), reverse=True)
    for index, piece, score in zip(group, pieces, scores, strict=True):
        vocab[index] = [piece, score]
    # Its EM sums in hash order too, which moves the scores' last digits: rounded to 1e-6 (far below what changes a
    # segmentation) and listed by score, then piece, after the special tokens.
    rest = sorted(([piece, round(score, 6)] for piece, score in vocab[len(SPECIAL_TOKENS) :]), key=_by_score)
    document["model"]["vocab"] = [*vocab[: len(SPECIAL_TOKENS)], *rest]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _by_score(entry: list[Any]) -> tuple[float, str]:
    return -float(entry[1]), str(entry[0])


def load_tokenizer_file(path: str, field: str = "file") -> tuple[Any, str]:
    """A user's tokenizer.json, loaded by ``tokenizers`` (and its text): a file that is not one is a ConfigError."""
    from tokenizers import Tokenizer

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError(f"{field}: cannot read the tokenizer file {path}: {error}", field=field, file=path) from error
    try:
        text = raw.decode("utf-8")
        if not isinstance(json.loads(text), dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        raise ConfigError(
            f"{field}: {path} is not a tokenizer.json (not a JSON object in UTF-8: {error})", field=field, file=path
        ) from error
    try:
        return Tokenizer.from_str(text), text
    except Exception as error:  # tokenizers raises a bare Exception for a file it cannot read
        raise ConfigError(
            f"{field}: {path} is not a tokenizer.json the Hugging Face tokenizers library can load: {error}",
            field=field,
            file=path,
        ) from error


def special_ids(tokenizer: Any, path: str, field: str = "file") -> tuple[int, Optional[int]]:
    """(pad id, unknown id or None) of a loaded tokenizer: its padding settings', else the usual token names."""
    padding = tokenizer.padding
    pad: Optional[int] = padding["pad_id"] if padding else None
    if pad is None:
        pad = next((tokenizer.token_to_id(name) for name in PAD_NAMES if tokenizer.token_to_id(name) is not None), None)
    if pad is None:
        raise ConfigError(
            f"{field}: {path} has no padding token (no padding settings and none of {', '.join(PAD_NAMES)} in its "
            "vocabulary); add one, e.g. tokenizer.add_special_tokens(['[PAD]'])",
            field=field,
            file=path,
        )
    unk = next((tokenizer.token_to_id(name) for name in UNK_NAMES if tokenizer.token_to_id(name) is not None), None)
    return int(pad), None if unk is None else int(unk)


def fit_tokenizer(request: FitTokenizerRequest, progress: Progress) -> dict[str, Any]:
    """The engine command: trains (or checks and copies) the tokenizer and writes it to ``outPath``."""
    if request.kind == "file":
        if request.file is None:
            raise ConfigError("file: kind 'file' needs the path of a tokenizer.json", field="file")
        tokenizer, text = load_tokenizer_file(request.file)
        content = text.encode("utf-8")
        pad, unk = special_ids(tokenizer, request.file)
    else:
        if request.texts_path is None:
            raise ConfigError(f"textsPath: training a {request.kind} tokenizer needs the texts", field="textsPath")
        texts = read_texts(request.texts_path)
        if not any(text.strip() for text in texts):
            raise DataError(
                f"textsPath: {request.texts_path} holds no non-empty text to fit the tokenizer on",
                field="textsPath",
                file=request.texts_path,
            )
        progress.emit(
            {
                "event": "log",
                "message": f"fitting a {request.kind} tokenizer ({request.vocab_size}) on {len(texts)} texts",
            }
        )
        tokenizer = train_tokenizer(texts, request.kind, request.vocab_size, request.lowercase, request.min_frequency)
        content = tokenizer.to_str().encode("utf-8")
        pad, unk = 0, 1

    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            handle.write(content)

    atomic_write(request.out_path, write)
    return {
        "path": request.out_path,
        "vocabSize": int(tokenizer.get_vocab_size(with_added_tokens=True)),
        "sha256": file_sha256(request.out_path),
        "padId": pad,
        "unkId": unk,
        "model": json.loads(content)["model"].get("type"),
    }
