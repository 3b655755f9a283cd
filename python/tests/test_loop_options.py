"""The loop's options: for fast hardware, on the CPU, the lazy loss check that CUDA uses (no host sync per step),
training.compile (torch.compile gives the eager loop's weights), bf16 autocast on the CPU, channelsLast (CUDA only);
augment: 'auto', the teacher's default (crops for images, flips for colour ones)."""

from __future__ import annotations

import math

import pytest
import torch

from distillery.augment import Augmenter, resolve
from distillery.errors import TrainingDivergedError
from distillery.models import build_model
from distillery.progress import Progress, Silent
from distillery.spec import Augment, parse
from distillery.train import LossWatch, Objective, _autocast, fit
from helpers import CPU, augment_options, method_spec, model_spec, tiny_bundle, training_spec


def train(bundle, **training):
    torch.manual_seed(0)
    model = build_model(model_spec("mlp", hidden=[16]), [1, 8, 8], 3)
    result = fit(
        model,
        bundle,
        training_spec(epochs=2, batchSize=32, **training),
        Objective(method_spec("hard-labels"), "classification"),
        CPU,
        Silent(),
        phase="teacher",
        name="t",
        seed=0,
    )
    return model, result


def test_the_lazy_watch_keeps_the_first_non_finite_step_and_its_loss_on_the_device():
    watch = LossWatch(lazy=True)
    for step, value in enumerate([1.0, 2.0, math.inf, math.nan, 3.0]):
        assert watch.update(torch.tensor(value), step) is None  # never read during the steps
    assert watch.read() == (2, math.inf)
    clean = LossWatch(lazy=True)
    clean.update(torch.tensor(0.5), 0)
    assert clean.read() is None and LossWatch(lazy=True).read() is None


def test_the_eager_watch_answers_at_once():
    watch = LossWatch(lazy=False)
    assert watch.update(torch.tensor(1.0), 0) is None
    step, value = watch.update(torch.tensor(math.nan), 1)
    assert step == 1 and math.isnan(value)


def test_a_lazily_seen_divergence_names_its_first_step_and_keeps_the_last_good_state(bundle, tmp_path, monkeypatch):
    import distillery.train as loop

    monkeypatch.setattr(loop, "LossWatch", lambda lazy: LossWatch(lazy=True))  # the CUDA behaviour, on the CPU
    torch.manual_seed(0)
    model = build_model(model_spec("mlp", hidden=[16]), [1, 8, 8], 3)
    training = training_spec(
        epochs=3,
        batchSize=32,
        optimizer={"type": "sgd", "lr": 0.1, "momentum": 0, "nesterov": False},
        schedule={"type": "step", "stepSize": 1, "gamma": 1e38, "warmupEpochs": 0},
    )
    state = str(tmp_path / "t.state.pt")
    with pytest.raises(TrainingDivergedError) as caught:
        fit(
            model,
            bundle,
            training,
            Objective(method_spec("hard-labels"), "classification"),
            CPU,
            Silent(),
            phase="teacher",
            name="t",
            seed=0,
            state_path=state,
        )
    details = caught.value.details
    assert details["lastGoodEpoch"] == 1 and details["stateFile"] == state and details["epoch"] >= 2
    assert torch.load(state, weights_only=True)["epoch"] == 1


def test_compile_trains_the_weights_of_the_eager_loop():
    bundle = tiny_bundle()
    eager, _ = train(bundle)
    compiled, _ = train(bundle, compile=True)
    for key, value in eager.state_dict().items():
        assert torch.allclose(value, compiled.state_dict()[key], atol=1e-5), key


def test_bf16_autocasts_on_the_cpu_when_asked_and_the_loss_stays_fp32():
    assert _autocast(CPU, training_spec(mixedPrecision="bf16")).fast_dtype == torch.bfloat16
    assert _autocast(CPU, training_spec(mixedPrecision="bf16"))._enabled
    bundle = tiny_bundle()
    fp32, reference = train(
        bundle, mixedPrecision="off"
    )  # not the default "auto": that is bf16 too on a CPU with native bf16
    bf16, result = train(bundle, mixedPrecision="bf16")
    assert any(
        not torch.equal(a, b) for a, b in zip(fp32.state_dict().values(), bf16.state_dict().values(), strict=True)
    )  # it ran in bf16
    assert all(torch.isfinite(value).all() for value in bf16.state_dict().values())
    assert abs(result.history[-1]["loss"] - reference.history[-1]["loss"]) < 0.05


def test_auto_autocasts_only_on_a_cpu_with_native_bf16(monkeypatch):
    import distillery.train as loop

    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: True)
    assert _autocast(CPU, training_spec(mixedPrecision="auto"))._enabled
    assert not _autocast(CPU, training_spec(mixedPrecision="off"))._enabled
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: False)
    assert not _autocast(CPU, training_spec(mixedPrecision="auto"))._enabled


def test_channels_last_changes_nothing_off_cuda():
    bundle = tiny_bundle()
    plain, _ = train(bundle)
    flagged, _ = train(bundle, channelsLast=True)
    assert all(
        torch.equal(a, b) for a, b in zip(plain.state_dict().values(), flagged.state_dict().values(), strict=True)
    )


# ------------------------------------------------------------------ augment: 'auto' (a trained teacher's default)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((3, 32, 32), {"shift": 4, "flip": True}),  # colour images: crops by 1/8 of the side, and flips
        ((1, 28, 28), {"shift": 3, "flip": False}),  # grey images: a mirrored digit is another symbol
        ((28, 28), {"shift": 3, "flip": False}),  # the embedded MNIST's [H,W] samples
        ((3, 224, 160), {"shift": 8, "flip": True}),  # 1/8 of the shorter side, at most the schema's 8
    ],
)
def test_auto_augmentation_crops_images_and_flips_colour_ones_alone(shape, expected):
    chosen = resolve("auto", shape, convolutional=True)
    assert chosen is not None and (chosen.shift, chosen.flip) == (expected["shift"], expected["flip"])
    assert (chosen.noise, chosen.mixup, chosen.cutmix) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("shape", [(12,), (4, 5, 6, 7), (5, 16, 16)])
def test_auto_augmentation_leaves_tables_vectors_and_other_arrays_alone(shape):
    assert resolve("auto", shape, convolutional=True) is None
    assert Augmenter.build("auto", shape, "teacher.training.augment", convolutional=True) is None


def test_auto_augmentation_leaves_models_without_convolutions_alone():
    """An MLP sees a shifted image as new inputs: crops cost it accuracy unless it trains far longer."""
    assert resolve("auto", (3, 32, 32), convolutional=False) is None


def test_explicit_augmentation_wins_over_auto():
    spec = parse(Augment, augment_options(shift=1), "training.augment")
    assert resolve(spec, (3, 32, 32), convolutional=False) is spec
    assert resolve(None, (3, 32, 32), convolutional=True) is None


def test_a_teacher_with_auto_augmentation_says_what_it_chose():
    events: list[dict] = []
    progress = Progress(lambda event: events.append(event) and False, min_interval_s=0.0)
    bundle = tiny_bundle(shape=(3, 16, 16))
    model = build_model(model_spec("lenet"), bundle.sample_shape, 3)
    training = training_spec(epochs=1, batchSize=32, augment="auto")
    fit(
        model,
        bundle,
        training,
        Objective(method_spec("hard-labels"), "classification"),
        CPU,
        progress,
        phase="teacher",
        name="teacher",
        seed=0,
    )
    logs = [event["message"] for event in events if event.get("event") == "log"]
    assert "teacher: training.augment 'auto' chose shift 2, flip" in logs
