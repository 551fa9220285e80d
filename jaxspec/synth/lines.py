"""Atomic line opacity: line data, strengths and widths per depth, windowed Voigt accumulation.

Per line and depth (Gray 2005, ch. 11; the same physics as Turbospectrum and Korg):

* strength integrated over ln λ [cm⁻¹]:
  ``S = (π e²/m_e c) · gf · n_s e^{−E_low/kT} / U_s(T) · (1 − e^{−hc/λkT}) · λ/c``, with
  n_s the number density of the species (stage I or II, all levels) from the equation of
  state and gf multiplied by the isotopic fraction for lines tagged with an isotope;
* Doppler width in ln λ ``w = ξ/c``, ξ = (2kT/m + v_mic²)^{1/2};
* damping ratio ``a = Γ λ / (4π ξ)`` with Γ = γ_rad + γ₄ n_e + γ₆ n(H I) (FWHM, rad s⁻¹);
* profile ``φ(Δ ln λ) = H(a, Δ ln λ / w) / (√π w)`` (Voigt–Hjerting H).

Damping constants (fdamp rules of the line list; see ``shared/DATA-FORMATS.md``):

* γ_rad from the list (all GES lines have one).
* van der Waals, per H atom: ABO theory when fdamp ≥ 20 (Anstee & O'Mara 1995; Barklem,
  Piskunov & O'Mara 2000): ``γ₆ = 2 (4/π)^{α/2} Γ((4−α)/2) v₀ σ (v̄/v₀)^{1−α}``, v₀ = 10⁶ cm/s,
  σ in a₀², v̄ the mean H–atom relative speed; ``10^fdamp (T/10⁴ K)^{0.3}`` when fdamp < 0
  (VALD convention); otherwise fdamp × the Unsöld (1955) value in the form of Rutten's notes /
  Gray eq. 11.30, ``log γ₆ = 6.33 + 0.4 log Δr̄² + log P_H − 0.7 log T``, with the hydrogenic
  Δr̄² = 5/2 R² Z² (1/(χ−E_up)² − 1/(χ−E_low)²) [a₀²]. Turbospectrum additionally uses
  generic ABO tables (``anstee.f``) for s–p, p–d and d–f lines that have fdamp < 20; that is
  not reproduced here (those lines get the VALD or Unsöld value).
* quadratic Stark, per electron: Cowley (1971) ``γ₄ = 2.26e-7 n*⁴`` (neutrals) or
  ``5.42e-7 n*⁴/(Z+1)²`` (ions) at 10⁴ K, scaled by (T/10⁴ K)^{1/6}; n* is the effective
  quantum number of the upper level (the list's γ_Stark column is empty or 0 throughout).
* Every temperature law is therefore a power law ``γ(T) = γ(10⁴ K) (T/10⁴ K)^β``, which
  is how they are stored.

Lines are accumulated on a grid uniform in ln λ (:func:`accumulate_lines`): each line adds
its profile to a fixed window of pixels around its centre (``lax.scan`` over blocks of lines,
scatter-add into an ``(n_pixel, n_depth)`` array). Optically thin lines get a Gaussian
(Doppler) core only; the others a Voigt core (:func:`~jaxspec.synth.voigt.voigt_hjerting_core`)
plus their damping wings over the whole grid, added for all lines at once by FFT
convolution (:func:`lorentz_wings`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .eos import K_B, Populations
from .ionization import BOLTZMANN_EV, N_STAGES
from .voigt import voigt_hjerting, voigt_hjerting_core, voigt_hjerting_fast

__all__ = [
    "LineTable",
    "LineParameters",
    "build_line_table",
    "line_parameters",
    "accumulate_lines",
]

C_CGS = 2.99792458e10  # speed of light [cm s⁻¹]
_LINE_CONSTANT = 0.0265400193  # π e² / (m_e c) [cm² s⁻¹]
_HC_OVER_K = 1.438776877  # h c / k [cm K]
_AMU = 1.66053906660e-24  # [g]
_M_H = 1.00782503207 * _AMU
_A0 = 5.29177210903e-9  # Bohr radius [cm]
_RYDBERG_EV = 13.605693122994  # Rydberg energy [eV]
_RYDBERG_H_EV = 13.598434599702  # hydrogen ionisation energy [eV]
_HC_EV_ANGSTROM = 12398.419843320026  # h c [eV Å]
_T_REF = 1.0e4
_SQRT_PI = math.sqrt(math.pi)
#: Farthest reach of the damping wings [pixels] (16 384 km/s at 1 km/s per pixel).
WING_REACH = 16384
#: Largest damping ratio used for the far wings (see :func:`lorentz_wings`).
WING_MAX_DAMPING = 2.0


class LineTable(NamedTuple):
    """Static per-line data (host numpy arrays, one entry per line).

    Attributes:
        wave: vacuum wavelength [Å].
        species: flat index (Z − 1)·3 + (stage − 1) into the EOS species arrays.
        e_low: lower-level excitation energy [eV].
        log_gf: log10(gf) including the isotopic fraction.
        mass: mass of the absorbing atom [g].
        gamma_rad: radiative damping [rad s⁻¹].
        gamma_vdw: van der Waals γ₆ per H atom at 10⁴ K [rad s⁻¹ cm³].
        vdw_exponent: temperature exponent β of γ₆.
        gamma_stark: quadratic Stark γ₄ per electron at 10⁴ K [rad s⁻¹ cm³].
        element, ion: Z and stage (1 = neutral), for bookkeeping.
    """

    wave: np.ndarray
    species: np.ndarray
    e_low: np.ndarray
    log_gf: np.ndarray
    mass: np.ndarray
    gamma_rad: np.ndarray
    gamma_vdw: np.ndarray
    vdw_exponent: np.ndarray
    gamma_stark: np.ndarray
    element: np.ndarray
    ion: np.ndarray

    def __len__(self) -> int:
        return int(self.wave.size)

    def select(self, index: Any) -> LineTable:
        """The lines at ``index`` (boolean mask or integer array)."""
        return LineTable(*(np.asarray(field)[index] for field in self))


def build_line_table(
    atomic: Any,
    wave_min: float,
    wave_max: float,
    *,
    ionization_energy: np.ndarray,
) -> LineTable:
    """Lines of the shipped list with vacuum wavelength in [wave_min, wave_max] Å.

    Args:
        atomic: :class:`~jaxspec.data.AtomicData`.
        wave_min, wave_max: vacuum wavelength range [Å].
        ionization_energy: ``(92, 3)`` energies [eV] from stage s−1 to s
            (:class:`~jaxspec.synth.ionization.PartitionTable`); the ionisation energy of a
            stage-s species is entry ``[Z − 1, s]``.
    """
    lines = atomic.linelist
    keep = (atomic.wave_vac >= wave_min) & (atomic.wave_vac <= wave_max) & (lines.ion <= 2)
    wave = np.asarray(atomic.wave_vac[keep], np.float64)
    z = lines.element[keep].astype(np.int64)
    ion = lines.ion[keep].astype(np.int64)
    isotope = lines.isotope[keep].astype(np.int64)
    e_low = lines.e_low[keep].astype(np.float64)
    fdamp = lines.fdamp[keep].astype(np.float64)

    fraction = np.array(
        [atomic.isotope_fraction.get((int(a), int(b)), 0.0) if b else 1.0
         for a, b in zip(z, isotope, strict=True)]
    )  # fmt: skip
    with np.errstate(divide="ignore"):
        log_gf = lines.loggf[keep].astype(np.float64) + np.log10(fraction)
    weight = np.asarray(atomic.atomic_weight, np.float64)[z]
    mass = np.where(isotope > 0, isotope, weight) * _AMU

    chi = np.asarray(ionization_energy, np.float64)[z - 1, np.minimum(ion, N_STAGES - 1)]
    e_up = e_low + _HC_EV_ANGSTROM / wave
    bound = (chi > 0) & (chi > e_up + 1e-3)
    safe_up = np.where(bound, chi - e_up, 1.0)
    safe_low = np.where(bound, np.maximum(chi - e_low, 1e-3), 1.0)

    # van der Waals per H atom at 1e4 K, and its temperature exponent.
    sigma = np.floor(fdamp) * _A0**2
    alpha = fdamp - np.floor(fdamp)
    v_bar = np.sqrt(8.0 * K_B * _T_REF / math.pi * (1.0 / _M_H + 1.0 / mass))
    v0 = 1.0e6
    from scipy.special import gamma as gamma_fn

    abo = 2.0 * (4.0 / math.pi) ** (alpha / 2) * gamma_fn((4.0 - alpha) / 2) * v0 * sigma
    abo = abo * (v_bar / v0) ** (1.0 - alpha)
    delta_r2 = 2.5 * _RYDBERG_EV**2 * ion**2 * (1.0 / safe_up**2 - 1.0 / safe_low**2)
    delta_r2 = np.where(bound & (delta_r2 > 0), delta_r2, 0.0)
    with np.errstate(divide="ignore"):
        log_unsold = 6.33 + 0.4 * np.log10(delta_r2) + math.log10(K_B) + 0.3 * 4.0
    unsold = np.where(delta_r2 > 0, 10.0**log_unsold, 0.0)
    vald = 10.0 ** np.minimum(fdamp, 0.0)
    gamma_vdw = np.where(fdamp >= 20, abo, np.where(fdamp < 0, vald, unsold * np.maximum(fdamp, 0)))
    vdw_exponent = np.where(fdamp >= 20, (1.0 - alpha) / 2.0, 0.3)

    n_star4 = (ion**2 * _RYDBERG_H_EV / safe_up) ** 2
    stark = np.where(ion == 1, 2.25910152e-7 * n_star4, 5.42184365e-7 * n_star4 / (ion + 1) ** 2)
    gamma_stark = np.where(bound, stark, 0.0)

    table = LineTable(
        wave=wave,
        species=((z - 1) * N_STAGES + (ion - 1)).astype(np.int32),
        e_low=e_low,
        log_gf=log_gf,
        mass=mass,
        gamma_rad=lines.gamma_rad[keep].astype(np.float64),
        gamma_vdw=gamma_vdw,
        vdw_exponent=vdw_exponent,
        gamma_stark=gamma_stark,
        element=z.astype(np.int16),
        ion=ion.astype(np.int8),
    )
    return table.select(np.isfinite(log_gf))


class LineParameters(NamedTuple):
    """Per line and depth, ``(n_lines, n_depth)`` each.

    Attributes:
        strength: S, line opacity integrated over ln λ [cm⁻¹].
        width: Doppler width w in ln λ (ξ/c).
        damping: Voigt damping ratio a.
    """

    strength: Any
    width: Any
    damping: Any


def line_parameters(
    table: Any, pops: Populations, vmic_kms: Any, n_h1: Any | None = None
) -> LineParameters:
    """Strength, Doppler width and damping of every line at every depth.

    Args:
        table: :class:`LineTable` (numpy or jnp fields).
        pops: the equation-of-state populations, arrays ``(n_depth,)``.
        vmic_kms: microturbulence [km s⁻¹], scalar.
        n_h1: H I density used for van der Waals broadening (default ``pops.n_h1``).
    """
    t = pops.temperature[None, :]
    dtype = t.dtype
    wave_cm = jnp.asarray(table.wave, dtype)[:, None] * 1e-8
    species = jnp.asarray(table.species)
    n_depth = pops.temperature.shape[-1]
    flat_n = pops.species.reshape(n_depth, -1)
    flat_u = pops.partition.reshape(n_depth, -1)
    n_s = jnp.take(flat_n, species, axis=1).T  # (n_lines, n_depth)
    u_s = jnp.take(flat_u, species, axis=1).T
    log_gf = jnp.asarray(table.log_gf, dtype)[:, None]
    e_low = jnp.asarray(table.e_low, dtype)[:, None]
    boltzmann = jnp.exp(log_gf * math.log(10.0) - e_low / (BOLTZMANN_EV * t))
    stimulated = -jnp.expm1(-_HC_OVER_K / (wave_cm * t))
    strength = _LINE_CONSTANT * (wave_cm / C_CGS) * n_s / u_s * boltzmann * stimulated

    vmic = jnp.asarray(vmic_kms, dtype) * 1e5
    mass = jnp.asarray(table.mass, dtype)[:, None]
    xi = jnp.sqrt(2.0 * K_B * t / mass + vmic * vmic)
    width = xi / C_CGS

    n_h = pops.n_h1 if n_h1 is None else n_h1
    theta = t / _T_REF
    gamma = (
        jnp.asarray(table.gamma_rad, dtype)[:, None]
        + jnp.asarray(table.gamma_stark, dtype)[:, None] * theta ** (1.0 / 6.0)
        * pops.electron_density[None, :]
        + jnp.asarray(table.gamma_vdw, dtype)[:, None]
        * theta ** jnp.asarray(table.vdw_exponent, dtype)[:, None]
        * n_h[None, :]
    )  # fmt: skip
    damping = gamma * wave_cm / (4.0 * math.pi * xi)
    return LineParameters(strength, width, damping)


def _profile_block(profile: str, a: Any, v: Any) -> jax.Array:
    if profile == "gauss":
        return jnp.exp(-v * v) + 0.0 * a
    if profile == "fast":
        return voigt_hjerting_fast(a, v)
    if profile == "core":
        return voigt_hjerting_core(a, v)
    if profile == "exact":
        return voigt_hjerting(a, v)
    raise ValueError(f"unknown profile {profile!r}")


def accumulate_lines(
    opacity: Any,
    base: Any,
    frac: Any,
    params: LineParameters,
    offsets: np.ndarray,
    *,
    step: float,
    profile: str,
    block: int = 256,
) -> jax.Array:
    """Add windowed line profiles to an opacity array on a uniform ln λ grid.

    Args:
        opacity: ``(n_pixel, n_depth)`` array to add to [cm⁻¹].
        base: ``(n_lines,)`` int, index of the grid pixel at or below each line centre.
        frac: ``(n_lines,)`` centre position above ``base`` in pixels, in [0, 1).
        params: :class:`LineParameters` of these lines, ``(n_lines, n_depth)`` each.
        offsets: ``(n_window,)`` static int pixel offsets from ``base`` that each line fills;
            ``base + offsets`` must lie inside ``opacity``.
        step: grid step in ln λ.
        profile: ``"core"`` (:func:`~jaxspec.synth.voigt.voigt_hjerting_core`, for line
            cores whose far wings :func:`lorentz_wings` adds), ``"fast"``
            (:func:`~jaxspec.synth.voigt.voigt_hjerting_fast`), ``"exact"``
            (:func:`~jaxspec.synth.voigt.voigt_hjerting`) or ``"gauss"`` (Doppler core only,
            for optically thin lines).
        block: lines per scan step (memory ~ block × n_window × n_depth).

    Returns:
        the updated opacity.
    """
    n_lines = base.shape[0]
    if n_lines == 0:
        return opacity
    n_blocks = -(-n_lines // block)
    pad = n_blocks * block - n_lines

    def padded(x: Any, value: Any = 0) -> Any:
        x = jnp.asarray(x)
        widths = [(0, pad)] + [(0, 0)] * (x.ndim - 1)
        return jnp.pad(x, widths, constant_values=value).reshape((n_blocks, block) + x.shape[1:])

    xs = (
        padded(base),
        padded(frac),
        padded(params.strength),
        padded(params.width, 1.0),
        padded(params.damping),
    )
    off = jnp.asarray(offsets)
    off_f = jnp.asarray(offsets, opacity.dtype)

    @jax.checkpoint
    def body(acc: jax.Array, x: tuple) -> tuple[jax.Array, None]:
        b, f, s, w, a = x
        dx = (off_f[None, :] - f[:, None]) * step  # (block, n_window) in ln λ
        v = dx[:, :, None] / w[:, None, :]
        h = _profile_block(profile, a[:, None, :], v)
        values = (s / (_SQRT_PI * w))[:, None, :] * h
        index = (b[:, None] + off[None, :]).reshape(-1)
        return acc.at[index].add(values.reshape(-1, values.shape[-1])), None

    out, _ = jax.lax.scan(body, opacity, xs)
    return out


def _fast_length(n: int) -> int:
    """Smallest 2^a 3^b 5^c ≥ n (an efficient FFT length)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@functools.cache
