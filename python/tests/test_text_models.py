"""Text models (text_models.py): each family's forward, padding invariance, ONNX export with a dynamic width
(parity through onnxruntime on token ids), checkpoint round trip; the typed errors; fp16 / int8 variants keeping
token ids exact; and a text teacher ensemble distilled through the commands (train_teacher, distill)."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from distillery import api, spec
from distillery.checkpoints import Ensemble, load_checkpoint, save_checkpoint
from distillery.data import _keep_token_ids
from distillery.errors import ConfigError, DataError, ExportError
from distillery.export import export_onnx, text_rows
from distillery.models import build_for_task, build_model, flops_per_sample
from distillery.progress import Progress
from distillery.quantize import quantize
from distillery.text import TextLayout, text_layout, trimmed
from helpers import (
    CPU,
    OPSET,
    distill_request,
    file_data,
    method_options,
    model_options,
    student,
    train_teacher_request,
    trained_teacher,
    training_options,
)

FIXED, LENGTH, VOCAB = 2, 12, 300
TINY = {
    "embedding-bag": {"dim": 8, "buckets": 31},
    "textcnn": {"dim": 8, "widths": [2, 3], "maps": 4, "dropout": 0.0},
    "bilstm": {"dim": 8, "hidden": 6, "head": [5], "dropout": 0.0},
    "transformer": {"layers": 2, "heads": 2, "width": 8, "ff": 16, "dropout": 0.0},
}
FAMILIES = list(TINY)


def preprocess(fixed: int = FIXED, length: int = LENGTH, vocab: int = VOCAB, sha: str = "0" * 64, pad: int = 0):
    columns = [{"name": f"x{i}", "type": "numeric", "fill": 0.0} for i in range(fixed)]
    columns.append(
        {
            "name": "review",
            "type": "text",
            "maxLength": length,
            "truncation": "right",
            "padId": pad,
            "vocabSize": vocab,
            "tokenizerSha256": sha,
        }
    )
    return {"kind": "table", "columns": columns, "targets": ["label"]}


def tiny(kind: str) -> spec.ModelSpec:
    return spec.parse(spec.ModelSpec, model_options(kind, **TINY[kind]), "model")


def build(kind: str, pre=None, outputs: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(tiny(kind), [FIXED + LENGTH], outputs, "model", pre or preprocess()).eval()


def layout() -> TextLayout:
    found = text_layout(preprocess(), [FIXED + LENGTH])
    assert found is not None
    return found


@pytest.mark.parametrize("kind", FAMILIES)
def test_forward_and_padding_invariance(kind):
    model = build(kind)
    rows = text_rows(layout(), 16, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(rows)
        assert out.shape == (16, 3) and torch.isfinite(out).all()
        padded = torch.cat([rows, torch.zeros(16, 7)], dim=1)  # pad slots appended past maxLength
        assert torch.allclose(model(padded), out, atol=1e-5)
        short = rows[rows[:, -1] == 0]  # rows whose text ends before maxLength
        assert torch.allclose(model(trimmed(short, layout())), out[rows[:, -1] == 0], atol=1e-5)
        for row in range(4):  # one at a time, each cut right after its own text
            ids = rows[row, FIXED:]
            n = int((ids != 0).sum())
            alone = model(rows[row : row + 1, : FIXED + max(n, 1)])
            assert torch.allclose(alone, out[row : row + 1], atol=1e-5)
    assert flops_per_sample(model, [FIXED + LENGTH]) > 0


@pytest.mark.parametrize("kind", FAMILIES)
def test_a_text_model_trains_one_step_under_bf16_autocast(kind):
    model = build(kind).train()
    rows = text_rows(layout(), 8, torch.Generator().manual_seed(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(rows).float().logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("kind", FAMILIES)
def test_export_parity_at_every_width_and_checkpoint_round_trip(kind, tmp_path):
    model = build(kind)
    pre = preprocess()
    normalization = {"mean": [0.5, -1.0] + [0.0] * LENGTH, "std": [2.0, 3.0] + [1.0] * LENGTH}
    path = str(tmp_path / f"{kind}.onnx")
    metadata = {"distillery.name": kind, "distillery.tokenizer": '{"model": {}}'}
    result = export_onnx(
        model, [FIXED + LENGTH], path, metadata, task="classification", opset=OPSET, normalization=normalization,
        text=layout(),
    )  # fmt: skip
    assert result.parity_max_abs_diff <= 1e-4
    graph = onnx.load(path)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_param and not dims[1].dim_value  # axis 1 is dynamic
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    rows = text_rows(layout(), 10, torch.Generator().manual_seed(5))
    raw = rows.clone()
    raw[:, :FIXED] = rows[:, :FIXED] * torch.tensor([2.0, 3.0]) + torch.tensor([0.5, -1.0])  # as the runtime sends
    with torch.no_grad():
        expected = model(rows).numpy()
    for width in (FIXED + 1, FIXED + 5, FIXED + LENGTH):
        cut = raw[:, :width]
        kept = (rows[:, width:] == 0).all(dim=1).numpy()  # rows whose text fits in the width
        actual = session.run(None, {"input": cut.numpy()})[0]
        assert np.abs(actual[kept] - expected[kept]).max() <= 1e-4
    # checkpoint round trip: the preprocess spec rebuilds the layout, the tokenizer travels along
    checkpoint = str(tmp_path / f"{kind}.pt")
    save_checkpoint(
        checkpoint, module=model, model_config=tiny(kind), task="classification", input_shape=[FIXED + LENGTH],
        num_outputs=3, labels=["a", "b", "c"], normalization=None, meta={"name": kind}, preprocess=pre,
        tokenizer='{"model": {}}',
    )  # fmt: skip
    loaded = load_checkpoint(checkpoint, CPU)
    assert loaded.tokenizer == '{"model": {}}' and loaded.preprocess == pre
    with torch.no_grad():
        assert torch.equal(loaded.module(rows), model(rows))


def test_a_text_model_needs_a_text_column_and_other_models_refuse_one():
    with pytest.raises(ConfigError, match="text model, but the data has no text column") as caught:
        build_model(tiny("bilstm"), [10], 2, "students[0].model", None)
    assert caught.value.field == "students[0].model.type"
    table = {"kind": "table", "columns": [{"name": "a", "type": "numeric", "fill": 0}], "targets": ["y"]}
    with pytest.raises(ConfigError, match="no text column"):
        build_model(tiny("textcnn"), [1], 2, "model", table)
    mlp = spec.parse(spec.ModelSpec, model_options("mlp"), "model")
    with pytest.raises(ConfigError, match="text column \\('review'\\)") as caught:
        build_for_task(mlp, [FIXED + LENGTH], 2, None, "teacher.model", preprocess())
    assert caught.value.field == "teacher.model.type"


def test_layout_errors_are_typed():
    with pytest.raises(DataError, match="takes 12 token slots"):
        text_layout(preprocess(), [5])
    two = preprocess()
    two["columns"].append({**two["columns"][-1], "name": "title"})
    with pytest.raises(DataError, match="at most one text column"):
        text_layout(two, [30])
    with pytest.raises(ConfigError, match="wider than the text's maxLength"):
        build_model(spec.parse(spec.ModelSpec, model_options("textcnn", widths=[20]), "m"), [14], 2, "m", preprocess())
    with pytest.raises(ConfigError, match="multiple of the 3 heads"):
        build_model(
            spec.parse(spec.ModelSpec, model_options("transformer", heads=3, width=8), "m"), [14], 2, "m", preprocess()
        )


def test_token_slots_are_never_standardised():
    norm = {"mean": [1.0, 2.0, 5.0, 6.0], "std": [3.0, 4.0, 7.0, 8.0]}
    kept = _keep_token_ids(norm, TextLayout(fixed=2, length=2, vocab=10, pad=0, column="t"))
    assert kept == {"mean": [1.0, 2.0, 0.0, 0.0], "std": [3.0, 4.0, 1.0, 1.0]}


def test_export_without_a_tokenizer_is_refused(tmp_path):
    with pytest.raises(ExportError, match="holds none"):
        export_onnx(
            build("embedding-bag"), [FIXED + LENGTH], str(tmp_path / "m.onnx"), {"distillery.name": "m"},
            task="classification", opset=OPSET, text=layout(),
        )  # fmt: skip


@pytest.mark.parametrize("kind", ["embedding-bag", "bilstm"])
def test_fp16_and_int8_variants_keep_large_token_ids_exact(kind, tmp_path):
    """ids above 2048 are not float16 numbers: the variant must cast them to int64 from the float32 input."""
    vocab = 5000
    pre = preprocess(vocab=vocab)
    text = text_layout(pre, [FIXED + LENGTH])
    assert text is not None
    torch.manual_seed(0)
    model = build_model(tiny(kind), [FIXED + LENGTH], 3, "model", pre).eval()
    path = str(tmp_path / "m.onnx")
    metadata = {"distillery.name": "m", "distillery.tokenizer": "{}", "distillery.input": json.dumps({"shape": [14]})}
    export_onnx(model, [FIXED + LENGTH], path, metadata, task="classification", opset=OPSET, text=text)
    rows = text_rows(text, 64, torch.Generator().manual_seed(6))
    real = rows[:, FIXED:] != 0
    rows[:, FIXED:][real] = torch.randint(4001, vocab, (int(real.sum()),)).float()  # odd ids above 2048
    with torch.no_grad():
        expected = model(rows).numpy()
    variant = quantize(path, "fp16")
    session = onnxruntime.InferenceSession(variant["path"], providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    actual = session.run(None, {"input": rows.numpy()})[0]
    assert np.abs(actual - expected).max() < 5e-3
    assert os.path.exists(quantize(path, "int8-dynamic")["path"])


# ---------------------------------------------------------------- through the commands


def write_text_data(tmp_path, tokenizer_sha: str, vocab: int):
    """A tiny two-class text table as src/data packs it: [stars | 8 token ids], class 1 iff id 5 appears."""
    rng = np.random.default_rng(0)

    def split(n):
        lengths = rng.integers(0, 9, n)
        ids = rng.integers(2, vocab, (n, 8))
        ids[np.arange(8)[None, :] >= lengths[:, None]] = 0
        y = rng.integers(0, 2, n)
        ids[(y == 1) & (lengths > 0), 0] = 5
        stars = rng.normal(size=(n, 1))
        return np.concatenate([stars, ids], axis=1).astype(np.float32), y.astype(np.int64)

    paths = []
    for name, n in (("train", 96), ("test", 32)):
        x, y = split(n)
        path = tmp_path / f"{name}.npz"
        np.savez(path, x=x, y=y)
        paths.append(path)
    return paths


def fitted_text_data(tmp_path, kind: str) -> tuple[dict, dict]:
    """A `kind` tokenizer fitted through the command on 40 tiny texts, and a data config of write_text_data's table
    for it (its preprocess and tokenizerFile): fit_tokenizer's result and the data config."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n".join(json.dumps(f"word{i} good bad film") for i in range(40)) + "\n", encoding="utf8")
    fitted = api.call(
        "fit_tokenizer",
        {
            "kind": kind,
            "textsPath": str(texts),
            "vocabSize": 60,
            "lowercase": True,
            "minFrequency": 1,
            "outPath": str(tmp_path / "tokenizer.json"),
        },
    )
    train, test = write_text_data(tmp_path, fitted["sha256"], fitted["vocabSize"])
    pre = preprocess(fixed=1, length=8, vocab=fitted["vocabSize"], sha=fitted["sha256"])
    return fitted, file_data(train, test, preprocess=pre, tokenizerFile=fitted["path"])


