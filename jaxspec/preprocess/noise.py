"""Gaussian noise injection at a target signal-to-noise ratio."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum
from ._batching import concrete_or_none, map_spectra

__all__ = ["add_noise", "NOISE_KINDS"]

#: Noise models of :func:`add_noise`.
NOISE_KINDS = ("constant", "poisson")


def _noise_single(spec: Spectrum, snr: Any, key: Any, kind: str) -> Spectrum:
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    level = jnp.nanmedian(jnp.where(good, jnp.abs(flux), jnp.nan))
    if kind == "constant":
        sigma = jnp.full_like(flux, level / snr)
    else:
        sigma = jnp.sqrt(jnp.abs(flux) * level) / snr
    noisy = flux + sigma * jax.random.normal(key, flux.shape, flux.dtype)
    ok = good & (sigma > 0)
    safe = jnp.where(ok, sigma, 1.0)
    return Spectrum(
        spec.wave, jnp.where(ok, noisy, 0.0), jnp.where(ok, safe**-2, 0.0), ~ok, spec.meta
    )


def add_noise(spec: Spectrum, snr: Any, *, key: jax.Array, kind: str = "constant") -> Spectrum:
    """Add Gaussian noise so the spectrum has the requested median S/N per pixel.

    The S/N is defined at the median absolute good flux ``F``:

    * ``"constant"``: σ = F / snr at every pixel (the usual choice for normalised spectra);
    * ``"poisson"``: σ = sqrt(|f| F) / snr, photon-noise scaling, S/N = snr at flux F.

    The returned ``ivar`` is ``1/σ²`` of the noise that was drawn (it replaces the input
    ivar, which is taken to describe a noise-free model). Masked pixels stay masked.

    Args:
        spec: spectrum or batch (typically noise-free model spectra).
        snr: target S/N per pixel (> 0); scalar or one per spectrum.
        key: JAX PRNG key; split internally so every spectrum gets independent noise.
        kind: ``"constant"`` or ``"poisson"``.

    Returns:
        the noisy spectrum with matching ivar.
    """
    if kind not in NOISE_KINDS:
        raise SpectrumValidationError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")
    value = concrete_or_none(snr)
    if value is not None and (np.any(~np.isfinite(value)) or np.any(value <= 0)):
        raise SpectrumValidationError(f"snr must be finite and > 0, got {value}")
    n = math.prod(spec.batch_shape)
    if spec.batch_shape and n == 0:
        return spec  # an empty batch: nothing to draw
    keys = jax.random.split(key, max(n, 1))
    keys = keys[0] if not spec.batch_shape else keys.reshape(spec.batch_shape + keys.shape[1:])
    core = keys.ndim - len(spec.batch_shape)
    return map_spectra(
        lambda s, r, k: _noise_single(s, r, k, kind),
        spec,
        (snr, keys),
        core_ndims=(0, core),
        names=("snr", "key"),
    )
