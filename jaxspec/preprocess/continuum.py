"""Continuum fitting and normalisation.

Two methods, both jit/vmap-compatible:

* ``"polynomial"``: an iteratively sigma-clipped least-squares Chebyshev fit, one polynomial
  per wavelength segment (e.g. per detector chip). Pixels far below the fit (absorption
  lines, ``low_sigma``) or above it (cosmic rays, emission, ``high_sigma``) are rejected at
  each of ``n_iter`` iterations; the clipping scale is the scatter of the kept residuals.
* ``"quantile"``: a running upper quantile of the good pixels in a window of ``window`` Å
  around each pixel (a robust envelope for line-rich spectra).

Normalisation divides flux by the continuum and multiplies ivar by continuum², so the S/N
of every pixel is unchanged. Pixels outside every segment, or where the continuum is not
positive, are masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum
from ._batching import concrete_or_none, map_spectra

#: Pixels per block of the running-quantile method.
_QUANTILE_BLOCK = 256

__all__ = ["fit_continuum", "continuum_normalize", "normalize_by", "APOGEE_CHIPS"]

#: Vacuum wavelength ranges [Å] of the three APOGEE detector chips (blue, green, red), as
#: covered by apStar spectra.
APOGEE_CHIPS: tuple[tuple[float, float], ...] = (
    (15140.0, 15815.0),
    (15850.0, 16440.0),
    (16465.0, 16960.0),
)


def _chebyshev_basis(x: Any, order: int) -> Any:
    """``(n, order + 1)`` Chebyshev polynomials T_0..T_order at ``x`` in [−1, 1]."""
    cols = [jnp.ones_like(x)]
    if order >= 1:
        cols.append(x)
    for _ in range(2, order + 1):
        cols.append(2.0 * x * cols[-1] - cols[-2])
    return jnp.stack(cols, axis=-1)


class _Piece(NamedTuple):
    """One fitted segment: pixels ``start:stop``, the Chebyshev basis T_0..T_{2·order} on
    them ``(n_s, 2·order + 1)``, and which of them are inside the segment."""

    start: int
    stop: int
    basis: Any
    inside: Any


def _pieces(wave: Any, segments: tuple[tuple[Any, Any], ...], order: int) -> list[_Piece]:
    """Segments as pixel ranges: exact slices for a concrete grid, else full-length masks."""
    concrete = concrete_or_none(wave)
    pieces = []
    for lo, hi in segments:
        if concrete is not None:
            # Pixels with lo <= wave <= hi (the grid is sorted).
            start = int(np.searchsorted(concrete, lo, side="left"))
            stop = int(np.searchsorted(concrete, hi, side="right"))
            if stop <= start:
                continue
            w = jnp.asarray(concrete[start:stop])
            inside = jnp.ones(stop - start, bool)
        else:
            start, stop = 0, wave.shape[0]
            w = jnp.asarray(wave)
            inside = (w >= lo) & (w <= hi)
        x = jnp.clip(2.0 * (w - lo) / (hi - lo) - 1.0, -1.0, 1.0)
        pieces.append(_Piece(start, stop, _chebyshev_basis(x, 2 * order) * inside[:, None], inside))
    return pieces


def _polynomial_single(
    spec: Spectrum,
    segments: tuple[tuple[Any, Any], ...],
    order: int,
    n_iter: int,
    low_sigma: float,
    high_sigma: float,
) -> Any:
    """Sigma-clipped least squares, one Chebyshev series per segment, for one spectrum.

    The normal equations use T_i T_j = (T_{i+j} + T_{|i-j|}) / 2, so each iteration needs
    only the 2·order + 1 moments Σ w T_k of each segment (one matrix-vector product over
    its pixels) instead of (order + 1)² outer products. On a concrete grid each segment is
    a slice of the spectrum, so every pixel is visited once per iteration.
    """
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    dtype = flux.dtype
    pieces = _pieces(spec.wave, segments, order)
    if not pieces:
        return jnp.full(flux.shape, jnp.nan, dtype)
    usable = [good[p.start : p.stop] & p.inside for p in pieces]
    # Work in units of the mean good flux so the normal equations are well scaled.
    total = sum(
        jnp.sum(jnp.where(u, flux[p.start : p.stop], 0.0))
        for p, u in zip(pieces, usable, strict=True)
    )
    count = sum(jnp.sum(u) for u in usable)
    scale = total / jnp.maximum(count, 1)
    scale = jnp.where(jnp.isfinite(scale) & (scale != 0), scale, 1.0)
    ys = [flux[p.start : p.stop] / scale for p in pieces]
    i = np.arange(order + 1)
    plus, minus = i[:, None] + i[None, :], np.abs(i[:, None] - i[None, :])
    ridge = 1e-10 * jnp.eye(order + 1, dtype=dtype)

    def model(piece: _Piece, y: Any, keep: Any) -> Any:
        w = keep.astype(dtype)
        mom = w @ piece.basis
        lhs = 0.5 * (mom[plus] + mom[minus]) + ridge * jnp.maximum(mom[0], 1.0)
        low = piece.basis[:, : order + 1]
        coef = jnp.linalg.solve(lhs, (w * y) @ low)
        return low @ coef

    def clip(piece: _Piece, y: Any, use: Any, keep: Any) -> Any:
        resid = y - model(piece, y, keep)
        w = keep.astype(dtype)
        # Clipping scale: rms of the kept residuals of this segment (chips differ in noise).
        sigma = jnp.sqrt(jnp.sum(w * resid**2) / jnp.maximum(jnp.sum(w), 1.0))
        new_keep = use & (resid > -low_sigma * sigma) & (resid < high_sigma * sigma)
        # Never let clipping leave fewer points than coefficients.
        return jnp.where(jnp.sum(new_keep) > order + 1, new_keep, keep)

    def body(_: int, keeps: tuple) -> tuple:
        return tuple(clip(p, y, u, k) for p, y, u, k in zip(pieces, ys, usable, keeps, strict=True))

    keeps = jax.lax.fori_loop(0, n_iter, body, tuple(usable))
    cont = jnp.full(flux.shape, jnp.nan, dtype)
    for piece, y, keep in zip(pieces, ys, keeps, strict=True):
        values = jnp.where(
            piece.inside, model(piece, y, keep) * scale, cont[piece.start : piece.stop]
        )
        cont = cont.at[piece.start : piece.stop].set(values)
    return cont


def _quantile_single(spec: Spectrum, half_window: int, quantile: float) -> Any:
    """Running quantile of the good pixels, in blocks of pixels to bound memory.

    Each block needs ``block × (2 half_window + 1)`` values (not ``n_pix ×`` that), so a
    batch of long spectra with wide windows fits in memory.
    """
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    n = flux.shape[0]
    block = min(_QUANTILE_BLOCK, n)
    n_blocks = -(-n // block)
    width = 2 * half_window + 1
    padded = jnp.pad(
        jnp.where(good, flux, jnp.nan),
        (half_window, half_window + n_blocks * block - n),
        constant_values=jnp.nan,
    )

    def one_block(start: Any) -> Any:
        segment = jax.lax.dynamic_slice(padded, (start,), (block + width - 1,))
        windows = jnp.stack([segment[t : t + block] for t in range(width)], axis=-1)
        return jnp.nanquantile(windows, quantile, axis=-1)

    starts = jnp.arange(n_blocks) * block
    return jax.lax.map(one_block, starts).reshape(-1)[:n]


def _segments(
    segments: Sequence[tuple[float, float]] | None,
) -> tuple[tuple[float, float], ...] | None:
    if segments is None:
        return None
    out = tuple((float(lo), float(hi)) for lo, hi in segments)
    for lo, hi in out:
        if not lo < hi:
            raise SpectrumValidationError(
                f"each segment needs wave_min < wave_max, got ({lo}, {hi})"
            )
    ordered = sorted(out)
    for (lo1, hi1), (lo2, hi2) in zip(ordered, ordered[1:], strict=False):
        if lo2 <= hi1:
            raise SpectrumValidationError(
                f"segments ({lo1}, {hi1}) and ({lo2}, {hi2}) overlap; "
                "give disjoint wavelength ranges"
            )
    return out


def fit_continuum(
    spec: Spectrum,
    *,
    method: str = "polynomial",
    order: int = 3,
    segments: Sequence[tuple[float, float]] | None = None,
    n_iter: int = 5,
    low_sigma: float = 2.0,
    high_sigma: float = 3.0,
    window: float = 50.0,
    quantile: float = 0.9,
) -> Any:
    """Fit the continuum of a spectrum or batch.

    Args:
        spec: spectrum or batch.
        method: ``"polynomial"`` or ``"quantile"`` (see the module docstring).
        order: Chebyshev order per segment (polynomial).
        segments: ``[(wave_min, wave_max), ...]`` [Å] fitted independently (polynomial);
            default one segment over the whole spectrum. Use :data:`APOGEE_CHIPS` for APOGEE.
        n_iter: sigma-clipping iterations (polynomial).
        low_sigma, high_sigma: rejection thresholds below / above the fit (polynomial).
        window: full width [Å] of the running window (quantile).
        quantile: quantile of the good pixels in the window, in (0, 1] (quantile).

    Returns:
        continuum array with the shape of ``spec.flux``; NaN where it is undefined
        (outside all segments, or no good pixel in the quantile window).
    """
    if method == "polynomial":
        if order < 0 or n_iter < 0:
            raise SpectrumValidationError(f"order and n_iter must be >= 0, got {order}, {n_iter}")
        segs = _segments(segments)

        def single(s: Spectrum) -> Spectrum:
            wave = concrete_or_none(s.wave)
            if wave is None:
                wave = jnp.asarray(s.wave)
            bounds = ((wave[0], wave[-1]),) if segs is None else segs
            cont = _polynomial_single(s, bounds, int(order), int(n_iter), low_sigma, high_sigma)
            return _as_flux(s, cont)

    elif method == "quantile":
        if not 0.0 < quantile <= 1.0:
            raise SpectrumValidationError(f"quantile must be in (0, 1], got {quantile}")
        wave = concrete_or_none(spec.wave)
        if wave is None:
            raise SpectrumValidationError("wave is traced; the quantile window cannot be sized")
        step = float(np.median(np.diff(wave, axis=-1)))
        half = max(1, int(round(0.5 * window / step)))

        def single(s: Spectrum) -> Spectrum:
            return _as_flux(s, _quantile_single(s, half, quantile))

    else:
        raise SpectrumValidationError(
            f"unknown continuum method {method!r}; use 'polynomial' or 'quantile'"
        )
    return map_spectra(single, spec).flux


def _as_flux(spec: Spectrum, values: Any) -> Spectrum:
    """Carry an array through ``map_spectra`` in the flux slot (no validation, traced)."""
    return jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(spec), [spec.wave, values, spec.ivar, spec.mask]
    )


def continuum_normalize(spec: Spectrum, **kwargs: Any) -> Spectrum:
    """Divide a spectrum (or batch) by its fitted continuum.

    Keyword arguments are those of :func:`fit_continuum`. ``ivar`` is multiplied by the
    continuum squared, pixels without a positive continuum are masked, and
    ``meta.flux_unit`` becomes ``""`` (dimensionless).

    Returns:
        the continuum-normalised spectrum.
    """
    cont = fit_continuum(spec, **kwargs)
    return normalize_by(spec, cont)


def normalize_by(spec: Spectrum, continuum: Any) -> Spectrum:
    """Divide by a given continuum array (same shape as flux); see :func:`continuum_normalize`."""
    flux = jnp.asarray(spec.flux)
    cont = jnp.asarray(continuum)
    ok = jnp.isfinite(cont) & (cont > 0) & ~jnp.asarray(spec.mask)
    safe = jnp.where(ok, cont, 1.0)
    return Spectrum(
        spec.wave,
        jnp.where(ok, flux / safe, 0.0),
        jnp.where(ok, jnp.asarray(spec.ivar) * safe**2, 0.0),
        ~ok,
        spec.meta.replace(flux_unit=""),
    )