def test_a_text_teacher_ensemble_distils_a_text_student_through_the_commands(tmp_path):
    fitted, data = fitted_text_data(tmp_path, "bpe")
    pre = data["preprocess"]
    training = training_options(epochs=1, batchSize=32)
    members = [
        trained_teacher(model_options(kind, **TINY[kind]), name=kind.replace("-", ""), training=training)
        for kind in FAMILIES
    ]
    teacher = api.call(
        "train_teacher",
        train_teacher_request(
            tmp_path / "out",
            {"type": "ensemble", "name": "teacher", "combine": "mean-probs", "members": members},
            data=data,
        ),
    )
    assert teacher["export"]["parityMaxAbsDiff"] <= 1e-4
    props = {p.key: p.value for p in onnx.load(teacher["onnx"]).metadata_props}
    with open(fitted["path"], encoding="utf8") as handle:
        assert props["distillery.tokenizer"] == handle.read()
    assert json.loads(props["distillery.preprocess"]) == pre
    result = api.call(
        "distill",
        distill_request(
            tmp_path / "out",
            student(
                "bag",
                model_options("embedding-bag", **TINY["embedding-bag"]),
                method_options("soft-targets"),
                training,
            ),
            teacher=teacher["checkpoint"],
            data=data,
        ),
        None,
        progress=Progress(),
    )
    assert result["onnx"] and result["export"]["parityMaxAbsDiff"] <= 1e-4
    loaded = load_checkpoint(result["checkpoint"], CPU)
    assert loaded.tokenizer is not None and loaded.preprocess == pre


