"""The forward model of an observed spectrum and its likelihood, as pure JAX functions.

For one star with parameters θ = (labels, RV [, v sin i], continuum coefficients)::

    f(λ)   = emulator(labels)                      normalised flux on the emulator's grid
    f(λ)  ← rotational kernel (v sin i) * f        optional, differentiable in v sin i
    f(λ)  ← Gaussian LSF * f                       optional, to the observed resolving power
    m(λ_i) = C(λ_i) · f(λ_i / D(RV))               D: relativistic Doppler factor, linear interp.
    C(λ)   = Σ_k a_sk T_k(x_s(λ))                   Chebyshev polynomial per wavelength segment s

and the log-likelihood is Gaussian over the good pixels with variance
``1/ivar + (C · e)² + (jitter · m)²``, where ``e`` is the emulator's per-pixel held-out error
(:attr:`~jaxspec.emulators.Emulator.pixel_error`). Observed fluxes are divided by their median
over good pixels before fitting (:attr:`FitData.scale`), so continuum coefficients are of
order one whatever the flux unit.

Everything here is per star and traceable; :mod:`jaxspec.infer.map` and
:mod:`jaxspec.infer.mcmc` ``vmap`` it over stars.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..preprocess.broadening import convolve_resolution, rotational_broadening
from ..preprocess.doppler import SPEED_OF_LIGHT_KMS, doppler_factor
from ..preprocess.doppler import _rapidity as doppler_rapidity
from ..spectrum import Spectrum

__all__ = ["ForwardModel", "FitData", "Params"]


class Params(NamedTuple):
    """Parameters of one star (or, with leading axes, of many).

    Attributes:
        labels: ``(n_labels,)`` in the emulator's label units.
        rv: ``()`` radial velocity [km/s], positive receding.
        vsini: ``()`` projected rotation [km/s] (0 when the model does not fit it).
        continuum: ``(n_segments, order + 1)`` Chebyshev coefficients (in units of
            :attr:`FitData.scale`).
    """

    labels: Any
    rv: Any
    vsini: Any
    continuum: Any


class FitData(NamedTuple):
    """One observed spectrum prepared for fitting (leading axes: a batch).

    Attributes:
        wave: ``(n_pix,)`` observed vacuum wavelength [Å].
        flux: ``(n_pix,)`` flux divided by :attr:`scale`; 0 at bad pixels.
        ivar: ``(n_pix,)`` inverse variance of :attr:`flux`; 0 at bad pixels.
        good: ``(n_pix,)`` bool, pixels that enter the likelihood.
        basis: ``(n_pix, n_segments, order + 1)`` Chebyshev basis; 0 outside a segment.
        scale: ``()`` the median good flux the spectrum was divided by.
    """

    wave: Any
    flux: Any
    ivar: Any
    good: Any
    basis: Any
    scale: Any


def _chebyshev(x: Any, order: int) -> Any:
    """``(..., order + 1)`` Chebyshev polynomials T_0..T_order at x."""
    terms = [jnp.ones_like(x), x]
    for _ in range(order - 1):
        terms.append(2.0 * x * terms[-1] - terms[-2])
    return jnp.stack(terms[: order + 1], axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class ForwardModel:
    """An emulator plus the observation model around it (see the module docstring).

    Args:
        emulator: the :class:`~jaxspec.emulators.Emulator` (rest-frame vacuum wavelengths).
        segments: wavelength ranges [Å] with their own continuum polynomial, e.g. the three
            APOGEE chips (``jaxspec.preprocess.APOGEE_CHIPS``). ``None``: one segment over
            the emulator's range. Pixels outside every segment are not fitted.
        continuum_order: degree of each segment's Chebyshev polynomial (0: a constant).
        rv_bounds: prior range of the radial velocity [km/s] (uniform).
        fit_vsini: fit v sin i with a uniform prior on ``[0, vsini_max]``.
        vsini_max: upper bound of v sin i [km/s].
        limb_darkening: linear limb-darkening coefficient of the rotation kernel.
        resolution: resolving power of the observations; if lower than the emulator's, the
            emulated flux is convolved with the Gaussian of the difference in quadrature.
            ``None``: the emulator's own.
        jitter: fractional model error added in quadrature (e.g. 0.01 for 1 % of the flux).
        use_pixel_error: add the emulator's per-pixel held-out error to the variance.
        priors: numpyro distributions replacing the default uniform prior of a label or of
            ``"rv"``, e.g. ``{"logg": dist.Normal(4.4, 0.1)}``. Their support should lie in the
            emulator's box; MAP and NUTS keep labels inside the box in any case.
        continuum_prior: ``(loc of a_0, scale)`` of the independent normal priors of the
            continuum coefficients (higher orders have loc 0). The default ``(1, 1)`` is
            flat for all practical purposes on median-scaled spectra.
    """

    emulator: Any
    segments: tuple[tuple[float, float], ...] | None = None
    continuum_order: int = 2
    rv_bounds: tuple[float, float] = (-600.0, 600.0)
    fit_vsini: bool = False
    vsini_max: float = 100.0
    limb_darkening: float = 0.6
    resolution: float | None = None
    jitter: float = 0.0
    use_pixel_error: bool = True
    priors: Mapping[str, Any] | None = None
    continuum_prior: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        emu = self.emulator
        lo, hi = float(emu.wave[0]), float(emu.wave[-1])
        segs = ((lo, hi),) if self.segments is None else self.segments
        segs = tuple((float(a), float(b)) for a, b in segs)
        if not segs or any(not a < b for a, b in segs):
            raise ValueError(f"segments must be non-empty (min, max) ranges in Å, got {segs}")
        object.__setattr__(self, "segments", segs)
        if int(self.continuum_order) < 0:
            raise ValueError(f"continuum_order must be >= 0, got {self.continuum_order}")
        a, b = (float(v) for v in self.rv_bounds)
        if not a < b:
            raise ValueError(f"rv_bounds must be (min, max) km/s, got {self.rv_bounds}")
        object.__setattr__(self, "rv_bounds", (a, b))
        if self.fit_vsini and not self.vsini_max > 0:
            raise ValueError(f"vsini_max must be > 0 km/s, got {self.vsini_max}")
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter}")
        if self.resolution is not None:
            if not self.resolution > 0:
                raise ValueError(f"resolution must be > 0, got {self.resolution}")
            if emu.resolution and self.resolution > emu.resolution * (1 + 1e-9):
                raise ValueError(
                    f"the observations (R = {self.resolution:g}) are sharper than the emulator "
                    f"(R = {emu.resolution:g}); use an emulator at least as sharp"
                )
        unknown = set(self.priors or {}) - {*emu.label_names, "rv"}
        if unknown:
            raise ValueError(
                f"priors given for unknown parameters {sorted(unknown)}; known: "
                f"{[*emu.label_names, 'rv']}"
            )
        dln = np.diff(np.log(emu.wave))
        step = float(np.median(dln))
        object.__setattr__(self, "_pixel_kms", step * SPEED_OF_LIGHT_KMS)
        uniform = np.all(np.abs(dln - step) <= 1e-6 * step)
        object.__setattr__(
            self, "_log_step", (float(np.log(emu.wave[0])), step) if uniform else None
        )
        object.__setattr__(self, "_pixel_error", self._pixel_error_array())

    # ---- identity -----------------------------------------------------------------------

    def _key(self) -> tuple:
        """Equal for models with the same emulator object and settings (compiled code reuse)."""
        return (
            id(self.emulator),
            self.segments,
            self.continuum_order,
            self.rv_bounds,
            self.fit_vsini,
            self.vsini_max,
            self.limb_darkening,
            self.resolution,
            self.jitter,
            self.use_pixel_error,
            id(self.priors) if self.priors else None,
            tuple(self.continuum_prior),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ForwardModel):
            return NotImplemented
        return self.emulator is other.emulator and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # ---- description ------------------------------------------------------------------

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.emulator.label_names)

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def n_continuum(self) -> int:
        """Number of continuum coefficients (segments × (order + 1))."""
        return len(self.segments) * (self.continuum_order + 1)

    @property
    def lower(self) -> np.ndarray:
        return np.asarray(self.emulator.label_space.lower, dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        return np.asarray(self.emulator.label_space.upper, dtype=np.float64)

    def replace(self, **changes: Any) -> ForwardModel:
        return dataclasses.replace(self, **changes)

    def _pixel_error_array(self) -> np.ndarray:
        err = self.emulator.pixel_error
        if not self.use_pixel_error or err is None:
            return np.zeros(self.emulator.n_pix)
        return np.asarray(err, dtype=np.float64)

    # ---- data ---------------------------------------------------------------------------

    def prepare(self, spectra: Spectrum) -> tuple[FitData, np.ndarray]:
        """Observed spectra → :class:`FitData` (batched like the input) and a status array.

        Pixels are good when unmasked, finite, with ivar > 0, inside a continuum segment and
        inside the emulator's wavelength range at every RV in :attr:`rv_bounds`.

        Returns:
            ``(data, n_good)``: the prepared arrays and the number of good pixels per star
            (``(...)`` int; 0 marks a star that cannot be fitted).

        Raises:
            SpectrumValidationError: ``spectra`` is not a Spectrum.
        """
        if not isinstance(spectra, Spectrum):
            raise SpectrumValidationError(
                f"expected a jaxspec Spectrum (one star or a batch), got {type(spectra).__name__}"
                "; read files with jaxspec.io.read and combine them with jaxspec.stack"
            )
        wave = np.asarray(spectra.wave, dtype=np.float64)
        flux = np.asarray(spectra.flux, dtype=np.float64)
        ivar = np.asarray(spectra.ivar, dtype=np.float64)
        wave = np.broadcast_to(wave, flux.shape)
        good = ~np.asarray(spectra.mask) & np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
        d_lo, d_hi = (float(doppler_factor(v)) for v in self.rv_bounds)
        emu_lo, emu_hi = self.emulator.wave[0], self.emulator.wave[-1]
        margin = 0.0
        if self.fit_vsini:
            margin += self.vsini_max / SPEED_OF_LIGHT_KMS
        # Rest wavelengths λ / D(RV) must stay on the emulator grid for every RV allowed.
        good &= (wave / d_hi >= emu_lo * (1 + margin)) & (wave / d_lo <= emu_hi * (1 - margin))
        basis = np.zeros((*flux.shape, len(self.segments), self.continuum_order + 1))
        inside = np.zeros(flux.shape, dtype=bool)
        for s, (a, b) in enumerate(self.segments):
            in_seg = (wave >= a) & (wave <= b)
            x = np.clip((2.0 * wave - (a + b)) / (b - a), -1.0, 1.0)
            basis[..., s, :] = np.where(
                in_seg[..., None], np.asarray(_chebyshev(x, self.continuum_order)), 0.0
            )
            inside |= in_seg
        good &= inside
        n_good = good.sum(axis=-1)
        masked_flux = np.where(good, flux, np.nan)
        with np.errstate(all="ignore"):
            scale = np.nanmedian(np.where(n_good[..., None] > 0, masked_flux, 1.0), axis=-1)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        flux = np.where(good, flux / scale[..., None], 0.0)
        ivar = np.where(good, ivar * scale[..., None] ** 2, 0.0)
        data = FitData(wave, flux, ivar, good, basis, scale)
        return data, n_good

    # ---- the model ----------------------------------------------------------------------

    def rest_flux(self, params: Any, p: Params) -> Any:
        """``(n_emu,)`` emulated flux, broadened, on the emulator's grid (float64)."""
        flux = self.emulator.apply(params, p.labels).astype(jnp.float64)
        if not self.fit_vsini and self.resolution is None:
            return flux
        spec = Spectrum(self.emulator.wave, flux)  # numpy wave: kernels size from it
        if self.fit_vsini:
            k = int(math.ceil(self.vsini_max / self._pixel_kms)) + 2
            spec = rotational_broadening(spec, p.vsini, self.limb_darkening, half_window=k)
        if self.resolution is not None and (
            self.emulator.resolution is None or self.resolution < self.emulator.resolution
        ):
            spec = convolve_resolution(
                spec, self.resolution, resolution_in=self.emulator.resolution
            )
        # Edge pixels the kernels could not fill are masked; keep the unbroadened flux
        # there (they lie outside the range prepare() lets through for fitting).
        return jnp.where(spec.mask, flux, spec.flux)

    def interpolation(self, wave: Any, rv: Any) -> tuple[Any, Any]:
        """Linear-interpolation index and weight of rest wavelengths ``wave / D(rv)``.

        On the emulator's log-uniform grid the index follows from ln λ directly (O(n), no
        search); other grids use a binary search. Outside the grid the end values are used.
        """
        wave = jnp.asarray(wave)
        n = self.emulator.n_pix
        if self._log_step is not None:
            ln0, step = self._log_step
            x = (jnp.log(wave) - doppler_rapidity(rv) - ln0) / step
        else:
            grid = jnp.asarray(self.emulator.wave)
            rest = wave / doppler_factor(rv)
            i = jnp.clip(jnp.searchsorted(grid, rest) - 1, 0, n - 2)
            x = i + (rest - grid[i]) / (grid[i + 1] - grid[i])
        x = jnp.clip(x, 0.0, n - 1.0)
        index = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, n - 2)
        return index, x - index

    def continuum(self, p: Params, data: FitData) -> Any:
        """``(n_pix,)`` continuum on the observed pixels (units of ``data.scale``)."""
        return jnp.einsum("nsk,sk->n", data.basis, p.continuum)

    def model_parts(self, params: Any, p: Params, data: FitData) -> tuple[Any, Any, Any]:
        """``(model flux, normalised model, model variance)`` on the observed pixels.

        The model variance holds the emulator-error and jitter terms; the likelihood adds
        the noise variance ``1 / ivar`` (:meth:`variance`).
        """
        rest = self.rest_flux(params, p)
        index, weight = self.interpolation(data.wave, p.rv)
        norm = _lerp(rest, index, weight)
        cont = self.continuum(p, data)
        model = cont * norm
        err = _lerp(jnp.asarray(self._pixel_error), index, weight)
        model_var = (cont * err) ** 2 + (self.jitter * model) ** 2
        return model, norm, model_var

    @staticmethod
    def variance(data: FitData, model_var: Any) -> Any:
        """Total variance ``1/ivar + model variance`` (1 at bad pixels, which are ignored)."""
        noise = 1.0 / jnp.where(data.good, data.ivar, 1.0)
        return jnp.where(data.good, noise + model_var, 1.0)

    def log_likelihood(self, params: Any, p: Params, data: FitData) -> Any:
        """Gaussian log-likelihood of one star over its good pixels (float64 scalar)."""
        model, _, model_var = self.model_parts(params, p, data)
        var = self.variance(data, model_var)
        r2 = (data.flux - model) ** 2 / var
        terms = r2 + jnp.log(2.0 * jnp.pi * var)
        return -0.5 * jnp.sum(jnp.where(data.good, terms, 0.0))

    def chi2(self, params: Any, p: Params, data: FitData) -> Any:
        """χ² over the good pixels (with the full variance)."""
        model, _, model_var = self.model_parts(params, p, data)
        var = self.variance(data, model_var)
        return jnp.sum(jnp.where(data.good, (data.flux - model) ** 2 / var, 0.0))

    # ---- priors -------------------------------------------------------------------------

    def label_prior(self, i: int) -> Any:
        """The numpyro prior of label ``i`` (uniform on the emulator's box by default)."""
        import numpyro.distributions as dist

        name = self.label_names[i]
        if self.priors and name in self.priors:
            return self.priors[name]
        return dist.Uniform(self.lower[i], self.upper[i])

    def rv_prior(self) -> Any:
        import numpyro.distributions as dist

        if self.priors and "rv" in self.priors:
            return self.priors["rv"]
        return dist.Uniform(*self.rv_bounds)

    def continuum_prior_arrays(self) -> tuple[np.ndarray, float]:
        """``(loc (n_segments, order + 1), scale)`` of the continuum prior."""
        loc = np.zeros((len(self.segments), self.continuum_order + 1))
        loc[:, 0] = self.continuum_prior[0]
        return loc, float(self.continuum_prior[1])

    def log_prior(self, p: Params) -> Any:
        """Log prior density of one star's parameters (constrained space, no Jacobian)."""
        total = sum(self.label_prior(i).log_prob(p.labels[i]) for i in range(self.n_labels))
        total = total + self.rv_prior().log_prob(p.rv)
        if self.fit_vsini:
            total = total - jnp.log(self.vsini_max)
        loc, scale = self.continuum_prior_arrays()
        z = (p.continuum - loc) / scale
        total = total + jnp.sum(-0.5 * z**2 - jnp.log(scale * jnp.sqrt(2.0 * jnp.pi)))
        return total

    def log_posterior(self, params: Any, p: Params, data: FitData) -> Any:
        """Unnormalised log posterior (the MAP objective)."""
        return self.log_likelihood(params, p, data) + self.log_prior(p)

    def numpyro_model(self, params: Any, data: FitData) -> None:
        """The numpyro model of one star: priors, forward model, masked Gaussian likelihood.

        Sample sites: ``labels`` ``(n_labels,)``, ``rv``, ``vsini`` (if fitted),
        ``continuum`` ``(n_segments, order + 1)``; observed site ``flux``.
        """
        import numpyro
        import numpyro.distributions as dist

        labels = jnp.stack(
            [numpyro.sample(name, self.label_prior(i)) for i, name in enumerate(self.label_names)]
        )
        rv = numpyro.sample("rv", self.rv_prior())
        vsini = (
            numpyro.sample("vsini", dist.Uniform(0.0, self.vsini_max))
            if self.fit_vsini
            else jnp.zeros(())
        )
        loc, scale = self.continuum_prior_arrays()
        cont = numpyro.sample("continuum", dist.Normal(loc, scale).to_event(2))
        p = Params(labels, rv, vsini, cont)
        model, _, model_var = self.model_parts(params, p, data)
        var = self.variance(data, model_var)
        with numpyro.handlers.mask(mask=data.good):
            numpyro.sample("flux", dist.Normal(model, jnp.sqrt(var)), obs=data.flux)

    # ---- simulation ---------------------------------------------------------------------

    def simulate(
        self, p: Params, wave: Any, snr: float | Any, key: jax.Array, *, params: Any = None
    ) -> Spectrum:
        """Noisy observed spectra of stars with parameters ``p`` (batched on leading axes).

        The noise is Gaussian with σ = continuum / SNR plus the model variance terms the
        likelihood assumes (emulator error, jitter), so fits of simulated spectra are
        calibrated by construction.

        Args:
            p: :class:`Params` with a leading star axis (or none for one star).
            wave: ``(n_pix,)`` observed vacuum wavelengths [Å].
            snr: signal-to-noise per pixel at the continuum; scalar or one per star.
            key: JAX PRNG key.
            params: emulator weights (default: the emulator's own).
        """
        params = self.emulator.params if params is None else params
        wave = np.asarray(wave, dtype=np.float64)
        labels = jnp.atleast_2d(jnp.asarray(p.labels, dtype=jnp.float64))
        n = labels.shape[0]

        def bcast(x: Any, shape: tuple) -> Any:
            return jnp.broadcast_to(jnp.asarray(x, dtype=jnp.float64), (n, *shape))

        pb = Params(
            labels,
            bcast(p.rv, ()),
            bcast(p.vsini, ()),
            bcast(p.continuum, (len(self.segments), self.continuum_order + 1)),
        )
        snr = bcast(snr, ())
        template = Spectrum(wave, np.ones_like(wave))
        data, _ = self.prepare(template)
        data = data._replace(flux=np.ones_like(wave), scale=1.0)

        def one(pi: Params, s: Any, k: Any) -> tuple[Any, Any]:
            model, _, model_var = self.model_parts(params, pi, data)
            noise_var = (self.continuum(pi, data) / s) ** 2
            noise = jnp.sqrt(noise_var + model_var) * jax.random.normal(k, model.shape)
            return model + noise, 1.0 / noise_var

        keys = jax.random.split(key, n)
        flux, ivar = jax.jit(jax.vmap(one))(pb, snr, keys)
        flux, ivar = np.asarray(flux), np.asarray(ivar)
        mask = np.broadcast_to(~np.asarray(data.good), flux.shape)
        if np.ndim(p.labels) == 1:
            flux, ivar, mask = flux[0], ivar[0], mask[0]
        return Spectrum(wave, flux, ivar=ivar, mask=mask, source="jaxspec.infer.simulate")


