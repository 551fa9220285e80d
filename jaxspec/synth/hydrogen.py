"""Hydrogen and helium line opacity in JAX: Stark-broadened Balmer lines, He I and He II.

Line absorption coefficient, per line, with stimulated emission (LTE):

    κ(λ) = (π e² / m_e c) g f (n / U) exp(−E_low / kT) (1 − exp(−hc / λkT)) φ_λ(λ) λ² / c,

φ_λ the area-normalised profile per Å (λ²/c turns it into a profile per Hz), n the number
density of the species (all levels) and U its partition function (2 for H I and He II, 1 for
He I: ground-state dominated at stellar temperatures).

**Hα, Hβ, Hγ, Hδ** (``stark_tables`` of :mod:`jaxspec.data.hydrogen`): Stark profiles of
Stehlé & Hutcheon (1999) for T ≤ 10 000 K and log n_e ≤ 16 and of Vidal, Cooper & Smith
(1973) elsewhere (Hδ: VCS only), which include thermal Doppler broadening of H. They are
tabulated in reduced field units α = |Δλ| / F0, F0 = 1.25e-9 n_e^(2/3), and stored in
homologous form (half width W(T, n_e) and a shape S_u(u), u = α / W), so interpolation is
bilinear in (log T, log n_e) of log W and log S_u at fixed u, then linear in (log u, log S_u).
This is exact at the two limits that matter: Doppler-dominated profiles (the same Gaussian in
Δλ at every n_e) and Stark-dominated ones (self-similar in α). Outside the node grid the
temperature is clamped to 2500–80 000 K; above log n_e = 18 the shape in α is kept (the
quasi-static scaling); below log n_e = 10 the profile is f φ(10^10) + (1 − f) G_Doppler with
f = n_e / 10^10, so the Stark wing scales as n_e and the core tends to the pure Doppler
Gaussian; beyond the last u node S_u ∝ u^(−5/2) (the quasi-static wing).

Microturbulence is added by looking the tables up at a Doppler temperature
T_D = T + m_H ξ² / 2k, which makes the tables' Gaussian (σ² = kT/m_H) the thermal +
microturbulent one (σ² = kT/m_H + ξ²/2). The Stark part depends on T only weakly (≈ 3 % in
width for ξ = 5 km/s at 6000 K), which is the approximation made.

**Lorentzian broadening** (radiative damping from ``Hlinedata``; self-broadening by H I in
the p-d approximation of Barklem, Piskunov & O'Mara 2000 for Hα–Hγ and Ali & Griem 1966
resonance broadening for the other lines; broadening by He I as in Turbospectrum's
``hlinprof.f`` / HLINOP) is combined with a profile φ_S (:func:`combine_lorentzian`) by
modelling φ_S as a Voigt profile V(σ, w) of the same half width W, whose convolution with
the Lorentzian is exact, V(σ, w + γ), and adding back the residual φ_S − V(σ, w) (damped near
the core when γ ≳ W). The far wings get φ_S + the Lorentzian wing (what the convolution
gives), a Doppler core becomes the exact Voigt profile, the area is kept (within 1 %), and
against brute-force convolution it is within 8.5 % in all stellar regimes. This replaces
Turbospectrum's "add the Lorentzian beyond 0.2 Å", which is discontinuous. Widths follow
Barklem's codes: the p-d "width" is treated as a half width in angular frequency,
Δλ_HWHM = w λ² / (2πc), and the radiative FWHM Γ as Γ/2.

**Other H lines** and **He II 4686, 5411, 4542** (hydrogenic, Z = 2): a model Stark profile
(``stark_universal``), (1 + β²)^(−5/4) convolved with the thermal + microturbulent Gaussian,
β = |Δλ| / (3.72 K_nm F0) with Griem's K_nm (He II: K_nm / Z⁵). Its far wing equals the
quasi-static ion + electron wing of the Stehlé/VCS tables (2.99 K^(3/2) α^(−5/2)); its core
(an impact-broadened, central-component-free shape) is a rough approximation: about 2× too
wide for Hα-like lines with an unshifted component, right in order for the others. Lorentz
terms as above (no self-broadening for He II). No occupation probabilities (Hummer & Mihalas
1988): the high series members near a series limit are not dissolved, and there is no
pseudo-continuum there.

**He I** (4026, 4388, 4471, 4713, 4922, 5016, 5876, 6678): Voigt profiles, thermal He +
microturbulence Gaussian and a Lorentzian of radiative + electron-impact Stark width; the
Stark widths are approximate (see :data:`jaxspec.data.hydrogen.HELIUM_I_LINES`); forbidden
components and ion broadening are not modelled.

Every function is pure, takes one atmosphere (``(n_depth,)`` arrays) and a wavelength grid
``(n_wave,)`` in vacuum Å (any monotone grid), and returns ``(n_depth, n_wave)`` in cm⁻¹; it
is safe under ``jit``, ``vmap`` and ``grad`` (finite gradients with respect to T, n_e and the
number densities). The lines of each kind are summed by a ``lax.scan`` (one compiled body
per kind, one line's ``(n_depth, n_wave)`` temporaries alive at a time); the two opacity
functions are jitted. Precision follows the temperature's dtype (line data are cast to it);
use float64 for physics.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..data import hydrogen as _data
from ..errors import FileFormatError
from .voigt import voigt_hjerting

__all__ = [
    "HydrogenLines",
    "prepare_hydrogen_lines",
    "hydrogen_line_opacity",
    "helium_line_opacity",
    "tabulated_stark_profile",
    "hydrogenic_stark_profile",
    "combine_lorentzian",
    "core_lorentz_width",
    "voigt_per_depth",
]

# Physical constants (CGS, CODATA 2018).
_C_CM = 2.99792458e10  # speed of light [cm/s]
_C_ANGSTROM = 2.99792458e18  # [Å/s]
_K_B = 1.380649e-16  # [erg/K]
_K_B_EV = 8.617333262e-5  # [eV/K]
_HC_EV_ANGSTROM = 12398.419843320026  # h c [eV Å]
_AMU = 1.66053906660e-27  # [kg]
_AMU_G = 1.66053906660e-24  # [g]
_BOHR_M = 5.29177210903e-11  # [m]
_K_B_SI = 1.380649e-23  # [J/K]
#: π e² / (m_e c) [cm² s⁻¹].
_PI_E2_MC = 0.02654008851
_MASS_H, _MASS_HE = 1.00794, 4.002602  # [u]
_TWO_PI_C_ANGSTROM = 2.0 * math.pi * _C_ANGSTROM
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# Node grids of the tables (fixed by the file format; checked in prepare_hydrogen_lines).
_LOG_T0, _DLOG_T, _N_T = math.log10(2500.0), math.log10(2.0), _data.N_T
_LOG_NE0, _DLOG_NE, _N_NE = 10.0, 0.5, _data.N_NE
#: Above this many (depth, wavelength) points the per-line opacity is rematerialised under
#: reverse-mode differentiation (``jax.checkpoint``); below, storing is cheaper to compile.
_REMAT_SIZE = 2**20
#: How far beyond the largest Doppler/Stark ratio node log r is extrapolated (then clamped).
_R_EXTRAPOLATION_DEX = 4.0

# Self-broadening of Hα, Hβ, Hγ by H I (Barklem, Piskunov & O'Mara 2000; hlinprof.f):
# cross-section σ [a0²] at v0 = 1e4 m/s and velocity exponent α, keyed by n_up.
_BPO_SELF = {3: (1180.0, 0.677), 4: (2320.0, 0.455), 5: (4208.0, 0.380)}
# Broadening of Hα–Hδ by He I (estimate in hlinprof.f HE_PDWIDTH, × 0.625 polarisability).
_BPO_HE = {3: (834.0, 0.280), 4: (1998.0, 0.330), 5: (3837.0, 0.260), 6: (5700.0, 0.250)}


def _abo_width_coefficient(sigma_a0: float, alpha: float, reduced_mass_u: float) -> tuple:
    """(C, p) with the ABO half width w = C T^p n [rad s⁻¹, n in cm⁻³].

    w = (4/π)^(α/2) Γ(2 − α/2) v0 σ (v̄/v0)^(1−α) n, v̄ = √(8kT / πμ), v0 = 1e4 m/s
    (Anstee & O'Mara 1995; Barklem, Piskunov & O'Mara 2000), computed in SI then × 1e-6 for
    n in cm⁻³.
    """
    v0 = 1.0e4
    sigma = sigma_a0 * _BOHR_M**2
    vbar_per_sqrt_t = math.sqrt(8.0 * _K_B_SI / (math.pi * reduced_mass_u * _AMU))
    lead = (4.0 / math.pi) ** (alpha / 2.0) * math.gamma(2.0 - alpha / 2.0) * v0 * sigma
    c = lead * (vbar_per_sqrt_t / v0) ** (1.0 - alpha) * 1.0e6
    return c, 0.5 * (1.0 - alpha)


def _lyman_oscillator_strength(n: int) -> float:
    """Absorption oscillator strength f(1 → n) of hydrogen, exact (Menzel & Pekeris 1935).

    f = 2⁸ n⁵ (n − 1)^(2n−4) / (3 (n + 1)^(2n+4)); f(1→2) = 0.4162, f(1→3) = 0.07910.
    """
    return 2.0**8 * n**5 * (n - 1.0) ** (2 * n - 4) / (3.0 * (n + 1.0) ** (2 * n + 4))


def _resonance_coefficient(n_low: int, n_up: int) -> float:
    """Ali & Griem (1966) resonance half width per H I, dν/ν per cm⁻³ (HLINOP's RESONT).

    Only the lower level's resonance with the ground state is included (the upper one for
    Lyman lines).
    """
    gnm = (n_up**2 - n_low**2) / (n_up**2 * n_low**2)
    if n_low != 1:
        res = _lyman_oscillator_strength(n_low) / (1.0 - 1.0 / n_low**2)
    else:
        res = _lyman_oscillator_strength(n_up) / (1.0 - 1.0 / n_up**2)
    return res * 2.07e-24 / gnm


def _helium_vdw_coefficient(n_low: int, n_up: int) -> float:
    """van der Waals half width by He I, dν/ν per cm⁻³ at 10 000 K (HLINOP's VDW; ∝ T^0.3)."""
    gnm = (n_up**2 - n_low**2) / (n_up**2 * n_low**2)
    return 4.45e-26 / gnm * (n_up**2 * (7.0 * n_up**2 + 5.0)) ** 0.4


class _TabulatedLines(NamedTuple):
    """Hα–Hδ with Stark tables. Shapes ``(n,)`` unless noted."""

    center: Any  # vacuum wavelength [Å]
    gf: Any
    e_low: Any  # [eV]
    gamma_rad: Any  # radiative FWHM [s⁻¹]
    self_c: Any  # H I broadening: half width = self_c T^self_p n_H [rad/s]
    self_p: Any
    he_c: Any  # He I broadening: half width = he_c T^he_p n_He [rad/s]
    he_p: Any
    log_width: Any  # (n, N_T, N_NE) log10 HWHM [α units]
    log_profile: Any  # (n, N_T, N_NE, N_U) log10 S_u


class _HydrogenicLines(NamedTuple):
    """Hydrogenic lines with the model Stark profile. Shapes ``(n,)``."""

    center: Any  # vacuum wavelength [Å]
    gf: Any
    e_low: Any  # [eV]
    gamma_rad: Any  # radiative FWHM [s⁻¹]
    stark_width: Any  # 3.72 K_nm [Å per esu]: β = |Δλ| / (stark_width F0)
    resonance: Any  # H I resonance half width, dν/ν per cm⁻³
    helium_vdw: Any  # He I van der Waals half width at 1e4 K, dν/ν per cm⁻³


class _HeliumILines(NamedTuple):
    """He I lines, Voigt profiles. Shapes ``(n,)``."""

    center: Any  # vacuum wavelength [Å]
    gf: Any
    e_low: Any  # [eV]
    gamma_rad: Any  # radiative FWHM [s⁻¹]
    stark_hwhm: Any  # electron-impact HWHM [Å] at the reference n_e and T


@dataclasses.dataclass(frozen=True)
class HydrogenLines:
    """The H and He lines of one wavelength window, with the profile tables they need.

    A pytree (arrays are leaves; ``labels`` is static). Make it with
    :func:`prepare_hydrogen_lines`.

    Attributes:
        tabulated: Hα–Hδ (Stehlé / VCS Stark tables).
        hydrogen: the other H I lines (model Stark profile).
        helium_ii: He II lines (model Stark profile, Z = 2).
        helium_i: He I lines (Voigt).
        universal_log_width: ``(N_R,)`` log10 HWHM of the model Stark profile [β units].
        universal_log_profile: ``(N_R, N_U)`` its homologous shape.
        labels: names of the lines in the order tabulated, hydrogen, helium_ii, helium_i.
    """

    tabulated: _TabulatedLines
    hydrogen: _HydrogenicLines
    helium_ii: _HydrogenicLines
    helium_i: _HeliumILines
    universal_log_width: Any
    universal_log_profile: Any
    labels: tuple[str, ...] = ()


jax.tree_util.register_dataclass(
    HydrogenLines,
    data_fields=[
        "tabulated",
        "hydrogen",
        "helium_ii",
        "helium_i",
        "universal_log_width",
        "universal_log_profile",
    ],
    meta_fields=["labels"],
)


# ----------------------------------------------------------------------------------------
# Host-side selection
# ----------------------------------------------------------------------------------------


def _check_grids(data: _data.HydrogenData) -> None:
    stark = data.stark_tables
    expected_t = _LOG_T0 + _DLOG_T * np.arange(_N_T)
    expected_ne = _LOG_NE0 + _DLOG_NE * np.arange(_N_NE)
    r = data.stark_universal["log_r"]
    if (
        stark["log_t"].shape != expected_t.shape
        or not np.allclose(stark["log_t"], expected_t, atol=1e-6)
        or stark["log_ne"].shape != expected_ne.shape
        or not np.allclose(stark["log_ne"], expected_ne, atol=1e-6)
        or not np.allclose(r, _data.LOG_R_START + _data.LOG_R_STEP * np.arange(_data.N_R))
    ):
        raise FileFormatError(
            "hydrogen-line data: the Stark table node grids differ from the ones this jaxspec "
            "expects (T = 2500·2^i K, log n_e = 10 + 0.5 j, log r = −2 + 0.1 k); rebuild the "
            "file with python -m jaxspec.data.hydrogen"
        )


def _in_window(wave: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (np.asarray(wave) >= lo) & (np.asarray(wave) <= hi)


def prepare_hydrogen_lines(
    wave_min: float,
    wave_max: float,
    *,
    data: _data.HydrogenData | str | None = None,
    margin: float = 200.0,
) -> HydrogenLines:
    """Select the H and He lines whose centres lie within a window, with their tables.

    Host-side (numpy), run once per wavelength window; the result is a pytree to pass to
    :func:`hydrogen_line_opacity` and :func:`helium_line_opacity`.

    Args:
        wave_min, wave_max: the synthesis window, vacuum wavelengths [Å].
        data: a :class:`jaxspec.data.hydrogen.HydrogenData`, the path of a
            ``hydrogen_lines.h5`` file, or None for the shipped file.
        margin: lines whose vacuum centre lies within ``[wave_min − margin, wave_max +
            margin]`` Å are kept (their wings reach into the window).

    Returns:
        a :class:`HydrogenLines` (arrays in JAX's default float dtype).

    Raises:
        ValueError: ``wave_max < wave_min`` or a negative margin.
        FileFormatError: the data file's tables do not have the expected layout.
    """
    if not wave_max >= wave_min:
        raise ValueError(f"expected wave_min <= wave_max, got {wave_min} and {wave_max}")
    if margin < 0:
        raise ValueError(f"expected margin >= 0 Å, got {margin}")
    if data is None or isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        data = _data.load_hydrogen_data(data)
    _check_grids(data)
    lo, hi = wave_min - margin, wave_max + margin
    hl = data.hydrogen_lines
    stark = data.stark_tables
    table_index = {(int(a), int(b)): k for k, (a, b) in enumerate(stark["lines"])}
    idents = [x.decode() if isinstance(x, bytes) else str(x) for x in hl["ident"]]

    tab_rows, gen_rows, labels_tab, labels_gen = [], [], [], []
    for k in np.nonzero(_in_window(hl["wave_vac"], lo, hi))[0]:
        n_low, n_up = int(hl["n_low"][k]), int(hl["n_up"][k])
        (tab_rows if (n_low, n_up) in table_index else gen_rows).append(k)
        (labels_tab if (n_low, n_up) in table_index else labels_gen).append(idents[k])

    def column(rows: list, key: str) -> np.ndarray:
        return np.asarray([hl[key][k] for k in rows], np.float64)

    tab_nm = [(int(hl["n_low"][k]), int(hl["n_up"][k])) for k in tab_rows]
    self_coeffs, he_coeffs = [], []
    for k, (n_low, n_up) in zip(tab_rows, tab_nm, strict=True):
        if n_low == 2 and n_up in _BPO_SELF:
            self_coeffs.append(_abo_width_coefficient(*_BPO_SELF[n_up], _MASS_H / 2.0))
        else:  # Ali & Griem resonance broadening, T independent: w = 2π ν0 RESONT n_H.
            nu0 = _C_ANGSTROM / float(hl["wave_vac"][k])
            self_coeffs.append((2.0 * math.pi * nu0 * _resonance_coefficient(n_low, n_up), 0.0))
        if n_low == 2 and n_up in _BPO_HE:
            reduced = 1.0 / (1.0 / _MASS_H + 1.0 / _MASS_HE)
            c, p = _abo_width_coefficient(*_BPO_HE[n_up], reduced)
            he_coeffs.append((0.625 * c, p))
        else:
            he_coeffs.append((0.0, 0.0))
    idx = [table_index[nm] for nm in tab_nm]
    tabulated = _TabulatedLines(
        center=column(tab_rows, "wave_vac"),
        gf=10.0 ** column(tab_rows, "loggf"),
        e_low=column(tab_rows, "e_low"),
        gamma_rad=column(tab_rows, "gamma_rad"),
        self_c=np.asarray([c for c, _ in self_coeffs], np.float64),
        self_p=np.asarray([p for _, p in self_coeffs], np.float64),
        he_c=np.asarray([c for c, _ in he_coeffs], np.float64),
        he_p=np.asarray([p for _, p in he_coeffs], np.float64),
        log_width=np.asarray(stark["log_width"], np.float64)[idx].reshape(-1, _N_T, _N_NE),
        log_profile=np.asarray(stark["log_profile"], np.float64)[idx].reshape(
            -1, _N_T, _N_NE, _data.N_U
        ),
    )

    gen_nm = [(int(hl["n_low"][k]), int(hl["n_up"][k])) for k in gen_rows]
    gen_center = column(gen_rows, "wave_vac")
    hydrogen = _HydrogenicLines(
        center=gen_center,
        gf=10.0 ** column(gen_rows, "loggf"),
        e_low=column(gen_rows, "e_low"),
        gamma_rad=column(gen_rows, "gamma_rad"),
        stark_width=np.asarray([_data.STARK_SCALE * _data.stark_k_nm(n, m) for n, m in gen_nm]),
        resonance=np.asarray([_resonance_coefficient(n, m) for n, m in gen_nm]),
        helium_vdw=np.asarray([_helium_vdw_coefficient(n, m) for n, m in gen_nm]),
    )

    he2 = data.helium_ii_lines
    rows2 = np.nonzero(_in_window(he2["wave_vac"], lo, hi))[0]
    helium_ii = _HydrogenicLines(
        center=np.asarray(he2["wave_vac"][rows2], np.float64),
        gf=10.0 ** np.asarray(he2["loggf"][rows2], np.float64),
        e_low=np.asarray(he2["e_low"][rows2], np.float64),
        gamma_rad=np.asarray(he2["gamma_rad"][rows2], np.float64),
        stark_width=np.asarray(
            [
                _data.STARK_SCALE * _data.stark_k_nm(he2["n_low"][k], he2["n_up"][k], charge=2)
                for k in rows2
            ],
            np.float64,
        ),
        resonance=np.zeros(rows2.size),
        helium_vdw=np.zeros(rows2.size),
    )

    he1 = data.helium_i_lines
    rows1 = np.nonzero(_in_window(he1["wave_vac"], lo, hi))[0]
    helium_i = _HeliumILines(
        center=np.asarray(he1["wave_vac"][rows1], np.float64),
        gf=10.0 ** np.asarray(he1["loggf"][rows1], np.float64),
        e_low=np.asarray(he1["e_low"][rows1], np.float64),
        gamma_rad=np.asarray(he1["gamma_rad"][rows1], np.float64),
        stark_hwhm=0.5 * np.asarray(he1["stark_fwhm"][rows1], np.float64),
    )

    def label(x: Any) -> str:
        return x.decode() if isinstance(x, bytes) else str(x)

    labels = tuple(
        labels_tab
        + labels_gen
        + [f"He II {he2['n_low'][k]}-{he2['n_up'][k]}" for k in rows2]
        + [label(he1["label"][k]) for k in rows1]
    )
    return HydrogenLines(
        tabulated=jax.tree_util.tree_map(jnp.asarray, tabulated),
        hydrogen=jax.tree_util.tree_map(jnp.asarray, hydrogen),
        helium_ii=jax.tree_util.tree_map(jnp.asarray, helium_ii),
        helium_i=jax.tree_util.tree_map(jnp.asarray, helium_i),
        universal_log_width=jnp.asarray(data.stark_universal["log_width"]),
        universal_log_profile=jnp.asarray(
            np.asarray(data.stark_universal["log_profile"], np.float64)
        ),
        labels=labels,
    )


# ----------------------------------------------------------------------------------------
# Core array functions
# ----------------------------------------------------------------------------------------


def _materialise(table: Any) -> Any:
    """Return ``table`` unchanged, but computed once before it is indexed.

    Without this XLA (at least on CPU) fuses the computation of a small per-depth table into
    the consumer of a gather from it, recomputing e.g. the Faddeeva function once per
    wavelength point instead of once per table entry (10× slower). ``optimization_barrier``
    does not stop it there; a sort along the last axis keyed by an iota (a no-op that XLA
    does not fuse) does. Differentiable (the permutation is the identity).
    """
    keys = jax.lax.broadcasted_iota(jnp.int32, table.shape, table.ndim - 1)
    return jax.lax.sort((keys, table), dimension=table.ndim - 1, num_keys=1)[1]


def _node_coordinate(x: Any, n: int, below: float, above: float) -> tuple[Any, Any]:
    """Cell index i ∈ [0, n−2] and weight f of a uniform-grid coordinate x (grid units).

    x is clipped to [−below, n − 1 + above]; f leaves [0, 1] there, which extrapolates
    linearly from the first or last cell.
    """
    xc = jnp.clip(x, -below, n - 1 + above)
    i = jnp.clip(jnp.floor(xc), 0, n - 2).astype(jnp.int32)
    return i, xc - i


def _bilinear(table: Any, it: Any, ft: Any, ine: Any, fne: Any) -> Any:
    """table[(n_t, n_ne, ...)] at per-depth cells → (n_depth, ...)."""
    shape = (-1,) + (1,) * (table.ndim - 2)
    ft, fne = ft.reshape(shape), fne.reshape(shape)
    v00, v01 = table[it, ine], table[it, ine + 1]
    v10, v11 = table[it + 1, ine], table[it + 1, ine + 1]
    return (1 - ft) * ((1 - fne) * v00 + fne * v01) + ft * ((1 - fne) * v10 + fne * v11)


def _homologous_lookup(log_rows: Any, u: Any) -> Any:
    """S_u(u) from ``log_rows (n_depth, N_U)`` (log10 S_u on the u grid) at ``u (n_depth, n)``.

    Linear in (log u, log S_u); constant below the first node; slope −5/2 beyond the last.
    """
    tiny = jnp.finfo(u.dtype).tiny
    positive = u > tiny
    log_u = jnp.log10(jnp.where(positive, u, 1.0))
    t = jnp.where(positive, (log_u - _data.LOG_U_START) / _data.LOG_U_STEP, 0.0)
    last = _data.N_U - 1
    tc = jnp.clip(t, 0.0, last)
    i = jnp.clip(jnp.floor(tc), 0, last - 1).astype(jnp.int32)
    f = tc - i
    lo = jnp.take_along_axis(log_rows, i, axis=-1)
    hi = jnp.take_along_axis(log_rows, i + 1, axis=-1)
    beyond = jnp.maximum(t - last, 0.0) * (_data.WING_INDEX * _data.LOG_U_STEP)
    return 10.0 ** (lo + f * (hi - lo) + beyond)


def tabulated_stark_profile(
    log_width: Any,
    log_profile: Any,
    delta: Any,
    temperature: Any,
    electron_density: Any,
    doppler_sigma: Any,
) -> tuple[Any, Any]:
    """Stark + Doppler profile of a tabulated line (Stehlé / VCS), per Å.

    Below the lowest density node (n_e,min = 1e10 cm⁻³) the profile is
    f φ(n_e,min) + (1 − f) G(σ_D), f = n_e / n_e,min: the Stark part (wings) scales as n_e
    and the core tends to the pure Doppler Gaussian. Above the highest node (1e18) the shape
    in α units is kept (quasi-static scaling).

    Args:
        log_width: ``(N_T, N_NE)`` log10 HWHM of the node profiles [α units].
        log_profile: ``(N_T, N_NE, N_U)`` their homologous shapes.
        delta: ``(n_depth, n)`` λ − λ0 [Å].
        temperature: ``(n_depth,)`` temperature of the Doppler core [K] (T or T_D).
        electron_density: ``(n_depth,)`` [cm⁻³].
        doppler_sigma: ``(n_depth,)`` σ of the thermal Gaussian the tables include at
            ``temperature`` [Å] (used below n_e,min).

    Returns:
        ``(profile (n_depth, n) [Å⁻¹], half_width (n_depth,) [Å])``, the latter its half
        width at half maximum.
    """
    t = jnp.asarray(temperature)
    ne = jnp.asarray(electron_density, t.dtype)
    ne_min = 10.0**_LOG_NE0
    ne_table = jnp.maximum(ne, ne_min)
    x_t = (jnp.log10(t) - _LOG_T0) / _DLOG_T
    x_ne = (jnp.log10(ne_table) - _LOG_NE0) / _DLOG_NE
    it, ft = _node_coordinate(x_t, _N_T, 0.0, 0.0)
    ine, fne = _node_coordinate(x_ne, _N_NE, 0.0, 0.0)
    log_w = _bilinear(log_width, it, ft, ine, fne)
    rows = _materialise(_bilinear(log_profile, it, ft, ine, fne))
    f0 = 1.25e-9 * ne_table ** (2.0 / 3.0)
    width = f0 * 10.0**log_w  # HWHM [Å]
    u = jnp.abs(delta) / width[:, None]
    table_profile = _homologous_lookup(rows, u) / width[:, None]
    # Below n_e,min: mix with the Doppler Gaussian (f = 1 at and above n_e,min).
    f = jnp.minimum(ne / ne_min, 1.0)
    sigma = doppler_sigma[:, None]
    gauss = jnp.exp(-0.5 * (delta / sigma) ** 2) / (_SQRT_2PI * sigma)
    profile = f[:, None] * table_profile + (1.0 - f[:, None]) * gauss
    half_width = f * width + (1.0 - f) * (math.sqrt(2.0 * math.log(2.0)) * doppler_sigma)
    return profile, half_width


def hydrogenic_stark_profile(
    log_width: Any, log_profile: Any, delta: Any, stark_width: Any, doppler_sigma: Any
) -> tuple[Any, Any]:
    """Model Stark ⊛ Doppler profile of a hydrogenic line, per Å.

    Args:
        log_width: ``(N_R,)`` log10 HWHM of the model profile [β units] per log r node.
        log_profile: ``(N_R, N_U)`` its homologous shapes.
        delta: ``(n_depth, n)`` |λ − λ0| [Å].
        stark_width: ``(n_depth,)`` Stark scale 3.72 K_nm F0 [Å].
        doppler_sigma: ``(n_depth,)`` Gaussian standard deviation [Å].

    Returns:
        ``(profile (n_depth, n) [Å⁻¹], half_width (n_depth,) [Å])``.
    """
    ratio = doppler_sigma / stark_width
    x = (jnp.log10(ratio) - _data.LOG_R_START) / _data.LOG_R_STEP
    i, f = _node_coordinate(x, _data.N_R, 0.0, _R_EXTRAPOLATION_DEX / _data.LOG_R_STEP)
    log_w = (1 - f) * log_width[i] + f * log_width[i + 1]
    rows = _materialise((1 - f)[:, None] * log_profile[i] + f[:, None] * log_profile[i + 1])
    width = stark_width * 10.0**log_w  # HWHM [Å]
    u = jnp.abs(delta) / width[:, None]
    profile = _homologous_lookup(rows, u) / width[:, None]
    return profile, width


#: Offset grid of the per-depth Voigt tables: v = 0 … 8 in steps of 0.01 Doppler units.
_V_STEP, _V_MAX = 0.01, 8.0
_N_V = int(round(_V_MAX / _V_STEP)) + 1
#: Asymptotic series of w(z) for |z| ≥ 8: i/(√π z) Σ c_k z^(−2k) (A&S 7.1.23), error < 1e-6.
_ASYMPTOTIC = (1.0, 0.5, 0.75, 1.875)


def voigt_per_depth(delta: Any, sigma: Any, gamma: Any) -> Any:
    """Area-normalised Voigt profile with per-depth widths, on a shared offset grid.

    Same function as :func:`jaxspec.synth.voigt.voigt_profile`, evaluated faster for
    ``(n_depth, n)`` offsets: for |v| < 8 (v = |Δλ| / (σ√2)) it interpolates linearly in v a
    per-depth table of H(a, v) computed exactly on v = 0, 0.01, …, 8 (absolute error below
    3e-5 of the peak, exact at the nodes); for |v| ≥ 8 it uses the asymptotic series of the
    Faddeeva function to four terms (relative error < 1e-6). On CPU this is ~10× cheaper than
    evaluating the Faddeeva function at every point.

    Args:
        delta: ``(n_depth, n)`` offsets λ − λ0 [Å].
        sigma: ``(n_depth,)`` Gaussian standard deviation [Å], > 0.
        gamma: ``(n_depth,)`` Lorentzian half width at half maximum [Å], ≥ 0; or
            ``(k, n_depth)`` for k profiles of the same σ at once.

    Returns:
        ``(n_depth, n)`` profile [Å⁻¹] (``(k, n_depth, n)`` for 2-d ``gamma``).
    """
    dtype = delta.dtype
    scale = sigma * math.sqrt(2.0)  # Doppler width
    a = gamma / scale
    v_nodes = jnp.arange(_N_V, dtype=dtype) * _V_STEP
    table = _materialise(voigt_hjerting(a[..., None], v_nodes))
    v = jnp.abs(delta) / scale[:, None]
    inner = v < _V_MAX
    t = jnp.where(inner, v, 0.0) / _V_STEP
    i = jnp.clip(jnp.floor(t), 0, _N_V - 2).astype(jnp.int32)
    i = jnp.broadcast_to(i, a.shape[:-1] + i.shape)
    lo = jnp.take_along_axis(table, i, axis=-1)
    hi = jnp.take_along_axis(table, i + 1, axis=-1)
    h_inner = lo + (t - jnp.floor(jnp.minimum(t, _N_V - 2))) * (hi - lo)
    # Asymptotic series in real form: with 1/z = ρ e^(−iθ), Re[i c_k z^(−(2k+1))] is
    # c_k ρ^(2k+1) sin((2k+1)θ); sines of odd multiples by sin((n+2)θ) = 2 cos2θ sin nθ − ….
    v_outer = jnp.where(inner, _V_MAX, v)
    r2 = v_outer * v_outer + a[..., None] ** 2
    rho2 = 1.0 / r2
    rho = jnp.sqrt(rho2)
    sin1 = a[..., None] * rho
    cos2 = (v_outer * v_outer - a[..., None] ** 2) * rho2
    sin_prev, sin_cur = -sin1, sin1  # sin(−θ), sin θ
    h_outer = _ASYMPTOTIC[0] * rho * sin1
    power = rho
    for c in _ASYMPTOTIC[1:]:
        sin_prev, sin_cur = sin_cur, 2.0 * cos2 * sin_cur - sin_prev
        power = power * rho2
        h_outer = h_outer + c * power * sin_cur
    return jnp.where(inner, h_inner, h_outer / math.sqrt(math.pi)) / (
        scale[:, None] * math.sqrt(math.pi)
    )


def core_lorentz_width(half_width: Any, sigma: Any) -> Any:
    """Lorentzian HWHM of the Voigt profile with Gaussian σ and half width ``half_width``.

    Inverts Olivero & Longbothum's (1977) relation f_V = 0.5346 f_L + √(0.2166 f_L² + f_G²)
    (0.02 % accurate), in the cancellation-free root form; 0 when the half width does not
    exceed the Gaussian's.
    """
    w_g = math.sqrt(2.0 * math.log(2.0)) * sigma
    b = 1.0692 * half_width
    c = jnp.maximum(half_width**2 - w_g**2, 0.0)
    return 2.0 * c / (b + jnp.sqrt(b * b - 0.2768 * c))


#: The residual φ_S − V(σ, w) is kept unsmoothed beyond ~this many (W + γ) (see below).
_TAPER_SCALE = 8.0


def combine_lorentzian(profile: Any, delta: Any, sigma: Any, half_width: Any, gamma: Any) -> Any:
    """Convolve (approximately) a normalised profile with a Lorentzian of HWHM ``gamma``.

    The profile φ_S is modelled, for this purpose only, by the Voigt profile V(σ, w) with
    the Doppler σ and the Lorentz width w that give its half width W
    (:func:`core_lorentz_width`); convolving that model with the Lorentzian is exact,
    V(σ, w + γ). The residual R = φ_S − V(σ, w) (the Stark wings and the core's departure
    from a Voigt shape) is added back unconvolved, damped near the core when γ ≳ W:

        φ = V(σ, w + γ) + [h + (1 − h) t(Δλ)] R,
        h = 1 / (1 + (γ/W)²),   t = Δλ² / (Δλ² + (8 (W + γ))²).

    So the far wings are φ_S + γ/(π Δλ²) (the convolution's), a Doppler core becomes the exact
    Voigt profile, and γ ≫ W tends to the Lorentzian. The area is exact when h = 1 and within
    1 % otherwise. Against brute-force convolution of the Hα–Hδ tables (T = 4000–15 000 K,
    n_e = 1e11–1e16 cm⁻³): at most 8.5 % off (median 1.7 %) for Doppler-like cores with
    γ/W = 0.1–10, at most 11 % (the filling of Hβ's central dip) for Stark-dominated cores
    with γ ≤ 0.03 W, the regime met in stars.

    Args:
        profile: ``(n_depth, n)`` the profile without the Lorentzian [Å⁻¹].
        delta: ``(n_depth, n)`` λ − λ0 [Å].
        sigma: ``(n_depth,)`` Doppler (Gaussian) standard deviation included in ``profile`` [Å].
        half_width: ``(n_depth,)`` half width at half maximum of ``profile`` [Å].
        gamma: ``(n_depth,)`` Lorentzian half width at half maximum [Å].
    """
    w = core_lorentz_width(half_width, sigma)
    h = (1.0 / (1.0 + (gamma / half_width) ** 2))[:, None]
    scale = (_TAPER_SCALE * (half_width + gamma))[:, None]
    taper = delta**2 / (delta**2 + scale**2)
    model, convolved = voigt_per_depth(delta, sigma, jnp.stack([w, w + gamma]))
    return convolved + (h + (1.0 - h) * taper) * (profile - model)


def _boltzmann_amplitude(gf: Any, e_low: Any, temperature: Any, wave: Any) -> Any:
    """(π e²/m_e c) g f e^(−E/kT) (1 − e^(−hc/λkT)) λ² / c · 1e-8 per unit n/U [cm² Å]."""
    kt = _K_B_EV * temperature[:, None]
    stimulated = -jnp.expm1(-_HC_EV_ANGSTROM / (wave[None, :] * kt))
    return _PI_E2_MC * gf * jnp.exp(-e_low / kt) * stimulated * wave[None, :] ** 2 * 1e-8 / _C_CM


def _doppler_sigma(center: Any, temperature: Any, vmic: Any, mass_u: float) -> Any:
    """Gaussian σ [Å]: λ0 / c · √(kT/m + ξ²/2), ξ the microturbulence [km/s]."""
    v2 = _K_B * temperature / (mass_u * _AMU_G) + 0.5 * (vmic * 1e5) ** 2
    return center * jnp.sqrt(v2) / _C_CM


def _cast_lines(lines: HydrogenLines, dtype: Any) -> HydrogenLines:
    """The line data in the working float dtype."""
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, lines
    )


def _as_depth(x: Any, dtype: Any) -> Any:
    return jnp.atleast_1d(jnp.asarray(x, dtype))


@jax.jit
def hydrogen_line_opacity(
    lines: HydrogenLines,
    wave: Any,
    temperature: Any,
    electron_density: Any,
    n_h1: Any,
    n_hplus: Any,
    n_he1: Any,
    vmic: Any,
    *,
    partition_function: Any = 2.0,
) -> jax.Array:
    """Line absorption coefficient of H I lines, with stimulated emission. Jitted.

    Args:
        lines: from :func:`prepare_hydrogen_lines`.
        wave: ``(n_wave,)`` vacuum wavelengths [Å], any monotone grid.
        temperature: ``(n_depth,)`` [K].
        electron_density: ``(n_depth,)`` [cm⁻³].
        n_h1: ``(n_depth,)`` neutral hydrogen, all levels [cm⁻³]; level populations are
            n_h1 g_l exp(−E_l / kT) / U (Boltzmann).
        n_hplus: ``(n_depth,)`` protons [cm⁻³]. Not used: the Stark tables assume
            n(ions) = n_e; kept for a stable signature.
        n_he1: ``(n_depth,)`` neutral helium [cm⁻³] (He I broadening of H lines).
        vmic: microturbulence [km/s], scalar or ``(n_depth,)``.
        partition_function: U(H I), scalar or ``(n_depth,)``; 2 by default (2.0008 at
            6000 K per Irwin).

    Returns:
        ``(n_depth, n_wave)`` absorption coefficient [cm⁻¹].
    """
    del n_hplus
    t = jnp.atleast_1d(jnp.asarray(temperature))
    dtype = t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)
    t = t.astype(dtype)
    lines = _cast_lines(lines, dtype)
    wave = jnp.asarray(wave, dtype)
    ne, nh, nhe = (_as_depth(v, dtype) for v in (electron_density, n_h1, n_he1))
    xi = jnp.asarray(vmic, dtype)
    n_over_u = (nh / jnp.asarray(partition_function, dtype))[:, None]
    total = jnp.zeros((t.shape[0], wave.shape[0]), dtype)

    tab = lines.tabulated
    # Doppler temperature: the tables' Gaussian then has σ² = kT/m_H + ξ²/2.
    t_doppler = t + (_MASS_H * _AMU_G) * (xi * 1e5) ** 2 / (2.0 * _K_B)

    def tabulated_line(line: _TabulatedLines) -> Any:
        delta = wave[None, :] - line.center
        sigma = _doppler_sigma(line.center, t_doppler, 0.0, _MASS_H)
        profile, half_width = tabulated_stark_profile(
            line.log_width, line.log_profile, delta, t_doppler, ne, sigma
        )
        width_rad = (
            line.self_c * t**line.self_p * nh + line.he_c * t**line.he_p * nhe
        ) + 0.5 * line.gamma_rad
        gamma = width_rad * line.center**2 / _TWO_PI_C_ANGSTROM
        phi = combine_lorentzian(profile, delta, sigma, half_width, gamma)
        return n_over_u * _boltzmann_amplitude(line.gf, line.e_low, t, wave) * phi

    total = _sum_over_lines(tabulated_line, tab, total)
    return _hydrogenic_opacity(
        lines.hydrogen, lines, wave, t, ne, nh, nhe, xi, n_over_u, _MASS_H, total
    )


