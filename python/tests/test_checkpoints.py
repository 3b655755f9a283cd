"""checkpoints.py: ensembles, save/load round trips, and refusing damaged or foreign files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from distillery import checkpoints
from distillery.checkpoints import FORMAT, Ensemble, load_checkpoint, save_checkpoint
from distillery.errors import CheckpointError
from distillery.models import build_model
from distillery.spec import EnsembleModel, ModelSpec, to_json
from helpers import CPU, damaged_copies, model_options, model_spec, np_softmax

MEMBER_CONFIGS = [
    model_spec("mlp", hidden=[8]),
    model_spec("mlp", hidden=[6, 5], activation="tanh"),
    model_spec("mlp", hidden=[]),
]


def members(shape=(6,), outputs=4, seed=0):
    torch.manual_seed(seed)
    return [build_model(config, list(shape), outputs).eval() for config in MEMBER_CONFIGS]


def test_mean_logits_is_the_mean_of_member_logits():
    parts = members()
    x = torch.randn(9, 6)
    with torch.no_grad():
        out = Ensemble(parts, "mean-logits", task="classification")(x)
        stacked = np.stack([m(x).double().numpy() for m in parts])
    np.testing.assert_allclose(out.numpy(), stacked.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_mean_probs_returns_log_of_the_mean_of_member_softmaxes():
    parts = members()
    x = torch.randn(9, 6) * 3
    with torch.no_grad():
        out = Ensemble(parts, "mean-probs", task="classification")(x).double().numpy()
        mean_probs = np.mean([np_softmax(m(x).double().numpy()) for m in parts], axis=0)
    np.testing.assert_allclose(out, np.log(mean_probs), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_softmax(out), mean_probs, rtol=1e-5, atol=1e-6)
    # it is not the same as averaging logits
    with torch.no_grad():
        mean_logits = Ensemble(parts, "mean-logits", task="classification")(x).numpy()
    assert not np.allclose(np_softmax(mean_logits), mean_probs, atol=1e-3)


class _Fixed(nn.Module):
    """A "member" returning fixed logits whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float32))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_mean_probs_stays_finite_for_confident_members():
    """Two confident members: class 2's probability underflows float32 in both; the output must stay finite."""
    ensemble = Ensemble(
        [_Fixed([150.0, 0.0, -150.0]), _Fixed([0.0, 150.0, -150.0])], "mean-probs", task="classification"
    )
    out = ensemble(torch.zeros(2, 1))
    assert torch.isfinite(out).all()
    probs = torch.softmax(out, dim=1)
    torch.testing.assert_close(probs[0], torch.tensor([0.5, 0.5, 0.0]), atol=1e-6, rtol=0)
    # log(mean p) of the class both members rule out: log((e^-300 + e^-300) / 2) = -300
    assert float(out[0, 2]) == pytest.approx(-300.0, rel=1e-5)


def test_regression_ensemble_averages_whatever_the_combine():
    parts = members(outputs=2)
    x = torch.randn(3, 6)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in parts]).mean(dim=0)
        torch.testing.assert_close(Ensemble(parts, "mean-probs", task="regression")(x), expected)


def _save(path, module, model_config, shape=(6,), outputs=4, **extra):
    defaults = dict(
        task="classification",
        input_shape=list(shape),
        num_outputs=outputs,
        labels=[f"c{i}" for i in range(outputs)],
        normalization={"mean": [0.5], "std": [2.0]},
        meta={"name": "m", "role": "teacher", "seed": 3},
    )
    defaults.update(extra)
    save_checkpoint(str(path), module=module, model_config=model_config, **defaults)


def test_single_model_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    config = model_spec("lenet", channels=[3, 4], hidden=[10])
    model = build_model(config, [1, 12, 12], 4).eval()
    path = tmp_path / "ckpt" / "lenet.pt"
    _save(path, model, config, shape=(1, 12, 12))
    loaded = load_checkpoint(str(path), CPU)
    x = torch.randn(5, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
    assert not loaded.module.training
    assert (loaded.task, loaded.input_shape, loaded.num_outputs) == ("classification", [1, 12, 12], 4)
    assert loaded.labels == ["c0", "c1", "c2", "c3"]
    assert loaded.normalization == {"mean": [0.5], "std": [2.0]}
    assert loaded.model_config == config and isinstance(loaded.model_config, ModelSpec)  # the typed config, parsed back
    assert loaded.meta == {"name": "m", "role": "teacher", "seed": 3}
    assert loaded.path == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["lenet.pt"]  # no temporary file left behind


@pytest.mark.parametrize("combine", ["mean-logits", "mean-probs"])
def test_ensemble_round_trip_gives_identical_outputs(tmp_path, combine):
    parts = members(seed=4)
    ensemble = Ensemble(parts, combine, task="classification").eval()
    config = EnsembleModel(type="ensemble", combine=combine, members=tuple(MEMBER_CONFIGS))
    path = tmp_path / "ensemble.pt"
    _save(path, ensemble, config)
    loaded = load_checkpoint(str(path), CPU)
    assert isinstance(loaded.module, Ensemble)
    assert loaded.model_config == config
    assert loaded.module.combine == combine and len(loaded.module.members) == 3
    x = torch.randn(7, 6)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), ensemble(x))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    config = model_spec("mlp", hidden=[8])
    path = tmp_path / "good.pt"
    _save(path, build_model(config, [6], 4), config)
    return path


