"""quantize.py: int8 (dynamic, static QDQ) and fp16 variants of an export, their metadata, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from distillery import api
from distillery.errors import QuantizationError
from distillery.export import export_onnx, metadata_props
from distillery.models import build_model, count_parameters, flops_per_sample
from distillery.quantize import CALIBRATION_ROWS, quantize, variant_path
from helpers import OPSET, model_options, model_spec

SHAPE = [4, 4]
NORMALIZATION = {"mean": [100.0], "std": [50.0]}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A tiny MLP exported with its normalisation folded into the graph, and raw calibration rows (0-255)."""
    folder = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    config = model_options("mlp", hidden=[64, 32])
    model = build_model(model_spec("mlp", hidden=[64, 32]), SHAPE, 3).eval()
    metadata = metadata_props(
        name="tiny",
        role="student",
        task="classification",
        input_shape=SHAPE,
        output_kind="logits",
        normalization=NORMALIZATION,
        labels=["a", "b", "c"],
        model_config=config,
        method=None,
        teacher=None,
        training=None,
        metrics=None,
        params=count_parameters(model),
        flops=flops_per_sample(model, SHAPE),
    )
    path = folder / "tiny.onnx"
    export_onnx(model, SHAPE, str(path), metadata, task="classification", opset=OPSET, normalization=NORMALIZATION)
    rows = np.random.default_rng(0).uniform(0, 255, size=(300, *SHAPE)).astype(np.float32)
    np.savez(folder / "calib.npz", x=rows)
    return path, rows, folder


def _run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_the_export_normalises_raw_inputs_itself(student):
    path, rows, _ = student
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["distillery.normalizationInGraph"] == "true"
    assert json.loads(props["distillery.normalization"]) == NORMALIZATION  # still recorded, for the record
    assert _run(path, rows[:8]).shape == (8, 3)


@pytest.mark.parametrize("method", ["int8-dynamic", "int8-static", "fp16"])
def test_each_variant_is_a_separate_file_with_the_metadata_and_close_outputs(student, method):
    path, rows, _ = student
    result = quantize(str(path), method, calibration=rows)
    assert result["path"] == variant_path(str(path), method) == str(path).replace(".onnx", f".{method}.onnx")
    assert result["calibrationRows"] == (300 if method == "int8-static" else None)
    source = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    props = {p.key: p.value for p in onnx.load(result["path"]).metadata_props}
    quantization = json.loads(props.pop("distillery.quantization"))
    assert props == source  # the same metadata contract, plus distillery.quantization
    assert quantization["method"] == method and quantization["source"] == "tiny.onnx"
    assert quantization["tool"].startswith("onnxruntime ")
    expected, actual = _run(path, rows[:64]), _run(result["path"], rows[:64])
    assert actual.dtype == np.float32  # float32 in and out, whatever the precision inside
    # int8 of an untrained net with small logits: within 30 % of the largest logit; fp16: within 1 %
    assert np.abs(actual - expected).max() < (0.01 if method == "fp16" else 0.3) * np.abs(expected).max()
    if method != "fp16":
        assert (
            result["sizeRatio"] < 0.8
        )  # int8 weights: a quarter of the float32 ones; metadata and graph weigh on a tiny model


def test_the_command_through_api_call_reads_calibration_from_an_npz(student, tmp_path):
    path, _, folder = student
    out = tmp_path / "v.onnx"
    result = api.call(
        "quantize", {"model": str(path), "method": "int8-static", "data": str(folder / "calib.npz"), "path": str(out)}
    )
    assert result["path"] == str(out) and out.exists() and result["calibrationRows"] == 300


def test_static_without_calibration_data_names_the_file(student):
    path, _, _ = student
    with pytest.raises(QuantizationError, match="needs calibration data") as caught:
        quantize(str(path), "int8-static")
    assert caught.value.file == str(path)


def test_calibration_data_of_the_wrong_shape_names_the_data_file(student, tmp_path):
    path, _, _ = student
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((10, 5), np.float32))
    with pytest.raises(
        QuantizationError,
        match=r"expected rows of shape \[N, 4, 4\] \(16 values each\), got an array of shape \[10, 5\]",
    ) as caught:
        api.call("quantize", {"model": str(path), "method": "int8-static", "data": str(bad)})
    assert caught.value.file == str(bad)
    assert not (tmp_path / "tiny.int8-static.onnx").exists()