def _sum_over_lines(opacity: Any, group: Any, total: Any) -> Any:
    """total + Σ_lines opacity(line), a ``lax.scan`` over the group's leading axis.

    One compiled body per kind of line (compile time independent of the number of lines),
    one line's ``(n_depth, n_wave)`` temporaries alive at a time, and for large grids
    (> 2^20 points) each line is recomputed under reverse-mode differentiation
    (``jax.checkpoint``) rather than stored.
    """
    if group.center.shape[0] == 0:
        return total
    if total.size > _REMAT_SIZE:
        # Recomputed in the backward pass: reverse mode then keeps one line's intermediates
        # at a time instead of every line's (peak 16 GB → 3.5 GB at 80 × 1e5, float64).
        opacity = jax.checkpoint(opacity)

    def body(carry: Any, line: Any) -> tuple[Any, None]:
        return carry + opacity(line), None

    return jax.lax.scan(body, total, group)[0]


def _hydrogenic_opacity(
    group: _HydrogenicLines,
    lines: HydrogenLines,
    wave: Any,
    t: Any,
    ne: Any,
    nh: Any,
    nhe: Any,
    xi: Any,
    n_over_u: Any,
    mass: float,
    total: Any,
) -> Any:
    f0 = 1.25e-9 * ne ** (2.0 / 3.0)

    def hydrogenic_line(line: _HydrogenicLines) -> Any:
        delta = wave[None, :] - line.center
        sigma = _doppler_sigma(line.center, t, xi, mass)
        profile, half_width = hydrogenic_stark_profile(
            lines.universal_log_width,
            lines.universal_log_profile,
            delta,
            line.stark_width * f0,
            sigma,
        )
        half_width_rel = line.resonance * nh + line.helium_vdw * (t / 1e4) ** 0.3 * nhe  # dν/ν
        gamma = (
            half_width_rel * line.center
            + 0.5 * line.gamma_rad * line.center**2 / _TWO_PI_C_ANGSTROM
        )
        phi = combine_lorentzian(profile, delta, sigma, half_width, gamma)
        return n_over_u * _boltzmann_amplitude(line.gf, line.e_low, t, wave) * phi

    return _sum_over_lines(hydrogenic_line, group, total)


