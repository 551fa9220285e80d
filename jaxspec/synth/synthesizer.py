"""``Synthesizer``: labels → synthetic spectrum (1D LTE), jit/vmap/grad-able in float64.

One call runs, for each star:

1. the atmosnet atmosphere for (Teff, log g, [Fe/H], [α/Fe]) (or any :class:`Atmosphere`),
   interpolated onto a fixed grid in log τ_Ross (:data:`DEFAULT_LOG_TAU`);
2. the equation of state (:mod:`.eos`): n_e solved from (T, P_g) (``eos="solve"``, the
   default) or taken from the atmosphere (``eos="atmosphere"``, as Turbospectrum does);
3. continuum opacity (:mod:`.continuum_opacity`) on a coarse wavelength grid, interpolated
   in ln λ onto the fine synthesis grid (uniform in ln λ, ``step_kms`` apart);
4. atomic line opacity (:mod:`.lines`) of the Gaia-ESO lines that pass the strength cut,
   accumulated in windows; hydrogen Balmer and He I/He II lines (:mod:`.hydrogen`);
5. the LTE formal solution for the emergent flux (:mod:`.transfer`), with and without
   lines, giving the normalised spectrum and the continuum;
6. a Gaussian line-spread function of resolving power ``resolution`` and flux-conserving
   resampling onto the output grid (:mod:`jaxspec.preprocess`).

Which lines are kept, and how wide a window each gets, is decided once when the synthesizer
is built, from reference atmospheres spanning the label box (see :class:`Synthesizer`): so
the compiled function has static shapes and one compilation serves every star.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LabelRangeError
from ..spectrum import Spectrum, SpectrumMeta
from . import eos as eos_module
from .atmosphere import Atmosphere, check_labels, in_domain, load_atmosphere_emulator, predict
from .continuum_opacity import ContinuumDensities, continuum_opacity
from .ionization import partition_table
from .lines import (
    C_CGS,
    LineTable,
    accumulate_lines,
    build_line_table,
    line_parameters,
    lorentz_wings,
)
from .transfer import emergent_flux, optical_depth, planck

__all__ = ["Synthesizer", "LABEL_NAMES", "LABEL_UNITS", "DEFAULT_LOG_TAU"]

LABEL_NAMES = ("teff", "logg", "feh", "alpha", "vmic")
LABEL_UNITS = ("K", "dex", "dex", "dex", "km/s")
#: Depth grid of the synthesis, log10 τ_Ross (51 points, step 0.15).
DEFAULT_LOG_TAU = np.round(np.linspace(-6.0, 1.5, 51), 6)
_C_KMS = C_CGS / 1e5
#: Reference labels used to choose lines: every combination inside the emulator domain.
#: Default label box of a Synthesizer: FGK and early-M stars.
DEFAULT_BOUNDS = {
    "teff": (3500.0, 8000.0),
    "logg": (-1.0, 5.5),
    "feh": (-4.0, 1.0),
    "alpha": (-0.2, 0.6),
    "vmic": (0.0, 5.0),
}
#: Above this Teff [K] He I and He II lines are included.
HELIUM_TEFF = 9000.0
#: Hydrogen and helium lines are evaluated on every ``_HYDROGEN_STRIDE``-th fine pixel.
_HYDROGEN_STRIDE = 4
#: Fine pixels per block of the per-pixel transfer (keeps temporaries in cache).
_PIXEL_BLOCK = 2048


#: Half-width [fine pixels] of the Gaussian window of optically thin lines.
THIN_HALF_WIDTH = 12
#: Half-width [fine pixels] of the Voigt core of the other lines (wings beyond by FFT).
CORE_HALF_WIDTH = 16
#: Pixels added on each side of the fine grid for lines just outside it.
PAD_PIXELS = 2048


class SynthData(NamedTuple):
    """Arrays the compiled synthesis function takes as arguments (a pytree)."""

    log_tau: Any
    continuum_wave: Any
    fine_wave: Any
    continuum_index: Any
    continuum_weight: Any
    solar_log_eps: Any
    classes: tuple
    hydrogen: Any
    hydrogen_wave: Any
    hydrogen_index: Any
    hydrogen_weight: Any


@dataclasses.dataclass(frozen=True)
class LineSelection:
    """What the strength cut kept (for provenance and tests)."""

    n_in_range: int
    n_kept: int
    groups: tuple[tuple[str, int, int], ...]  # (profile, half-width [pixels], n_lines)
    cut: float


def _interp_matrix(x_new: np.ndarray, x_old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights for linear interpolation from ``x_old`` to ``x_new`` (static)."""
    idx = np.clip(np.searchsorted(x_old, x_new) - 1, 0, x_old.size - 2)
    t = (x_new - x_old[idx]) / (x_old[idx + 1] - x_old[idx])
    return idx.astype(np.int32), np.clip(t, 0.0, 1.0)


