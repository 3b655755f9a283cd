"""Batch augmentation: each transform against its definition, seeded, checked against the samples' shape; a mixed
batch's loss is the mix of the two label sets' losses; and a distilled student's teacher runs on the augmented batch."""

from __future__ import annotations

import pytest
import torch

from distillery import api
from distillery.augment import Augmenter, cutmix, mixup, random_flip
from distillery.errors import ConfigError
from distillery.spec import Augment, parse
from distillery.train import Objective
from helpers import (
    Recorder,
    augment_options,
    distill_request,
    method_options,
    method_spec,
    model_options,
    student,
    tiny_files,
    train_teacher_request,
    trained_teacher,
    training_options,
)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_flip_mirrors_some_images_and_leaves_the_others():
    x = torch.arange(4 * 2 * 3, dtype=torch.float32).reshape(4, 1, 2, 3).repeat(8, 1, 1, 1)
    flipped = random_flip(x, generator())
    mirrored = [bool(torch.equal(flipped[i], x[i].flip(-1))) for i in range(len(x))]
    kept = [bool(torch.equal(flipped[i], x[i])) for i in range(len(x))]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True)) and 0 < sum(mirrored) < len(x)


def test_mixup_is_a_convex_mix_with_a_partner():
    x = torch.randn(16, 5, generator=generator(1))
    mixed, mix = mixup(x, 0.4, generator(2))
    assert 0.0 <= mix.lam <= 1.0 and sorted(mix.partner.tolist()) == list(range(16))
    assert torch.allclose(mixed, mix.lam * x + (1 - mix.lam) * x[mix.partner])


def test_cutmix_pastes_a_box_whose_area_is_one_minus_lambda():
    x = torch.zeros(6, 1, 10, 10)
    x[:, :, :, :] = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1)  # each image one value: its index
    for seed in range(5):
        mixed, mix = cutmix(x, 1.0, generator(seed))
        from_partner = (
            (mixed != x).float().mean(dim=(1, 2, 3))
        )  # each row differs from its partner's value everywhere it was pasted
        moved = mix.partner != torch.arange(6)
        assert torch.allclose(from_partner[moved], torch.full_like(from_partner[moved], 1 - mix.lam))


def test_noise_and_determinism():
    augmenter = Augmenter.build(
        parse(Augment, augment_options(noise=0.5, mixup=0.2)), (5,), "training.augment", convolutional=False
    )
    x = torch.zeros(2000, 5)
    a, mix_a = augmenter(x, generator(3))
    b, mix_b = augmenter(x, generator(3))
    assert torch.equal(a, b) and mix_a.lam == mix_b.lam  # the same generator state, the same batch
    # zero inputs plus N(0, 0.5²) noise, then mixed with a partner row: σ = 0.5·√(λ² + (1 − λ)²)
    assert float(a.std()) == pytest.approx(0.5 * (mix_a.lam**2 + (1 - mix_a.lam) ** 2) ** 0.5, rel=0.05)


def test_all_off_is_no_augmenter_and_image_transforms_on_vectors_are_refused():
    assert Augmenter.build(parse(Augment, augment_options()), (5,), "x", convolutional=False) is None
    for key, value in (("flip", True), ("shift", 1), ("cutmix", 1.0)):
        with pytest.raises(ConfigError) as error:
            Augmenter.build(
                parse(Augment, augment_options(**{key: value})),
                (5,),
                "students[0].training.augment",
                convolutional=False,
            )
        assert error.value.field == f"students[0].training.augment.{key}" and "needs images" in str(error.value)


def test_a_mixed_batch_loss_mixes_the_two_label_sets_losses():
    objective = Objective(method_spec("soft-targets", temperature=2, alpha=0.5), "classification")
    outputs, teacher = torch.randn(8, 3, generator=generator(5)), torch.randn(8, 3, generator=generator(6))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    _, mix = mixup(torch.randn(8, 4), 1.0, generator(7))
    mixed, terms = objective(outputs, teacher, labels, 0, 1, mix)
    first, _ = objective(outputs, teacher, labels, 0, 1)
    second, _ = objective(outputs, teacher, labels[mix.partner], 0, 1)
    assert float(mixed) == pytest.approx(mix.lam * float(first) + (1 - mix.lam) * float(second), rel=1e-6)
    unmixed_soft = objective(outputs, teacher, labels, 0, 1)[1]["soft"]
    assert float(terms["soft"]) == pytest.approx(float(unmixed_soft), rel=1e-6)  # the soft term reads no labels


def test_an_augmented_student_gets_its_teacher_online_and_trains(tmp_path):
    data = tiny_files(tmp_path)
    quick = training_options(epochs=2, batchSize=32, optimizer={"type": "adam", "lr": 0.01})
    teacher = api.COMMANDS["train_teacher"](
        train_teacher_request(
            tmp_path / "t", trained_teacher(model_options("mlp", hidden=[16]), training=quick), data=data, export=False
        ),
        Recorder(),
    )
    augmented = dict(quick, augment=augment_options(noise=0.1, mixup=0.2))
    block = student("mixed", model_options("mlp", hidden=[8]), method_options("soft-targets", temperature=2), augmented)
    result = api.COMMANDS["distill"](
        distill_request(tmp_path / "s", block, teacher=teacher["checkpoint"], data=data, export=False), Recorder()
    )
    assert result["teacher"]["outputs"] == "online" and len(result["history"]) == 2
    with pytest.raises(ConfigError) as error:
        flipped = student(
            "flipped",
            model_options("mlp", hidden=[8]),
            method_options("hard-labels"),
            dict(quick, augment=augment_options(flip=True)),
        )
        api.COMMANDS["distill"](distill_request(tmp_path / "f", flipped, data=data, export=False), Recorder())
    assert error.value.field == "student.training.augment.flip"