@pytest.mark.parametrize("damage", ["truncated-half", "truncated-tail", "empty", "garbage"])
def test_damaged_checkpoint_raises_checkpoint_error_naming_the_file(saved, tmp_path, damage):
    raw = saved.read_bytes()
    data = {
        "truncated-half": raw[: len(raw) // 2],
        "truncated-tail": raw[:-40],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
    }[damage]
    path = tmp_path / f"{damage}.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path), CPU)
    assert caught.value.file == str(path)
    assert str(path) in caught.value.message


def test_randomly_damaged_checkpoints_load_or_raise_checkpoint_error(saved, tmp_path):
    """Byte-level damage anywhere: never a KeyError, IndexError, JSONDecodeError… — a CheckpointError or a load."""
    raw = saved.read_bytes()
    path = tmp_path / "fuzz.pt"
    refused = 0
    for data in damaged_copies(raw, seed=1234, trials=120):
        path.write_bytes(data)
        try:
            load_checkpoint(str(path), CPU)
        except CheckpointError as error:
            assert error.file == str(path)
            refused += 1
    assert refused > 60


def test_missing_checkpoint(tmp_path):
    path = str(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, CPU)
    assert caught.value.file == path


@pytest.mark.parametrize(
    "payload",
    [{"state_dict": {"w": torch.ones(2)}}, torch.ones(3), [1, 2, 3], {"format": "someone-else/2", "state": {}}],
)
def test_non_distillery_torch_file_raises_checkpoint_error(tmp_path, payload):
    path = tmp_path / "foreign.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path), CPU)
    assert caught.value.file == str(path)
    assert "not a Distillery checkpoint" in caught.value.message


def test_distillery_payload_with_missing_or_malformed_fields(tmp_path, saved):
    good = torch.load(saved, weights_only=True)
    for name, payload in {
        "no-model": {k: v for k, v in good.items() if k != "model"},
        "bad-json": {**good, "meta": "{not json"},
        "wrong-shape": {**good, "model": json.dumps(model_options("mlp", hidden=[9]))},
        "incomplete-config": {**good, "model": json.dumps({"type": "mlp", "hidden": [8]})},
        "unknown-model-type": {**good, "model": json.dumps({"type": "transformer"})},
        "no-state": {k: v for k, v in good.items() if k != "state"},
    }.items():
        path = tmp_path / f"{name}.pt"
        torch.save(payload, path)
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(str(path), CPU)
        assert caught.value.file == str(path), name
        if name == "incomplete-config":  # a recorded config is parsed like a request: a missing key is named
            assert "model.activation: missing" in caught.value.message


class _Trap:
    """Unpickling this would create a folder: proof that arbitrary code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_load_refuses_pickled_arbitrary_objects(tmp_path, saved):
    marker = str(tmp_path / "code-ran")
    payload = torch.load(saved, weights_only=True)
    payload["meta"] = _Trap(marker)
    path = tmp_path / "trap.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path), CPU)
    assert caught.value.file == str(path)
    assert not os.path.exists(marker)


def test_load_asks_torch_for_weights_only(monkeypatch, saved):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", spy)
    load_checkpoint(str(saved), CPU)
    assert calls and all(call.get("weights_only") is True for call in calls)


def test_checkpoint_payload_holds_only_plain_types(saved):
    """Configs travel as JSON strings, so the file loads with weights_only and needs no allow-list."""
    payload = torch.load(saved, weights_only=True)
    assert payload["format"] == FORMAT
    for key in ("labels", "normalization", "meta", "model"):
        assert isinstance(payload[key], str)
        json.loads(payload[key])
    # the model config is recorded in its wire form, complete, as zod would have filled it
    assert json.loads(payload["model"]) == model_options("mlp", hidden=[8]) == to_json(model_spec("mlp", hidden=[8]))