def test_a_tokenizer_that_does_not_match_the_spec_stops_the_run(tmp_path):
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text("{}", encoding="utf8")
    train, test = write_text_data(tmp_path, "0" * 64, 50)
    data = file_data(train, test, preprocess=preprocess(fixed=1, length=8, vocab=50), tokenizerFile=str(tokenizer))
    with pytest.raises(DataError, match="sha256"):
        api.call(
            "train_teacher",
            train_teacher_request(
                tmp_path / "out",
                trained_teacher(model_options("embedding-bag", **TINY["embedding-bag"])),
                data=data,
                export=False,
            ),
        )


def test_batch_augmentation_is_refused_for_text_models(tmp_path):
    texts = tmp_path / "tokenizer.json"
    texts.write_text("{}", encoding="utf8")
    import hashlib

    sha = hashlib.sha256(b"{}").hexdigest()
    train, test = write_text_data(tmp_path, sha, 50)
    data = file_data(train, test, preprocess=preprocess(fixed=1, length=8, vocab=50, sha=sha), tokenizerFile=str(texts))
    augment = {"shift": 0, "flip": False, "noise": 0.1, "mixup": 0, "cutmix": 0}
    with pytest.raises(ConfigError, match="token ids"):
        api.call(
            "train_teacher",
            train_teacher_request(
                tmp_path / "out",
                trained_teacher(
                    model_options("embedding-bag", **TINY["embedding-bag"]),
                    training=training_options(epochs=1, augment=augment),
                ),
                data=data,
                export=False,
            ),
        )


