"""Calibration of class probabilities: temperature scaling, ECE, reliability, confusion.

Plain numpy functions of concrete arrays (host side), shared by
:class:`~jaxspec.classify.SpectralClassifier` and the classification benchmark.

* :func:`fit_temperature` — temperature scaling (Guo et al. 2017, "On Calibration of Modern
  Neural Networks", ICML, arXiv:1706.04599): one scalar ``T > 0`` divides the logits,
  chosen to minimise the negative log-likelihood of held-out labels. It changes confidences,
  never the ranking of classes (the argmax is unchanged).
* :func:`reliability` and :func:`expected_calibration_error` — top-label calibration in
  equal-width confidence bins: ``ECE = Σ_b (n_b / N) |accuracy_b − confidence_b|``, with bin
  ``b`` holding confidences in ``((b − 1)/M, b/M]`` (Guo et al. 2017, eq. 3).
* :func:`confusion_matrix` — counts of (true, predicted) class pairs.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "softmax",
    "negative_log_likelihood",
    "fit_temperature",
    "Reliability",
    "reliability",
    "expected_calibration_error",
    "confusion_matrix",
]

#: Default search interval of :func:`fit_temperature`.
TEMPERATURE_BOUNDS = (0.02, 50.0)


def _logits(logits: Any) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"expected logits of shape (n, n_classes >= 2); got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or inf; drop those rows first")
    return z


def _labels(labels: Any, n: int, n_classes: int, what: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"expected {what} of shape ({n},) to match the rows; got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{what} must be integer class indices; got dtype {y.dtype}")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{what} must lie in [0, {n_classes - 1}]; got values from {y.min()} to {y.max()}"
        )
    return y.astype(np.int64)


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` along the last axis (float64, numerically safe).

    Args:
        logits: ``(..., n_classes)`` unnormalised log-probabilities.
        temperature: ``T > 0``; ``T > 1`` softens, ``T < 1`` sharpens.

    Returns:
        ``(..., n_classes)`` probabilities summing to one.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def negative_log_likelihood(logits: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood ``−⟨log softmax(z / T)_y⟩`` of integer labels.

    Args:
        logits: ``(n, n_classes)``.
        labels: ``(n,)`` true class indices.
        temperature: ``T > 0``.

    Returns:
        the mean NLL [nats].
    """
    z = _logits(logits)
    y = _labels(labels, z.shape[0], z.shape[1])
    return _nll(z, y, 1.0 / temperature)


