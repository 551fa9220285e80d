"""Temperature scaling, ECE, reliability data and confusion matrices on synthetic cases."""

import numpy as np
import pytest

from jaxspec.classify import (
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    reliability,
)
from jaxspec.classify.calibration import negative_log_likelihood, softmax


def _calibrated_sample(rng, n=20000, k=10, scale=3.0):
    """Logits z and labels drawn from softmax(z): softmax(z) is perfectly calibrated."""
    z = scale * rng.standard_normal((n, k))
    p = softmax(z)
    u = rng.random(n)[:, None]
    y = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), k - 1)
    return z, y


def test_fit_temperature_recovers_a_known_temperature_and_lowers_ece(rng):
    z, y = _calibrated_sample(rng)
    t_true = 2.5
    overconfident = t_true * z  # logits inflated by T: too sharp
    t_fit = fit_temperature(overconfident, y)
    assert t_fit == pytest.approx(t_true, rel=0.03)
    before = expected_calibration_error(softmax(overconfident), y)
    after = expected_calibration_error(softmax(overconfident, t_fit), y)
    print(f"T fitted {t_fit:.3f} (true {t_true}); ECE {before:.4f} -> {after:.4f}")
    assert before > 0.05 and after < 0.015
    assert negative_log_likelihood(overconfident, y, t_fit) < negative_log_likelihood(
        overconfident, y
    )
    # Under-confident logits give T < 1.
    assert fit_temperature(z / 2.0, y) == pytest.approx(0.5, rel=0.03)


def test_ece_of_perfectly_calibrated_probabilities_is_sampling_noise(rng):
    z, y = _calibrated_sample(rng)
    ece = expected_calibration_error(softmax(z), y)
    # Sampling error: ~ sum_b (n_b/N) sqrt(2 a_b (1 - a_b) / (pi n_b)), about 0.005 here.
    assert ece < 0.015
    assert fit_temperature(z, y) == pytest.approx(1.0, rel=0.03)


def test_ece_and_reliability_by_hand():
    # Ten predictions at confidence 0.9 of which 7 are right, ten at 0.6 of which 6 are.
    probs = np.array([[0.9, 0.1]] * 10 + [[0.4, 0.6]] * 10)
    labels = np.array([0] * 7 + [1] * 3 + [1] * 6 + [0] * 4)
    rel = reliability(probs, labels, n_bins=10)
    assert rel.edges.shape == (11,) and rel.count.sum() == 20
    assert rel.count[8] == 10 and rel.count[5] == 10  # (0.8, 0.9] and (0.5, 0.6]
    assert rel.accuracy[8] == pytest.approx(0.7) and rel.confidence[8] == pytest.approx(0.9)
    assert rel.accuracy[5] == pytest.approx(0.6) and rel.confidence[5] == pytest.approx(0.6)
    assert np.isnan(rel.accuracy[0]) and rel.count[0] == 0
    expected = 0.5 * 0.2 + 0.5 * 0.0
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected)
    assert rel.ece == pytest.approx(expected)


def test_confusion_matrix_counts():
    true = np.array([0, 0, 1, 2, 2, 2, 1])
    pred = np.array([0, 1, 1, 2, 0, 2, 1])
    cm = confusion_matrix(true, pred, 4)
    expected = np.zeros((4, 4), int)
    for t, p in zip(true, pred, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 7 and np.trace(cm) == 5 and cm[2, 0] == 1 and cm[3].sum() == 0
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        confusion_matrix(true, pred, 2)  # class 2 does not exist
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(true, pred[:3], 4)


def test_input_checks():
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros(5), np.zeros(5, int))
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(np.full((2, 3), np.nan), [0, 1])
    with pytest.raises(ValueError, match="temperature"):
        softmax(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        expected_calibration_error(np.array([[1.2, -0.2]]), [0])
    p = softmax(np.random.default_rng(0).standard_normal((4, 6)), 0.7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_grouped_temperature_calibrates_the_summed_probabilities(rng):
    """Fine classes summed into groups: the fitted T makes the group probabilities honest."""
    n, n_fine, per_group = 6000, 12, 4
    groups = np.repeat(np.arange(n_fine // per_group), per_group)
    z = rng.normal(0.0, 2.0, (n, n_fine))
    # draw the true fine class from softmax(z), record its group
    p = softmax(z)
    fine = np.array([rng.choice(n_fine, p=row) for row in p])
    y = groups[fine]
    t_true = 3.0
    t_fit = fit_temperature(t_true * z, y, groups=groups)
    assert t_fit == pytest.approx(t_true, rel=0.05)
    onehot = np.eye(3)[groups]
    p_group = softmax(t_true * z, t_fit) @ onehot
    assert expected_calibration_error(p_group, y) < 0.02
    with pytest.raises(ValueError, match="groups must be"):
        fit_temperature(z, y, groups=groups[:-1])
