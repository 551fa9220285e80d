"""Training-set augmentation for data-driven regressors and classifiers.

Synthetic grid spectra are perfect: noise-free, at rest, at one resolution, exactly
normalised and complete. Survey spectra are none of these. :func:`augment` turns a batch of
grid spectra into plausible observations, fresh at every training step, in this order:

1. **resolution** — with probability ``p_resolution`` a spectrum is degraded by a Gaussian
   line-spread function to a resolving power drawn uniformly in
   ``[resolution_min_fraction · R, R]`` (R is the grid's resolving power);
2. **radial velocity** — a residual Doppler shift uniform in ±``rv_max`` km/s (spectra are
   put near rest frame before fitting; this teaches tolerance of the residual);
3. **continuum** — multiplication by ``1 + Σ_k c_k T_k(x)`` (Chebyshev polynomials on the
   wavelength range mapped to [−1, 1], k = 0…``continuum_order``), ``c_k ~ N(0,
   continuum_sigma²)``: the error of a pseudo-continuum normalisation;
4. **noise** — Gaussian, with S/N per pixel drawn log-uniformly in ``snr_range``
   (σ = 1/S/N on the normalised flux, so ``ivar = S/N²``);
5. **masked chunks** — a number of contiguous chunks drawn from a binomial that
   approximates Poisson(``mask_chunks_mean``), each up to ``mask_chunk_max_fraction`` of
   the pixels, are masked (bad columns, gaps, telluric residuals): their flux is set to 1,
   their ``ivar`` to 0 and ``mask`` to True.

Everything is a pure JAX function of a PRNG key, vmapped over spectra, so it runs inside
the jitted training step. Pixels masked on input stay masked.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["AugmentConfig", "Augmented", "augment", "NO_AUGMENTATION", "model_inputs"]

_C_KMS = 299_792.458
#: Gaussian FWHM / σ.
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Settings of :func:`augment` (immutable and hashable: a static jit argument).

    Attributes:
        snr_range: (low, high) S/N per pixel; drawn log-uniformly. ``None``: no noise.
        rv_max: largest residual radial velocity [km/s] (uniform in ±rv_max).
        p_resolution: probability that a spectrum is degraded in resolution.
        resolution_min_fraction: the lowest degraded R as a fraction of the grid's R.
        continuum_order: Chebyshev order of the continuum perturbation (−1: none).
        continuum_sigma: standard deviation of each Chebyshev coefficient.
        mask_chunks_mean: mean number of masked chunks per spectrum (≈ Poisson).
        mask_chunk_max_fraction: longest chunk as a fraction of the pixels.
        max_kernel_half_width: half width of the LSF kernel [pixels] (bounds the cost).
    """

    snr_range: tuple[float, float] | None = (5.0, 200.0)
    rv_max: float = 5.0
    p_resolution: float = 0.5
    resolution_min_fraction: float = 0.7
    continuum_order: int = 2
    continuum_sigma: float = 0.01
    mask_chunks_mean: float = 1.0
    mask_chunk_max_fraction: float = 0.02
    max_kernel_half_width: int = 8

    def __post_init__(self) -> None:
        if self.snr_range is not None:
            lo, hi = (float(v) for v in self.snr_range)
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise ValueError(
                    f"snr_range must be (low, high) with 0 < low <= high; got {self.snr_range}"
                )
            object.__setattr__(self, "snr_range", (lo, hi))
        checks = (
            ("rv_max", self.rv_max >= 0),
            ("p_resolution", 0 <= self.p_resolution <= 1),
            ("resolution_min_fraction", 0 < self.resolution_min_fraction <= 1),
            ("continuum_order", self.continuum_order >= -1),
            ("continuum_sigma", self.continuum_sigma >= 0),
            ("mask_chunks_mean", self.mask_chunks_mean >= 0),
            ("mask_chunk_max_fraction", 0 <= self.mask_chunk_max_fraction < 1),
            ("max_kernel_half_width", self.max_kernel_half_width >= 1),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"AugmentConfig.{name} = {getattr(self, name)!r} is out of range")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for model files)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        if data.get("snr_range") is not None:
            data["snr_range"] = tuple(data["snr_range"])
        return cls(**data)


#: Only the input checks of :func:`augment`: no noise, shift, blur, continuum or masking.
NO_AUGMENTATION = AugmentConfig(
    snr_range=None,
    rv_max=0.0,
    p_resolution=0.0,
    continuum_order=-1,
    mask_chunks_mean=0.0,
)


