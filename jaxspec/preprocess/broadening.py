"""Line-spread-function and rotational broadening with pixel-integrated kernels.

Both kernels are defined in velocity space (ln λ), so they work on any strictly increasing
wavelength grid, uniform or not. For the output pixel centred on λ_i the weight of input
pixel j is the integral of the kernel over that pixel's extent,
``w_ij = F(u_j+½ / s) − F(u_j−½ / s)`` with ``u = c ln(λ / λ_i)``, ``F`` the kernel's
cumulative distribution and ``s`` its velocity scale. Integrating over pixels keeps narrow
(under-sampled) kernels exact in flux and makes the result smooth in the kernel width, which
gradients need. Masked pixels get zero weight and the weights are renormalised; an output
pixel is masked when less than half of the kernel falls on good pixels (the part of the
kernel beyond either end of the grid counts as bad) and when more than 1 % of the kernel
falls beyond either end of the grid (so edge pixels are masked rather than biased).
Variances propagate
as ``Σ w² var / (Σ w)²`` (pixels treated as independent).

The kernel extends over ``half_window`` pixels on each side. It is sized from the kernel
width when the width is concrete; under ``jit`` or ``grad`` with a traced width, pass
``half_window`` explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum
from ._batching import concrete_max, concrete_or_none, map_spectra, with_constant_wave
from .doppler import SPEED_OF_LIGHT_KMS
from .resample import pixel_edges

__all__ = ["convolve_resolution", "rotational_broadening", "FWHM_TO_SIGMA"]

#: σ = FWHM × FWHM_TO_SIGMA for a Gaussian.
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

#: Grids whose ln λ steps agree to this fraction use one kernel for all pixels.
_UNIFORM_TOLERANCE = 0.01

#: Largest fraction of the kernel that may fall beyond the ends of the grid (a truncated
#: Gaussian with 1 % cut off shifts its mean by 0.03 σ).
_MAX_OFF_GRID = 0.01

#: Smallest kernel scale [km/s]; narrower kernels are treated as this width (a δ-function on
#: any real grid), which keeps gradients finite at zero broadening.
_MIN_SCALE_KMS = 1e-3


def _finish(spec: Spectrum, sums: tuple[Any, ...]) -> Spectrum:
    """Output flux, ivar and mask from the kernel sums (w_sum, w_on, w_good, f_sum, v_sum)."""
    w_sum, w_on, w_good, f_sum, v_sum = sums
    good = ~jnp.asarray(spec.mask)
    ok = good & (w_good >= 0.5 * w_sum) & (w_good > 0) & (w_sum - w_on <= _MAX_OFF_GRID * w_sum)
    safe = jnp.where(ok, w_good, 1.0)
    new_flux = jnp.where(ok, f_sum / safe, 0.0)
    # ok implies v_sum > 0; one select on ok keeps XLA from duplicating the taps.
    new_ivar = jnp.where(ok, safe**2 / jnp.where(ok, v_sum, 1.0), 0.0)
    return Spectrum(spec.wave, new_flux, new_ivar, ~ok, spec.meta)


def _inputs(spec: Spectrum) -> tuple[Any, Any, Any]:
    """Flux, variance and good-pixel weight (0/1) of a spectrum, as arrays of its dtype."""
    flux = jnp.asarray(spec.flux)
    good = ~jnp.asarray(spec.mask)
    var = jnp.where(good, 1.0 / jnp.where(good, jnp.asarray(spec.ivar), 1.0), 0.0)
    return flux, var, good.astype(flux.dtype)


def _windowed_convolve(
    spec: Spectrum,
    cdf: Callable[[Any], Any],
    scale_kms: Any,
    half_window: int,
) -> Spectrum:
    """Convolve one spectrum on any grid: a kernel evaluated per pixel from its own edges."""
    wave = jnp.asarray(spec.wave)
    flux, var, g = _inputs(spec)
    n = wave.shape[0]
    k = int(half_window)
    dtype = flux.dtype

    ln_c = jnp.log(wave)
    ln_e = jnp.log(pixel_edges(wave))
    scale = jnp.maximum(jnp.asarray(scale_kms, dtype), _MIN_SCALE_KMS)
    pad = lambda x: jnp.pad(x, (k, k))  # noqa: E731
    # Edges continue beyond the grid with the end pixels' widths, so the kernel weight that
    # falls off the grid is counted (as bad pixels): edge pixels are masked, not biased.
    steps = jnp.arange(1, k + 1, dtype=ln_e.dtype)
    ln_ext = jnp.concatenate(
        [
            ln_e[0] - (ln_e[1] - ln_e[0]) * steps[::-1],
            ln_e,
            ln_e[-1] + (ln_e[-1] - ln_e[-2]) * steps,
        ]
    )
    ln_lo, ln_hi = ln_ext[:-1], ln_ext[1:]
    flux_p, var_p, good_p, on_grid_p = pad(flux), pad(var), pad(g), pad(jnp.ones(n, dtype))

    w_sum = w_on = w_good = f_sum = v_sum = jnp.zeros(n, dtype)
    # A fixed loop over kernel taps (not pixels or stars): XLA fuses it into one pass.
    for t in range(2 * k + 1):
        sl = slice(t, t + n)
        lo = SPEED_OF_LIGHT_KMS * (ln_lo[sl] - ln_c) / scale
        hi = SPEED_OF_LIGHT_KMS * (ln_hi[sl] - ln_c) / scale
        w = cdf(hi) - cdf(lo)
        wg = w * good_p[sl]
        w_sum = w_sum + w
        w_on = w_on + w * on_grid_p[sl]
        w_good = w_good + wg
        f_sum = f_sum + wg * flux_p[sl]
        v_sum = v_sum + wg**2 * var_p[sl]
    return _finish(spec, (w_sum, w_on, w_good, f_sum, v_sum))


def _uniform_convolve(
    spec: Spectrum,
    cdf: Callable[[Any], Any],
    scale_kms: Any,
    half_window: int,
    step_kms: float,
) -> Spectrum:
    """Convolve on a grid uniform in ln λ: one kernel (scalar tap weights) for every pixel.

    The same pixel-integrated kernel as :func:`_windowed_convolve` (exactly, for an exactly
    log-uniform grid), without evaluating it per pixel. Takes a batch ``(..., n)`` directly.
    """
    flux, var, g = _inputs(spec)
    n = flux.shape[-1]
    k = int(half_window)
    dtype = flux.dtype
    scale = jnp.maximum(jnp.asarray(scale_kms, dtype), _MIN_SCALE_KMS)
    offsets = jnp.arange(-k, k + 1, dtype=dtype) * step_kms
    w = cdf((offsets + 0.5 * step_kms) / scale) - cdf((offsets - 0.5 * step_kms) / scale)
    pad = [(0, 0)] * (flux.ndim - 1) + [(k, k)]
    flux_p, var_p, good_p = (jnp.pad(a, pad) for a in (flux * g, var * g, g))
    on_grid_p = jnp.pad(jnp.ones(n, dtype), (k, k))
    w_on = w_good = f_sum = v_sum = 0.0
    # A fixed loop over kernel taps with scalar weights; XLA fuses it into one pass.
    for t in range(2 * k + 1):
        sl = slice(t, t + n)
        w_on = w_on + w[t] * on_grid_p[sl]
        w_good = w_good + w[t] * good_p[..., sl]
        f_sum = f_sum + w[t] * flux_p[..., sl]
        v_sum = v_sum + w[t] ** 2 * var_p[..., sl]
    return _finish(spec, (jnp.sum(w), w_on, w_good, f_sum, v_sum))


def _log_uniform_step(spec: Spectrum) -> float | None:
    """The ln λ step [km/s] of a concrete, shared grid uniform in ln λ to 1 %, else None.

    Float32 rounding alone makes the steps of a log-linear survey grid scatter by ~0.5 %.
    """
    wave = concrete_or_none(spec.wave)
    if wave is None or wave.ndim != 1 or wave.shape[0] < 3:
        return None
    steps = np.diff(np.log(wave.astype(np.float64)))
    mean = float(np.mean(steps))
    if mean <= 0 or np.max(np.abs(steps - mean)) > _UNIFORM_TOLERANCE * mean:
        return None
    return mean * SPEED_OF_LIGHT_KMS


def _convolve(
    spec: Spectrum,
    cdf_of: Callable[..., Callable[[Any], Any]],
    params: tuple,
    names: tuple,
    scale_of: Callable[..., Any],
    half_window: int,
) -> Spectrum:
    """Batch a kernel convolution: one call on a log-uniform grid, else ``vmap`` per spectrum."""
    step = _log_uniform_step(spec)
    if step is not None and all(np.ndim(p) == 0 for p in params if p is not None):
        out = _uniform_convolve(spec, cdf_of(*params), scale_of(*params), half_window, step)
        return with_constant_wave(out, spec.wave)

    def single(s: Spectrum, *p: Any) -> Spectrum:
        return _windowed_convolve(s, cdf_of(*p), scale_of(*p), half_window)

    return map_spectra(single, spec, params, names=names)


def _min_pixel_velocity(spec: Spectrum) -> float | None:
    wave = concrete_or_none(spec.wave)
    if wave is None:
        return None
    return float(np.min(np.diff(np.log(wave), axis=-1))) * SPEED_OF_LIGHT_KMS


def _window_size(spec: Spectrum, extent_kms: float, half_window: int | None) -> int:
    if half_window is not None:
        if int(half_window) < 1:
            raise SpectrumValidationError(f"half_window must be >= 1, got {half_window}")
        return int(half_window)
    step = _min_pixel_velocity(spec)
    if step is None:
        raise SpectrumValidationError(
            "the wavelength grid is traced, so the kernel window cannot be sized; pass "
            "half_window (pixels), or keep the grid a constant under jit (build the Spectrum "
            "inside the jitted function from a numpy wavelength array)"
        )
    return max(1, int(math.ceil(extent_kms / step)) + 1)


# ----------------------------------------------------------------------- Gaussian LSF
def _gaussian_cdf(x: Any) -> Any:
    return 0.5 * (1.0 + jsp.erf(x / math.sqrt(2.0)))


def _lsf_sigma_kms(resolution: Any, resolution_in: Any) -> Any:
    sigma_out = SPEED_OF_LIGHT_KMS * FWHM_TO_SIGMA / jnp.asarray(resolution)
    if resolution_in is None:
        return sigma_out
    sigma_in = SPEED_OF_LIGHT_KMS * FWHM_TO_SIGMA / jnp.asarray(resolution_in)
    # Floored inside the sqrt so the gradient stays finite at resolution == resolution_in.
    return jnp.sqrt(jnp.maximum(sigma_out**2 - sigma_in**2, _MIN_SCALE_KMS**2))


def convolve_resolution(
    spec: Spectrum,
    resolution: Any,
    *,
    resolution_in: Any = "meta",
    half_window: int | None = None,
) -> Spectrum:
    """Convolve with a Gaussian line-spread function of constant resolving power.

    The LSF has FWHM = λ / R, i.e. a constant velocity width c / R. If the input already has
    resolving power ``resolution_in``, the kernel is the difference in quadrature, so the
    output has resolving power ``resolution``.

    Args:
        spec: spectrum or batch.
        resolution: target resolving power R = λ / FWHM; scalar or one per spectrum.
        resolution_in: resolving power of the input. The default ``"meta"`` takes
            ``spec.meta.resolution`` (the readers set it, e.g. 22 500 for APOGEE); ``None``
            treats the input as infinitely resolved (a model). ``meta.resolution`` of the
            result is set to ``resolution``.
        half_window: kernel half-width in pixels; by default 5 σ of the widest kernel.

    Returns:
        the broadened spectrum on the same grid.

    Raises:
        SpectrumValidationError: R is not positive, or exceeds ``resolution_in``.
    """
    if isinstance(resolution_in, str):
        if resolution_in != "meta":
            raise SpectrumValidationError(
                f"resolution_in must be a number, None or 'meta', got {resolution_in!r}"
            )
        resolution_in = spec.meta.resolution
    r = concrete_or_none(resolution)
    r_in = None if resolution_in is None else concrete_or_none(resolution_in)
    if r is not None:
        if np.any(~np.isfinite(r)) or np.any(r <= 0):
            raise SpectrumValidationError(f"resolution must be finite and > 0, got {r}")
        if r_in is not None and np.any(r > r_in):
            raise SpectrumValidationError(
                f"cannot raise the resolving power: resolution={r} exceeds resolution_in={r_in}"
            )
    extent = 0.0
    if half_window is None:
        if r is None:
            raise SpectrumValidationError(
                "resolution is traced (inside jit/grad/vmap), so the kernel window cannot be "
                "sized from it; pass half_window (pixels) explicitly"
            )
        extent = 5.0 * SPEED_OF_LIGHT_KMS * FWHM_TO_SIGMA / float(np.min(r))
    k = _window_size(spec, extent, half_window)

    out = _convolve(
        spec,
        lambda res, res_in: _gaussian_cdf,
        (resolution, resolution_in),
        ("resolution", "resolution_in"),
        _lsf_sigma_kms,
        k,
    )
    if r is not None and r.ndim == 0:
        out = out.with_meta(resolution=float(r))
    return out


# ------------------------------------------------------------------ rotation kernel
@jax.custom_jvp
def _half_disk_area(x: Any) -> Any:
    """∫₀ˣ sqrt(1 − t²) dt for x in [−1, 1], with a derivative that is finite at ±1."""
    return 0.5 * (x * jnp.sqrt(jnp.maximum(1.0 - x**2, 0.0)) + jnp.arcsin(x))


@_half_disk_area.defjvp
def _half_disk_area_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _half_disk_area(x), jnp.sqrt(jnp.maximum(1.0 - x**2, 0.0)) * dx


def _rotation_cdf(limb_darkening: Any) -> Callable[[Any], Any]:
    """Cumulative of Gray's (2005, eq. 18.14) rotation kernel in units of v sin i."""
    eps = jnp.asarray(limb_darkening)
    norm = 1.0 - eps / 3.0
    c1 = 2.0 * (1.0 - eps) / (math.pi * norm)
    c2 = eps / (2.0 * norm)

    def cdf(x: Any) -> Any:
        xc = jnp.clip(x, -1.0, 1.0)
        return 0.5 + c1 * _half_disk_area(xc) + c2 * (xc - xc**3 / 3.0)

    return cdf


