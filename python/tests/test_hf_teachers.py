"""Teachers with their own tokenizer (text_teachers.py): a Hugging Face ONNX folder, a Hugging Face checkpoint folder
fine-tuned here, and a Distillery checkpoint whose tokenizer is not the data's. Every model is a tiny random BERT made
in the test (a WordPiece tokenizer trained here, BertConfig with hidden 16); nothing is downloaded."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest
import torch

from distillery import api, spec
from distillery.data import Split, load_data
from distillery.errors import ConfigError, DataError
from distillery.progress import Progress
from distillery.shards import DeviceRows
from distillery.text import encode_texts
from distillery.text_teachers import HfOnnxTeacher, build_huggingface, fine_tuned_dir, retokenized
from distillery.tokenizer import train_tokenizer
from helpers import (
    CPU,
    data_options,
    experiment_request,
    method_options,
    model_options,
    student,
    training_options,
    zod_default,
)

POSITIVE = ["great", "excellent", "loved", "wonderful", "superb", "charming"]
NEGATIVE = ["awful", "terrible", "boring", "hated", "dreadful", "dull"]
FILLER = ["the", "movie", "plot", "acting", "was", "really", "quite", "and", "story", "film", "music"]
LENGTH = 16  # the data's maxLength


def reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences whose label is the class of their one sentiment word, among fillers."""
    generator = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(generator.integers(2))
        words = list(generator.choice(FILLER, size=int(generator.integers(3, 8))))
        words.insert(int(generator.integers(len(words) + 1)), str(generator.choice(POSITIVE if label else NEGATIVE)))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels, np.int64)


def bert_tokenizer(texts: list[str]):
    """A BERT-style tokenizer.json: WordPiece, [PAD] [UNK] [CLS] [SEP] [MASK], [CLS] text [SEP]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def bert_folder(folder, texts: list[str], num_labels: int = 2, seed: int = 0) -> str:
    """A tiny random BertForSequenceClassification and its tokenizer, saved as save_pretrained writes them."""
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = bert_tokenizer(texts)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels, initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    return str(folder)


def bert_logits(folder: str, texts: list[str], max_length: int = 128) -> torch.Tensor:
    """The model's own logits on its tokenizer's encoding of ``texts`` (transformers, not Distillery)."""
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    rows = []
    with torch.no_grad():
        for text in texts:  # one at a time: no padding at all
            ids = tokenizer.encode(text).ids[:max_length]
            rows.append(model(input_ids=torch.tensor([ids])).logits[0])
    return torch.stack(rows)


def export_hf_onnx(folder: str, out: str, subfolder: bool = True, num_labels: int = 2) -> str:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    target = os.path.join(out, "onnx") if subfolder else out
    os.makedirs(target, exist_ok=True)
    example = torch.ones((1, 4), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    torch.onnx.export(
        Logits(), (example, example, torch.zeros_like(example)), os.path.join(target, "model.onnx"),
        input_names=list(axes), output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
        dynamo=False, opset_version=17,
    )  # fmt: skip
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf8") as handle:
        text = handle.read()
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf8") as handle:
        handle.write(text)
    return out


def write_data(folder, tokenizer, texts_train, y_train, texts_test, y_test, *, texts=True) -> dict:
    """A text table as TypeScript writes it: [token ids] rows with the data's tokenizer, the tokenizer.json, and
    each split's raw texts as JSONL."""
    os.makedirs(folder, exist_ok=True)
    tokenizer_path = os.path.join(folder, "tokenizer.json")
    tokenizer.save(tokenizer_path)
    with open(tokenizer_path, "rb") as handle:
        sha = hashlib.sha256(handle.read()).hexdigest()
    sources, paths = {}, {}
    for role, split_texts, y in (("train", texts_train, y_train), ("test", texts_test, y_test)):
        ids = encode_texts(tokenizer, split_texts, max_length=LENGTH, pad=0, special_tokens=False, pad_to=LENGTH)
        path = os.path.join(folder, f"{role}-encoded.npz")
        np.savez(path, x=ids.input_ids.astype(np.float32), y=y)
        sources[role] = {"type": "file", "path": path, "x": "x", "y": "y", "offset": 0, "labelled": True}
        paths[role] = os.path.join(folder, f"{role}-texts.jsonl")
        with open(paths[role], "w", encoding="utf8") as handle:
            handle.writelines(json.dumps(text) + "\n" for text in split_texts)
    column = {
        "name": "review", "type": "text", "maxLength": LENGTH, "truncation": "right", "padId": 0,
        "vocabSize": tokenizer.get_vocab_size(), "tokenizerSha256": sha,
    }  # fmt: skip
    return data_options(
        train=sources["train"], test=sources["test"], normalize="none", tokenizerFile=tokenizer_path,
        preprocess={"kind": "table", "columns": [column], "targets": ["label"]},
        **({"texts": paths} if texts else {}),
    )  # fmt: skip


