"""export.py: ONNX parity with onnxruntime, dynamic batch, metadata and atomic writes."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from distillery import __version__, export
from distillery.checkpoints import Ensemble
from distillery.errors import ExportError
from distillery.export import export_onnx, metadata_props
from distillery.models import build_model, count_parameters, flops_per_sample
from helpers import OPSET, model_options, model_spec

ARCHITECTURE_KEYS = {
    "distillery.version",
    "distillery.name",
    "distillery.role",
    "distillery.task",
    "distillery.input",
    "distillery.output",
    "distillery.normalization",
    "distillery.labels",
    "distillery.model",
    "distillery.method",
    "distillery.teacher",
    "distillery.training",
    "distillery.metrics",
    "distillery.params",
    "distillery.flopsPerSample",
    "distillery.preprocess",
}
JSON_KEYS = {
    "distillery.input",
    "distillery.output",
    "distillery.normalization",
    "distillery.labels",
    "distillery.model",
    "distillery.method",
    "distillery.teacher",
    "distillery.training",
    "distillery.metrics",
}


def _metadata(model, config, shape, **overrides):
    values = dict(
        name="soft-t20",
        role="student",
        task="classification",
        input_shape=shape,
        output_kind="logits",
        normalization={"mean": [33.3], "std": [78.6]},
        labels=[str(i) for i in range(10)],
        model_config=config,
        method={"type": "soft-targets", "temperature": 20, "alpha": 0.9},
        teacher={"name": "teacher", "sha256": "ab" * 32},
        training={"epochs": 1, "batchSize": 32},
        metrics={"testAccuracy": 0.9},
        params=count_parameters(model),
        flops=flops_per_sample(model, shape),
    )
    values.update(overrides)
    return metadata_props(**values)


def _run(path, batch):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch.numpy().astype(np.float32)})[0]


MODELS = {  # the model config as a checkpoint records it (the wire form), and the input shape
    "mlp": (model_options("mlp", hidden=[32, 16], bottleneck=8), [28, 28]),
    "lenet": (model_options("lenet", channels=[4, 8], hidden=[16]), [1, 28, 28]),
    # the CNN families for image data, as the distillation literature sizes its students
    "resnet": (model_options("resnet", depth=8, widen=4), [3, 32, 32]),  # resnet8x4
    "wrn": (model_options("wrn", depth=16, widen=2), [3, 32, 32]),  # WRN-16-2
    "mobilenetv2": (model_options("mobilenetv2", width=0.5), [3, 32, 32]),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model exported once; the tests below read the files."""
    folder = tmp_path_factory.mktemp("export")
    out = {}
    for kind, (config, shape) in MODELS.items():
        torch.manual_seed(0)
        model = build_model(model_spec(kind, **config), shape, 10)
        with torch.no_grad():  # batch-norm statistics other than their initial 0 and 1, so that parity means something
            model.train()(torch.randn(8, *shape, generator=torch.Generator().manual_seed(1)) * 2 + 0.5)
        model.eval()
        path = folder / f"{kind}.onnx"
        info = export_onnx(model, shape, str(path), _metadata(model, config, shape), task="classification", opset=OPSET)
        out[kind] = (model, shape, config, path, info)
    return folder, out


