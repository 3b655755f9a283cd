"""DIST against a hand computation in numpy: Pearson correlations of softmax(z/T) across classes and across the
batch."""

from __future__ import annotations

import numpy as np
import torch

from distillery.methods import LossInputs, method_for
from distillery.methods.dist import Dist
from helpers import np_softmax


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)])


def test_dist_matches_a_hand_computation_with_and_without_labels():
    rng = np.random.default_rng(3)
    student, teacher = rng.normal(size=(6, 5)) * 2, rng.normal(size=(6, 5)) * 3
    labels = np.array([0, 1, 2, 3, 4, 0])
    t, beta, gamma, label_weight = 4.0, 2.0, 1.5, 0.5
    p_s, p_t = np_softmax(student / t), np_softmax(teacher / t)
    inter = t * t * (1 - pearson_rows(p_s, p_t).mean())
    intra = t * t * (1 - pearson_rows(p_s.T, p_t.T).mean())
    log_p = np.log(np_softmax(student))
    hard = -log_p[np.arange(6), labels].mean()

    options = Dist(type="dist", temperature=t, beta=beta, gamma=gamma, label_weight=label_weight)
    method = method_for(options)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    total, terms = method.loss(
        options, LossInputs(as_tensor(student), as_tensor(teacher), torch.tensor(labels), "classification", 0, 1)
    )
    np.testing.assert_allclose(float(terms["inter"]), inter, rtol=1e-4)
    np.testing.assert_allclose(float(terms["intra"]), intra, rtol=1e-4)
    np.testing.assert_allclose(float(total), beta * inter + gamma * intra + label_weight * hard, rtol=1e-4)

    unlabelled, terms = method.loss(
        options, LossInputs(as_tensor(student), as_tensor(teacher), None, "classification", 0, 1)
    )
    assert set(terms) == {"inter", "intra"}
    np.testing.assert_allclose(float(unlabelled), beta * inter + gamma * intra, rtol=1e-4)


def test_dist_is_zero_when_the_student_copies_the_teacher_and_needs_a_teacher():
    logits = torch.randn(8, 10)
    options = Dist(type="dist", temperature=4.0, beta=2.0, gamma=2.0, label_weight=0.0)
    loss, _ = method_for(options).loss(options, LossInputs(logits, logits.clone(), None, "classification", 0, 1))
    assert abs(float(loss)) < 1e-3  # T² · (float32 rounding of a correlation of 1)
    assert method_for(options).needs_teacher and not method_for(options).needs_labels
