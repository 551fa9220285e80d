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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum
from ._batching import concrete_or_none, map_spectra

__all__ = ["fit_continuum", "continuum_normalize", "normalize_by", "APOGEE_CHIPS"]

#: Vacuum wavelength ranges [Å] of the three APOGEE detector chips (blue, green, red), as
#: covered by apStar spectra.
APOGEE_CHIPS: tuple[tuple[float, float], ...] = ((15140.0, 15815.0), (15850.0, 16440.0), (16465.0, 16960.0))


def _chebyshev_basis(x: Any, order: int) -> Any:
    """``(n, order + 1)`` Chebyshev polynomials T_0..T_order at ``x`` in [−1, 1]."""
    cols = [jnp.ones_like(x)]
    if order >= 1:
        cols.append(x)
    for _ in range(2, order + 1):
        cols.append(2.0 * x * cols[-1] - cols[-2])
    return jnp.stack(cols, axis=-1)


def _segment_basis(wave: Any, segments: tuple[tuple[Any, Any], ...], degree: int) -> tuple[Any, Any]:
    """Chebyshev T_0..T_degree per segment, ``(n, n_seg, degree + 1)``, zero outside it.

    Also returns the indicator of pixels inside any segment.
    """
    blocks = []
    inside_any = jnp.zeros(wave.shape, bool)
    for lo, hi in segments:
        inside = (wave >= lo) & (wave <= hi)
        x = jnp.clip(2.0 * (wave - lo) / (hi - lo) - 1.0, -1.0, 1.0)
        blocks.append(_chebyshev_basis(x, degree) * inside[:, None])
        inside_any = inside_any | inside
    return jnp.stack(blocks, axis=1), inside_any


def _polynomial_single(
    spec: Spectrum,
    segments: tuple[tuple[Any, Any], ...],
    order: int,
    n_iter: int,
    low_sigma: float,
    high_sigma: float,
) -> Any:
    """Sigma-clipped weighted least squares, one Chebyshev series per segment.

    The normal equations use T_i T_j = (T_{i+j} + T_{|i-j|}) / 2, so each iteration needs
    only the 2·order + 1 weighted moments Σ w T_k per segment (one matrix product over the
    pixels) instead of the full (order + 1)² outer products.
    """
    wave = jnp.asarray(spec.wave)
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    n_seg = len(segments)
    moments_basis, inside = _segment_basis(wave, segments, 2 * order)
    basis = moments_basis[:, :, : order + 1]
    usable = good & inside
    dtype = flux.dtype
    # Work in units of the mean good flux so the normal equations are well scaled.
    n_usable = jnp.maximum(jnp.sum(usable), 1)
    scale = jnp.sum(jnp.where(usable, flux, 0.0)) / n_usable
    scale = jnp.where(jnp.isfinite(scale) & (scale != 0), scale, 1.0)
    y = flux / scale
    i = np.arange(order + 1)
    plus, minus = i[:, None] + i[None, :], np.abs(i[:, None] - i[None, :])
    flat_moments = moments_basis.reshape(wave.shape[0], -1)
    flat_basis = basis.reshape(wave.shape[0], -1)

    def solve(keep: Any) -> Any:
        w = keep.astype(dtype)
        mom = (w @ flat_moments).reshape(n_seg, 2 * order + 1)
        lhs = 0.5 * (mom[:, plus] + mom[:, minus])
        lhs = lhs + 1e-10 * jnp.maximum(mom[:, :1, None], 1.0) * jnp.eye(order + 1, dtype=dtype)
        rhs = ((w * y) @ flat_basis).reshape(n_seg, order + 1)
        coef = jnp.linalg.solve(lhs, rhs[..., None])[..., 0]
        return flat_basis @ coef.reshape(-1)

    member = moments_basis[:, :, 0]  # (n, n_seg): T_0 = 1 inside a segment, 0 outside

    def body(_: int, keep: Any) -> Any:
        model = solve(keep)
        resid = y - model
        w = keep.astype(dtype)
        # Clipping scale: rms of the kept residuals, per segment (chips differ in noise).
        count = w @ member
        sigma = jnp.sqrt((w * resid**2) @ member / jnp.maximum(count, 1.0))
        sigma_pix = member @ sigma
        new_keep = usable & (resid > -low_sigma * sigma_pix) & (resid < high_sigma * sigma_pix)
        # Never let clipping leave a segment with fewer points than coefficients.
        enough = (new_keep.astype(dtype) @ member) > order + 1
        return jnp.where(member @ enough.astype(dtype) > 0, new_keep, keep)

    keep = jax.lax.fori_loop(0, n_iter, body, usable)
    return jnp.where(inside, solve(keep) * scale, jnp.nan)


def _quantile_single(spec: Spectrum, half_window: int, quantile: float) -> Any:
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    n = flux.shape[0]
    padded = jnp.pad(jnp.where(good, flux, jnp.nan), (half_window, half_window), constant_values=jnp.nan)
    windows = jnp.stack([padded[t : t + n] for t in range(2 * half_window + 1)], axis=-1)
    return jnp.nanquantile(windows, quantile, axis=-1)


def _segments(segments: Sequence[tuple[float, float]] | None) -> tuple[tuple[float, float], ...] | None:
    if segments is None:
        return None
    out = tuple((float(lo), float(hi)) for lo, hi in segments)
    for lo, hi in out:
        if not lo < hi:
            raise SpectrumValidationError(f"each segment needs wave_min < wave_max, got ({lo}, {hi})")
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