class Augmented(NamedTuple):
    """Augmented spectra, each ``(n, n_pix)``.

    Attributes:
        flux: normalised flux (1 in masked pixels).
        ivar: inverse variance (0 in masked pixels; ``inf`` is never produced: without noise
            it is 0 everywhere, meaning "unknown").
        mask: True where a pixel is masked.
        snr: ``(n,)`` the S/N drawn per spectrum (``inf`` without noise).
    """

    flux: jax.Array
    ivar: jax.Array
    mask: jax.Array
    snr: jax.Array


def _lsf_kernel(sigma_pix: jax.Array, half_width: int) -> jax.Array:
    """Normalised Gaussian kernel ``(2 half_width + 1,)``; σ ≤ 0.05 px gives a delta."""
    x = jnp.arange(-half_width, half_width + 1, dtype=jnp.float32)
    s = jnp.maximum(sigma_pix, 0.05)
    k = jnp.exp(-0.5 * (x / s) ** 2)
    return k / jnp.sum(k)


def _augment_one(
    key: jax.Array,
    flux: jax.Array,
    mask: jax.Array,
    x_log: jax.Array,
    basis: jax.Array,
    dlnl: float,
    resolution: float,
    cfg: AugmentConfig,
) -> Augmented:
    k_res, k_rfrac, k_rv, k_cont, k_snr, k_noise, k_nchunk, k_chunks = jax.random.split(key, 8)
    n_pix = flux.shape[-1]
    f = jnp.where(mask, 1.0, flux)

    if cfg.p_resolution > 0 and resolution > 0:
        degrade = jax.random.bernoulli(k_res, cfg.p_resolution)
        frac = jax.random.uniform(
            k_rfrac, (), minval=cfg.resolution_min_fraction, maxval=1.0, dtype=flux.dtype
        )
        r_new = resolution * frac
        # Gaussian that takes R to R_new, in pixels of width dlnλ.
        sigma_lnl = jnp.sqrt(jnp.maximum(1.0 / r_new**2 - 1.0 / resolution**2, 0.0))
        sigma_pix = jnp.where(degrade, sigma_lnl / _FWHM_PER_SIGMA / dlnl, 0.0)
        kernel = _lsf_kernel(sigma_pix, cfg.max_kernel_half_width).astype(flux.dtype)
        padded = jnp.pad(f, cfg.max_kernel_half_width, mode="edge")
        f = jnp.convolve(padded, kernel, mode="valid")

    if cfg.rv_max > 0:
        rv = jax.random.uniform(k_rv, (), minval=-cfg.rv_max, maxval=cfg.rv_max)
        # Observed at ln λ means emitted at ln λ − ln(1 + v/c) (non-relativistic is ample
        # for a few km/s).
        shift = jnp.log1p(rv / _C_KMS)
        f = jnp.interp(x_log - shift, x_log, f).astype(flux.dtype)

    if cfg.continuum_order >= 0 and cfg.continuum_sigma > 0:
        coeffs = cfg.continuum_sigma * jax.random.normal(
            k_cont, (cfg.continuum_order + 1,), flux.dtype
        )
        f = f * (1.0 + basis @ coeffs)

    if cfg.snr_range is not None:
        lo, hi = cfg.snr_range
        log_snr = jax.random.uniform(k_snr, (), minval=math.log(lo), maxval=math.log(hi))
        snr = jnp.exp(log_snr).astype(flux.dtype)
        f = f + jax.random.normal(k_noise, (n_pix,), flux.dtype) / snr
        ivar = jnp.full((n_pix,), snr**2, flux.dtype)
    else:
        snr = jnp.asarray(jnp.inf, flux.dtype)
        ivar = jnp.zeros((n_pix,), flux.dtype)

    out_mask = mask
    if cfg.mask_chunks_mean > 0 and cfg.mask_chunk_max_fraction > 0:
        # Binomial(k, λ/k) with k ≈ λ + 4√λ + 1 trials: Poisson(λ) to within a few per cent,
        # and far cheaper to compile than jax.random.poisson.
        lam = cfg.mask_chunks_mean
        max_chunks = int(math.ceil(lam + 4 * math.sqrt(lam))) + 1
        k_start, k_len = jax.random.split(k_chunks)
        max_len = max(1, int(cfg.mask_chunk_max_fraction * n_pix))
        starts = jax.random.randint(k_start, (max_chunks,), 0, n_pix)
        lengths = jax.random.randint(k_len, (max_chunks,), 1, max_len + 1)
        active = jax.random.bernoulli(k_nchunk, lam / max_chunks, (max_chunks,))
        pix = jnp.arange(n_pix)
        inside = (pix >= starts[:, None]) & (pix < (starts + lengths)[:, None]) & active[:, None]
        out_mask = mask | jnp.any(inside, axis=0)

    f = jnp.where(out_mask, 1.0, f)
    ivar = jnp.where(out_mask, 0.0, ivar)
    return Augmented(f, ivar, out_mask, snr)