def test_calibration_file_that_is_missing_or_not_an_array_file(student, tmp_path):
    path, _, _ = student
    with pytest.raises(QuantizationError, match="no such file"):
        api.call("quantize", {"model": str(path), "method": "int8-static", "data": str(tmp_path / "none.npz")})
    junk = tmp_path / "junk.npz"
    junk.write_text("not an array file")
    with pytest.raises(QuantizationError, match="cannot be read") as caught:
        api.call("quantize", {"model": str(path), "method": "int8-static", "data": str(junk)})
    assert caught.value.file == str(junk)


def test_fp16_of_a_model_with_ops_the_converter_cannot_take(tmp_path):
    """CumSum is on onnxruntime's float16 block list: the request fails, naming the op and the file."""
    x = onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", 3])
    y = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", 3])
    axis = onnx.helper.make_tensor("axis", onnx.TensorProto.INT64, [], [1])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("CumSum", ["input", "axis"], ["logits"])], "g", [x], [y], [axis]
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    path = tmp_path / "cumsum.onnx"
    onnx.save(model, str(path))
    with pytest.raises(QuantizationError, match="cannot convert the op\\(s\\) CumSum") as caught:
        quantize(str(path), "fp16")
    assert caught.value.file == str(path) and caught.value.details["ops"] == ["CumSum"]
    assert not (tmp_path / "cumsum.fp16.onnx").exists()


def test_older_exports_get_their_calibration_rows_normalised(tmp_path):
    """A graph without distillery.normalizationInGraph expects normalised inputs: raw calibration rows are normalised
    first, so the static ranges fit what the runtime feeds it."""
    torch.manual_seed(0)
    model = build_model(model_spec("mlp", hidden=[16]), SHAPE, 3).eval()
    metadata = {
        "distillery.input": json.dumps({"name": "input", "shape": SHAPE, "dtype": "float32"}),
        "distillery.normalization": json.dumps(NORMALIZATION),
    }
    path = tmp_path / "old.onnx"
    export_onnx(model, SHAPE, str(path), metadata, task="classification", opset=OPSET)
    raw = np.random.default_rng(1).uniform(0, 255, size=(128, *SHAPE)).astype(np.float32)
    result = quantize(str(path), "int8-static", calibration=raw)
    normalised = (raw[:32] - 100.0) / 50.0
    expected, actual = _run(path, normalised), _run(result["path"], normalised)
    assert np.abs(actual - expected).max() < 0.3 * np.abs(expected).max()


def test_an_unknown_method_is_refused(student):
    path, _, _ = student
    with pytest.raises(Exception, match="int8-dynamic"):
        api.call("quantize", {"model": str(path), "method": "int4"})


# ---------------------------------------------------------------- the accuracy guard (export.maxAccuracyDrop)


def _guard_rows(rows, labels, split="validation"):
    from distillery.guard import GuardRows

    return GuardRows(split, rows, labels)


def test_the_guard_compares_each_variant_with_its_fp32_model_on_the_same_rows(student, tmp_path):
    from distillery.guard import guard_variants

    path, rows, _ = student
    labels = _run(path, rows).argmax(axis=1)  # the fp32 model is right on every row
    other = tmp_path / "other.onnx"  # a different network: right where it agrees with the fp32 one
    torch.manual_seed(1)
    model = build_model(model_spec("mlp", hidden=[64, 32]), SHAPE, 3).eval()
    export_onnx(
        model,
        SHAPE,
        str(other),
        {"distillery.input": json.dumps({"shape": SHAPE})},
        task="classification",
        opset=OPSET,
        normalization=NORMALIZATION,
    )
    agreement = float((_run(other, rows).argmax(axis=1) == labels).mean())
    assert agreement < 0.995  # so it loses more than 0.5 points
    variants = [{"path": str(path)}, {"path": str(other)}]
    guard_variants(str(path), variants, _guard_rows(rows, labels), 0.5)
    same, worse = variants[0]["guard"], variants[1]["guard"]
    assert same == {
        "split": "validation",
        "rows": 300,
        "fp32Accuracy": 1.0,
        "accuracy": 1.0,
        "dropPoints": 0.0,
        "maxDropPoints": 0.5,
        "rejected": False,
    }
    assert worse["accuracy"] == pytest.approx(agreement) and worse["dropPoints"] == pytest.approx(100 * (1 - agreement))
    assert worse["rejected"] is True
    # exactly at the limit passes; a hair past it does not
    guard_variants(str(path), variants, _guard_rows(rows, labels), 100 * (1 - agreement))
    assert variants[1]["guard"]["rejected"] is False