def _lerp(values: Any, index: Any, weight: Any) -> Any:
    """Linear interpolation of ``values`` at fractional positions ``index + weight``."""
    lo = values.at[index].get(indices_are_sorted=True, mode="promise_in_bounds")
    hi = values.at[index + 1].get(indices_are_sorted=True, mode="promise_in_bounds")
    return lo * (1.0 - weight) + hi * weight


def params_from_vector(model: ForwardModel, theta: Any) -> Params:
    """Unpack a flat parameter vector ``(labels, rv, [vsini], continuum)``."""
    k = model.n_labels
    i = k + 1
    vsini = theta[i] if model.fit_vsini else jnp.zeros((), theta.dtype)
    i += int(model.fit_vsini)
    cont = theta[i:].reshape(len(model.segments), model.continuum_order + 1)
    return Params(theta[:k], theta[k], vsini, cont)


def params_to_vector(model: ForwardModel, p: Params) -> Any:
    """Inverse of :func:`params_from_vector` (works on leading batch axes)."""
    labels = jnp.asarray(p.labels)
    batch = labels.shape[:-1]
    parts = [labels, jnp.asarray(p.rv)[..., None]]
    if model.fit_vsini:
        parts.append(jnp.asarray(p.vsini)[..., None])
    parts.append(jnp.asarray(p.continuum).reshape(*batch, -1))
    return jnp.concatenate(parts, axis=-1)


def parameter_names(model: ForwardModel) -> list[str]:
    """Names of the entries of a flat parameter vector."""
    names = [*model.label_names, "rv"]
    if model.fit_vsini:
        names.append("vsini")
    names += [
        f"cont_{s}_{k}"
        for s in range(len(model.segments))
        for k in range(model.continuum_order + 1)
    ]
    return names