@pytest.mark.parametrize("kind", list(MODELS))
def test_export_parity_with_onnxruntime(exported, kind):
    _, models = exported
    model, shape, _, path, info = models[kind]
    x = torch.randn(16, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.max(np.abs(_run(path, x) - expected)) <= 1e-4
    assert info.parity_max_abs_diff <= 1e-4
    assert info.path == str(path) and info.opset == 18
    assert info.size_bytes == os.path.getsize(path)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", list(MODELS))
def test_export_has_a_dynamic_batch_axis(exported, kind):
    _, models = exported
    model, shape, _, path, _ = models[kind]
    for batch in (1, 7):
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(x).numpy()
        actual = _run(path, x)
        assert actual.shape == (batch, 10)
        assert np.max(np.abs(actual - expected)) <= 1e-4


@pytest.mark.parametrize("kind", list(MODELS))
def test_export_is_one_self_contained_file_with_one_input_and_output(exported, kind):
    folder, models = exported
    _, shape, _, path, _ = models[kind]
    assert sorted(os.listdir(folder)) == sorted(f"{k}.onnx" for k in MODELS)  # no external data, no temporaries
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["logits"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")
    assert [d.dim_value for d in dims[1:]] == shape


@pytest.mark.parametrize("kind", list(MODELS))
def test_metadata_props_round_trip(exported, kind):
    _, models = exported
    model, shape, config, path, _ = models[kind]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert set(props) >= ARCHITECTURE_KEYS
    for key in JSON_KEYS:
        json.loads(props[key])
    assert props["distillery.version"] == __version__
    assert props["distillery.name"] == "soft-t20" and props["distillery.role"] == "student"
    assert props["distillery.task"] == "classification"
    assert json.loads(props["distillery.input"]) == {"name": "input", "shape": shape, "dtype": "float32"}
    assert json.loads(props["distillery.output"]) == {"name": "logits", "kind": "logits"}
    assert json.loads(props["distillery.normalization"]) == {"mean": [33.3], "std": [78.6]}
    assert json.loads(props["distillery.labels"]) == [str(i) for i in range(10)]
    assert json.loads(props["distillery.model"]) == config
    assert json.loads(props["distillery.method"]) == {"type": "soft-targets", "temperature": 20, "alpha": 0.9}
    assert json.loads(props["distillery.teacher"]) == {"name": "teacher", "sha256": "ab" * 32}
    assert int(props["distillery.params"]) == count_parameters(model)
    assert int(props["distillery.flopsPerSample"]) == flops_per_sample(model, shape)


def test_metadata_for_a_teacher_and_for_regression():
    model = build_model(model_spec("mlp", hidden=[4]), [3], 2)
    props = _metadata(
        model,
        model_options("mlp", hidden=[4]),
        [3],
        role="teacher",
        task="regression",
        output_kind="values",
        normalization=None,
        method=None,
        teacher=None,
        labels=["y0", "y1"],
    )
    assert set(props) == ARCHITECTURE_KEYS and all(isinstance(v, str) for v in props.values())
    assert json.loads(props["distillery.method"]) is None and json.loads(props["distillery.teacher"]) is None
    assert json.loads(props["distillery.normalization"]) is None
    assert json.loads(props["distillery.output"]) == {"name": "values", "kind": "values"}


def test_regression_output_is_named_values_and_ensembles_export(tmp_path):
    torch.manual_seed(1)
    members = [build_model(model_spec("mlp", hidden=[6]), [5], 3).eval() for _ in range(2)]
    ensemble = Ensemble(members, "mean-probs", task="classification").eval()
    path = tmp_path / "ensemble.onnx"
    export_onnx(ensemble, [5], str(path), {"distillery.name": "teacher"}, task="classification", opset=OPSET)
    x = torch.randn(4, 5)
    with torch.no_grad():
        assert np.max(np.abs(_run(path, x) - ensemble(x).numpy())) <= 1e-4
    regression = build_model(model_spec("mlp", hidden=[4]), [5], 2).eval()
    path = tmp_path / "regression.onnx"
    export_onnx(regression, [5], str(path), {}, task="regression", opset=OPSET)
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["values"]


def test_failed_parity_check_raises_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_parity", lambda *args, **kwargs: 1.0)
    model = build_model(model_spec("mlp", hidden=[4]), [6], 3)
    final = tmp_path / "student.onnx"
    with pytest.raises(ExportError) as caught:
        export_onnx(model, [6], str(final), {"distillery.name": "student"}, task="classification", opset=OPSET)
    assert caught.value.file == str(final)
    assert caught.value.details["parityMaxAbsDiff"] == 1.0
    assert "parity" in caught.value.message
    assert not final.exists()
    assert os.listdir(tmp_path) == []  # no temporary file (hidden or not) is left in the folder


def test_failed_parity_check_keeps_a_previous_file_untouched(tmp_path, monkeypatch):
    final = tmp_path / "student.onnx"
    final.write_bytes(b"the previous export")
    monkeypatch.setattr(export, "_parity", lambda *args, **kwargs: float("nan"))  # NaN is a failure too
    with pytest.raises(ExportError):
        export_onnx(
            build_model(model_spec("mlp", hidden=[4]), [6], 3), [6], str(final), {}, task="classification", opset=OPSET
        )
    assert final.read_bytes() == b"the previous export"
    assert os.listdir(tmp_path) == ["student.onnx"]


def test_exporter_failure_raises_export_error_and_leaves_no_file(tmp_path, monkeypatch):
    """The exporter dies after writing half a file: an ExportError, and the half file is gone."""

    def half_export(module, args, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"\x08\x07half an onnx file")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", half_export)
    final = tmp_path / "broken.onnx"
    with pytest.raises(ExportError) as caught:
        export_onnx(
            build_model(model_spec("mlp", hidden=[4]), [3], 2),
            [3],
            str(final),
            {"distillery.name": "broken"},
            task="classification",
            opset=OPSET,
        )
    assert caught.value.file == str(final)
    assert "broken" in caught.value.message and "exporter crashed" in caught.value.message
    assert os.listdir(tmp_path) == []
