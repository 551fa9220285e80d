"""Input checks of the Cannon: shapes, masks and labels, with messages that say what to do."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..errors import SpectrumValidationError
from ..labels import LabelSpace
from ._vectorizer import n_terms

__all__ = [
    "float_dtype",
    "halton",
    "check_spectra",
    "usable",
    "check_training_labels",
    "check_training_spectra",
]

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


def float_dtype(x: np.ndarray) -> Any:
    """The JAX float dtype for computing with ``x`` (float32 unless x64 is on)."""
    dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return jax.dtypes.canonicalize_dtype(np.promote_types(dt, np.float32))


def halton(n: int, dim: int) -> np.ndarray:
    """``(n, dim)`` points 1..n of the Halton sequence in (0, 1)."""
    out = np.empty((n, dim))
    for j in range(dim):
        base = _PRIMES[j % len(_PRIMES)]
        for i in range(n):
            k, f, r = i + 1 + 7 * (j // len(_PRIMES)), 1.0, 0.0
            while k > 0:
                f /= base
                r += f * (k % base)
                k //= base
            out[i, j] = r
    return out


def _as_2d(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise SpectrumValidationError(
            f"expected {what} of shape (n_stars, n_pix), got shape {arr.shape}"
        )
    return arr


def check_spectra(flux: Any, ivar: Any, n_pix: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(n_stars, n_pix)`` flux and ivar (1-D: one star) of equal shape, ivar >= 0, and
    ``n_pix`` pixels unless None."""
    flux = _as_2d(flux, "flux")
    ivar = _as_2d(ivar, "ivar")
    if n_pix is not None and flux.shape[1] != n_pix:
        raise SpectrumValidationError(
            f"expected flux with {n_pix} pixels to match the Cannon's training spectra, got "
            f"{flux.shape[1]}; resample onto the model's wave first with "
            "jaxspec.preprocess.resample"
        )
    if ivar.shape != flux.shape:
        raise SpectrumValidationError(
            f"expected ivar of the shape of flux {flux.shape}, got {ivar.shape}"
        )
    with np.errstate(invalid="ignore"):
        negative = ivar < 0
    if negative.any():
        star, pix = np.argwhere(negative)[0]
        raise SpectrumValidationError(
            f"ivar must be >= 0 (0 masks a pixel); star {star}, pixel {pix} has ivar = "
            f"{ivar[star, pix]:g} ({int(negative.sum())} negative values in all)"
        )
    return flux, ivar


def usable(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """Pixels that count: ivar > 0 and finite, flux finite (NaN flux is masked)."""
    with np.errstate(invalid="ignore"):
        return (ivar > 0) & np.isfinite(ivar) & np.isfinite(flux)


def check_training_labels(labels: Any, space: LabelSpace, order: int) -> np.ndarray:
    """Training labels as a float64 ``(n_stars, L)`` array, or a clear exception.

    Raises:
        ValueError: wrong shape, NaN or inf, fewer stars than terms + 1.
        LabelRangeError: labels outside ``space``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    n_labels = space.n_labels
    if labels.ndim != 2 or labels.shape[1] != n_labels:
        raise ValueError(
            f"expected training labels of shape (n_stars, {n_labels}) "
            f"({', '.join(space.names)}), got shape {labels.shape}"
        )
    bad_rows = np.flatnonzero(~np.isfinite(labels).all(axis=1))
    if bad_rows.size:
        raise ValueError(
            f"training labels must be finite; rows {bad_rows[:10].tolist()} hold NaN or "
            f"inf ({bad_rows.size} rows in all). Drop those stars before training"
        )
    space.check(labels, what="training labels")
    n, t = labels.shape[0], n_terms(n_labels, order)
    if n < t + 1:
        raise ValueError(
            f"an order-{order} Cannon with {n_labels} labels has {t} terms per pixel and "
            f"needs more training stars than that; got {n}. Add stars or lower `order`"
        )
    return labels


def check_training_spectra(
    flux: Any, ivar: Any, wave: Any, n_stars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(flux, ivar, wave)`` checked against each other and the number of stars."""
    flux, ivar = check_spectra(flux, ivar, None)
    if flux.shape[0] != n_stars:
        raise SpectrumValidationError(
            f"expected one spectrum per training star ({n_stars}), got flux of shape {flux.shape}"
        )
    if wave is not None:
        wave = np.asarray(wave, dtype=np.float64)
        if wave.shape != (flux.shape[1],):
            raise SpectrumValidationError(
                f"expected wave of shape ({flux.shape[1]},) to match the flux, got {wave.shape}"
            )
    return flux, ivar, wave
