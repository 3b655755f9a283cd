"""train.py: determinism, objectives, divergence, schedules, resume and cancellation."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from distillery.data import DataBundle, Split
from distillery.errors import Cancelled, ConfigError, TrainingDivergedError
from distillery.methods import LossInputs
from distillery.methods.logit_regression import logit_regression
from distillery.methods.soft_targets import soft_targets
from distillery.models import build_model
from distillery.progress import Progress, Silent
from distillery.shards import DeviceRows
from distillery.spec import ConstantSchedule, ExponentialSchedule, StepSchedule, Training, parse
from distillery.train import Objective, fit, lr_factor, predict, resolve_device
from helpers import (
    CPU,
    augment_options,
    method_spec,
    model_spec,
    state_dicts_equal,
    tiny_bundle,
    training_options,
    training_spec,
)

MLP = model_spec("mlp", hidden=[16], dropout=0.2)
# What these tests train with unless they say otherwise (the zod defaults are 10 epochs of Adam on batches of 128).
SGD = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False}


def quick(**overrides):
    """A Training spec: one epoch of SGD on batches of 32, with ``overrides``."""
    return training_spec(**{"epochs": 1, "batchSize": 32, "optimizer": SGD, **overrides})


def hard_labels():
    return Objective(method_spec("hard-labels"), "classification")


def make_model(config=MLP, shape=(1, 8, 8), outputs=3, init_seed=3):
    torch.manual_seed(init_seed)
    return build_model(config, list(shape), outputs)


class Recorder(Progress):
    """Keeps every event; asks to cancel after the epoch ``cancel_after`` if given."""

    def __init__(self, cancel_after=None):
        self.events = []
        self.cancel_after = cancel_after
        super().__init__(self._sink, min_interval_s=0.0)

    def _sink(self, event):
        self.events.append(event)
        return self.cancel_after is not None and event.get("event") == "epoch" and event["epoch"] == self.cancel_after

    def of(self, kind):
        return [event for event in self.events if event.get("event") == kind]


def train(bundle, training, *, seed=5, objective=None, progress=None, init_seed=3, config=MLP, **kwargs):
    model = make_model(config, bundle.sample_shape, bundle.num_outputs, init_seed)
    result = fit(
        model,
        bundle,
        training,
        objective or hard_labels(),
        CPU,
        progress or Silent(),
        phase="teacher",
        name="net",
        seed=seed,
        **kwargs,
    )
    return model, result


RICH_TRAINING = training_spec(
    epochs=4,
    batchSize=16,
    augment=augment_options(shift=1),
    schedule={"type": "cosine", "warmupEpochs": 1},
    optimizer={"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
)


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_weights(bundle):
    a, result_a = train(bundle, quick(epochs=2, batchSize=16, augment=augment_options(shift=1)))
    b, result_b = train(bundle, quick(epochs=2, batchSize=16, augment=augment_options(shift=1)))
    assert state_dicts_equal(a, b)
    assert [h["loss"] for h in result_a.history] == [h["loss"] for h in result_b.history]
    c, _ = train(bundle, quick(epochs=2, batchSize=16, augment=augment_options(shift=1)), seed=6)
    assert not state_dicts_equal(a, c)  # the seed really drives the batches


def test_fit_learns_and_reports_per_epoch_metrics(bundle):
    model, result = train(
        bundle,
        quick(epochs=6, batchSize=16, optimizer={"type": "adam", "lr": 0.01}),
        config=model_spec("mlp", hidden=[32]),
    )
    assert [h["epoch"] for h in result.history] == list(range(1, 7))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.metrics == result.history[-1] and result.best_epoch == 6
    for key in (
        "loss",
        "terms",
        "trainAccuracy",
        "testAccuracy",
        "testErrors",
        "testNll",
        "lr",
        "seconds",
        "samplesPerSecond",
    ):
        assert key in result.metrics
    assert "testLoss" not in result.metrics and "hard" not in result.metrics  # renamed testNll; terms are nested
    assert set(result.metrics["terms"]) == {"hard"}
    # hard-labels has one term: the epoch's loss is that term's mean
    assert result.metrics["terms"]["hard"] == pytest.approx(result.metrics["loss"], rel=1e-6)
    nll = torch.nn.functional.cross_entropy(predict(model, bundle.test.x), bundle.test.y)
    assert result.metrics["testNll"] == pytest.approx(float(nll), rel=1e-5)
    predicted = predict(model, bundle.test.x).argmax(dim=1)
    assert result.metrics["testErrors"] == int((predicted != bundle.test.y).sum())
    assert result.metrics["testAccuracy"] > 0.5  # 3 classes, chance is 1/3


# ------------------------------------------------------------------ objectives


@pytest.mark.parametrize(
    "method", [{"type": "soft-targets", "temperature": 4.0, "alpha": 0.7}, {"type": "logit-regression"}]
)
def test_cached_and_online_teacher_outputs_give_the_same_loss(bundle, method):
    options = method_spec(method["type"], **method)
    teacher = make_model(model_spec("mlp", hidden=[12]), init_seed=11).eval()
    cached = Objective(options, "classification", teacher_outputs=predict(teacher, bundle.train.x))
    online = Objective(options, "classification", teacher=teacher)
    student = make_model(model_spec("mlp", hidden=[8]), init_seed=12)
    index = torch.tensor([5, 17, 3, 60, 41, 8])
    x, labels = bundle.train.x[index], bundle.train.y[index]
    outputs = student(x)
    loss_cached, terms_cached = cached(outputs, cached.teacher_batch(index, x), labels, 0, 1)
    loss_online, terms_online = online(outputs, online.teacher_batch(index, x), labels, 0, 1)
    torch.testing.assert_close(loss_cached, loss_online, rtol=1e-6, atol=1e-6)
    assert terms_cached.keys() == terms_online.keys()
    # and it is the loss function's value on the teacher's outputs for that batch
    with torch.no_grad():
        inputs = LossInputs(outputs, teacher(x), labels, "classification", 0, 1)
        direct = (
            soft_targets(options, inputs) if method["type"] == "soft-targets" else logit_regression(options, inputs)
        )[0]
    torch.testing.assert_close(loss_cached, direct, rtol=1e-6, atol=1e-6)


def test_cached_and_online_fits_end_with_the_same_weights(bundle):
    teacher = make_model(model_spec("mlp", hidden=[12]), init_seed=11).eval()
    method = method_spec("soft-targets", temperature=3.0, alpha=0.5)
    training = quick(epochs=2, batchSize=16)
    cached, _ = train(
        bundle,
        training,
        objective=Objective(method, "classification", teacher_outputs=predict(teacher, bundle.train.x)),
        config=model_spec("mlp", hidden=[8]),
    )
    online, _ = train(
        bundle,
        training,
        objective=Objective(method, "classification", teacher=teacher),
        config=model_spec("mlp", hidden=[8]),
    )
    for key, value in cached.state_dict().items():
        torch.testing.assert_close(value, online.state_dict()[key], rtol=1e-5, atol=1e-6)


def test_a_teacher_free_objective_asks_for_no_teacher_batch(bundle):
    objective = hard_labels()
    assert not objective.needs_teacher
    assert objective.teacher_batch(torch.tensor([0, 1]), bundle.train.x[:2]) is None


def test_hard_labels_objective_without_labels_is_a_config_error(bundle):
    objective = Objective(method_spec("hard-labels"), "classification", "students[1].method")
    with pytest.raises(ConfigError) as caught:
        objective.check_labels(Split(bundle.train.x, None), "the transfer set")
    assert caught.value.field == "students[1].method.type"
    assert "'hard-labels' needs labels, but the transfer set has none" in caught.value.message
    # and fit checks before its first batch: nothing is trained
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError) as caught:
        fit(
            model,
            bundle,
            quick(),
            hard_labels(),
            CPU,
            Silent(),
            phase="student",
            name="net",
            seed=0,
            transfer=Split(bundle.train.x, None),
        )
    assert caught.value.field == "method.type"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ divergence


def test_huge_learning_rate_raises_training_diverged_with_epoch_and_step(bundle):
    training = quick(epochs=2, batchSize=16, optimizer={"type": "sgd", "lr": 1e30, "momentum": 0.0, "nesterov": False})
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDivergedError) as caught:
            train(bundle, training)
    assert not [w for w in caught_warnings if "requires_grad" in str(w.message)]  # reported cleanly, no torch warning
    details = caught.value.details
    assert details["name"] == "net"
    assert isinstance(details["epoch"], int) and isinstance(details["step"], int)
    assert details["epoch"] >= 1 and details["step"] >= 1
    assert (details["epoch"], details["step"]) != (1, 1)  # the first loss is finite: it blew up after a step
    assert f"epoch {details['epoch']}, step {details['step']}" in caught.value.message


def test_huge_data_values_raise_training_diverged_at_the_first_step():
    clean = tiny_bundle()
    huge = Split(DeviceRows(clean.train.x[:] * 1e38), clean.train.y)
    bundle = DataBundle("classification", clean.sample_shape, 3, clean.labels, None, huge, clean.test, huge, None)
    with pytest.raises(TrainingDivergedError) as caught:
        train(bundle, quick(batchSize=16))
    assert caught.value.details["epoch"] == 1 and caught.value.details["step"] == 1


# ------------------------------------------------------------------ schedules


def test_lr_factor_constant_with_warmup():
    schedule = ConstantSchedule(type="constant", warmup_epochs=2)
    assert [lr_factor(schedule, s, 5, 10) for s in range(12)] == [(s + 1) / 10 for s in range(10)] + [1.0, 1.0]
    assert lr_factor(training_spec().schedule, 123, 5, 10) == 1.0  # zod's default schedule: constant, no warmup


def test_lr_factor_cosine():
    schedule = ConstantSchedule(type="cosine", warmup_epochs=0)
    steps, epochs = 10, 4  # 40 steps in all
    assert lr_factor(schedule, 0, steps, epochs) == pytest.approx(1.0)
    assert lr_factor(schedule, 20, steps, epochs) == pytest.approx(0.5)
    assert lr_factor(schedule, 10, steps, epochs) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(schedule, 40, steps, epochs) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(schedule, 55, steps, epochs) == pytest.approx(0.0, abs=1e-12)  # clamped past the end
    warm = ConstantSchedule(type="cosine", warmup_epochs=1)
    assert lr_factor(warm, 4, steps, epochs) == pytest.approx(0.5)  # still warming up
    assert lr_factor(warm, 10, steps, epochs) == pytest.approx(1.0)  # the cosine starts after the warmup
    assert lr_factor(warm, 25, steps, epochs) == pytest.approx(0.5)  # half of the remaining 30 steps


def test_lr_factor_step_and_exponential():
    step = StepSchedule(type="step", step_size=3, gamma=0.5, warmup_epochs=0)
    assert [lr_factor(step, e * 4, 4, 10) for e in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert lr_factor(step, 11, 4, 10) == 1.0 and lr_factor(step, 12, 4, 10) == 0.5  # changes at epoch boundaries only
    every_ten = StepSchedule(type="step", step_size=10, gamma=0.1, warmup_epochs=0)
    assert lr_factor(every_ten, 10 * 7 - 1, 7, 20) == 1.0 and lr_factor(every_ten, 10 * 7, 7, 20) == pytest.approx(0.1)
    exponential = ExponentialSchedule(type="exponential", gamma=0.9, warmup_epochs=0)
    assert [lr_factor(exponential, e * 3 + 2, 3, 10) for e in range(4)] == pytest.approx([1, 0.9, 0.81, 0.729])


def test_lr_factor_warmup_comes_before_any_schedule():
    step = StepSchedule(type="step", step_size=1, gamma=0.5, warmup_epochs=2)
    assert [lr_factor(step, s, 2, 10) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]  # (step + 1) / 4, not gamma^epoch
    assert lr_factor(step, 4, 2, 10) == 0.25  # epoch 2 after the warmup: gamma^2


def test_lr_factor_unknown_schedule():
    """An unknown schedule never reaches lr_factor: the request is refused when it is parsed, naming the field."""
    with pytest.raises(ConfigError) as caught:
        parse(Training, training_options(schedule={"type": "triangle"}), "training")
    assert caught.value.field == "training.schedule.type"
    assert "'triangle'" in caught.value.message


def test_fit_applies_the_schedule_every_batch(bundle):
    # 96 samples / 32 = 3 steps per epoch; halve every epoch
    training = quick(
        epochs=3,
        batchSize=32,
        schedule={"type": "step", "stepSize": 1, "gamma": 0.5, "warmupEpochs": 0},
        optimizer={"type": "sgd", "lr": 0.08, "momentum": 0.0, "nesterov": False},
    )
    _, result = train(bundle, training)
    # the lr recorded after an epoch is the one the next epoch's first step uses
    assert [h["lr"] for h in result.history] == pytest.approx([0.04, 0.02, 0.01])


# ------------------------------------------------------------------ resume and cancellation


def test_resume_continues_from_the_last_epoch_and_matches_an_uninterrupted_run(bundle, tmp_path):
    reference, reference_result = train(bundle, RICH_TRAINING)

    state_path = str(tmp_path / "state" / "net.state.pt")
    interrupted = Recorder(cancel_after=2)
    with pytest.raises(Cancelled):
        train(bundle, RICH_TRAINING, progress=interrupted, state_path=state_path)
    assert [e["epoch"] for e in interrupted.of("epoch")] == [1, 2]
    saved = torch.load(state_path, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2

    resumed = Recorder()
    model, result = train(bundle, RICH_TRAINING, progress=resumed, state_path=state_path, resume=True)
    assert resumed.of("phase-start")[0]["startEpoch"] == 2
    assert any("resumed after epoch 2" in e.get("message", "") for e in resumed.of("log"))
    assert [e["epoch"] for e in resumed.of("epoch")] == [3, 4]  # epochs 1-2 were not trained again
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    for key, value in reference.state_dict().items():
        assert torch.allclose(value, model.state_dict()[key], atol=1e-6), key
    assert [h["loss"] for h in result.history] == pytest.approx([h["loss"] for h in reference_result.history], rel=1e-6)
    assert torch.load(state_path, weights_only=True)["epoch"] == 4


def test_without_resume_an_existing_state_file_is_ignored(bundle, tmp_path):
    state_path = str(tmp_path / "net.state.pt")
    train(bundle, quick(epochs=1, batchSize=32), state_path=state_path)
    progress = Recorder()
    train(bundle, quick(epochs=2, batchSize=32), state_path=state_path, progress=progress)
    assert progress.of("phase-start")[0]["startEpoch"] == 0
    assert [e["epoch"] for e in progress.of("epoch")] == [1, 2]


def test_cancel_flag_makes_fit_raise_cancelled(bundle):
    progress = Recorder()
    progress.request_cancel()
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(Cancelled):
        fit(
            model,
            bundle,
            quick(epochs=3, batchSize=16),
            hard_labels(),
            CPU,
            progress,
            phase="teacher",
            name="net",
            seed=0,
        )
    assert progress.of("epoch") == []  # it stopped within the first epoch
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # after one step, not before


def test_sink_returning_true_cancels(bundle):
    progress = Recorder(cancel_after=1)
    with pytest.raises(Cancelled):
        train(bundle, quick(epochs=5, batchSize=32), progress=progress)
    assert [e["epoch"] for e in progress.of("epoch")] == [1]


# ------------------------------------------------------------------ best epoch and devices


def test_best_checkpoint_needs_validation_data(bundle):
    with pytest.raises(ConfigError) as caught:
        train(bundle, quick(checkpoint="best"))
    assert caught.value.field == "training.checkpoint"


def test_best_checkpoint_reports_the_best_validation_epoch():
    clean = tiny_bundle(n_train=96, n_test=48)
    validation = Split(DeviceRows(clean.test.x[:24]), clean.test.y[:24])
    bundle = DataBundle(
        "classification", clean.sample_shape, 3, clean.labels, None, clean.train, clean.test, clean.train, validation
    )
    progress = Recorder()
    model, result = train(
        bundle,
        quick(
            epochs=4,
            batchSize=16,
            checkpoint="best",
            optimizer={"type": "sgd", "lr": 0.5, "momentum": 0.9, "nesterov": False},
        ),
        progress=progress,
    )
    scores = [h["validationAccuracy"] for h in result.history]
    assert result.best_epoch == scores.index(max(scores)) + 1
    # the epochs are measured on validation alone; the test split is read once, for the kept epoch's weights
    assert all(not key.startswith("test") for epoch in result.history for key in epoch)
    assert all(not key.startswith("test") for event in progress.of("epoch") for key in event["metrics"])
    kept = {key: value for key, value in result.metrics.items() if not key.startswith("test")}
    assert kept == result.history[result.best_epoch - 1]
    predicted = predict(model, bundle.test.x).argmax(dim=1)
    assert result.metrics["testErrors"] == int((predicted != bundle.test.y).sum())
    assert progress.of("phase-end")[0]["metrics"] == result.metrics


def test_measuring_epochs_on_validation_leaves_training_bit_identical():
    """Per-epoch evaluation (on validation, or on the test split without one) draws no random numbers and changes no
    state: the same run with and without a validation split steps through the same weights and losses."""
    without = tiny_bundle(n_train=96, n_test=48)
    validation = Split(DeviceRows(without.test.x[:24]), without.test.y[:24])
    with_validation = DataBundle(
        "classification",
        without.sample_shape,
        3,
        without.labels,
        None,
        without.train,
        without.test,
        without.train,
        validation,
    )
    spec = quick(epochs=3, batchSize=16, augment=augment_options(shift=1, flip=True))
    a, result_a = train(without, spec)
    b, result_b = train(with_validation, spec)
    assert state_dicts_equal(a, b)
    assert [h["loss"] for h in result_a.history] == [h["loss"] for h in result_b.history]
    assert all("testAccuracy" in h and "validationAccuracy" not in h for h in result_a.history)  # labelled as test
    assert all("validationAccuracy" in h and "testAccuracy" not in h for h in result_b.history)
    assert result_a.metrics["testErrors"] == result_b.metrics["testErrors"]  # the same final model, read once


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError) as caught:
        resolve_device("tpu")
    assert caught.value.field == "device"
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ConfigError) as caught:
            resolve_device("cuda:0")
        assert caught.value.field == "device"


def test_predict_builds_no_graph_so_cached_teacher_outputs_are_plain_targets():
    """predict runs under no_grad: outputs used as cached targets must not carry the teacher's graph (a graph kept
    across steps would fail the second backward, and holds the teacher's activations for the whole split)."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    outputs = predict(model, torch.randn(10, 4))
    assert outputs.shape == (10, 3) and not outputs.requires_grad and outputs.grad_fn is None
