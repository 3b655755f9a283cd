"""DKD and logit standardisation against hand computations in numpy (float64)."""

from __future__ import annotations

import numpy as np
import torch

from distillery.methods import LossInputs, method_for
from distillery.methods.dkd import Dkd
from distillery.methods.soft_targets import SoftTargets
from helpers import np_log_softmax, np_softmax


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """Σ p·log(p/q), summed over everything: the reference's reduction before it divides by the batch."""
    return float(np.sum(p * (np.log(p) - np.log(q))))


def standardize(z: np.ndarray) -> np.ndarray:
    return (z - z.mean(axis=1, keepdims=True)) / (z.std(axis=1, ddof=1, keepdims=True) + 1e-7)


def hand_dkd(student, teacher, labels, alpha, beta, t, warmup_factor, label_weight):
    n, k = student.shape
    p_s, p_t = np_softmax(student / t), np_softmax(teacher / t)
    rows = np.arange(n)
    b_s = np.stack([p_s[rows, labels], 1 - p_s[rows, labels]], axis=1)
    b_t = np.stack([p_t[rows, labels], 1 - p_t[rows, labels]], axis=1)
    tckd = kl(b_t, b_s) * t * t / n
    others = np.ones((n, k), bool)
    others[rows, labels] = False
    rest_s = np.stack([np_softmax(student[i, others[i]] / t) for i in range(n)])
    rest_t = np.stack([np_softmax(teacher[i, others[i]] / t) for i in range(n)])
    nckd = kl(rest_t, rest_s) * t * t / n
    hard = -np_log_softmax(student)[rows, labels].mean()
    return label_weight * hard + warmup_factor * (alpha * tckd + beta * nckd), tckd, nckd, hard


def run(options, student, teacher, labels, epoch=10, epochs=20):
    tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return method_for(options).loss(
        options, LossInputs(tensor(student), tensor(teacher), torch.tensor(labels), "classification", epoch, epochs)
    )


def test_dkd_matches_the_decoupled_hand_computation():
    rng = np.random.default_rng(11)
    student, teacher = rng.normal(size=(6, 5)) * 2, rng.normal(size=(6, 5)) * 4
    labels = np.array([0, 1, 2, 3, 4, 2])
    options = Dkd(
        type="dkd", alpha=1.0, beta=8.0, temperature=4.0, warmup_epochs=5, label_weight=1.0, standardize_logits=False
    )
    total, terms = run(options, student, teacher, labels)
    expected, tckd, nckd, hard = hand_dkd(student, teacher, labels, 1.0, 8.0, 4.0, 1.0, 1.0)
    np.testing.assert_allclose(
        [float(terms["tckd"]), float(terms["nckd"]), float(terms["hard"])], [tckd, nckd, hard], rtol=2e-4
    )
    np.testing.assert_allclose(float(total), expected, rtol=2e-4)


def test_dkd_warms_the_kd_terms_up_over_the_first_epochs():
    rng = np.random.default_rng(12)
    student, teacher, labels = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), np.array([0, 1, 2, 0])
    options = Dkd(
        type="dkd", alpha=1.0, beta=8.0, temperature=4.0, warmup_epochs=5, label_weight=1.0, standardize_logits=False
    )
    first, _ = run(options, student, teacher, labels, epoch=0)  # epoch 1 of 5: one fifth of the KD terms
    expected, *_ = hand_dkd(student, teacher, labels, 1.0, 8.0, 4.0, 0.2, 1.0)
    np.testing.assert_allclose(float(first), expected, rtol=2e-4)
    options = Dkd(
        type="dkd", alpha=1.0, beta=8.0, temperature=4.0, warmup_epochs=0, label_weight=1.0, standardize_logits=False
    )
    no_warmup, _ = run(options, student, teacher, labels, epoch=0)
    expected, *_ = hand_dkd(student, teacher, labels, 1.0, 8.0, 4.0, 1.0, 1.0)
    np.testing.assert_allclose(float(no_warmup), expected, rtol=2e-4)


def test_classic_kd_is_dkd_with_alpha_1_and_beta_1_minus_p_target_when_every_sample_has_one_p_target():
    """The decomposition itself (Zhao et al., eq. 7): KD = TCKD + (1 − p_t^T)·NCKD, per sample — checked on one
    sample."""
    rng = np.random.default_rng(13)
    student, teacher, label = rng.normal(size=(1, 6)), rng.normal(size=(1, 6)) * 3, np.array([2])
    t = 2.0
    kd = kl(np_softmax(teacher / t), np_softmax(student / t)) * t * t
    options = Dkd(
        type="dkd", alpha=1.0, beta=1.0, temperature=t, warmup_epochs=0, label_weight=0.0, standardize_logits=False
    )
    _, terms = run(options, student, teacher, label)
    p_target = np_softmax(teacher / t)[0, 2]
    np.testing.assert_allclose(float(terms["tckd"]) + (1 - p_target) * float(terms["nckd"]), kd, rtol=2e-4)


def test_standardized_logits_in_soft_targets_and_dkd():
    rng = np.random.default_rng(14)
    student, teacher = rng.normal(size=(5, 4)) * 3 + 2, rng.normal(size=(5, 4)) * 7 - 1
    labels = np.array([0, 1, 2, 3, 0])
    t = 2.0
    z_s, z_t = standardize(student), standardize(teacher)
    soft = np.mean([kl(np_softmax(z_t[i] / t), np_softmax(z_s[i] / t)) for i in range(5)]) * t * t
    hard = -np_log_softmax(student)[np.arange(5), labels].mean()  # the hard term keeps the raw logits
    total, terms = run(
        SoftTargets(type="soft-targets", temperature=t, alpha=0.9, standardize_logits=True), student, teacher, labels
    )
    np.testing.assert_allclose([float(terms["soft"]), float(terms["hard"])], [soft, hard], rtol=2e-4)
    np.testing.assert_allclose(float(total), 0.9 * soft + 0.1 * hard, rtol=2e-4)
    # A shifted, scaled student has the same standardised logits: the soft term cannot tell them apart.
    _, shifted = run(
        SoftTargets(type="soft-targets", temperature=t, alpha=0.9, standardize_logits=True),
        student * 5 + 3,
        teacher,
        labels,
    )
    np.testing.assert_allclose(float(shifted["soft"]), soft, rtol=2e-4)
    options = Dkd(
        type="dkd", alpha=1.0, beta=8.0, temperature=t, warmup_epochs=0, label_weight=1.0, standardize_logits=True
    )
    total, _ = run(options, student, teacher, labels)
    expected, *_ = hand_dkd(z_s, z_t, labels, 1.0, 8.0, t, 1.0, 0.0)
    np.testing.assert_allclose(float(total), expected + hard, rtol=2e-4)