def resample_depth(atm: Atmosphere, log_tau: Any, tau: Any = None) -> dict[str, jax.Array]:
    """T, P_g, n_e and RHOX of an atmosphere on the log τ_Ross grid ``log_tau``.

    Interpolated linearly in log τ (ln of each quantity); the τ scale (``tau``, default
    :meth:`Atmosphere.tau_ross`) is made monotonic with a running maximum first (a few
    emulated models are not, below τ ≈ 5). Outside the model's τ range values are held
    at the end points.
    """
    tau = atm.tau_ross() if tau is None else jnp.asarray(tau)
    tau = jax.lax.cummax(tau, axis=tau.ndim - 1)
    x = jnp.log10(jnp.maximum(tau, 1e-30))
    eps = 1e-9 * jnp.arange(x.shape[-1], dtype=x.dtype)  # strictly increasing for interp
    x = x + eps

    def on_grid(values: Any) -> jax.Array:
        return jnp.exp(jnp.interp(log_tau, x, jnp.log(jnp.maximum(values, 1e-300))))

    return {
        "temperature": on_grid(atm.temperature),
        "pressure": on_grid(atm.pressure),
        "electron_density": on_grid(atm.electron_density),
        "rhox": on_grid(atm.rhox),
    }


class Synthesizer:
    """A 1D LTE spectral synthesizer for one wavelength range and resolution.

    Building it selects the lines and prepares every static array; calling it is pure JAX
    (``jit``/``vmap``/``grad``-compatible; use float64: ``jax_enable_x64``).

    Args:
        wave_min, wave_max: output range, vacuum wavelength [Å].
        resolution: output resolving power R (Gaussian LSF of FWHM λ/R, sampled at
            ``sampling`` pixels per FWHM); ``None`` returns the fine synthesis grid itself.
        step_kms: step of the fine synthesis grid [km s⁻¹] (uniform in ln λ).
        sampling: output pixels per resolution element (FWHM) when ``resolution`` is set.
        cut: strength cut: a line is kept if, in some reference atmosphere and at some depth
            with 10⁻⁵ < τ_Ross < 3, its centre opacity exceeds ``cut`` × the continuum.
        bounds: label box this synthesizer serves, ``{name: (low, high)}`` for any of
            :data:`LABEL_NAMES` (others from :data:`DEFAULT_BOUNDS`: Teff 3500–8000 K,
            [Fe/H] −4 to +1, v_mic 0–5 km/s, log g and [α/Fe] as the emulator allows).
            Lines are selected for it, He lines are included if it reaches above
            :data:`HELIUM_TEFF`, and labels outside it are rejected.
        eos: ``"solve"`` (n_e from the atmosphere's T and P_g) or ``"atmosphere"`` (take
            its n_e, as Turbospectrum does for MARCS models).
        hydrogen: include Balmer (and He I/He II) lines.
        reference_labels: ``(n, 4)`` (Teff, log g, [Fe/H], [α/Fe]) atmospheres for the line
            selection; default 7 Teff × 6 log g across ``bounds`` at its highest [Fe/H] and
            [α/Fe], inside the emulator domain (so a line is kept if it matters anywhere in
            the box).
        atmosphere_params, atomic: emulator weights and atomic data (default: shipped).
        block: scale of the line blocks of the accumulation scan (memory vs. speed).
        batch_size: stars synthesised together (vmapped) when :meth:`flux` gets a batch;
            larger batches go through :func:`jax.lax.map` in groups of this size, so the
            memory stays bounded (a full 4200–6800 Å star at R = 20000 needs ~0.5 GB).
    """

    label_names = LABEL_NAMES
    label_units = LABEL_UNITS

    def __init__(
        self,
        wave_min: float,
        wave_max: float,
        resolution: float | None = 20000.0,
        *,
        step_kms: float = 1.0,
        sampling: float = 3.0,
        cut: float = 3e-4,
        thin: float = 1.0,
        bounds: dict[str, tuple[float, float]] | None = None,
        eos: str = "solve",
        hydrogen: bool = True,
        reference_labels: Any = None,
        log_tau: Any = None,
        atmosphere_params: Any = None,
        atomic: Any = None,
        block: int = 256,
        batch_size: int = 4,
    ) -> None:
        from ..data import load_atomic_data

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not (np.isfinite(wave_min) and np.isfinite(wave_max) and 0 < wave_min < wave_max):
            raise ValueError(
                f"need 0 < wave_min < wave_max (vacuum Å), got {wave_min!r}, {wave_max!r}"
            )
        if resolution is not None and not resolution > 0:
            raise ValueError(f"resolution must be positive or None, got {resolution!r}")
        if eos not in ("solve", "atmosphere"):
            raise ValueError(f"eos must be 'solve' or 'atmosphere', got {eos!r}")
        self.wave_min, self.wave_max = float(wave_min), float(wave_max)
        self.resolution = None if resolution is None else float(resolution)
        self.step_kms, self.sampling, self.cut = float(step_kms), float(sampling), float(cut)
        self.thin = float(thin)
        self.bounds = dict(DEFAULT_BOUNDS)
        for name, value in (bounds or {}).items():
            if name not in LABEL_NAMES:
                raise ValueError(f"unknown label {name!r} in bounds; expected {LABEL_NAMES}")
            lo, hi = (float(v) for v in value)
            if not lo <= hi:
                raise ValueError(f"bounds[{name!r}] = {value!r}: need low <= high")
            self.bounds[name] = (lo, hi)
        self.vmic_max = self.bounds["vmic"][1]
        self.eos, self.block = eos, block
        self.include_hydrogen = bool(hydrogen)
        self.include_helium = self.include_hydrogen and self.bounds["teff"][1] > HELIUM_TEFF
        self.atmosphere_params = atmosphere_params or load_atmosphere_emulator()
        self.atomic = atomic or load_atomic_data()
        self.partition = partition_table(self.atomic)

        step = self.step_kms / _C_KMS
        self._step = step
        # Fine grid: output range plus room for the LSF (6 FWHM) on each side.
        margin = 6.0 / self.resolution if self.resolution else 0.0
        ln_lo = math.log(self.wave_min) - margin - 2 * step
        ln_hi = math.log(self.wave_max) + margin + 2 * step
        n_fine = int(math.ceil((ln_hi - ln_lo) / step)) + 1
        self._ln_fine0 = ln_lo
        fine_wave = np.exp(ln_lo + step * np.arange(n_fine))
        self.fine_wave = fine_wave
        if self.resolution is None:
            self.wave = fine_wave[(fine_wave >= self.wave_min) & (fine_wave <= self.wave_max)]
        else:
            out_step = 1.0 / (self.resolution * self.sampling)
            n_out = int(math.floor(math.log(self.wave_max / self.wave_min) / out_step)) + 1
            self.wave = self.wave_min * np.exp(out_step * np.arange(n_out))
        # Coarse continuum grid (~300 km/s), covering the fine grid.
        c_step = 300.0 / _C_KMS
        n_c = int(math.ceil((ln_hi - ln_lo) / c_step)) + 2
        continuum_wave = np.exp(ln_lo - c_step / 2 + c_step * np.arange(n_c))
        c_idx, c_w = _interp_matrix(np.log(fine_wave), np.log(continuum_wave))

        self.log_tau = np.asarray(DEFAULT_LOG_TAU if log_tau is None else log_tau, np.float64)
        self._reference_labels = reference_labels
        classes, self.selection = self._select_lines(fine_wave, continuum_wave)
        hydrogen_lines = None
        h_index = np.arange(0, fine_wave.size + _HYDROGEN_STRIDE - 1, _HYDROGEN_STRIDE)
        h_index = np.minimum(h_index, fine_wave.size - 1)
        h_wave = fine_wave[np.unique(h_index)]
        if self.include_hydrogen:
            from .hydrogen import prepare_hydrogen_lines

            hydrogen_lines = prepare_hydrogen_lines(float(fine_wave[0]), float(fine_wave[-1]))
        hi, hw = _interp_matrix(np.log(fine_wave), np.log(h_wave))
        self._data = SynthData(
            log_tau=jnp.asarray(self.log_tau),
            continuum_wave=jnp.asarray(continuum_wave),
            fine_wave=jnp.asarray(fine_wave),
            continuum_index=jnp.asarray(c_idx),
            continuum_weight=jnp.asarray(c_w),
            solar_log_eps=jnp.asarray(self.atomic.solar_log_eps),
            classes=classes,
            hydrogen=hydrogen_lines,
            hydrogen_wave=jnp.asarray(h_wave),
            hydrogen_index=jnp.asarray(hi),
            hydrogen_weight=jnp.asarray(hw),
        )
        self._jitted: dict[Any, Any] = {}
        self.batch_size = batch_size
        self._flux_batch = jax.jit(self._labels_flux_batch)
        self._flux_one = jax.jit(self._labels_flux)

    def _labels_flux_batch(self, data: Any, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.lax.map(lambda x: self._labels_flux(data, x), labels, batch_size=self.batch_size)

    # ------------------------------------------------------------------------------
    # Static preparation
    # ------------------------------------------------------------------------------

    def _reference_atmospheres(self) -> list[np.ndarray]:
        if self._reference_labels is not None:
            labels = np.atleast_2d(np.asarray(self._reference_labels, np.float64))
        else:
            (t0, t1), (g0, g1) = self.bounds["teff"], self.bounds["logg"]
            feh, alpha = self.bounds["feh"][1], self.bounds["alpha"][1]
            labels = np.array(
                [
                    (t, g, feh, alpha)
                    for t in np.linspace(t0, t1, 7)
                    for g in np.linspace(max(g0, -0.5), min(g1, 5.0), 6)
                ],
                np.float64,
            )
        ok = np.asarray(in_domain(self.atmosphere_params, jnp.asarray(labels)))
        if not ok.any():
            raise ValueError("no reference label for the line selection is inside the domain")
        return list(labels[ok])

    def _reference_quantities(self, table: LineTable) -> Any:
        """Jitted (labels → η, a, w) of ``table`` at the selection depths."""
        tau_ok = np.flatnonzero((10.0**self.log_tau > 1e-5) & (10.0**self.log_tau < 3.0))
        line_wave = jnp.asarray(table.wave)
        jtable = LineTable(*(jnp.asarray(f) for f in table))

        @jax.jit
        def evaluate(labels: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
            atm = predict(self.atmosphere_params, labels, strict=False)
            pops, _ = self._populations(atm, labels[2], labels[3])
            kappa = self._continuum(pops, line_wave)  # (n_depth, n_lines)
            params = line_parameters(jtable, pops, 1.0)
            center = params.strength / (math.sqrt(math.pi) * params.width)
            eta = (center / kappa.T)[:, tau_ok]
            return eta, params.damping[:, tau_ok], params.width[:, tau_ok]

        return evaluate

    def _select_lines(
        self, fine_wave: np.ndarray, continuum_wave: np.ndarray
    ) -> tuple[tuple, LineSelection]:
        """Choose lines and their treatment from reference atmospheres (host side, once).

        Per line, over the reference atmospheres and the depths 10⁻⁵ < τ_Ross < 3:
        η = max (centre line opacity / continuum) and the largest wing opacity at the
        grid edge for lines outside the range. Kept: η ≥ ``cut`` (and, outside the range,
        a wing above ``cut`` at the edge). Optically thin lines (η < ``thin``) get a
        Gaussian (Doppler) profile in ±``THIN_HALF_WIDTH`` pixels — at R ≲ 10⁵ only their
        equivalent width matters; the others get the Voigt profile in ±``CORE_HALF_WIDTH``
        pixels plus their Lorentzian wings over the whole grid (:func:`lorentz_wings`).
        """
        step = self._step
        pad = PAD_PIXELS
        pad_wave = math.exp(pad * step)
        table = build_line_table(
            self.atomic,
            fine_wave[0] / pad_wave,
            fine_wave[-1] * pad_wave,
            ionization_energy=self.partition.ionization_energy,
        )
        n_in_range = len(table)
        ln_w = np.log(table.wave)
        distance = np.maximum(
            np.maximum(np.log(fine_wave[0]) - ln_w, ln_w - np.log(fine_wave[-1])), 0.0
        )  # ln λ distance to the grid, 0 inside
        ratio = np.zeros(n_in_range)
        edge_wing = np.zeros(n_in_range)
        evaluate = self._reference_quantities(table)
        for labels in self._reference_atmospheres():
            eta, a, width = (np.asarray(x) for x in evaluate(jnp.asarray(labels[:4])))
            ratio = np.maximum(ratio, eta.max(axis=1))
            v = np.maximum(distance[:, None], step) / width
            edge_wing = np.maximum(edge_wing, (eta * a / (math.sqrt(math.pi) * v * v)).max(1))
        inside = distance == 0.0
        keep = (ratio >= self.cut) & (inside | (edge_wing >= self.cut))
        thin = ratio < self.thin

        groups, counts = [], []
        for name, members, half in (
            ("gauss", keep & thin, THIN_HALF_WIDTH),
            ("fast", keep & ~thin, CORE_HALF_WIDTH),
        ):
            sel = table.select(members)
            counts.append((name, half, len(sel)))
            position = (np.log(sel.wave) - self._ln_fine0) / step + pad
            base = np.floor(position).astype(np.int32)
            groups.append(
                (
                    jnp.asarray(base),
                    jnp.asarray(position - base),
                    LineTable(*(jnp.asarray(f) for f in sel)),
                )
            )
        self._pad = pad
        self._group_static = (
            ("gauss", np.arange(-THIN_HALF_WIDTH + 1, THIN_HALF_WIDTH + 1)),
            ("core", np.arange(-CORE_HALF_WIDTH + 1, CORE_HALF_WIDTH + 1)),
        )
        selection = LineSelection(
            n_in_range=n_in_range, n_kept=int(keep.sum()), groups=tuple(counts), cut=self.cut
        )
        return tuple(groups), selection

    # ------------------------------------------------------------------------------
    # The physics of one star
    # ------------------------------------------------------------------------------

    def _composition(self, feh: Any, alpha: Any) -> eos_module.Composition:
        return eos_module.composition(
            self.atomic.solar_log_eps, self.atomic.atomic_weight, feh, alpha
        )

    def _populations(
        self, atm: Atmosphere, feh: Any, alpha: Any, eos: str | None = None, tau: Any = None
    ) -> tuple[eos_module.Populations, dict[str, jax.Array]]:
        depth = resample_depth(atm, jnp.asarray(self.log_tau), tau)
        comp = self._composition(feh, alpha)
        t = depth["temperature"]
        n_e = depth["electron_density"]
        if (eos or self.eos) == "solve":
            n_e = eos_module.solve_electron_density(self.partition, comp, t, depth["pressure"], n_e)
        return eos_module.populations(self.partition, comp, t, n_e), depth

    def _continuum(self, pops: eos_module.Populations, wave: Any) -> jax.Array:
        densities = ContinuumDensities(
            n_h1=pops.n_h1,
            n_hplus=pops.n_hplus,
            n_hminus=pops.n_hminus,
            n_he1=pops.species[..., 1, 0],
            n_he2=pops.species[..., 1, 1],
            n_h2=pops.n_h2,
        )
        absorption, scattering = continuum_opacity(
            wave, pops.temperature, pops.electron_density, densities
        )
        return absorption + scattering

    def _atmosphere_flux(
        self,
        data: SynthData,
        atm: Atmosphere,
        feh: Any,
        alpha: Any,
        vmic: Any,
        eos: str | None,
        tau: Any = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Fine-grid (flux, continuum flux) [erg s⁻¹ cm⁻² Å⁻¹] for one atmosphere."""
        pops, depth = self._populations(atm, feh, alpha, eos, tau)
        kappa_c = self._continuum(pops, data.continuum_wave)  # (n_depth, n_c)
        ln_kappa = jnp.log(kappa_c)
        idx, w = data.continuum_index, data.continuum_weight

        n_depth, n_fine = self.log_tau.size, data.fine_wave.size
        opacity = jnp.zeros((n_fine + 2 * self._pad, n_depth), kappa_c.dtype)
        for (base, frac, table), (profile, offsets) in zip(
            data.classes, self._group_static, strict=True
        ):
            if base.shape[0] == 0:
                continue
            params = line_parameters(table, pops, vmic)
            opacity = accumulate_lines(
                opacity, base, frac, params, offsets, step=self._step, profile=profile,
                block=max(8, self.block * 32 // offsets.size),
            )  # fmt: skip
            if profile == "core":
                opacity = opacity + lorentz_wings(
                    opacity.shape, base + frac, params, CORE_HALF_WIDTH, step=self._step
                )
        line_opacity = opacity[self._pad : self._pad + n_fine]  # (n_fine, n_depth)
        ln_hydrogen = None
        if data.hydrogen is not None:
            ln_hydrogen = self._hydrogen_log_opacity(data, pops, vmic)  # (n_depth, n_h)
        rhox, rho, temperature = depth["rhox"], pops.density, pops.temperature

        # Per pixel: continuum + hydrogen interpolation, optical depth and flux, in blocks
        # of pixels so the (n_depth, block) temporaries stay in cache.
        n_blocks = -(-n_fine // _PIXEL_BLOCK)
        pad = n_blocks * _PIXEL_BLOCK - n_fine

        def blocks(x: jax.Array) -> jax.Array:
            widths = [(0, pad)] + [(0, 0)] * (x.ndim - 1)
            x = jnp.pad(x, widths, mode="edge")
            return x.reshape((n_blocks, _PIXEL_BLOCK) + x.shape[1:])

        def block_flux(args: tuple) -> jax.Array:
            lines, wave, ci, cw, hi, hw = args
            ln_k = ln_kappa[:, ci] * (1.0 - cw) + ln_kappa[:, ci + 1] * cw
            extinction = jnp.exp(ln_k) + lines.T
            if ln_hydrogen is not None:
                extinction = extinction + jnp.exp(
                    ln_hydrogen[:, hi] * (1.0 - hw) + ln_hydrogen[:, hi + 1] * hw
                )
            tau_block = optical_depth(extinction, rho, rhox)
            return emergent_flux(tau_block, planck(wave, temperature))

        flux = jax.lax.map(
            block_flux,
            (
                blocks(line_opacity),
                blocks(data.fine_wave),
                blocks(idx),
                blocks(w),
                blocks(data.hydrogen_index),
                blocks(data.hydrogen_weight),
            ),
        ).reshape(-1)[:n_fine]
        tau_c = optical_depth(kappa_c, rho, rhox)
        flux_c = emergent_flux(tau_c, planck(data.continuum_wave, temperature))
        ln_fc = jnp.log(flux_c)
        continuum = jnp.exp(ln_fc[idx] * (1.0 - w) + ln_fc[idx + 1] * w)
        return flux, continuum

    def _hydrogen_log_opacity(
        self, data: SynthData, pops: eos_module.Populations, vmic: Any
    ) -> jax.Array:
        """ln of the H (and He) line opacity on every 4th fine pixel, ``(n_depth, n_h)``.

        The caller interpolates it linearly (in ln λ) to the fine grid.
        """
        from .hydrogen import helium_line_opacity, hydrogen_line_opacity

        coarse = hydrogen_line_opacity(
            data.hydrogen, data.hydrogen_wave, pops.temperature, pops.electron_density,
            pops.n_h1, pops.n_hplus, pops.species[:, 1, 0], vmic,
        )  # fmt: skip
        if self.include_helium:
            coarse = coarse + helium_line_opacity(
                data.hydrogen, data.hydrogen_wave, pops.temperature, pops.electron_density,
                pops.species[:, 1, 0], pops.species[:, 1, 1], vmic,
            )  # fmt: skip
        return jnp.log(jnp.maximum(coarse, jnp.finfo(coarse.dtype).tiny))

    def _to_output(self, flux: jax.Array, continuum: jax.Array) -> tuple[jax.Array, jax.Array]:
        """LSF and resampling of the fine-grid flux and continuum onto ``self.wave``."""
        from ..preprocess import convolve_resolution, resample

        if self.resolution is None:
            inside = (self.fine_wave >= self.wave_min) & (self.fine_wave <= self.wave_max)
            return flux[inside], continuum[inside]
        spec = Spectrum(self.fine_wave, jnp.stack([flux, continuum]))
        spec = convolve_resolution(spec, self.resolution, resolution_in=None)
        out = resample(spec, self.wave)
        return out.flux[0], out.flux[1]

    def _labels_flux(self, data: SynthData, labels: Any) -> tuple[jax.Array, jax.Array]:
        labels = jnp.asarray(labels)
        atm = predict(self.atmosphere_params, labels[:4], strict=True)
        flux, continuum = self._atmosphere_flux(data, atm, labels[2], labels[3], labels[4], None)
        flux, continuum = self._to_output(flux, continuum)
        return flux / continuum, continuum

    # ------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------

    def check_labels(self, labels: Any) -> None:
        """Raise :class:`~jaxspec.errors.LabelRangeError` for labels outside the domain.

        Args:
            labels: ``(5,)`` or ``(n, 5)``: Teff [K], log g, [Fe/H], [α/Fe], v_mic [km/s].
        """
        x = np.atleast_2d(np.asarray(labels, np.float64))
        if x.shape[-1] != len(LABEL_NAMES):
            raise ValueError(
                f"labels must have {len(LABEL_NAMES)} columns {LABEL_NAMES}, got shape "
                f"{np.shape(labels)}"
            )
        check_labels(x[:, :4], self.atmosphere_params, strict=True)
        for k, (name, unit) in enumerate(zip(LABEL_NAMES, LABEL_UNITS, strict=True)):
            lo, hi = self.bounds[name]
            bad = ~((x[:, k] >= lo) & (x[:, k] <= hi))
            if bad.any():
                raise LabelRangeError(
                    f"{name} = {x[bad, k][0]:g} {unit} is outside this synthesizer's range "
                    f"[{lo:g}, {hi:g}] {unit}; build the Synthesizer with "
                    f"bounds={{'{name}': (low, high)}} covering it"
                )

    def in_domain(self, labels: Any) -> np.ndarray:
        """``(n,)`` bool: labels inside the emulator domain and this synthesizer's bounds."""
        x = np.atleast_2d(np.asarray(labels, np.float64))
        ok = np.array(in_domain(self.atmosphere_params, jnp.asarray(x[:, :4])))
        for k, name in enumerate(LABEL_NAMES):
            lo, hi = self.bounds[name]
            ok &= (x[:, k] >= lo) & (x[:, k] <= hi)
        return ok

    def flux(self, labels: Any) -> tuple[jax.Array, jax.Array]:
        """Normalised flux and continuum [erg s⁻¹ cm⁻² Å⁻¹] on :attr:`wave`.

        Args:
            labels: ``(5,)`` or ``(n, 5)`` (Teff, log g, [Fe/H], [α/Fe], v_mic). Concrete
                labels are checked; traced ones (inside ``jit``/``grad``) are not.

        Returns:
            ``(normalised, continuum)``, each ``(n_wave,)`` or ``(n, n_wave)``.
        """
        x = jnp.asarray(labels)
        if not isinstance(x, jax.core.Tracer):
            self.check_labels(np.asarray(x))
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        if x.ndim == 1:
            return self._flux_one(self._data, x)
        return self._flux_batch(self._data, x)

    def __call__(self, labels: Any) -> Spectrum:
        """The normalised synthetic spectrum (or a batch) as a :class:`~jaxspec.Spectrum`."""
        norm, _ = self.flux(labels)
        return Spectrum(self.wave, norm, meta=self._meta())

    def from_atmosphere(
        self,
        atmosphere: Atmosphere,
        *,
        feh: float = 0.0,
        alpha: float = 0.0,
        vmic: float = 1.0,
        eos: str | None = None,
        tau_ross: Any = None,
    ) -> Spectrum:
        """Synthesise any plane-parallel atmosphere (e.g. a MARCS or Kurucz model).

        Args:
            atmosphere: an :class:`~jaxspec.synth.atmosphere.Atmosphere`.
            feh, alpha: composition ([Fe/H], [α/Fe]) of the gas (scaled solar).
            vmic: microturbulence [km s⁻¹].
            eos: override the synthesizer's ``eos`` mode (``"atmosphere"`` takes the
                model's n_e as Turbospectrum does).
            tau_ross: the model's own Rosseland τ at each depth (e.g.
                :attr:`~jaxspec.synth.atmosphere_io.ModelAtmosphere.tau_ross`); default
                :meth:`Atmosphere.tau_ross`. Spherical models are treated as plane-parallel.

        Returns:
            the normalised spectrum on :attr:`wave` (use :meth:`atmosphere_flux` for the
            continuum too).
        """
        norm, _ = self.atmosphere_flux(
            atmosphere, feh=feh, alpha=alpha, vmic=vmic, eos=eos, tau_ross=tau_ross
        )
        return Spectrum(self.wave, norm, meta=self._meta())

    def atmosphere_flux(
        self,
        atmosphere: Atmosphere,
        *,
        feh: float = 0.0,
        alpha: float = 0.0,
        vmic: float = 1.0,
        eos: str | None = None,
        tau_ross: Any = None,
    ) -> tuple[jax.Array, jax.Array]:
        """``(normalised, continuum)`` on :attr:`wave` for an explicit atmosphere.

        Arguments as for :meth:`from_atmosphere`.
        """
        if eos not in (None, "solve", "atmosphere"):
            raise ValueError(f"eos must be 'solve', 'atmosphere' or None, got {eos!r}")

        tau = None if tau_ross is None else jnp.asarray(tau_ross)
        key = ("atmosphere", eos, tau is None)
        if key not in self._jitted:

            def run(data: SynthData, atm: Atmosphere, feh: Any, alpha: Any, vmic: Any, tau: Any):
                flux, continuum = self._atmosphere_flux(data, atm, feh, alpha, vmic, eos, tau)
                flux, continuum = self._to_output(flux, continuum)
                return flux / continuum, continuum

            self._jitted[key] = jax.jit(run)
        return self._jitted[key](self._data, atmosphere, feh, alpha, vmic, tau)

    def continuum_flux(self, labels: Any, wave: Any) -> jax.Array:
        """Absolute continuum surface flux F_λ [erg s⁻¹ cm⁻² Å⁻¹] at any vacuum wavelengths.

        Continuum opacity only (no lines), so it can be evaluated over a wide range (e.g.
        to check ∫F_λ dλ against σ Teff⁴).

        Args:
            labels: ``(5,)`` labels of one star.
            wave: ``(n,)`` vacuum wavelengths [Å], 900 Å to 30 µm.
        """
        x = jnp.asarray(labels, jnp.result_type(float))
        if not isinstance(x, jax.core.Tracer):
            self.check_labels(np.asarray(x))

        if "continuum" not in self._jitted:

            def run(x: jax.Array, wave: jax.Array) -> jax.Array:
                atm = predict(self.atmosphere_params, x[:4], strict=True)
                pops, depth = self._populations(atm, x[2], x[3])
                kappa = self._continuum(pops, wave)
                tau = optical_depth(kappa, pops.density, depth["rhox"])
                return emergent_flux(tau, planck(wave, pops.temperature))

            self._jitted["continuum"] = jax.jit(run)
        return self._jitted["continuum"](x, jnp.asarray(wave, x.dtype))

    def _meta(self) -> SpectrumMeta:
        return SpectrumMeta(
            source="jaxspec.synth.Synthesizer", frame="rest", resolution=self.resolution
        )

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description of this synthesizer (for provenance)."""
        from .. import __version__

        sel = self.selection
        return {
            "jaxspec_version": __version__,
            "wave_min": self.wave_min,
            "wave_max": self.wave_max,
            "medium": "vacuum",
            "resolution": self.resolution,
            "sampling_per_fwhm": self.sampling if self.resolution else None,
            "n_wave": int(self.wave.size),
            "step_kms": self.step_kms,
            "n_fine": int(self.fine_wave.size),
            "log_tau_ross": [
                float(self.log_tau[0]),
                float(self.log_tau[-1]),
                int(self.log_tau.size),
            ],
            "eos": self.eos,
            "strength_cut": sel.cut,
            "lines_in_range": sel.n_in_range,
            "lines_kept": sel.n_kept,
            "line_groups": [list(g) for g in sel.groups],
            "hydrogen_lines": self.include_hydrogen,
            "helium_lines": self.include_helium,
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "line_list": self.atomic.provenance.get("files", {}),
            "atomic_data_source": f"{self.atomic.provenance.get('source_package')}=="
            f"{self.atomic.provenance.get('source_version')}",
        }