def _wing_kernels(n_fft: int, core: int) -> np.ndarray:
    """rfft of the four wing kernels: (1/k², 1/k⁴) × (left deposit, right deposit), k in pixels.

    A line between pixels ``b`` and ``b + 1`` has its core on pixels ``b − core + 1 …
    b + core``; its wings are the other pixels. The part of its weight deposited on ``b``
    therefore reaches offsets k ≤ −core and k ≥ core + 1, the part on ``b + 1`` offsets
    k ≤ −core − 1 and k ≥ core.
    """
    k = np.arange(n_fft)
    k = np.where(k < n_fft // 2, k, k - n_fft).astype(np.float64)
    x2 = np.maximum(k * k, 0.25)  # offsets in pixels
    reach = np.abs(k) <= WING_REACH
    left = ((k <= -core) | (k >= core + 1)) & reach
    right = ((k <= -core - 1) | (k >= core)) & reach
    kernels = [np.where(m, 1.0 / x2**p, 0.0) for p in (1, 2) for m in (left, right)]
    for kern in kernels:
        kern[n_fft // 2] = 0.0
    return np.stack([np.fft.rfft(kern) for kern in kernels])


def lorentz_wings(
    shape: tuple[int, int],
    center: Any,
    params: LineParameters,
    core: int,
    *,
    step: float,
) -> jax.Array:
    """Damping wings of many lines at once, by FFT convolutions along wavelength.

    Beyond the core, H(a, v) = a/(√π v²) + a(3/2 − a²)/(√π v⁴) + O(v⁻⁶) (the asymptotic
    series of w(z), A&S 7.1.23), so a line adds ``S a w/(π x²) + S a w³ (3/2 − a²)/(π x⁴)``
    at ln λ offset x: per-line, per-depth weights times kernels 1/x² and 1/x⁴ that are the
    same for every line. The weights are deposited at the line centres (split linearly
    between the two nearest pixels) and convolved with the kernels, which are zero on the
    core pixels that :func:`accumulate_lines` fills; so every wing reaches across the whole
    grid (up to :data:`WING_REACH` pixels away) with no window. The neglected terms are
    O(v⁻⁶), < 1e-3 of the wing at the core edge for v ≥ 6 there (16 pixels of 1 km s⁻¹ and
    Doppler widths ≤ 2.7 km s⁻¹); tested against the direct Voigt sum to 0.4 %. The
    expansion needs a ≪ v: the damping in the wings is capped at
    :data:`WING_MAX_DAMPING` = 2, which only touches lines from highly excited levels in
    deep layers (Stark-broadened to a ≫ 1), whose far wings are then underestimated.

    Args:
        shape: ``(n_pixel, n_depth)`` of the opacity grid.
        center: ``(n_lines,)`` line-centre positions in pixels (float).
        params: :class:`LineParameters` of those lines.
        core: core half-width [pixels] (core pixels are ``floor(center) − core + 1 …
            floor(center) + core``).
        step: grid step in ln λ.

    Returns:
        ``(n_pixel, n_depth)`` wing opacity [cm⁻¹].
    """
    n_pixel, n_depth = shape
    s, w = params.strength, params.width
    a = jnp.minimum(params.damping, WING_MAX_DAMPING)
    weight2 = s * a * w / (math.pi * step**2)
    weight4 = s * a * w**3 * (1.5 - a * a) / (math.pi * step**4)
    low = jnp.floor(center)
    t = (center - low)[:, None]
    index = low.astype(jnp.int32)
    n_fft = _fast_length(n_pixel + WING_REACH + 1)
    kernels = jnp.asarray(_wing_kernels(n_fft, core))
    total = 0.0
    edge = jnp.zeros((n_pixel, n_depth), weight2.dtype)
    for i, weight in enumerate((weight2, weight4)):
        # Both parts convolve with the left kernel; the right part's kernel differs from it
        # only at k = ±core (see _wing_kernels), which is added back directly.
        deposit = (
            jnp.zeros((n_pixel, n_depth), weight.dtype)
            .at[index]
            .add(weight * (1.0 - t))
            .at[index + 1]
            .add(weight * t)
        )
        total = total + jnp.fft.rfft(deposit, n=n_fft, axis=0) * kernels[2 * i][:, None]
        value = weight * t / float(core) ** (2 * (i + 1))
        edge = edge.at[index + 1 + core].add(value).at[index + 1 - core].add(-value)
    return jnp.fft.irfft(total, n=n_fft, axis=0)[:n_pixel] + edge
