"""The methods' loss functions (distillery/methods/) against independent float64 numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillery.methods import LossInputs
from distillery.methods.logit_regression import logit_regression
from distillery.methods.regression_distillation import regression_distillation
from distillery.methods.soft_targets import soft_targets, soft_term
from distillery.methods.supervised import hard_labels, targets
from helpers import method_spec, np_log_softmax, np_softmax

# A small hand-made batch: 3 samples, 4 classes.
STUDENT = np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 3.0, -2.0], [-1.5, 1.0, 1.0, 0.25]])
TEACHER = np.array([[1.5, 0.0, -0.5, 0.3], [-1.0, 2.5, 0.3, 0.0], [0.0, 4.0, -3.0, 1.0]])
LABELS = np.array([0, 2, 1])


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


def batch(student, teacher=None, labels=None, task="classification", epoch=0, epochs=1):
    """One batch as every loss sees it."""
    return LossInputs(student, teacher, labels, task, epoch, epochs)


def np_cross_entropy(logits, labels):
    log_probs = np_log_softmax(logits)
    return -np.mean(log_probs[np.arange(len(labels)), labels])


def np_kl_teacher_student(student, teacher, temperature):
    """KL(softmax(t/T) || softmax(s/T)), summed over classes, averaged over the batch."""
    log_p_teacher = np_log_softmax(np.asarray(teacher) / temperature)
    log_p_student = np_log_softmax(np.asarray(student) / temperature)
    return np.mean(np.sum(np.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=1))


HARD = method_spec("hard-labels")


def test_hard_labels_on_two_equal_logits_is_ln2():
    loss, terms = hard_labels(HARD, batch(t([[0.0, 0.0]]), labels=torch.tensor([0])))
    assert float(loss) == pytest.approx(math.log(2), abs=1e-7)
    assert set(terms) == {"hard"}


def test_hard_labels_is_the_mean_cross_entropy():
    loss, terms = hard_labels(HARD, batch(t(STUDENT), labels=torch.tensor(LABELS)))
    expected = np_cross_entropy(STUDENT, LABELS)
    # by hand for the first row: -log(e^2 / (e^2 + e^-1 + e^0.5 + e^0))
    first = -(2.0 - math.log(math.exp(2.0) + math.exp(-1.0) + math.exp(0.5) + 1.0))
    assert -np_log_softmax(STUDENT)[0, 0] == pytest.approx(first, abs=1e-12)
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(terms["hard"]) == pytest.approx(expected, abs=1e-6)
    assert not terms["hard"].requires_grad


def test_hard_labels_ignores_a_teacher_it_is_given():
    alone, _ = hard_labels(HARD, batch(t(STUDENT), labels=torch.tensor(LABELS)))
    with_teacher, _ = hard_labels(HARD, batch(t(STUDENT), t(TEACHER), torch.tensor(LABELS)))
    assert float(with_teacher) == float(alone)


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.7), (20.0, 0.9), (2.5, 1.0), (3.0, 0.0)])
def test_soft_targets_matches_hinton_formula(temperature, alpha):
    options = method_spec("soft-targets", temperature=temperature, alpha=alpha)
    total, terms = soft_targets(options, batch(t(STUDENT), t(TEACHER), torch.tensor(LABELS)))
    soft = temperature**2 * np_kl_teacher_student(STUDENT, TEACHER, temperature)
    hard = np_cross_entropy(STUDENT, LABELS)  # the hard term is at T = 1
    assert float(terms["soft"]) == pytest.approx(soft, rel=1e-5, abs=1e-6)
    assert float(terms["hard"]) == pytest.approx(hard, rel=1e-5, abs=1e-6)
    assert float(total) == pytest.approx(alpha * soft + (1 - alpha) * hard, rel=1e-5, abs=1e-6)
    assert set(terms) == {"soft", "hard"}


def test_soft_targets_is_zero_when_student_equals_teacher_and_alpha_is_one():
    total, _ = soft_targets(
        method_spec("soft-targets", temperature=5.0, alpha=1.0), batch(t(TEACHER), t(TEACHER), torch.tensor(LABELS))
    )
    assert float(total) == pytest.approx(0.0, abs=1e-6)


def test_soft_targets_without_labels_is_only_the_soft_term_at_full_weight():
    temperature, alpha = 4.0, 0.3
    total, terms = soft_targets(
        method_spec("soft-targets", temperature=temperature, alpha=alpha), batch(t(STUDENT), t(TEACHER))
    )
    soft = temperature**2 * np_kl_teacher_student(STUDENT, TEACHER, temperature)
    assert list(terms) == ["soft"]
    assert float(total) == pytest.approx(soft, rel=1e-5)  # weight 1, not alpha
    assert float(total) != pytest.approx(alpha * soft, rel=1e-3)


def test_soft_targets_uses_the_zod_defaults_t20_alpha_09():
    """The options a student gets when it names the method only: T = 20, alpha = 0.9 (filled by zod, not here)."""
    options = method_spec("soft-targets")
    total, _ = soft_targets(options, batch(t(STUDENT), t(TEACHER), torch.tensor(LABELS)))
    soft = 400 * np_kl_teacher_student(STUDENT, TEACHER, 20.0)
    assert float(total) == pytest.approx(0.9 * soft + 0.1 * np_cross_entropy(STUDENT, LABELS), rel=1e-5)


def test_logit_regression_is_the_mean_squared_error_of_the_logits():
    options = method_spec("logit-regression")
    total, terms = logit_regression(options, batch(t(STUDENT), t(TEACHER)))
    expected = np.mean((STUDENT - TEACHER) ** 2)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert list(terms) == ["mimic"]
    # its gradient is 2 (s - t) / (N * C)
    student = t(STUDENT).requires_grad_()
    logit_regression(options, batch(student, t(TEACHER)))[0].backward()
    np.testing.assert_allclose(student.grad.numpy(), 2 * (STUDENT - TEACHER) / STUDENT.size, rtol=1e-5, atol=1e-7)
    # labels change nothing: the method reads none
    labelled, _ = logit_regression(options, batch(t(STUDENT), t(TEACHER), torch.tensor(LABELS)))
    assert float(labelled) == float(total)


# Regression: 4 samples, 2 outputs.
OUT = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 3.0], [-0.2, 0.4]])
TEACH = np.array([[0.0, -1.5], [2.5, 0.1], [0.0, 1.0], [0.1, 0.3]])
TARGET = np.array([[1.0, -0.5], [0.5, 0.5], [1.2, 2.0], [-3.0, 0.4]])


def np_mse(a, b):
    return np.mean((np.asarray(a) - np.asarray(b)) ** 2)


def np_huber(a, b, delta):
    d = np.abs(np.asarray(a) - np.asarray(b))
    return np.mean(np.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta)))


def regression_batch(teacher=TEACH, targets_=TARGET, student=None):
    return batch(
        student if student is not None else t(OUT),
        None if teacher is None else t(teacher),
        None if targets_ is None else t(targets_),
        task="regression",
    )


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_distillation_mixes_teacher_and_targets(weight):
    total, terms = regression_distillation(
        method_spec("regression-distillation", targetWeight=weight), regression_batch()
    )
    expected = (1 - weight) * np_mse(OUT, TEACH) + weight * np_mse(OUT, TARGET)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    expected_terms = {0.0: {"mimic"}, 0.3: {"mimic", "targets"}, 1.0: {"targets"}}[weight]
    assert set(terms) == expected_terms
    if "mimic" in terms:
        assert float(terms["mimic"]) == pytest.approx(np_mse(OUT, TEACH), rel=1e-6)
    if "targets" in terms:
        assert float(terms["targets"]) == pytest.approx(np_mse(OUT, TARGET), rel=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_distillation_with_huber(weight):
    delta = 0.5
    options = method_spec("regression-distillation", targetWeight=weight, huberDelta=delta)
    total, _ = regression_distillation(options, regression_batch())
    expected = (1 - weight) * np_huber(OUT, TEACH, delta) + weight * np_huber(OUT, TARGET, delta)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    # the Huber loss differs from half the MSE here (some |d| > delta), so the branch really was taken
    assert np_huber(OUT, TEACH, delta) != pytest.approx(0.5 * np_mse(OUT, TEACH), rel=1e-3)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_regression_distillation_without_targets_is_the_teacher_loss_at_full_weight(weight):
    """An unlabelled transfer set: only the teacher term, at weight 1 (whatever the target weight)."""
    student = t(OUT).requires_grad_()
    total, terms = regression_distillation(
        method_spec("regression-distillation", targetWeight=weight), regression_batch(targets_=None, student=student)
    )
    assert float(total.detach()) == pytest.approx(np_mse(OUT, TEACH), rel=1e-6)
    assert set(terms) == {"mimic"}
    total.backward()  # a real loss with a gradient, not a constant 0
    assert float(student.grad.abs().sum()) > 0


# ------------------------------------------------------------------ the label baselines on either task


def test_targets_without_a_teacher_is_the_targets_loss():
    """Learning the targets with no teacher is the ``targets`` method (L2, or Huber with huberDelta)."""
    total, terms = targets(method_spec("targets"), regression_batch(teacher=None))
    assert float(total) == pytest.approx(np_mse(OUT, TARGET), rel=1e-6)
    assert set(terms) == {"targets"}
    huber, _ = targets(method_spec("targets", huberDelta=0.5), regression_batch(teacher=None))
    assert float(huber) == pytest.approx(np_huber(OUT, TARGET, 0.5), rel=1e-6)


def test_hard_labels_on_regression_data_is_l2_on_the_targets():
    total, terms = hard_labels(HARD, regression_batch(teacher=None))
    assert float(total) == pytest.approx(np_mse(OUT, TARGET), rel=1e-6)
    assert set(terms) == {"targets"}


def test_targets_on_class_labels_is_the_cross_entropy():
    total, terms = targets(method_spec("targets", huberDelta=0.5), batch(t(STUDENT), labels=torch.tensor(LABELS)))
    assert float(total) == pytest.approx(np_cross_entropy(STUDENT, LABELS), abs=1e-6)  # huberDelta has no say here
    assert set(terms) == {"hard"}


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
        soft_term(logits, t(teacher), temperature).backward()
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


def test_soft_targets_total_has_the_soft_terms_gradient_scaled_by_alpha():
    """The full loss, not only soft_term: with alpha = 1 its gradient is T² times the unscaled KL gradient."""
    temperature = 4.0
    logits = t(STUDENT).requires_grad_()
    soft_targets(
        method_spec("soft-targets", temperature=temperature, alpha=1.0), batch(logits, t(TEACHER), torch.tensor(LABELS))
    )[0].backward()
    np.testing.assert_allclose(
        logits.grad.double().numpy(),
        temperature**2 * _np_unscaled_soft_grad(STUDENT, TEACHER, temperature),
        rtol=1e-4,
        atol=1e-7,
    )
