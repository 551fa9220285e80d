"""Relativistic Doppler shifts of spectra."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum
from ._batching import concrete_or_none, map_spectra
from .resample import _resample_single, overlap_band

__all__ = ["doppler_shift", "doppler_factor", "SPEED_OF_LIGHT_KMS"]

#: Speed of light in vacuum [km/s] (exact, SI definition).
SPEED_OF_LIGHT_KMS = 299792.458


def doppler_factor(rv_kms: Any) -> Any:
    """Relativistic line-of-sight Doppler factor λ_obs / λ_emit = sqrt((1 + β) / (1 − β)).

    Args:
        rv_kms: radial velocity [km/s], positive for a receding source; any shape.
    """
    beta = jnp.asarray(rv_kms) / SPEED_OF_LIGHT_KMS
    return jnp.sqrt((1.0 + beta) / (1.0 - beta))


#: Doppler factors up to this (|v| ≲ 0.2 c) use the fast banded resampler; a pixel needing a
#: larger band is masked, never wrong.
_BAND_MARGIN = 1.25


def _shift_single(spec: Spectrum, rv_kms: Any, band: int | None) -> Spectrum:
    shifted_wave = jnp.asarray(spec.wave) * doppler_factor(rv_kms)
    shifted = Spectrum(shifted_wave, spec.flux, spec.ivar, spec.mask, spec.meta)
    return _resample_single(shifted, spec.wave, 0.0, band)


def doppler_shift(spec: Spectrum, rv_kms: Any, *, keep_grid: bool = True) -> Spectrum:
    """Doppler-shift a spectrum by a radial velocity.

    Every wavelength is multiplied by :func:`doppler_factor` (positive ``rv_kms`` moves
    features redward). To bring an observed spectrum to the rest frame, pass ``-rv``.

    With ``keep_grid=True`` (default) the shifted spectrum is resampled back onto the input
    wavelength grid with the flux-conserving :func:`~jaxspec.preprocess.resample`, so
    spectra keep a common grid and the result is differentiable in ``rv_kms``; pixels the
    shifted spectrum no longer covers are masked. With ``keep_grid=False`` only ``wave`` is
    scaled (exact, no resampling; the grid then differs per velocity).

    Args:
        spec: spectrum or batch.
        rv_kms: radial velocity [km/s]; a scalar or one per spectrum (``batch_shape``).
        keep_grid: resample back onto the input grid.

    Returns:
        the shifted spectrum.
    """
    if keep_grid:
        wave = concrete_or_none(spec.wave)
        band = None
        if wave is not None and wave.ndim == 1:
            band = overlap_band(wave, wave, margin=_BAND_MARGIN)
        return map_spectra(
            lambda s, rv: _shift_single(s, rv, band), spec, (rv_kms,), names=("rv_kms",)
        )
    factor = doppler_factor(rv_kms)
    if factor.ndim and tuple(factor.shape) != spec.batch_shape:
        raise SpectrumValidationError(
            f"rv_kms has shape {tuple(factor.shape)}; give a scalar or one value per spectrum "
            f"(batch shape {spec.batch_shape})"
        )
    return spec.replace(wave=jnp.asarray(spec.wave) * factor[..., None])