def test_the_guard_feeds_normalised_rows_to_graphs_that_do_not_normalise(tmp_path):
    """An older export (normalisation outside the graph) must get the normalised rows, as the runtime gives it."""
    from distillery.guard import onnx_accuracy

    torch.manual_seed(0)
    model = build_model(model_spec("mlp", hidden=[16]), SHAPE, 3).eval()
    path = tmp_path / "old.onnx"
    metadata = {"distillery.input": json.dumps({"shape": SHAPE}), "distillery.normalization": json.dumps(NORMALIZATION)}
    export_onnx(model, SHAPE, str(path), metadata, task="classification", opset=OPSET, normalization=None)
    rows = np.random.default_rng(3).uniform(0, 255, size=(64, *SHAPE)).astype(np.float32)
    normalized = ((rows - NORMALIZATION["mean"][0]) / NORMALIZATION["std"][0]).astype(np.float32)
    labels = _run(path, normalized).argmax(axis=1)
    assert onnx_accuracy(str(path), _guard_rows(rows, labels)) == 1.0


def test_an_experiment_guards_on_validation_never_on_test(tmp_path):
    """distill with export.quantize: the guard runs on data.validation's rows; without it, on a sample of data.train."""
    from distillery.data import load_data
    from distillery.spec import DataSpec, parse
    from helpers import distill_request, export_options, mnist_data, training_options
    from helpers import student as student_block

    block = student_block("s", model_options("mlp", hidden=[16]), training=training_options(epochs=1, batchSize=64))
    export = export_options(quantize=["int8-dynamic"])
    with_validation = mnist_data(train_limit=300, test_limit=50, validation={"type": "split", "fraction": 0.2})
    result = api.call("distill", distill_request(tmp_path / "a", block, data=with_validation, export=export))
    [variant] = result["variants"]
    held_out = load_data(parse(DataSpec, with_validation, "data"), torch.device("cpu")).validation
    assert held_out is not None and variant["guard"]["split"] == "validation" and variant["guard"]["rows"] == held_out.n
    assert variant["guard"]["maxDropPoints"] == 0.5
    result = api.call(
        "distill",
        distill_request(tmp_path / "b", block, data=mnist_data(train_limit=300, test_limit=50), export=export),
    )
    assert result["variants"][0]["guard"]["split"] == "train" and result["variants"][0]["guard"]["rows"] == 300


# ---------------------------------------------------------------- foreign models with a fixed batch axis


def _foreign_classifier(path, *, batch, features=6, classes=3, opset=7):
    """An opset-7 MLP classifier as older exporters wrote it: the batch axis fixed (to ``batch``), softmax output, no
    distillery metadata, and (IR 3) every initializer listed among the graph's inputs."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
        for name, shape in [("w1", (features, 8)), ("b1", (8,)), ("w2", (8, classes)), ("b2", (classes,))]
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"]),
    ]
    inputs = [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, features])]
    inputs += [helper.make_tensor_value_info(w.name, onnx.TensorProto.FLOAT, list(w.dims)) for w in weights]
    output = helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, [batch, classes])
    model = helper.make_model(
        helper.make_graph(nodes, "foreign", inputs, [output], weights), opset_imports=[helper.make_opsetid("", opset)]
    )
    model.ir_version = 3
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _run_one_by_one(path, x, batch=1):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])


@pytest.mark.parametrize("batch", [1, 4])
def test_int8_static_calibrates_a_fixed_batch_model_in_its_own_batch_size(tmp_path, batch):
    """onnxruntime refuses a batch of 64 for an input fixed at 1 (it did: `index: 0 Got: 64 Expected: 1`); the rows
    go in the graph's own batch, the last one filled up (10 rows in batches of 4)."""
    path = _foreign_classifier(tmp_path / "foreign.onnx", batch=batch)
    rows = np.random.default_rng(1).normal(size=(12, 6)).astype(np.float32)
    result = quantize(str(path), "int8-static", calibration=rows[:10])
    assert result["calibrationRows"] == 10
    expected, actual = _run_one_by_one(path, rows, batch), _run_one_by_one(result["path"], rows, batch)
    assert actual.shape == (12, 3) and np.abs(actual - expected).max() < 0.1  # probabilities, within 0.1
    assert {node.op_type for node in onnx.load(result["path"]).graph.node} >= {"QuantizeLinear", "DequantizeLinear"}


