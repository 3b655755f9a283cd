"""losses.py against independent float64 numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillery import losses
from helpers import np_log_softmax, np_softmax

# A small hand-made batch: 3 samples, 4 classes.
STUDENT = np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 3.0, -2.0], [-1.5, 1.0, 1.0, 0.25]])
TEACHER = np.array([[1.5, 0.0, -0.5, 0.3], [-1.0, 2.5, 0.3, 0.0], [0.0, 4.0, -3.0, 1.0]])
LABELS = np.array([0, 2, 1])


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


def np_cross_entropy(logits, labels):
    log_probs = np_log_softmax(logits)
    return -np.mean(log_probs[np.arange(len(labels)), labels])


def np_kl_teacher_student(student, teacher, temperature):
    """KL(softmax(t/T) || softmax(s/T)), summed over classes, averaged over the batch."""
    log_p_teacher = np_log_softmax(np.asarray(teacher) / temperature)
    log_p_student = np_log_softmax(np.asarray(student) / temperature)
    return np.mean(np.sum(np.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=1))


def test_hard_labels_on_two_equal_logits_is_ln2():
    loss, terms = losses.hard_labels(t([[0.0, 0.0]]), torch.tensor([0]))
    assert float(loss) == pytest.approx(math.log(2), abs=1e-7)
    assert set(terms) == {"hard"}


def test_hard_labels_is_the_mean_cross_entropy():
    loss, terms = losses.hard_labels(t(STUDENT), torch.tensor(LABELS))
    expected = np_cross_entropy(STUDENT, LABELS)
    # by hand for the first row: -log(e^2 / (e^2 + e^-1 + e^0.5 + e^0))
    first = -(2.0 - math.log(math.exp(2.0) + math.exp(-1.0) + math.exp(0.5) + 1.0))
    assert -np_log_softmax(STUDENT)[0, 0] == pytest.approx(first, abs=1e-12)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(terms["hard"]) == pytest.approx(expected, abs=1e-6)
    assert not terms["hard"].requires_grad


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.7), (20.0, 0.9), (2.5, 1.0), (3.0, 0.0)])
def test_soft_targets_matches_hinton_formula(temperature, alpha):
    total, terms = losses.soft_targets(t(STUDENT), t(TEACHER), torch.tensor(LABELS), temperature, alpha)
    soft = temperature ** 2 * np_kl_teacher_student(STUDENT, TEACHER, temperature)
    hard = np_cross_entropy(STUDENT, LABELS)  # the hard term is at T = 1
    assert float(terms["soft"]) == pytest.approx(soft, rel=1e-5, abs=1e-6)
    assert float(terms["hard"]) == pytest.approx(hard, rel=1e-5, abs=1e-6)
    assert float(total) == pytest.approx(alpha * soft + (1 - alpha) * hard, rel=1e-5, abs=1e-6)
    assert set(terms) == {"soft", "hard"}


def test_soft_targets_is_zero_when_student_equals_teacher_and_alpha_is_one():
    total, _ = losses.soft_targets(t(TEACHER), t(TEACHER), torch.tensor(LABELS), 5.0, 1.0)
    assert float(total) == pytest.approx(0.0, abs=1e-6)


def test_soft_targets_without_labels_is_only_the_soft_term_at_full_weight():
    temperature, alpha = 4.0, 0.3
    total, terms = losses.soft_targets(t(STUDENT), t(TEACHER), None, temperature, alpha)
    soft = temperature ** 2 * np_kl_teacher_student(STUDENT, TEACHER, temperature)
    assert list(terms) == ["soft"]
    assert float(total) == pytest.approx(soft, rel=1e-5)  # weight 1, not alpha
    assert float(total) != pytest.approx(alpha * soft, rel=1e-3)


def test_logit_regression_is_the_mean_squared_error_of_the_logits():
    total, terms = losses.logit_regression(t(STUDENT), t(TEACHER))
    expected = np.mean((STUDENT - TEACHER) ** 2)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert list(terms) == ["mimic"]
    # its gradient is 2 (s - t) / (N * C)
    student = t(STUDENT).requires_grad_()
    losses.logit_regression(student, t(TEACHER))[0].backward()
    np.testing.assert_allclose(student.grad.numpy(), 2 * (STUDENT - TEACHER) / STUDENT.size, rtol=1e-5, atol=1e-7)


# Regression: 4 samples, 2 outputs.
OUT = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 3.0], [-0.2, 0.4]])
TEACH = np.array([[0.0, -1.5], [2.5, 0.1], [0.0, 1.0], [0.1, 0.3]])
TARGET = np.array([[1.0, -0.5], [0.5, 0.5], [1.2, 2.0], [-3.0, 0.4]])


def np_mse(a, b):
    return np.mean((np.asarray(a) - np.asarray(b)) ** 2)


def np_huber(a, b, delta):
    d = np.abs(np.asarray(a) - np.asarray(b))
    return np.mean(np.where(d <= delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)))


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_targets_mixes_teacher_and_targets(weight):
    total, terms = losses.regression_targets(t(OUT), t(TEACH), t(TARGET), weight)
    expected = (1 - weight) * np_mse(OUT, TEACH) + weight * np_mse(OUT, TARGET)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    expected_terms = {0.0: {"mimic"}, 0.3: {"mimic", "targets"}, 1.0: {"targets"}}[weight]
    assert set(terms) == expected_terms
    if "mimic" in terms:
        assert float(terms["mimic"]) == pytest.approx(np_mse(OUT, TEACH), rel=1e-6)
    if "targets" in terms:
        assert float(terms["targets"]) == pytest.approx(np_mse(OUT, TARGET), rel=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_targets_with_huber(weight):
    delta = 0.5
    total, _ = losses.regression_targets(t(OUT), t(TEACH), t(TARGET), weight, huber_delta=delta)
    expected = (1 - weight) * np_huber(OUT, TEACH, delta) + weight * np_huber(OUT, TARGET, delta)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    # the Huber loss differs from half the MSE here (some |d| > delta), so the branch really was taken
    assert np_huber(OUT, TEACH, delta) != pytest.approx(0.5 * np_mse(OUT, TEACH), rel=1e-3)


def test_regression_targets_without_teacher_is_the_targets_loss():
    total, terms = losses.regression_targets(t(OUT), None, t(TARGET), 0.3)
    assert float(total) == pytest.approx(np_mse(OUT, TARGET), rel=1e-6)
    assert set(terms) == {"targets"}


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_targets_without_targets_is_the_teacher_loss_at_full_weight(weight):
    """An unlabelled transfer set: only the teacher term, at weight 1 (whatever the target weight)."""
    student = t(OUT).requires_grad_()
    total, terms = losses.regression_targets(student, t(TEACH), None, weight)
    assert float(total.detach()) == pytest.approx(np_mse(OUT, TEACH), rel=1e-6)
    assert set(terms) == {"mimic"}
    total.backward()  # a real loss with a gradient, not a constant 0
    assert float(student.grad.abs().sum()) > 0


# ------------------------------------------------------------------ the T² factor


def _np_unscaled_soft_grad(student, teacher, temperature):
    """d/ds of KL(softmax(t/T) || softmax(s/T)) averaged over the batch: (p_s - p_t) / (T * N)."""
    return (np_softmax(student / temperature) - np_softmax(teacher / temperature)) / (temperature * len(student))


def test_soft_term_gradient_keeps_its_size_across_temperatures_thanks_to_t_squared():
    rng = np.random.default_rng(7)
    student = rng.normal(0.0, 4.0, size=(64, 10))
    teacher = rng.normal(0.0, 4.0, size=(64, 10))

    def scaled_grad(temperature):
        logits = t(student).requires_grad_()
        losses.soft_term(logits, t(teacher), temperature).backward()
        return logits.grad.double().numpy()

    grads = {T: scaled_grad(T) for T in (1.0, 2.0, 5.0, 20.0)}
    unscaled = {T: _np_unscaled_soft_grad(student, teacher, T) for T in grads}
    for T in grads:  # the library's gradient is exactly T² times the unscaled one
        np.testing.assert_allclose(grads[T], T * T * unscaled[T], rtol=1e-4, atol=1e-7)

    norm = {T: np.linalg.norm(grads[T]) for T in grads}
    unscaled_norm = {T: np.linalg.norm(unscaled[T]) for T in grads}
    for T in (2.0, 5.0, 20.0):
        assert 0.3 <= norm[T] / norm[1.0] <= 3.0, (T, norm[T] / norm[1.0])
    # without T² the gradient would shrink by about T² (a factor of hundreds at T = 20)
    ratio_unscaled = unscaled_norm[20.0] / unscaled_norm[1.0]
    assert ratio_unscaled < 0.01
    assert 0.3 / 400 <= ratio_unscaled <= 3.0 / 400