def test_training_and_prediction_batches_are_cut_after_their_longest_text(tmp_path, monkeypatch):
    import distillery.train as train_module

    widths: list[tuple[int, int]] = []
    original = train_module.trim_padding

    def spy(model, x):
        cut = original(model, x)
        widths.append((x.shape[1], cut.shape[1]))
        return cut

    monkeypatch.setattr(train_module, "trim_padding", spy)
    model = build("bilstm")
    rows = text_rows(layout(), 16, torch.Generator().manual_seed(5))
    rows[:, FIXED + 3 :] = 0  # every text ends within 3 tokens
    seen: list[int] = []
    model.register_forward_pre_hook(lambda _module, args: seen.append(args[0].shape[1]))
    with torch.no_grad():
        full = model(rows)
    outputs = train_module.predict(model, rows)
    assert seen[-1] <= FIXED + 3 and torch.allclose(outputs, full, atol=1e-5)
    # a whole split is predicted by length (each batch cut after its longest text), outputs back in row order; an
    # ensemble of text models is cut the same way
    mixed = text_rows(layout(), 64, torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = model(mixed)
    monkeypatch.setattr(train_module, "EVAL_BATCH", 8)
    seen.clear()
    assert torch.allclose(train_module.predict(model, mixed), expected, atol=1e-5)
    assert len(seen) == 8 and seen == sorted(seen) and seen[0] < seen[-1]
    ensemble = Ensemble([build("bilstm"), build("textcnn")], "mean-probs", "classification").eval()
    with torch.no_grad():
        assert torch.allclose(train_module.predict(ensemble, mixed), ensemble(mixed), atol=1e-5)
    assert spy(ensemble, rows).shape[1] <= FIXED + 3
    tokenizer = tmp_path / "tokenizer.json"
    train, test = write_text_data(tmp_path, "0" * 64, 50)
    tokenizer.write_text("{}", encoding="utf8")
    sha = __import__("hashlib").sha256(tokenizer.read_bytes()).hexdigest()
    data = file_data(
        train, test, preprocess=preprocess(fixed=1, length=8, vocab=50, sha=sha), tokenizerFile=str(tokenizer)
    )
    training = training_options(epochs=1, batchSize=4)
    teacher = trained_teacher(model_options("bilstm", **TINY["bilstm"]), training=training)
    widths.clear()
    api.call("train_teacher", train_teacher_request(tmp_path / "out", teacher, data=data))
    # 96 rows of 0-8 tokens in batches of 4: some batch's longest text is shorter than 8 slots, and none is padded.
    assert widths and any(cut < full for full, cut in widths)
    assert {full for full, _ in widths} == {9}


def test_every_bilstm_exported_in_a_process_keeps_a_dynamic_width(tmp_path):
    """torch 2.13 keeps the LSTM kernel it resolved first: without export._forget_rnn_dispatch, the second BiLSTM
    exported in a process came out with its width axis fixed (an SST-2 run's second BiLSTM student failed parity)."""
    pre = preprocess(fixed=0, length=32)
    text = text_layout(pre, [32])
    for index in range(2):
        path = tmp_path / f"bilstm-{index}.onnx"
        torch.manual_seed(index)
        model = build_model(tiny("bilstm"), [32], 2, "model", pre).eval()
        export_onnx(
            model,
            [32],
            str(path),
            {"distillery.name": f"bilstm-{index}", "distillery.tokenizer": "{}"},
            task="classification",
            opset=18,
            text=text,
        )
        dims = [d.dim_param or d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
        assert dims == ["batch", "width"], f"export {index}: {dims}"