def _nll(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    s = beta * z
    m = np.max(s, axis=1)
    lse = m + np.log(np.sum(np.exp(s - m[:, None]), axis=1))
    return float(np.mean(lse - s[np.arange(z.shape[0]), y]))


def _grouped_nll(z: np.ndarray, y: np.ndarray, beta: float, onehot: np.ndarray) -> float:
    s = beta * z
    m = np.max(s, axis=1, keepdims=True)
    e = np.exp(s - m)
    p_group = (e @ onehot) / np.sum(e, axis=1, keepdims=True)
    return float(-np.mean(np.log(np.maximum(p_group[np.arange(z.shape[0]), y], 1e-300))))


def fit_temperature(
    logits: Any,
    labels: Any,
    *,
    groups: Any = None,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """The temperature that minimises the NLL of held-out labels (temperature scaling).

    The NLL is convex in ``1/T``, so a bounded scalar search over ``log T``
    (:func:`scipy.optimize.minimize_scalar`, ``method="bounded"``) finds the global minimum.
    With ``groups``, the NLL is that of the summed probabilities of coarse classes (e.g. MK
    classes made of type bins), so the temperature calibrates what is reported for them.

    Args:
        logits: ``(n, n_classes)`` logits of held-out examples (not trained on).
        labels: ``(n,)`` their true class indices (group indices if ``groups`` is given).
        groups: optional ``(n_classes,)`` group index of each class.
        bounds: search interval ``(T_min, T_max)``; a result at a bound means the logits
            carry (almost) no information, or are wildly mis-scaled.

    Returns:
        ``T`` (a float); calibrated probabilities are ``softmax(logits / T)``.
    """
    from scipy.optimize import minimize_scalar

    z = _logits(logits)
    y = _labels(labels, z.shape[0], z.shape[1])
    if z.shape[0] == 0:
        raise ValueError("fit_temperature needs at least one labelled example")
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max; got {bounds}")
    if groups is None:
        objective = lambda log_t: _nll(z, y, math.exp(-log_t))  # noqa: E731
    else:
        g = np.asarray(groups, dtype=int)
        if g.shape != (z.shape[1],) or g.min() < 0:
            raise ValueError(f"groups must be ({z.shape[1]},) non-negative ints; got {g.shape}")
        onehot = np.eye(int(g.max()) + 1)[g]
        if y.max() >= onehot.shape[1]:
            raise ValueError("labels must be group indices when groups is given")
        objective = lambda log_t: _grouped_nll(z, y, math.exp(-log_t), onehot)  # noqa: E731
    res = minimize_scalar(
        objective,
        bounds=(math.log(lo), math.log(hi)),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(math.exp(res.x))


class Reliability(NamedTuple):
    """Top-label reliability-diagram data in equal-width confidence bins.

    Attributes:
        edges: ``(n_bins + 1,)`` bin edges from 0 to 1; bin ``b`` holds confidences in
            ``(edges[b], edges[b + 1]]`` (the first bin also holds 0).
        confidence: ``(n_bins,)`` mean top-label probability in each bin (NaN if empty).
        accuracy: ``(n_bins,)`` fraction of those whose top label is right (NaN if empty).
        count: ``(n_bins,)`` examples per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error ``Σ_b (n_b / N) |accuracy_b − confidence_b|``."""
        n = int(self.count.sum())
        if n == 0:
            return float("nan")
        used = self.count > 0
        gap = np.abs(self.accuracy[used] - self.confidence[used])
        return float(np.sum(self.count[used] * gap) / n)


def _probs(probs: Any) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, n_classes >= 2); got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    return p


def reliability(probs: Any, labels: Any, n_bins: int = 15) -> Reliability:
    """Reliability-diagram data of the top label (the class of highest probability).

    Args:
        probs: ``(n, n_classes)`` predicted probabilities (rows summing to one).
        labels: ``(n,)`` true class indices.
        n_bins: number of equal-width confidence bins on [0, 1].

    Returns:
        :class:`Reliability`; ``.ece`` is :func:`expected_calibration_error`.
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    n_bins = int(n_bins)
    p = _probs(probs)
    y = _labels(labels, p.shape[0], p.shape[1])
    conf = np.max(p, axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return Reliability(np.linspace(0.0, 1.0, n_bins + 1), mean_conf, acc, count)


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Top-label expected calibration error in ``n_bins`` equal-width confidence bins.

    Args:
        probs: ``(n, n_classes)`` predicted probabilities.
        labels: ``(n,)`` true class indices.
        n_bins: number of bins (15, as in Guo et al. 2017).

    Returns:
        ECE in [0, 1] (0: confidences match accuracies). Even perfectly calibrated
        probabilities give a positive value of order ``sqrt(n_bins / n)`` from sampling.
    """
    return reliability(probs, labels, n_bins).ece


def confusion_matrix(true: Any, pred: Any, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        true: ``(n,)`` true class indices in ``[0, n_classes)``.
        pred: ``(n,)`` predicted class indices.
        n_classes: number of classes.

    Returns:
        ``(n_classes, n_classes)`` int64 matrix; row = true class, column = predicted class.
    """
    t = np.asarray(true)
    if t.ndim != 1:
        raise ValueError(f"expected true classes of shape (n,); got {t.shape}")
    t = _labels(t, t.shape[0], n_classes, "true classes")
    p = _labels(pred, t.shape[0], n_classes, "predicted classes")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)
