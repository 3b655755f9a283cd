"""Word vectors (vectors.py): GloVe and word2vec text files matched to a tokenizer's vocabulary — exact, then
case-insensitive, continuation pieces and special tokens as documented — the coverage numbers exactly, the table
frozen through a training step, the typed errors, and the coverage on the wire through train_teacher."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from distillery import api, spec
from distillery.data import DataBundle, Split
from distillery.errors import ConfigError, DataError
from distillery.models import build_model
from distillery.progress import Progress, Silent
from distillery.shards import DeviceRows
from distillery.vectors import apply_vectors, token_table
from helpers import model_options, train_teacher_request, trained_teacher, training_options
from test_text_models import fitted_text_data, preprocess

FIXED, LENGTH = 1, 4
# [PAD] 0 and [UNK] 1 are special; '##s' is a WordPiece continuation piece.
VOCAB = ["[PAD]", "[UNK]", "the", "good", "Film", "bad", "##s", "zebra", "movie"]
DIM = 4


def wordpiece_json() -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.add_special_tokens(["[PAD]", "[UNK]"])
    text: str = tokenizer.to_str()
    return text


GLOVE = [
    "the 1 0 0 0",
    "[PAD] 5 5 5 5",  # special tokens never match
    "Movie 2 2 2 2",  # 'movie' is in the file too: the exact word wins over another casing
    "film 0 1 0 0",  # 'Film' has no exact line: the first line equal case-insensitively
    "FILM 7 7 7 7",
    "good 0 0 1 0",
    "s 9 9 9 9",  # not the continuation piece '##s'
    "movie 3 3 3 3",
    "bad 0 0 0 1",
    "unused 1 1 1 1",
]
TRAIN_IDS = [[2, 3, 4, 0], [6, 7, 1, 0], [2, 2, 0, 0]]  # 8 real tokens; 2, 3, 4 have vectors: 5 of them


def bundle(tokenizer: str | None = None) -> DataBundle:
    ids = torch.tensor(TRAIN_IDS, dtype=torch.float32)
    x = torch.cat([torch.randn(len(ids), FIXED), ids], dim=1)
    split = Split(DeviceRows(x), torch.zeros(len(ids), dtype=torch.long))
    pre = preprocess(fixed=FIXED, length=LENGTH, vocab=len(VOCAB))
    return DataBundle(
        "classification",
        [FIXED + LENGTH],
        2,
        ["a", "b"],
        None,
        split,
        split,
        split,
        None,
        preprocess=pre,
        tokenizer=wordpiece_json() if tokenizer is None else tokenizer,
    )


def model(kind: str, path: str, freeze: bool = False, **sizes):
    small = {
        "transformer": {"width": DIM, "heads": 2, "layers": 1, "ff": 8},
        "textcnn": {"dim": DIM, "widths": [2], "maps": 3},
        "bilstm": {"dim": DIM, "hidden": 3, "head": []},
    }
    sizes = sizes or small.get(kind, {"dim": DIM})
    options = model_options(kind, **sizes, vectors={"path": path, "freeze": freeze})
    config = spec.parse(spec.ModelSpec, options, "model")
    torch.manual_seed(0)
    return build_model(
        config, [FIXED + LENGTH], 2, "model", preprocess(fixed=FIXED, length=LENGTH, vocab=len(VOCAB))
    ), config


def write(tmp_path, lines, name="vectors.txt") -> str:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode("utf8") if isinstance(lines, list) else lines)
    return str(path)


def table_of(module) -> torch.Tensor:
    found = token_table(module)
    assert found is not None
    return found[1].weight


@pytest.mark.parametrize("fmt", ["glove", "word2vec", "word2vec-gz"])
def test_vectors_match_exact_then_case_insensitive_with_exact_coverage(tmp_path, fmt):
    lines = GLOVE if fmt == "glove" else [f"{len(GLOVE)} {DIM}", *(line + " " for line in GLOVE)]  # C word2vec's spaces
    if fmt == "word2vec-gz":
        path = str(tmp_path / "vectors.vec.gz")
        with gzip.open(path, "wb") as handle:
            handle.write(("\n".join(lines) + "\n").encode("utf8"))
    else:
        path = write(tmp_path, lines)
    module, config = model("embedding-bag", path)
    before = table_of(module).detach().clone()
    logged: list[dict] = []
    coverage = apply_vectors(module, config, bundle(), "model", Progress(logged.append))
    weight = table_of(module).detach()
    assert weight[2].tolist() == [1, 0, 0, 0]  # the
    assert weight[3].tolist() == [0, 0, 1, 0]  # good
    assert weight[4].tolist() == [0, 1, 0, 0]  # Film ← film, the first case-insensitive line
    assert weight[5].tolist() == [0, 0, 0, 1]  # bad
    assert weight[8].tolist() == [3, 3, 3, 3]  # movie: exact, though Movie came first
    assert weight[0].tolist() == [0, 0, 0, 0]  # [PAD]: zero, never matched
    for kept in (1, 6, 7):  # [UNK], ##s (not 's'), zebra: their random start
        assert torch.equal(weight[kept], before[kept])
    assert coverage is not None
    assert (coverage.field, coverage.format, coverage.dim, coverage.freeze) == (
        "model.vectors",
        "glove" if fmt == "glove" else "word2vec",
        DIM,
        False,
    )
    assert (coverage.vocabulary, coverage.matched, coverage.lowercased) == (7, 5, 1)
    assert coverage.share == 5 / 7
    assert (coverage.train_tokens, coverage.train_share) == (8, 5 / 8)
    assert coverage.missing == ("##s", "zebra")
    assert any("5 of 7 tokens (71.4%)" in event["message"] for event in logged)


@pytest.mark.parametrize("kind", ["textcnn", "bilstm", "transformer"])
def test_every_text_family_takes_vectors(tmp_path, kind):
    module, config = model(kind, write(tmp_path, GLOVE))
    coverage = apply_vectors(module, config, bundle(), "model", Silent())
    assert coverage is not None and coverage.matched == 5
    assert table_of(module)[2].tolist() == [1, 0, 0, 0]


def test_the_models_of_a_run_read_one_file_once(tmp_path):
    path = write(tmp_path, GLOVE)
    logged: list[dict] = []
    for kind in ("embedding-bag", "bilstm"):
        module, config = model(kind, path)
        apply_vectors(module, config, bundle(), "model", Progress(logged.append))
        assert table_of(module)[2].tolist() == [1, 0, 0, 0]
    assert sum(event["message"].endswith(f"reading {path}") for event in logged) == 1


def test_frozen_vectors_stay_through_a_training_step(tmp_path):
    module, config = model("embedding-bag", write(tmp_path, GLOVE), freeze=True)
    apply_vectors(module, config, bundle(), "model", Silent())
    table = table_of(module).detach().clone()
    head = module.head[-1].weight.detach().clone()
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.1, weight_decay=0.1)
    x = bundle().train.x.split(8).__next__()
    module.train()
    torch.nn.functional.cross_entropy(module(x), torch.tensor([0, 1, 0])).backward()
    optimizer.step()
    assert torch.equal(table_of(module).detach(), table)
    assert not torch.equal(module.head[-1].weight.detach(), head)  # the rest trains
    assert module.bigrams is not None and module.bigrams.weight.requires_grad  # only the token table is frozen


def test_a_word_with_spaces_is_read_and_blank_lines_skipped(tmp_path):
    path = write(tmp_path, ["\ufeffthe 1 0 0 0", "", ". . . 2 2 2 2", "good\t0 0 1 0", "bad  0 0 0 1"])
    module, config = model("embedding-bag", path)
    coverage = apply_vectors(module, config, bundle(), "model", Silent())
    assert coverage is not None and coverage.matched == 3


def error_of(tmp_path, lines, kind="embedding-bag", **sizes):
    path = lines if lines is None else write(tmp_path, lines) if not isinstance(lines, str) else lines
    module, config = model(kind, path, **sizes)
    with pytest.raises((ConfigError, DataError)) as caught:
        apply_vectors(module, config, bundle(), "students[0].model", Silent())
    return caught.value


def test_bad_vector_files_are_typed_errors_naming_field_file_and_line(tmp_path):
    missing = error_of(tmp_path, str(tmp_path / "absent.txt"))
    assert isinstance(missing, DataError) and missing.field == "students[0].model.vectors.path"
    assert "cannot read the word-vector file" in missing.message and missing.file == str(tmp_path / "absent.txt")

    short = error_of(tmp_path, ["the 1 0 0 0", "good 0 0 1 0", "bad 0 0 1"])
    assert isinstance(short, DataError) and short.details == {"line": 3}
    assert "line 3: 3 values after the word, expected 4" in short.message

    text = error_of(tmp_path, ["the 1 0 0 0", "good 0 x 1 0"])
    assert isinstance(text, DataError) and text.details == {"line": 2} and "value 2 is 'x'" in text.message
    nan = error_of(tmp_path, ["the 1 0 nan 0"])
    assert nan.details == {"line": 1} and "not a finite number" in nan.message

    width = error_of(tmp_path, ["the 1 0 0"])
    assert isinstance(width, ConfigError) and width.field == "students[0].model.dim"
    assert "the embedding width is 4, but the word vectors in" in width.message and "have 3 dimensions" in width.message
    transformer = error_of(tmp_path, ["2 3", "the 1 0 0", "good 1 1 1"], kind="transformer")
    assert transformer.field == "students[0].model.width"

    nothing = error_of(tmp_path, ["apple 1 0 0 0", "pear 0 1 0 0"])
    assert isinstance(nothing, DataError) and "none of the tokenizer's 7 tokens has a vector" in nothing.message

    truncated = error_of(tmp_path, ["5 4", "the 1 0 0 0"])
    assert "declares 5 vectors in its first line but holds 1" in truncated.message

    utf8 = error_of(tmp_path, b"the 1 0 0 0\n\xff\xfe 1 1 1 1\n")
    assert utf8.details == {"line": 2} and "invalid UTF-8" in utf8.message

    empty = error_of(tmp_path, b"\n\n")
    assert "holds no word vectors" in empty.message


def test_the_coverage_travels_in_train_teachers_result(tmp_path):
    fitted, data = fitted_text_data(tmp_path, "wordpiece")
    vocab = fitted["vocabSize"]
    vectors = write(tmp_path, [f"{word} {' '.join(['0.5'] * 8)}" for word in ("Good", "bad", "film")])
    logged: list[dict] = []
    teacher = api.call(
        "train_teacher",
        train_teacher_request(
            tmp_path / "out",
            trained_teacher(
                model_options("embedding-bag", dim=8, buckets=0, vectors={"path": vectors, "freeze": True}),
                training=training_options(epochs=1, batchSize=32),
            ),
            data=data,
            export=False,
        ),
        logged.append,
    )
    [coverage] = teacher["vectors"]
    assert coverage["field"] == "teacher.model.vectors" and coverage["matched"] == 3 and coverage["lowercased"] == 1
    assert coverage["vocabulary"] == vocab - 2 and coverage["freeze"] is True
    assert 0 < coverage["trainShare"] <= 1 and coverage["trainTokens"] > 0
    assert any(event.get("message", "").startswith("teacher.model.vectors: 3 of") for event in logged)
    assert np.isclose(coverage["share"], 3 / (vocab - 2))
