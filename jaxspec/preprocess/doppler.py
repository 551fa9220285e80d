"""Relativistic Doppler shifts of spectra."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum, SpectrumMeta
from ._batching import concrete_or_none, map_spectra, with_constant_wave
from .resample import _resample_single, overlap_band, scan_spectra

__all__ = ["doppler_shift", "doppler_factor", "SPEED_OF_LIGHT_KMS"]

#: Speed of light in vacuum [km/s] (exact, SI definition).
SPEED_OF_LIGHT_KMS = 299792.458

#: Doppler factors up to this (|v| ≲ 0.2 c) use the fast banded resampler; a pixel needing a
#: larger band is masked, never wrong.
_BAND_MARGIN = 1.25

#: Velocities below this [km/s] count as zero when deciding that a spectrum is at rest.
_REST_TOLERANCE_KMS = 1e-3


def _rapidity(rv_kms: Any) -> Any:
    return jnp.arctanh(jnp.asarray(rv_kms) / SPEED_OF_LIGHT_KMS)


def doppler_factor(rv_kms: Any) -> Any:
    """Relativistic line-of-sight Doppler factor λ_obs / λ_emit = sqrt((1 + β) / (1 − β)).

    Args:
        rv_kms: radial velocity [km/s], positive for a receding source; any shape.
    """
    return jnp.exp(_rapidity(rv_kms))


def _shift_single(spec: Spectrum, rv_kms: Any, band: int | None) -> Spectrum:
    # D − 1 = expm1(rapidity) keeps small shifts exact even in float32.
    eps = jnp.expm1(_rapidity(rv_kms))
    return _resample_single(spec, spec.wave, 0.0, band, doppler_eps=eps)


def _shifted_meta(meta: SpectrumMeta, rv_kms: Any) -> SpectrumMeta:
    """Metadata after a shift: compose the source velocity when both are known numbers."""
    rv = concrete_or_none(rv_kms)
    if rv is None or rv.ndim or meta.redshift is not None:
        return meta.replace(radial_velocity=None, redshift=None, frame="unknown")
    if meta.radial_velocity is None and meta.frame != "rest":
        return meta.replace(frame="unknown")
    old = 0.0 if meta.radial_velocity is None else meta.radial_velocity
    beta = np.tanh(
        np.arctanh(old / SPEED_OF_LIGHT_KMS) + np.arctanh(float(rv) / SPEED_OF_LIGHT_KMS)
    )
    new = float(beta * SPEED_OF_LIGHT_KMS)
    if abs(new) < _REST_TOLERANCE_KMS:
        return meta.replace(radial_velocity=None, frame="rest")
    return meta.replace(radial_velocity=new, frame="unknown")


def doppler_shift(spec: Spectrum, rv_kms: Any, *, keep_grid: bool = True) -> Spectrum:
    """Doppler-shift a spectrum by a radial velocity.

    Every wavelength is multiplied by :func:`doppler_factor` (positive ``rv_kms`` moves
    features redward). To bring an observed spectrum with ``meta.radial_velocity = v`` to
    the rest frame, pass ``-v``.

    With ``keep_grid=True`` (default) the shifted spectrum is resampled back onto the input
    wavelength grid with the flux-conserving :func:`~jaxspec.preprocess.resample`, so
    spectra keep a common grid and the result is differentiable in ``rv_kms``; pixels the
    shifted spectrum no longer covers are masked. The shift is applied as an offset
    (λ · (D − 1)), so it is resolved to float round-off even in float32. With
    ``keep_grid=False`` only ``wave`` is scaled (exact, no resampling; the grid then
    differs per velocity).

    Metadata: for a scalar, concrete ``rv_kms`` the source velocity in ``meta`` is composed
    relativistically with the shift (a spectrum brought to zero velocity gets
    ``frame='rest'``; a shifted one ``frame='unknown'``); otherwise the velocity fields are
    cleared.

    Args:
        spec: spectrum or batch.
        rv_kms: radial velocity [km/s]; a scalar or one per spectrum (``batch_shape``).
        keep_grid: resample back onto the input grid.

    Returns:
        the shifted spectrum.
    """
    v = concrete_or_none(rv_kms)
    if v is not None and (np.any(~np.isfinite(v)) or np.any(np.abs(v) >= SPEED_OF_LIGHT_KMS)):
        raise SpectrumValidationError(f"rv_kms must be finite and below c in size, got {v}")
    if jnp.ndim(rv_kms) and tuple(jnp.shape(rv_kms)) != spec.batch_shape:
        raise SpectrumValidationError(
            f"rv_kms has shape {tuple(jnp.shape(rv_kms))}; give a scalar or one value per "
            f"spectrum (batch shape {spec.batch_shape})"
        )
    meta = _shifted_meta(spec.meta, rv_kms)
    if keep_grid:
        wave = concrete_or_none(spec.wave)
        if wave is not None and wave.ndim == 1:
            # A shared concrete grid: banded sums, one spectrum at a time (see scan_spectra).
            band = overlap_band(wave, wave, margin=_BAND_MARGIN)
            rv = jnp.broadcast_to(jnp.asarray(rv_kms), spec.batch_shape)
            out = scan_spectra(lambda s, v: _shift_single(s, v, band), spec, spec.wave, rv)
            out = with_constant_wave(out, wave)
        else:
            out = map_spectra(
                lambda s, rv: _shift_single(s, rv, None), spec, (rv_kms,), names=("rv_kms",)
            )
        return out.with_meta(
            **{f: getattr(meta, f) for f in ("radial_velocity", "redshift", "frame")}
        )
    factor = doppler_factor(rv_kms)
    return spec.replace(wave=jnp.asarray(spec.wave) * factor[..., None], meta=meta)