@jax.jit
def helium_line_opacity(
    lines: HydrogenLines,
    wave: Any,
    temperature: Any,
    electron_density: Any,
    n_he1: Any,
    n_he2: Any,
    vmic: Any,
    *,
    partition_function_he1: Any = 1.0,
    partition_function_he2: Any = 2.0,
) -> jax.Array:
    """Line absorption coefficient of He I and He II lines, with stimulated emission. Jitted.

    Args:
        lines: from :func:`prepare_hydrogen_lines`.
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(n_depth,)`` [K].
        electron_density: ``(n_depth,)`` [cm⁻³].
        n_he1: ``(n_depth,)`` neutral helium, all levels [cm⁻³].
        n_he2: ``(n_depth,)`` He⁺, all levels [cm⁻³].
        vmic: microturbulence [km/s], scalar or ``(n_depth,)``.
        partition_function_he1: U(He I), 1 by default.
        partition_function_he2: U(He II), 2 by default.

    Returns:
        ``(n_depth, n_wave)`` absorption coefficient [cm⁻¹].
    """
    t = jnp.atleast_1d(jnp.asarray(temperature))
    dtype = t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)
    t = t.astype(dtype)
    lines = _cast_lines(lines, dtype)
    wave = jnp.asarray(wave, dtype)
    ne, nhe1, nhe2 = (_as_depth(v, dtype) for v in (electron_density, n_he1, n_he2))
    xi = jnp.asarray(vmic, dtype)
    total = jnp.zeros((t.shape[0], wave.shape[0]), dtype)

    he1 = lines.helium_i
    n1_over_u = (nhe1 / jnp.asarray(partition_function_he1, dtype))[:, None]
    stark_scale = (ne / _data.HELIUM_I_STARK_NE) * (
        jnp.maximum(t, 1000.0) / _data.HELIUM_I_STARK_T
    ) ** _data.HELIUM_I_STARK_T_EXPONENT

    def helium_line(line: _HeliumILines) -> Any:
        delta = wave[None, :] - line.center
        sigma = _doppler_sigma(line.center, t, xi, _MASS_HE)
        gamma = line.stark_hwhm * stark_scale + (
            0.5 * line.gamma_rad * line.center**2 / _TWO_PI_C_ANGSTROM
        )
        phi = voigt_per_depth(delta, sigma, gamma)
        return n1_over_u * _boltzmann_amplitude(line.gf, line.e_low, t, wave) * phi

    total = _sum_over_lines(helium_line, he1, total)

    n2_over_u = (nhe2 / jnp.asarray(partition_function_he2, dtype))[:, None]
    zeros = jnp.zeros_like(t)
    return _hydrogenic_opacity(
        lines.helium_ii, lines, wave, t, ne, zeros, zeros, xi, n2_over_u, _MASS_HE, total
    )