def rotational_broadening(
    spec: Spectrum,
    vsini: Any,
    limb_darkening: Any = 0.6,
    *,
    half_window: int | None = None,
) -> Spectrum:
    """Convolve with the rotational broadening kernel of a limb-darkened sphere.

    Gray (2005, The Observation and Analysis of Stellar Photospheres, eq. 18.14), with a
    linear limb-darkening law of coefficient ε:
    ``G(x) = [2(1−ε) sqrt(1−x²) + (π ε / 2)(1−x²)] / [π (1 − ε/3)]`` for ``x = v / v sin i``.

    Args:
        spec: spectrum or batch.
        vsini: projected rotational velocity [km/s] (≥ 0); scalar or one per spectrum.
        limb_darkening: linear limb-darkening coefficient ε in [0, 1]; scalar or per spectrum.
        half_window: kernel half-width in pixels; by default just covers ± v sin i.

    Returns:
        the broadened spectrum on the same grid. Differentiable in ``vsini`` and ``ε``.
    """
    v = concrete_or_none(vsini)
    if v is not None and (np.any(~np.isfinite(v)) or np.any(v < 0)):
        raise SpectrumValidationError(f"vsini must be finite and >= 0 km/s, got {v}")
    eps = concrete_or_none(limb_darkening)
    if eps is not None and (np.any(eps < 0) or np.any(eps > 1)):
        raise SpectrumValidationError(f"limb_darkening must be in [0, 1], got {eps}")
    extent = 0.0
    if half_window is None:
        extent = concrete_max(vsini, "vsini", "pass half_window (pixels) explicitly")
    k = _window_size(spec, extent, half_window)

    return _convolve(
        spec,
        lambda vs, ld: _rotation_cdf(ld),
        (vsini, limb_darkening),
        ("vsini", "limb_darkening"),
        lambda vs, ld: vs,
        k,
    )
