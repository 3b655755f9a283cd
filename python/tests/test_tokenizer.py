"""fit_tokenizer (tokenizer.py): the JSONL reader, the three trainers (deterministic, [PAD] = 0, [UNK] = 1), a user's
tokenizer.json checked and copied, and the typed errors; text.read_tokenizer's sha256 check."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from distillery import api
from distillery.errors import ConfigError, DataError
from distillery.text import read_tokenizer
from distillery.tokenizer import read_texts
from helpers import REPO_ROOT

TEXTS = [
    "a good film, truly good",
    "a bad film with bad acting",
    "Café crème: accents and ÜMLAUTS",
    "good good good",
    "the plot was bad but the music good",
    "mixed 漢字 text and emoji 🎬",
    "line\u2028separator and \x1c file separator stay inside one text",
    "",
]


def write_jsonl(path, texts) -> str:
    with open(path, "w", encoding="utf8") as handle:
        for text in texts:
            handle.write(json.dumps(text, ensure_ascii=False) + "\n")
    return str(path)


def fit(**request):
    return api.call("fit_tokenizer", request)


def request(tmp_path, kind="wordpiece", **overrides):
    base = {
        "kind": kind,
        "textsPath": write_jsonl(tmp_path / "texts.jsonl", TEXTS * 3),
        "vocabSize": 80,
        "lowercase": True,
        "minFrequency": 1,
        "outPath": str(tmp_path / f"{kind}.json"),
    }
    return {**base, **overrides}


def test_the_jsonl_reader_splits_on_newline_alone(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", ["one\u2028two", "three\x1cfour\u0085", "multi\nline", None])
    assert read_texts(path) == ["one\u2028two", "three\x1cfour\u0085", "multi\nline", ""]


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'"fine"\n"broken \xff here"\n')
    with pytest.raises(DataError, match=r"line 2: invalid UTF-8") as caught:
        read_texts(str(path))
    assert caught.value.file == str(path) and caught.value.details == {"line": 2}


def test_a_line_that_is_not_a_json_string_is_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('"fine"\n{"text": 1}\n', encoding="utf8")
    with pytest.raises(DataError, match="line 2: expected a JSON string"):
        read_texts(str(path))


@pytest.mark.parametrize("kind, model", [("wordpiece", "WordPiece"), ("bpe", "BPE"), ("unigram", "Unigram")])
def test_each_kind_trains_with_pad_0_and_unk_1_and_no_post_processor(tmp_path, kind, model):
    result = fit(**request(tmp_path, kind))
    with open(result["path"], "rb") as handle:
        raw = handle.read()
    assert result["sha256"] == hashlib.sha256(raw).hexdigest()
    assert (result["padId"], result["unkId"], result["model"]) == (0, 1, model)
    document = json.loads(raw)
    assert document["post_processor"] is None
    assert document["normalizer"]["type"] == "Sequence"  # NFD, Lowercase, StripAccents
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(raw.decode("utf8"))
    assert tokenizer.token_to_id("[PAD]") == 0 and tokenizer.token_to_id("[UNK]") == 1
    assert result["vocabSize"] == tokenizer.get_vocab_size(with_added_tokens=True)
    assert tokenizer.encode("good film").ids and 0 not in tokenizer.encode("good film").ids


def test_lowercase_false_keeps_case_with_nfc(tmp_path):
    result = fit(**request(tmp_path, lowercase=False))
    with open(result["path"], encoding="utf8") as handle:
        assert json.load(handle)["normalizer"]["type"] == "NFC"


def test_training_is_deterministic_in_process_and_across_processes(tmp_path):
    """Same texts → same tokenizer.json bytes, also in a fresh process (whose hash seeds differ)."""
    for kind in ("wordpiece", "bpe", "unigram"):
        first = fit(**request(tmp_path, kind, outPath=str(tmp_path / f"{kind}-1.json")))
        second = fit(**request(tmp_path, kind, outPath=str(tmp_path / f"{kind}-2.json")))
        assert first["sha256"] == second["sha256"], kind
    script = (
        "import json, sys; from distillery import api; "
        "r = json.loads(sys.argv[1]); print(api.call('fit_tokenizer', r)['sha256'])"
    )
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO_ROOT, "python"), "PYTHONHASHSEED": "123"}
    for kind in ("wordpiece", "bpe", "unigram"):
        mine = fit(**request(tmp_path, kind, outPath=str(tmp_path / f"{kind}-3.json")))["sha256"]
        other = request(tmp_path, kind, outPath=str(tmp_path / f"{kind}-4.json"))
        output = subprocess.run(
            [sys.executable, "-c", script, json.dumps(other)], env=env, capture_output=True, text=True, check=True
        )
        assert output.stdout.strip() == mine, kind


def test_no_text_to_fit_on_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no non-empty text"):
        fit(**request(tmp_path, textsPath=write_jsonl(tmp_path / "empty.jsonl", ["", "  ", None])))


def test_a_users_tokenizer_is_copied_byte_for_byte(tmp_path):
    trained = fit(**request(tmp_path, "bpe"))
    copied = fit(**request(tmp_path, "file", file=trained["path"], outPath=str(tmp_path / "copy.json")))
    assert copied["sha256"] == trained["sha256"]
    assert (copied["padId"], copied["unkId"], copied["vocabSize"]) == (0, 1, trained["vocabSize"])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG not json", "not a tokenizer.json"),
        (b'["a list"]', "not a tokenizer.json"),
        (b'{"version": "1.0", "model": {"type": "Nonsense"}}', "tokenizers library can load"),
    ],
)
def test_a_file_that_is_not_a_tokenizer_is_a_config_error(tmp_path, content, message):
    bad = tmp_path / "tokenizer.json"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        fit(**request(tmp_path, "file", file=str(bad), outPath=str(tmp_path / "out.json")))
    assert caught.value.file == str(bad)
    assert not (tmp_path / "out.json").exists()


def test_a_users_tokenizer_without_a_pad_token_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "<unk>": 2}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "nopad.json"
    path.write_text(tokenizer.to_str(), encoding="utf8")
    with pytest.raises(ConfigError, match="no padding token"):
        fit(**request(tmp_path, "file", file=str(path), outPath=str(tmp_path / "out.json")))


def test_kind_file_needs_a_file(tmp_path):
    with pytest.raises(ConfigError, match="file"):
        fit(**request(tmp_path, "file"))


def test_the_tokenizer_file_must_match_the_specs_sha256(tmp_path):
    trained = fit(**request(tmp_path))
    column = {"name": "review", "type": "text", "maxLength": 8, "truncation": "right", "padId": 0}
    preprocess = {"kind": "table", "columns": [{**column, "vocabSize": 80, "tokenizerSha256": trained["sha256"]}]}
    with open(trained["path"], encoding="utf8") as handle:
        assert read_tokenizer(preprocess, trained["path"]) == handle.read()
    preprocess["columns"][0]["tokenizerSha256"] = "0" * 64
    with pytest.raises(DataError, match="sha256") as caught:
        read_tokenizer(preprocess, trained["path"])
    assert caught.value.field == "data.tokenizerFile"
    with pytest.raises(ConfigError, match=r"needs its tokenizer\.json"):
        read_tokenizer(preprocess, None)
    assert read_tokenizer(None, None) is None


def test_progress_reports_the_fit(tmp_path):
    events = []
    api.call("fit_tokenizer", request(tmp_path), events.append)
    assert any("wordpiece tokenizer" in event.get("message", "") for event in events)