def hf_onnx_options(path: str, **overrides) -> dict:
    return {**zod_default("huggingfaceOnnxTeacher"), "path": path, **overrides}


def hf_options(path: str, **overrides) -> dict:
    return {**zod_default("huggingfaceTeacher"), "path": path, **overrides}


@pytest.fixture(scope="module")
def corpus():
    train, y_train = reviews(160, 1)
    test, y_test = reviews(60, 2)
    return train, y_train, test, y_test


@pytest.fixture(scope="module")
def folders(tmp_path_factory, corpus):
    train, y_train, test, y_test = corpus
    root = tmp_path_factory.mktemp("hf")
    bert = bert_folder(root / "bert", train + test)
    onnx_folder = export_hf_onnx(bert, str(root / "bert-onnx"))
    data_tokenizer = train_tokenizer(train, "wordpiece", 80, True, 1)
    data = write_data(root / "data", data_tokenizer, train, y_train, test, y_test)
    return {"root": root, "bert": bert, "onnx": onnx_folder, "data": data, "data_tokenizer": data_tokenizer}


def bundle(options: dict):
    return load_data(spec.parse(spec.DataSpec, options, "data"), CPU)


# ---------------------------------------------------------------- the encoder


def test_encode_texts_pads_masks_and_replaces_the_mask_string(corpus):
    tokenizer = bert_tokenizer(corpus[0])
    texts = ["the movie was great", "dull [UNK] plot", ""]
    batch = encode_texts(tokenizer, texts, max_length=5, pad=0, special_tokens=True, replace=("[UNK]", "[MASK]"))
    assert batch.input_ids.dtype == np.int64 and batch.input_ids.shape == (3, 5)
    first = tokenizer.encode("the movie was great").ids
    assert batch.input_ids[0].tolist() == [*first[:4], tokenizer.token_to_id("[SEP]")]  # truncated, [SEP] kept
    masked = encode_texts(tokenizer, ["dull [UNK] plot"], max_length=9, pad=0, special_tokens=True,
                          replace=("[UNK]", "[MASK]"))  # fmt: skip
    assert masked.input_ids[0].tolist() == tokenizer.encode("dull [MASK] plot").ids
    assert tokenizer.token_to_id("[MASK]") in masked.input_ids[0].tolist()
    assert batch.attention_mask[2].tolist() == [1, 1, 0, 0, 0]  # [CLS] [SEP] of the empty text, then padding
    plain = encode_texts(tokenizer, ["the movie"], max_length=8, pad=0, special_tokens=False, pad_to=8)
    assert plain.input_ids[0].tolist() == tokenizer.encode("the movie", add_special_tokens=False).ids + [0] * 6


def test_texts_follow_offsets_limits_and_the_validation_split(folders):
    options = json.loads(json.dumps(folders["data"]))
    options["train"]["offset"], options["train"]["limit"] = 10, 100
    options["validation"] = {"type": "split", "fraction": 0.25}
    data = bundle(options)
    with open(options["texts"]["train"], encoding="utf8") as handle:
        every = [json.loads(line) for line in handle]
    tokenizer = folders["data_tokenizer"]
    for split in (data.train, data.validation):
        assert split is not None and split.texts is not None and len(split.texts) == split.n
        ids = encode_texts(tokenizer, split.texts, max_length=LENGTH, pad=0, special_tokens=False, pad_to=LENGTH)
        assert np.array_equal(ids.input_ids.astype(np.float32), split.x[: split.n].cpu().numpy())  # row for row
        assert set(split.texts) <= set(every[10:110])
    assert data.train.n + data.validation.n == 100


# ---------------------------------------------------------------- huggingface-onnx