def test_feed_batches_fills_the_last_fixed_batch_with_its_own_rows():
    from distillery.quantize import feed_batches

    rows = np.arange(10, dtype=np.float32).reshape(5, 2)
    fixed = list(feed_batches(rows, 64, 2))
    assert [real for _, real in fixed] == [2, 2, 1]
    assert [batch.shape for batch, _ in fixed] == [(2, 2)] * 3
    np.testing.assert_array_equal(fixed[-1][0], rows[[4, 4]])  # a repeat of its own row: min/max unchanged
    [(free, real)] = list(feed_batches(rows, 64, None))
    assert real == 5 and np.array_equal(free, rows)  # a free batch axis: the rows as they are


def test_the_guard_reads_a_fixed_batch_model_in_its_own_batch_size(tmp_path):
    from distillery.guard import onnx_accuracy

    path = _foreign_classifier(tmp_path / "foreign.onnx", batch=4)
    rows = np.random.default_rng(2).normal(size=(10, 6)).astype(np.float32)  # not a multiple of 4
    labels = _run_one_by_one(path, np.concatenate([rows, rows[:2]]), 4)[:10].argmax(axis=1)
    assert onnx_accuracy(str(path), _guard_rows(rows, labels)) == 1.0
    assert onnx_accuracy(str(path), _guard_rows(rows, (labels + 1) % 3)) == 0.0


def test_a_model_with_two_data_inputs_cannot_be_calibrated_and_says_why(tmp_path):
    x = onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1, 3])
    y = onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [1, 3])
    z = onnx.helper.make_tensor_value_info("sum", onnx.TensorProto.FLOAT, [1, 3])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Add", ["a", "b"], ["sum"])], "g", [x, y], [z])
    path = tmp_path / "two.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(
        QuantizationError, match=r"the model takes 2 inputs \(a, b\); int8-static calibration feeds one array"
    ) as caught:
        quantize(str(path), "int8-static", calibration=np.zeros((4, 3), np.float32), calibration_file="calib.npy")
    assert caught.value.field == "data" and caught.value.details == {"inputs": ["a", "b"]}
    assert not (tmp_path / "two.int8-static.onnx").exists()


def test_int8_static_calibrates_from_a_sharded_transfer_set(tmp_path):
    """A sharded transfer set stays a lazy ShardArray: calibration samples its rows and reads only those from disk."""
    from distillery.shards import ShardArray

    torch.manual_seed(0)
    model = build_model(model_spec("mlp", hidden=[16]), SHAPE, 3).eval()
    metadata = {"distillery.input": json.dumps({"name": "input", "shape": SHAPE, "dtype": "float32"})}
    path = tmp_path / "student.onnx"
    export_onnx(model, SHAPE, str(path), metadata, task="classification", opset=OPSET)
    rows = np.random.default_rng(2).normal(size=(700, *SHAPE)).astype(np.float32)
    files = [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]
    np.save(files[0], rows[:400])
    np.save(files[1], rows[400:])
    sharded = ShardArray.open(files, "data.transfer.x")
    result = quantize(str(path), "int8-static", calibration=sharded)
    assert result["calibrationRows"] == CALIBRATION_ROWS
    expected, actual = _run(path, rows[:32]), _run(result["path"], rows[:32])
    assert np.abs(actual - expected).max() < 0.3 * np.abs(expected).max()