def _check_batch(flux: Any, wave: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    wave_np = np.asarray(wave, dtype=np.float64)
    if wave_np.ndim != 1 or wave_np.size < 2:
        raise ValueError(f"wave must be 1-D with >= 2 pixels; got shape {wave_np.shape}")
    if not np.all(np.isfinite(wave_np)) or np.any(np.diff(wave_np) <= 0):
        raise ValueError("wave must be finite and strictly increasing; sort the spectra first")
    shape = tuple(np.shape(flux))
    if len(shape) != 2 or shape[1] != wave_np.size:
        raise ValueError(
            f"flux must be (n_spectra, {wave_np.size}) to match wave; got shape {shape}"
        )
    if mask is not None and tuple(np.shape(mask)) != shape:
        raise ValueError(f"mask must have the shape of flux {shape}; got {np.shape(mask)}")
    return wave_np, np.log(wave_np)


def augment(
    key: jax.Array,
    flux: Any,
    wave: Any,
    config: AugmentConfig | None = None,
    *,
    mask: Any = None,
    resolution: float = 0.0,
) -> Augmented:
    """Augment a batch of normalised spectra (see the module docstring for the steps).

    Compiled once per shape, ``config``, ``resolution`` and pixel step, and usable inside
    a jitted function (``key``, ``flux`` and ``mask`` may be traced; ``wave``, ``config`` and
    ``resolution`` are concrete: numbers and numpy arrays, checked on the host).

    Args:
        key: PRNG key; one draw per spectrum is split from it.
        flux: ``(n, n_pix)`` normalised flux (float32 or float64).
        wave: ``(n_pix,)`` vacuum wavelength [Å], strictly increasing.
        config: the augmentation settings (default ``AugmentConfig()``).
        mask: ``(n, n_pix)`` bool, True for pixels already bad (default: none).
        resolution: resolving power R of ``flux``; 0 disables resolution degradation.

    Returns:
        :class:`Augmented` arrays of the shape of ``flux``.
    """
    config = AugmentConfig() if config is None else config
    wave_np, x_log = _check_batch(flux, wave, mask)
    flux = jnp.asarray(flux)
    if not jnp.issubdtype(flux.dtype, jnp.floating):
        flux = flux.astype(jnp.float32)
    mask = jnp.zeros(flux.shape, bool) if mask is None else jnp.asarray(mask, bool)
    dlnl = float(np.median(np.diff(x_log)))
    x_cheb = 2.0 * (wave_np - wave_np[0]) / (wave_np[-1] - wave_np[0]) - 1.0
    basis = np.polynomial.chebyshev.chebvander(x_cheb, max(config.continuum_order, 0))
    return _augment_batch(
        key,
        flux,
        mask,
        jnp.asarray(x_log, flux.dtype),
        jnp.asarray(basis, flux.dtype),
        dlnl,
        float(resolution),
        config,
    )


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _augment_batch(
    key: jax.Array,
    flux: jax.Array,
    mask: jax.Array,
    x_log: jax.Array,
    basis: jax.Array,
    dlnl: float,
    resolution: float,
    config: AugmentConfig,
) -> Augmented:
    keys = jax.random.split(key, flux.shape[0])
    one = jax.vmap(lambda k, f, m: _augment_one(k, f, m, x_log, basis, dlnl, resolution, config))
    return one(keys, flux, mask)


def model_inputs(flux: Any, mask: Any) -> jax.Array:
    """The two-channel network input ``(n, n_pix, 2)``: flux − 1 (0 where masked), mask.

    Masked pixels carry no flux information (they are set to the continuum level, 0 after
    the offset), and the second channel tells the network where they are.
    """
    flux = jnp.asarray(flux)
    mask = jnp.asarray(mask, bool)
    dtype = flux.dtype if jnp.issubdtype(flux.dtype, jnp.floating) else jnp.float32
    centred = jnp.where(mask, 0.0, flux - 1.0).astype(dtype)
    return jnp.stack([centred, mask.astype(dtype)], axis=-1)
