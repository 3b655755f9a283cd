"""Reliability on CUDA: a cancelled-then-resumed fit ends where an uninterrupted one ends, and divergence keeps
the last good epoch's state — the guarantees python/tests/test_errors.py and test_train.py check on the CPU.

Not part of `npm test` (CI has no GPU, and a skipped test is a defect): run it on a GPU machine with

    PYTHONPATH=python:python/tests python3 -m pytest -q -s bench/device/cuda_reliability.py

It fails (rather than skips) without CUDA."""

from __future__ import annotations

import pytest
import torch

from distillery.checkpoints import load_torch_file
from distillery.data import DataBundle, Split
from distillery.errors import Cancelled, TrainingDivergedError
from distillery.models import build_model
from distillery.progress import Progress, Silent
from distillery.train import Objective, fit
from helpers import tiny_bundle, training_options


def test_cuda_is_there():
    assert torch.cuda.is_available(), "run this file on a machine with a CUDA GPU"

CUDA = torch.device("cuda")


def _on_cuda(bundle: DataBundle) -> DataBundle:
    def move(split: Split) -> Split:
        return Split(split.x.to(CUDA), None if split.y is None else split.y.to(CUDA))

    train = move(bundle.train)
    return DataBundle(bundle.task, bundle.sample_shape, bundle.num_outputs, bundle.labels, None, train, move(bundle.test), train, None)


class _CancelAfter(Progress):
    def __init__(self, epoch):
        super().__init__(lambda event: event.get("event") == "epoch" and event["epoch"] == epoch, min_interval_s=0.0)


@pytest.mark.parametrize("precision", ["off", "bf16"])
def test_resume_on_cuda_matches_an_uninterrupted_run(tmp_path, precision):
    bundle = _on_cuda(tiny_bundle(n_train=256, n_test=64))
    training = training_options(epochs=4, batchSize=32, augment={"shift": 1}, mixedPrecision=precision,
                                schedule={"type": "cosine", "warmupEpochs": 1},
                                optimizer={"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True})
    config = {"type": "mlp", "hidden": [32], "dropout": 0.2}

    def model():
        torch.manual_seed(3)
        return build_model(config, bundle.sample_shape, bundle.num_outputs).to(CUDA)

    reference = model()
    fit(reference, bundle, training, Objective({"type": "hard-labels"}), CUDA, Silent(), phase="teacher", name="net", seed=5)
    state = str(tmp_path / "net.state.pt")
    with pytest.raises(Cancelled):
        fit(model(), bundle, training, Objective({"type": "hard-labels"}), CUDA, _CancelAfter(2), phase="teacher", name="net",
            seed=5, state_path=state)
    resumed = model()
    fit(resumed, bundle, training, Objective({"type": "hard-labels"}), CUDA, Silent(), phase="teacher", name="net", seed=5,
        state_path=state, resume=True)
    difference = max(float((a - b).abs().max()) for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()))
    print(f"\nCUDA ({torch.cuda.get_device_name()}, mixedPrecision {precision}): max |w_resumed - w_uninterrupted| = {difference:.3g}")
    assert difference <= 1e-5


def test_divergence_on_cuda_keeps_the_last_good_state(tmp_path):
    bundle = _on_cuda(tiny_bundle())
    state = str(tmp_path / "net.state.pt")
    training = training_options(epochs=4, schedule={"type": "step", "stepSize": 1, "gamma": 1e38, "warmupEpochs": 0})
    model = build_model({"type": "mlp", "hidden": [8]}, bundle.sample_shape, bundle.num_outputs).to(CUDA)
    with pytest.raises(TrainingDivergedError) as caught:
        fit(model, bundle, training, Objective({"type": "hard-labels"}), CUDA, Silent(), phase="teacher", name="net", seed=0,
            state_path=state)
    assert caught.value.details["epoch"] == 2 and caught.value.details["lastGoodEpoch"] == 1
    saved = load_torch_file(state)
    assert saved["epoch"] == 1
    assert all(torch.isfinite(value).all() for value in saved["model"].values() if value.is_floating_point())