def test_hf_onnx_teacher_gives_the_models_own_outputs(folders, corpus):
    data = bundle(folders["data"])
    teacher_spec = spec.parse(spec.HuggingFaceOnnxTeacher, hf_onnx_options(folders["onnx"], batchSize=7), "teacher")
    module, summary = build_huggingface(teacher_spec, data, CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert summary is None and isinstance(module, HfOnnxTeacher)
    outputs = module.outputs(data.test)
    expected = bert_logits(folders["bert"], corpus[2])
    assert outputs.shape == (60, 2) and float((outputs - expected).abs().max()) < 1e-5
    # masked words: the data's unknown-token string becomes the teacher's [MASK]
    masked = Split(data.test.x, None, ["the [UNK] was great"], mask_token="[UNK]")
    assert torch.allclose(module.outputs(masked), bert_logits(folders["bert"], ["the [MASK] was great"]), atol=1e-5)


def test_hf_onnx_teacher_distils_a_student_that_exports(folders, tmp_path):
    teacher = hf_onnx_options(folders["onnx"])
    students = [
        student(
            "bag",
            model_options("embedding-bag", dim=8, buckets=31),
            method_options("soft-targets", temperature=2.0, alpha=0.5),
            training_options(epochs=1, batchSize=32),
        )
    ]
    request = experiment_request(tmp_path / "out", teacher, students, data=folders["data"])
    result = api.call("run_experiment", request)
    assert result["teacher"]["inputs"] == "texts" and result["teacher"]["onnx"] is None
    assert result["teacher"]["metrics"]["testAccuracy"] >= 0
    bag = result["students"][0]
    assert os.path.exists(bag["onnx"]) and bag["teacher"]["outputs"] == "cached"
    with open(os.path.join(folders["onnx"], "onnx", "model.onnx"), "rb") as handle:
        assert bag["teacher"]["sha256"] == hashlib.sha256(handle.read()).hexdigest()


# ---------------------------------------------------------------- huggingface (fine-tuned here)


def test_fine_tuning_learns_the_task_and_is_kept_for_resume(folders, corpus, tmp_path):
    data = bundle(folders["data"])
    options = hf_options(folders["bert"], lr=3e-3, epochs=6, batchSize=8, warmup=0.0)
    teacher_spec = spec.parse(spec.HuggingFaceTeacher, options, "teacher")
    before = float((bert_logits(folders["bert"], corpus[2]).argmax(1).numpy() == corpus[3]).mean())
    states = str(tmp_path / "checkpoints")
    module, summary = build_huggingface(teacher_spec, data, CPU, Progress(), seed=0, state_dir=states, resume=False)
    assert summary is not None
    losses = [epoch["loss"] for epoch in summary["history"]]
    assert losses[-1] < losses[0]
    assert summary["metrics"]["testAccuracy"] >= max(0.9, before + 0.2)
    # the teacher's outputs are the saved model's own
    saved = fine_tuned_dir(states, "teacher")
    assert os.path.exists(os.path.join(saved, "tokenizer.json"))
    assert torch.allclose(module.outputs(data.test), bert_logits(saved, corpus[2]), atol=1e-4)
    # resume: loaded, not fine-tuned again
    again, none = build_huggingface(teacher_spec, data, CPU, Progress(), seed=0, state_dir=states, resume=True)
    assert none is None and torch.allclose(again.outputs(data.test), module.outputs(data.test), atol=1e-6)


def test_a_fine_tuned_teacher_distils_a_student_through_run_experiment(folders, tmp_path):
    teacher = hf_options(folders["bert"], lr=2e-3, epochs=1, batchSize=32)
    students = [student("bag", model_options("embedding-bag", dim=8, buckets=31), None, training_options(epochs=1))]
    students[0]["method"] = method_options("soft-targets", temperature=2.0, alpha=0.5)
    request = experiment_request(tmp_path / "out", teacher, students, data=folders["data"])
    result = api.call("run_experiment", request)
    assert result["teacher"]["inputs"] == "texts" and len(result["teacher"]["history"]) == 1
    assert os.path.exists(result["students"][0]["onnx"])
    assert os.path.isdir(fine_tuned_dir(str(tmp_path / "out" / "checkpoints"), "teacher"))


def test_a_head_of_another_size_is_made_anew(folders, tmp_path):
    three = bert_folder(tmp_path / "three", reviews(20, 3)[0], num_labels=3)
    data = bundle(folders["data"])
    teacher_spec = spec.parse(spec.HuggingFaceTeacher, hf_options(three, epochs=1), "teacher")
    module, _ = build_huggingface(teacher_spec, data, CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert module.outputs(data.test).shape == (60, 2)


# ---------------------------------------------------------------- a Distillery checkpoint with another tokenizer


def own_teacher(root, corpus, epochs: int) -> tuple[dict, str]:
    """A Distillery text teacher (an embedding bag) trained on the corpus's texts with another tokenizer (BPE): its
    data config and its checkpoint."""
    train, y_train, test, y_test = corpus
    own = write_data(root / "data", train_tokenizer(train, "bpe", 60, False, 1), train, y_train, test, y_test)
    teacher = {"type": "train", "name": "t", "model": model_options("embedding-bag", dim=8, buckets=31),
               "training": {**training_options(epochs=epochs), "checkpoint": "last"}}  # fmt: skip
    trained = api.call(
        "train_teacher",
        {"data": own, "outDir": str(root / "t"), "device": "cpu", "seed": 0, "resume": False, "export": False,
         "teacher": teacher},
    )  # fmt: skip
    return own, str(trained["checkpoint"])


def test_a_checkpoint_with_its_own_tokenizer_reads_the_raw_texts(folders, corpus, tmp_path):
    own, checkpoint = own_teacher(tmp_path, corpus, epochs=2)
    from distillery.checkpoints import load_checkpoint
    from distillery.train import predict

    loaded = load_checkpoint(checkpoint, CPU)
    expected = predict(loaded.module, bundle(own).test.x)
    wrapped = retokenized(loaded, bundle(folders["data"]), "teacher.path")
    assert wrapped is not None
    assert torch.allclose(wrapped.outputs(bundle(folders["data"]).test), expected, atol=1e-6)
    assert retokenized(loaded, bundle(own), "teacher.path") is None  # the data's own tokenizer: rows as they are


# ---------------------------------------------------------------- bad input


def test_bad_folders_and_data_are_typed_errors(folders, tmp_path):
    data = bundle(folders["data"])

    def onnx_teacher(path: str, **overrides):
        options = hf_onnx_options(path, **overrides)
        teacher_spec = spec.parse(spec.HuggingFaceOnnxTeacher, options, "teacher")
        return build_huggingface(teacher_spec, data, CPU, Progress(), seed=0, state_dir=None, resume=False)

    empty = tmp_path / "empty"
    empty.mkdir()
    tokenizer_file = os.path.join(folders["onnx"], "tokenizer.json")
    shutil.copyfile(tokenizer_file, empty / "tokenizer.json")
    with pytest.raises(
        ConfigError, match=re.escape("no usable model file (looked for model.onnx, onnx/model.onnx)")
    ) as caught:
        onnx_teacher(str(empty))
    assert caught.value.field == "teacher.path"
    bad = tmp_path / "bad"
    (bad / "onnx").mkdir(parents=True)
    shutil.copyfile(os.path.join(folders["onnx"], "onnx", "model.onnx"), bad / "onnx" / "model.onnx")
    (bad / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(ConfigError, match=re.escape("not a tokenizer.json")) as caught:
        onnx_teacher(str(bad))
    assert caught.value.file == str(bad / "tokenizer.json")
    # an ONNX model without input_ids
    plain = tmp_path / "plain"
    plain.mkdir()
    torch.onnx.export(torch.nn.Linear(4, 2), (torch.zeros(1, 4),), str(plain / "model.onnx"), input_names=["input"],
                      dynamo=False)  # fmt: skip
    shutil.copyfile(tokenizer_file, plain / "tokenizer.json")
    with pytest.raises(ConfigError, match=re.escape("takes no input_ids (its inputs: input)")):
        onnx_teacher(str(plain))
    # label count: an ONNX classifier of 3 classes for data of 2
    three = export_hf_onnx(bert_folder(tmp_path / "b3", reviews(20, 3)[0], num_labels=3), str(tmp_path / "o3"))
    with pytest.raises(ConfigError, match="gives 3 outputs, the data has 2 classes"):
        onnx_teacher(three)
    # a checkpoint folder without weights
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(folders["bert"], name), bare / name)
    fine_spec = spec.parse(spec.HuggingFaceTeacher, hf_options(str(bare)), "teacher")
    with pytest.raises(ConfigError, match=re.escape("no usable model file (looked for model.safetensors")):
        build_huggingface(fine_spec, data, CPU, Progress(), seed=0, state_dir=None, resume=False)
    # no raw texts, no text column
    no_texts = bundle({k: v for k, v in folders["data"].items() if k != "texts"})
    good = spec.parse(spec.HuggingFaceOnnxTeacher, hf_onnx_options(folders["onnx"]), "teacher")
    with pytest.raises(DataError, match="does not carry them") as caught:
        build_huggingface(good, no_texts, CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert caught.value.field == "data.texts"
    no_column = bundle({**folders["data"], "preprocess": None, "tokenizerFile": None})
    with pytest.raises(ConfigError, match="needs a data table with a text column") as caught:
        build_huggingface(good, no_column, CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert caught.value.field == "teacher.type"
    # texts that do not match the rows
    short = tmp_path / "short.jsonl"
    short.write_text('"one"\n')
    with pytest.raises(DataError, match=re.escape("holds 1 texts for the 60 rows of data.test")) as caught:
        bundle({**folders["data"], "texts": {**folders["data"]["texts"], "test": str(short)}})
    assert caught.value.file == str(short)


def test_split_texts_survive_device_rows():
    split = Split(DeviceRows(torch.zeros(2, 3)), None, ["a", "b"])
    assert split.texts == ["a", "b"] and split.mask_token is None


# ---------------------------------------------------------------- refused: docs/ERRORS.md rows 328-330


@pytest.fixture(scope="module")
def own_checkpoint(tmp_path_factory, corpus):
    """A Distillery text teacher trained on the same texts with another tokenizer (BPE), 1 epoch."""
    return own_teacher(tmp_path_factory.mktemp("own"), corpus, epochs=1)[1]


def test_a_checkpoint_whose_fixed_columns_differ_is_refused(folders, own_checkpoint):
    """Row 328: its token slots could be re-encoded, but its fixed columns are not the data's."""
    import dataclasses

    from distillery.checkpoints import load_checkpoint

    loaded = load_checkpoint(own_checkpoint, CPU)
    assert loaded.preprocess is not None
    stars = {"name": "stars", "type": "numeric", "missing": "mean"}
    with_stars = dataclasses.replace(
        loaded, preprocess={**loaded.preprocess, "columns": [stars, *loaded.preprocess["columns"]]}
    )
    with pytest.raises(ConfigError, match=re.escape("its fixed columns are ['stars'], the data's []")) as caught:
        retokenized(with_stars, bundle(folders["data"]), "teacher.path")
    assert caught.value.field == "teacher.path" and caught.value.file == own_checkpoint


def test_a_teacher_with_its_own_tokenizer_never_runs_online(folders, own_checkpoint, tmp_path):
    """Row 329: online outputs, a feature method, an ensemble member: each a typed error naming its field."""
    from distillery.teachers import build_teacher

    def bag(method: dict, **training) -> dict:
        return student("bag", model_options("embedding-bag", dim=8, buckets=31), method, training_options(**training))

    teacher = hf_onnx_options(folders["onnx"])
    soft = method_options("soft-targets", temperature=2.0, alpha=0.5)
    online = experiment_request(tmp_path / "online", teacher, [bag(soft, epochs=1, teacherOutputs="online")],
                                data=folders["data"])  # fmt: skip
    with pytest.raises(ConfigError, match="it cannot run online on the student's batches") as caught:
        api.call("run_experiment", online)
    assert caught.value.field == "training.teacherOutputs"
    hints = experiment_request(tmp_path / "hints", teacher, [bag(method_options("hints"), epochs=1)],
                               data=folders["data"])  # fmt: skip
    with pytest.raises(ConfigError, match="reads the teacher's layers") as caught:
        api.call("run_experiment", hints)
    assert caught.value.field == "students[0].method.type"
    member = {"type": "checkpoint", "name": "m", "path": own_checkpoint}
    ensemble = spec.parse(
        spec.EnsembleTeacher, {"type": "ensemble", "name": "teacher", "combine": "mean-logits", "members": [member]}
    )
    with pytest.raises(ConfigError, match="it cannot be an ensemble member") as caught:
        build_teacher(ensemble, bundle(folders["data"]), CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert caught.value.field == "teacher.members[0].path"


def test_fine_tuning_that_diverges_is_a_typed_error(folders, monkeypatch):
    """Row 330: a NaN loss stops fine-tuning at that epoch, naming teacher.lr."""
    from distillery import text_teachers

    def nan_loss(logits: torch.Tensor, _labels: torch.Tensor) -> torch.Tensor:
        return logits.sum() * float("nan")

    monkeypatch.setattr(text_teachers.nn.functional, "cross_entropy", nan_loss)
    teacher_spec = spec.parse(spec.HuggingFaceTeacher, hf_options(folders["bert"], epochs=2), "teacher")
    with pytest.raises(
        ConfigError, match=re.escape("fine-tuning diverged (the loss became NaN or infinite) at epoch 1")
    ) as caught:
        build_huggingface(teacher_spec, bundle(folders["data"]), CPU, Progress(), seed=0, state_dir=None, resume=False)
    assert caught.value.field == "teacher.lr"
