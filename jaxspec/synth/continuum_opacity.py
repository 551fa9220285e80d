"""Continuous opacity of FGK (and, roughly, A/B and M) photospheres, in JAX.

Every function takes one atmosphere, ``wave`` ``(n_wave,)`` vacuum wavelengths [Å] and depth
quantities ``(..., n_depth)`` (leading batch axes broadcast; ``jax.vmap`` works too), and
returns linear extinction coefficients α [cm⁻¹] of shape ``(..., n_depth, n_wave)``. All are
pure, jit/vmap/grad-friendly, and finite with finite gradients in temperature and every number
density over 2000–100 000 K and 1000–30 000 Å: thresholds and validity ranges are handled with
clamps and ``jnp.where`` on already-safe arguments, so no NaN is formed in an unselected
branch. The public functions are jitted (one compiled kernel per input shape and dtype;
inlined when called inside a caller's ``jit``, ``vmap`` or ``grad``). Precision follows the
temperature's dtype (the densities' for the scattering functions); use float64 for physics:
float32 is kept free of under/overflow (cross-sections are formed in Å units) and agrees with
float64 to ~1e-5, but low-temperature Boltzmann factors underflow to 0 sooner.

Processes and sources (SE: the stimulated-emission factor 1 − exp(−hν/kT), applied here
unless the source already contains it):

* **H⁻ bound-free** (:func:`hminus_bf`): cross-section fit of T. L. John (1988), A&A 193,
  189, eq. (4) and Table 1, to the calculation of A. W. Wishart (1979), MNRAS 187, 59P;
  threshold λ₀ = 16 419 Å, peak ≈ 4.0e-17 cm² near 8500 Å. Valid 1250–16 419 Å (held at its
  1250 Å value below that; zero beyond λ₀). α = σ n(H⁻) · SE.
* **H⁻ free-free** (:func:`hminus_ff`): John (1988) eq. (6) and Table 3, his fit to the
  Bell & Berrington (1987, J. Phys. B 20, 801) table of K [cm⁴ dyn⁻¹], which already
  contains SE. α = K P_e n(H I, n = 1). The fit reproduces that table to 1.5 % for
  1823–151 890 Å and θ = 5040/T = 0.5–3.6 (tests/synth/test_continuum_opacity.py). Here θ is
  clamped at 3.6 (T < 1400 K uses the 1400 K value); for T > 10 080 K (θ < 0.5) the fit is
  extrapolated: it stays positive and tends to 0 ∝ θ, and H⁻ is negligible there anyway.
  Below 1823 Å the 1823 Å value is scaled by (λ/1823 Å)³.
* **H I bound-free** (:func:`hydrogen_bf`; also He II via :func:`heii_bf`): Kramers'
  hydrogenic cross-section σ_n = 64π⁴ m_e e¹⁰ Z⁴ / (3√3 c h⁶ n⁵ ν³) · g_bf (= 1.0449e-26 Z⁴
  λ³[Å] / n⁵ cm², Gray 2005 eq. 8.4) for levels n = 1…15 with LTE populations
  n_n = n(H I) 2n² exp(−χ(1 − 1/n²)/kT) / U. g_bf is the first-order Menzel & Pekeris (1935,
  MNRAS 96, 77) expansion as given by D. F. Gray (2005), *The Observation and Analysis of
  Stellar Photospheres*, 3rd ed., eq. (8.5): 0.827 at the Lyman edge against the exact
  0.797 of Karzas & Latter (1961, ApJS 6, 167), i.e. ≈ 4 % high; it is a near-threshold
  expansion, adequate for the ν ≲ 4 ν_n that occur in 1000–30 000 Å. Levels n > 15 are
  summed as an integral with g_bf = 1 (Gray 2005 eq. 8.8, the "merge" term). Edges are at
  n² · hc/χ_H = n² · 911.76 Å (vacuum): Balmer 3647.0 Å, Paschen 8205.9 Å. α includes SE.
  The partition function U defaults to 2 (exact to < 1e-4 below 10⁴ K, increasingly low
  above ~20 000 K); pass the EOS value as ``h1_partition``.
  Level dissolution (Hummer & Mihalas 1988) is not modelled: each edge is a sharp jump.
* **H I free-free** (:func:`hydrogen_ff`): Kramers' hydrogenic free-free coefficient
  α = 3.692e8 Z² g_ff n_e n(H⁺) / (√T ν³) · SE (Rybicki & Lightman 1979, eq. 5.18b) with the
  first-order Menzel & Pekeris Gaunt factor of Gray (2005) eq. (8.6),
  g_ff = 1 + 0.3456 (λR)^(−1/3) (kT/hν + 1/2). That expansion is meant for photospheric
  conditions (T ≲ 20 000 K); in the infrared of hotter gas it overestimates g_ff (it grows
  ∝ kT/hν; roughly 1.5× too large at 10⁵ K and 3 µm).
* **He⁻ free-free** (:func:`heminus_ff`): Table 2 of T. L. John (1994), MNRAS 269, 871
  (K [cm⁴ dyn⁻¹] per He I atom per unit P_e, SE included), 5063–151 878 Å, θ = 0.5–3.6. It is
  evaluated through a least-squares polynomial in (1/λ, ln θ) for ln(K/λ²), fitted at import
  to the table embedded below (degrees 4 and 3; largest deviation from the table 0.9 %, at
  the level of its 3-digit rounding at short wavelengths). Outside the table 1/λ and θ are
  clamped, i.e. K/λ² is held at its edge value.
* **He II bound-free** (:func:`heii_bf`): hydrogenic, as H I bf with Z = 2, χ = 54.418 eV,
  U(He II) = 2; matters only above ~25 000 K. He II free-free (needs n(He⁺⁺)) is omitted.
* **H₂⁺ bound-free + free-free** (:func:`h2plus`): R. L. Kurucz (1970), SAO Special Report
  309, section 5.2, fit to the H₂⁺ photodissociation and free-free cross-sections of
  D. R. Bates (1952, MNRAS 112, 40) — as coded in ATLAS's ``H2PLOP`` —
  α = exp(F(ln ν) − E_s(ν)/kT) n(H I, n = 1) n(H⁺) · SE, valid for λ > 911.8 Å (zero below).
  About 5 % of the total near 4000–5000 Å at τ₅₀₀₀ ≈ 1 in the Sun.
* **Thomson scattering** (:func:`thomson`): σ_T n_e, σ_T = 6.6524587321e-25 cm² (CODATA 2018).
* **Rayleigh scattering by H I** (:func:`rayleigh_h`): σ/σ_T = 20.24 x⁴ + 239.2 x⁶ + 2256 x⁸,
  x = hν / 2 Ry, J. Colgan et al. (2016), ApJ 817, 116, eq. (6), their fit to the
  calculation of H.-W. Lee (2005), MNRAS 358, 1472; the same series as Dalgarno's
  5.799e-13/λ⁴ + 1.422e-6/λ⁶ + 2.784/λ⁸ (Kurucz 1970). Evaluated at λ ≥ 1217 Å (held at
  its value there below, as ATLAS's ``HRAYOP`` does: the series diverges at Lyman α).
  Per ground-state H I atom.
* **Rayleigh scattering by He I** (:func:`rayleigh_he`): σ = 5.484e-14/λ⁴ (1 + (2.44e5 +
  5.94e10/(λ² − 2.90e5))/λ²)² cm² (λ in Å), Kurucz (1970) after Dalgarno; ATLAS ``HERAOP``.
  Evaluated at λ ≥ 582 Å.
* **Rayleigh scattering by H₂** (:func:`rayleigh_h2`): σ = 8.14e-13/λ⁴ + 1.28e-6/λ⁶ +
  1.61/λ⁸ cm² (λ in Å), A. Dalgarno & D. A. Williams (1962), ApJ 136, 690, eq. (3).
  Evaluated at λ ≥ 1026 Å.

**Validation** (tests/synth/test_continuum_opacity.py): with the H I, H⁻ and H₂ partial
pressures of a MARCS model (s6000_g+1.0_m0.5, Gustafsson et al. 2008), absorption +
scattering at 5000 Å per gram reproduces the model's own dτ₅₀₀₀/dRHOX to 0.90–1.07 (median
≈ 0.99) over 4800–8800 K; at solar τ₅₀₀₀ ≈ 1 conditions (6400 K, P_e = 50 dyn cm⁻²) κ₅₀₀₀ =
0.66 cm² g⁻¹, 93 % of it H⁻.

**Omitted** (the caller should know):

* **Metal bound-free** (Mg I, Si I, Fe I, Al I, C I, Ca I, …): not included. In the Sun and
  cooler stars it adds tens of per cent to the continuous opacity below ~4000 Å and dominates
  below ~3000 Å (Al I 2076 Å, Mg I 2513 Å and 1621 Å, Si I 1986/1682/1520 Å edges, many
  Fe I edges), so the synthetic blue/UV continuum of FGK stars comes out too bright (the
  effect grows with metallicity and falls with T_eff). Above ~4500 Å the error is a few per
  cent at most.
* **He I bound-free and free-free**: matter only above ~15 000 K (excited He I levels, edges
  at 2601, 3122, 3421 and 3680 Å).
* **H₂⁻ free-free, collision-induced absorption, molecular continua**: matter in M dwarfs
  (T ≲ 3500 K) and in the near-IR of cool giants.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ContinuumDensities",
    "continuum_opacity",
    "hminus_bf",
    "hminus_bf_cross_section",
    "hminus_ff",
    "hminus_ff_coefficient",
    "hydrogen_bf",
    "hydrogen_ff",
    "heii_bf",
    "heminus_ff",
    "heminus_ff_coefficient",
    "h2plus",
    "thomson",
    "rayleigh_h",
    "rayleigh_he",
    "rayleigh_h2",
    "THOMSON_CROSS_SECTION",
]

# Physical constants, cgs (CODATA 2018).
_K_B = 1.380649e-16  # Boltzmann constant [erg/K], exact
_K_B_EV = 8.617333262e-5  # Boltzmann constant [eV/K]
_H = 6.62607015e-27  # Planck constant [erg s], exact
_C = 2.99792458e10  # speed of light [cm/s], exact
_M_E = 9.1093837015e-28  # electron mass [g]
_E_ESU = 4.803204712570263e-10  # elementary charge [esu]
_HC_K = _H * _C / _K_B * 1e8  # hc/k [Å K] = 1.4388e8
_HC_EV = 12398.419843320026  # hc [eV Å]
#: Thomson cross-section σ_T [cm²] (CODATA 2018).
THOMSON_CROSS_SECTION = 6.6524587321e-25

_CHI_H = 13.598434  # ionisation energy of H I [eV]
_CHI_HE2 = 54.417763  # ionisation energy of He II [eV]
_RYDBERG_EV = 13.605693123  # Rydberg energy (infinite nuclear mass) [eV]
#: Kramers' bound-free constant 64π⁴ m_e e¹⁰ / (3√3 c h⁶) [cm² Hz³] (= 2.815e29).
_KRAMERS_BF = 64 * math.pi**4 * _M_E * _E_ESU**10 / (3 * math.sqrt(3) * _C * _H**6)
#: Kramers' free-free constant 4e⁶/(3 m_e h c) · (2π/(3 k m_e))^{1/2} [cgs] (= 3.692e8).
_KRAMERS_FF = 4 * _E_ESU**6 / (3 * _M_E * _H * _C) * math.sqrt(2 * math.pi / (3 * _K_B * _M_E))
# The same with ν⁻³ = (λ[Å] 1e-8 / c)³ folded in, so that float32 does not underflow.
_KRAMERS_BF_A = _KRAMERS_BF * (1e-8 / _C) ** 3  # σ = _KRAMERS_BF_A Z⁴ λ³[Å] / n⁵ (1.0449e-26)
_KRAMERS_FF_A = _KRAMERS_FF * (1e-8 / _C) ** 3
#: Explicit hydrogenic levels n = 1…_N_LEVELS; the rest are summed as an integral.
_N_LEVELS = 15

# H⁻ bound-free, John (1988) eq. (4) and Table 1: λ in µm.
_HMINUS_LAMBDA0 = 1.6419  # threshold [µm]
_HMINUS_LAMBDA_MIN = 0.125  # short end of the fit [µm]
_HMINUS_BF_C = (152.519, 49.534, -118.858, 92.536, -34.194, 4.982)

# H⁻ free-free, John (1988) eq. (6) and Table 3: rows n = 1…6, columns A…F, λ in µm.
_HMINUS_FF_LONG = np.array(  # λ > 0.3645 µm
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [2483.346, 285.827, -2054.291, 2827.776, -1341.537, 208.952],
        [-3449.889, -1158.382, 8746.523, -11485.632, 5303.609, -812.939],
        [2200.040, 2427.719, -13651.105, 16755.524, -7510.494, 1132.738],
        [-696.271, -1841.400, 8624.970, -10051.530, 4400.067, -655.020],
        [88.283, 444.517, -1863.864, 2095.288, -901.788, 132.985],
    ]
)
_HMINUS_FF_SHORT = np.array(  # 0.1823 < λ < 0.3645 µm
    [
        [518.1021, -734.8666, 1021.1775, -479.0721, 93.1373, -6.4285],
        [473.2636, 1443.4137, -1977.3395, 922.3575, -178.9275, 12.3600],
        [-482.2089, -737.1616, 1096.8827, -521.1341, 101.7963, -7.0571],
        [115.5291, 169.6374, -245.6490, 114.2430, -21.9972, 1.5097],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
_HMINUS_FF_SPLIT = 0.3645  # [µm]
_HMINUS_FF_LAMBDA_MIN = 0.1823  # [µm]
_HMINUS_FF_THETA_MAX = 3.6

# He⁻ free-free, John (1994) Table 2: K [1e-26 cm⁴ dyn⁻¹] at λ [µm] (rows) and θ (columns).
_HEMINUS_THETA = np.array([0.5, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.8, 3.6])
_HEMINUS_LAMBDA = np.array(
    [0.5063, 0.5695, 0.6509, 0.7594, 0.9113, 1.1391, 1.5188, 1.8225, 2.2782, 3.0376, 3.6451]
    + [4.5564, 6.0751, 9.1127, 11.390, 15.1878]
)
_HEMINUS_TABLE = np.array(
    [
        [0.033, 0.036, 0.043, 0.049, 0.055, 0.061, 0.066, 0.072, 0.078, 0.100, 0.121],
        [0.041, 0.045, 0.053, 0.061, 0.067, 0.074, 0.081, 0.087, 0.094, 0.120, 0.145],
        [0.053, 0.059, 0.069, 0.077, 0.086, 0.094, 0.102, 0.109, 0.117, 0.148, 0.178],
        [0.072, 0.079, 0.092, 0.103, 0.114, 0.124, 0.133, 0.143, 0.152, 0.190, 0.227],
        [0.102, 0.113, 0.131, 0.147, 0.160, 0.173, 0.186, 0.198, 0.210, 0.258, 0.305],
        [0.159, 0.176, 0.204, 0.227, 0.247, 0.266, 0.283, 0.300, 0.316, 0.380, 0.444],
        [0.282, 0.311, 0.360, 0.400, 0.435, 0.466, 0.495, 0.522, 0.547, 0.643, 0.737],
        [0.405, 0.447, 0.518, 0.576, 0.625, 0.670, 0.710, 0.747, 0.782, 0.910, 1.030],
        [0.632, 0.698, 0.808, 0.899, 0.977, 1.045, 1.108, 1.165, 1.218, 1.405, 1.574],
        [1.121, 1.239, 1.435, 1.597, 1.737, 1.860, 1.971, 2.073, 2.167, 2.490, 2.765],
        [1.614, 1.783, 2.065, 2.299, 2.502, 2.681, 2.842, 2.990, 3.126, 3.592, 3.979],
        [2.520, 2.784, 3.226, 3.593, 3.910, 4.193, 4.448, 4.681, 4.897, 5.632, 6.234],
        [4.479, 4.947, 5.733, 6.387, 6.955, 7.460, 7.918, 8.338, 8.728, 10.059, 11.147],
        [10.074, 11.128, 12.897, 14.372, 15.653, 16.798, 17.838, 18.795, 19.685, 22.747, 25.268],
        [15.739, 17.386, 20.151, 22.456, 24.461, 26.252, 27.882, 29.384, 30.782, 35.606, 39.598],
        [27.979, 30.907, 35.822, 39.921, 43.488, 46.678, 49.583, 52.262, 54.757, 63.395, 70.580],
    ]
)
_HEMINUS_DEGREES = (4, 3)

# H₂⁺, Kurucz (1970) / ATLAS H2PLOP: F(ln ν) = Σ f_k (ln ν)^k [ν in Hz], re-expanded about
# ln ν₀ = 34 (ν₀ ≈ 5.8e14 Hz) so that its cancelling terms (~1e4) cost no float32 precision.
_H2PLUS_F = (-3.0233e3, 3.7797e2, -1.82496e1, 3.9207e-1, -3.1672e-3)
_H2PLUS_LN_NU0 = 34.0
_H2PLUS_F_SHIFTED = tuple(
    float(c)
    for c in np.polynomial.Polynomial(_H2PLUS_F)(
        np.polynomial.Polynomial([_H2PLUS_LN_NU0, 1.0])
    ).coef
)  # polynomial degrees in 1/λ [µm⁻¹] and ln θ


def _fit_heminus() -> np.ndarray:
    """Least-squares coefficients c[i, j] of ln(K/λ²) ≈ Σ c_ij (1/λ)^i (ln θ)^j."""
    inv_lam, ln_theta = np.meshgrid(1.0 / _HEMINUS_LAMBDA, np.log(_HEMINUS_THETA), indexing="ij")
    d_l, d_t = _HEMINUS_DEGREES
    design = np.stack(
        [
            inv_lam.ravel() ** i * ln_theta.ravel() ** j
            for i in range(d_l + 1)
            for j in range(d_t + 1)
        ],
        axis=1,
    )
    target = np.log(_HEMINUS_TABLE / _HEMINUS_LAMBDA[:, None] ** 2).ravel()
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef.reshape(d_l + 1, d_t + 1)


_HEMINUS_COEF = _fit_heminus()


class ContinuumDensities(NamedTuple):
    """Number densities [cm⁻³] at each depth, each ``(..., n_depth)``.

    Attributes:
        n_h1: neutral hydrogen, all bound levels together (total H I).
        n_hplus: protons (H II).
        n_hminus: H⁻ ions (from the caller's EOS, Saha with χ = 0.754 eV).
        n_he1: neutral helium.
        n_he2: He⁺.
        n_h2: H₂ molecules.
    """

    n_h1: Any
    n_hplus: Any
    n_hminus: Any
    n_he1: Any
    n_he2: Any
    n_h2: Any


# --------------------------------------------------------------------------------------------
# Helpers


def _dtype(temperature: Any) -> Any:
    t = jnp.asarray(temperature)
    return t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)


def _wave(wave: Any, dtype: Any) -> Any:
    """Wavelengths as a ``(n_wave,)`` array of ``dtype`` [Å]."""
    wave = jnp.asarray(wave, dtype)
    if wave.ndim != 1:
        raise ValueError(
            f"expected wave with shape (n_wave,), got shape {wave.shape}; pass one wavelength "
            "grid (vmap over stars for several)"
        )
    return wave


def _depth(x: Any, dtype: Any) -> Any:
    """A ``(..., n_depth)`` depth quantity as ``(..., n_depth, 1)``, ready to meet ``wave``."""
    return jnp.asarray(x, dtype)[..., None]


def _stimulated(wave: Any, t: Any) -> Any:
    """1 − exp(−hν/kT) for ``wave`` ``(n_wave,)`` [Å] and ``t`` ``(..., 1)`` [K]."""
    return -jnp.expm1(-_HC_K / (wave * t))


def _ground_fraction(h1_partition: Any, dtype: Any) -> Any:
    """n(H I, n = 1) / n(H I) = 2/U."""
    return 2.0 / _depth(h1_partition, dtype)


# --------------------------------------------------------------------------------------------
# H⁻


@jax.jit
def hminus_bf_cross_section(wave: Any) -> Any:
    """H⁻ photodetachment cross-section (John 1988 fit to Wishart 1979), without SE.

    Args:
        wave: vacuum wavelengths [Å], any shape.

    Returns:
        σ [cm²], same shape: zero beyond 16 419 Å, held at its 1250 Å value below 1250 Å.
    """
    wave = jnp.asarray(wave)
    lam = jnp.maximum(wave * 1e-4, _HMINUS_LAMBDA_MIN)  # [µm]
    x = 1.0 / lam - 1.0 / _HMINUS_LAMBDA0
    bound = x > 0.0
    x_safe = jnp.where(bound, x, 1.0)
    root = jnp.sqrt(x_safe)
    f = sum(c * root**i for i, c in enumerate(_HMINUS_BF_C))
    sigma = 1e-18 * lam**3 * x_safe * root * f
    return jnp.where(bound, sigma, 0.0)


@jax.jit
def hminus_bf(wave: Any, temperature: Any, n_hminus: Any) -> Any:
    """H⁻ bound-free absorption, σ(λ) n(H⁻) (1 − e^{−hν/kT}).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å]; valid 1250–16 419 Å (zero beyond).
        temperature: ``(..., n_depth)`` [K].
        n_hminus: ``(..., n_depth)`` H⁻ number densities [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹], SE included.
    """
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    return hminus_bf_cross_section(wave) * _depth(n_hminus, dtype) * _stimulated(wave, t)


@jax.jit
def hminus_ff_coefficient(wave: Any, temperature: Any) -> Any:
    """H⁻ free-free absorption coefficient K per H I (n = 1) atom per unit P_e (John 1988).

    Args:
        wave: vacuum wavelengths [Å]; fitted 1823–151 890 Å (scaled by (λ/1823 Å)³ below).
        temperature: temperatures [K], broadcast with ``wave``; fitted 1400–10 080 K (clamped
            at 1400 K, extrapolated above 10 080 K, see the module docstring).

    Returns:
        K [cm⁴ dyn⁻¹], SE included, shape of ``wave`` broadcast with ``temperature``.
    """
    wave = jnp.asarray(wave)
    lam_true = wave * 1e-4  # [µm]
    lam = jnp.maximum(lam_true, _HMINUS_FF_LAMBDA_MIN)
    theta = jnp.minimum(5040.0 / jnp.asarray(temperature), _HMINUS_FF_THETA_MAX)
    # K = 1e-29 Σ_n θ^{(n+1)/2} (A_n λ² + B_n + C_n/λ + D_n/λ² + E_n/λ³ + F_n/λ⁴), n = 1…6.
    powers = jnp.stack([lam**2, jnp.ones_like(lam), 1 / lam, lam**-2, lam**-3, lam**-4], -1)
    long_ = powers @ jnp.asarray(_HMINUS_FF_LONG.T, lam.dtype)  # (..., 6) over n
    short = powers @ jnp.asarray(_HMINUS_FF_SHORT.T, lam.dtype)
    per_n = jnp.where((lam > _HMINUS_FF_SPLIT)[..., None], long_, short)
    exponents = jnp.arange(2, 8, dtype=lam.dtype) / 2
    k = jnp.sum(theta[..., None] ** exponents * per_n, axis=-1)
    scale = jnp.minimum(lam_true / _HMINUS_FF_LAMBDA_MIN, 1.0) ** 3
    return 1e-29 * jnp.maximum(k, 0.0) * scale


@jax.jit
def hminus_ff(
    wave: Any,
    temperature: Any,
    electron_density: Any,
    n_h1: Any,
    *,
    h1_partition: Any = 2.0,
) -> Any:
    """H⁻ free-free absorption, K(λ, T) P_e n(H I, n = 1) (John 1988; SE included).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K].
        electron_density: ``(..., n_depth)`` [cm⁻³]; P_e = n_e k T.
        n_h1: ``(..., n_depth)`` total neutral hydrogen [cm⁻³].
        h1_partition: U(H I), scalar or ``(..., n_depth)``; n(H I, n = 1) = 2 n(H I)/U.

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    p_e = _depth(electron_density, dtype) * _K_B * t
    n_ground = _depth(n_h1, dtype) * _ground_fraction(h1_partition, dtype)
    return hminus_ff_coefficient(wave, t) * p_e * n_ground


# --------------------------------------------------------------------------------------------
# Hydrogenic bound-free and free-free (H I, He II)


def _gaunt_bf(x: Any, n: Any) -> Any:
    """Menzel & Pekeris first-order g_bf (Gray 2005 eq. 8.5); x = λ R Z² = Z² Ry / hν."""
    return jnp.maximum(1.0 - 0.3456 * x ** (-1.0 / 3.0) * (x / n**2 - 0.5), 0.0)


def _hydrogenic_bf(
    wave: Any, temperature: Any, n_ion: Any, partition: Any, z: int, chi: float
) -> Any:
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    kt = _K_B_EV * t  # (..., n_depth, 1)
    x = wave * (z**2 * _RYDBERG_EV / _HC_EV)  # λ R Z² = Z² Ry / hν, (n_wave,)
    lam1 = _HC_EV / chi  # ground-state edge [Å]
    # Levels along a trailing axis (the sum fuses, nothing of that size is stored).
    n = jnp.arange(1, _N_LEVELS + 1, dtype=dtype)
    open_ = wave[:, None] <= lam1 * n**2  # (n_wave, n_levels)
    # σ_n = K Z⁴ λ³ g / n⁵ times the population factor 2n²/U: 2 K Z⁴ λ³ g / (n³ U).
    per_level = jnp.where(open_, _gaunt_bf(x[:, None], n) / n**3, 0.0)  # (n_wave, n_levels)
    boltzmann = jnp.exp(-chi * (1.0 - 1.0 / n**2) / kt[..., None])  # (..., n_depth, 1, n_lev)
    total = jnp.sum(boltzmann * per_level, axis=-1)
    # n > _N_LEVELS as an integral with g = 1 (Gray 2005 eq. 8.8):
    # Σ_{n>N} e^{−χ(1−1/n²)/kT}/n³ ≈ (kT/2χ) e^{−χ/kT} (e^{χ/((N+½)² kT)} − 1).
    u = chi / ((_N_LEVELS + 0.5) ** 2 * kt)
    merge = kt / (2.0 * chi) * jnp.exp(-chi / kt) * jnp.expm1(u)
    total = total + jnp.where(wave <= lam1 * (_N_LEVELS + 1) ** 2, merge, 0.0)
    sigma0 = 2.0 * _KRAMERS_BF_A * z**4 * wave**3  # (n_wave,) [cm²]
    n_over_u = _depth(n_ion, dtype) / _depth(partition, dtype)
    return sigma0 * total * n_over_u * _stimulated(wave, t)


@jax.jit
def hydrogen_bf(wave: Any, temperature: Any, n_h1: Any, *, h1_partition: Any = 2.0) -> Any:
    """H I bound-free absorption from levels n = 1…15 plus the n > 15 integral (SE included).

    Kramers' cross-section with the Menzel & Pekeris g_bf (Gray 2005 eqs. 8.4, 8.5, 8.8);
    LTE level populations n_n = n(H I) 2n² exp(−χ_H (1 − 1/n²)/kT) / U. Edges (vacuum) at
    911.8, 3647.0, 8205.9, 14 588, 22 794 Å, ….

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K].
        n_h1: ``(..., n_depth)`` total neutral hydrogen [cm⁻³].
        h1_partition: U(H I), scalar or ``(..., n_depth)`` (default 2).

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    return _hydrogenic_bf(wave, temperature, n_h1, h1_partition, 1, _CHI_H)


@jax.jit
def heii_bf(wave: Any, temperature: Any, n_he2: Any, *, he2_partition: Any = 2.0) -> Any:
    """He II bound-free absorption, hydrogenic with Z = 2 (as :func:`hydrogen_bf`; SE included).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å]; edges at 227.8 Å × n².
        temperature: ``(..., n_depth)`` [K].
        n_he2: ``(..., n_depth)`` He⁺ number densities [cm⁻³].
        he2_partition: U(He II) (default 2).

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    return _hydrogenic_bf(wave, temperature, n_he2, he2_partition, 2, _CHI_HE2)


@jax.jit
def hydrogen_ff(wave: Any, temperature: Any, electron_density: Any, n_hplus: Any) -> Any:
    """H I free-free absorption (Kramers with Gray's 2005 eq. 8.6 g_ff; SE included).

    α = 3.692e8 g_ff n_e n(H⁺) / (√T ν³) (1 − e^{−hν/kT}).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K]; g_ff is meant for T ≲ 20 000 K.
        electron_density: ``(..., n_depth)`` [cm⁻³].
        n_hplus: ``(..., n_depth)`` proton number densities [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    x = wave * (_RYDBERG_EV / _HC_EV)
    kt_over_hnu = wave * t / _HC_K
    gaunt = 1.0 + 0.3456 * x ** (-1.0 / 3.0) * (kt_over_hnu + 0.5)
    n_e = _depth(electron_density, dtype)
    n_p = _depth(n_hplus, dtype)
    # The constant (1.4e-47) and n_e n(H⁺) (up to 1e36) are rescaled by 1e∓40 for float32.
    n_e_n_p = (n_e * 1e-20) * (n_p * 1e-20)
    return (_KRAMERS_FF_A * 1e40) * gaunt * wave**3 * n_e_n_p / jnp.sqrt(t) * _stimulated(wave, t)


# --------------------------------------------------------------------------------------------
# He⁻, H₂⁺


@jax.jit
def heminus_ff_coefficient(wave: Any, temperature: Any) -> Any:
    """He⁻ free-free K per He I atom per unit P_e, from John's (1994) Table 2 (SE included).

    Args:
        wave: vacuum wavelengths [Å]; tabulated 5063–151 878 Å (K/λ² held outside).
        temperature: [K], broadcast with ``wave``; tabulated 1400–10 080 K (clamped).

    Returns:
        K [cm⁴ dyn⁻¹].
    """
    lam = jnp.asarray(wave) * 1e-4  # [µm]
    inv_lam = jnp.clip(1.0 / lam, 1.0 / float(_HEMINUS_LAMBDA[-1]), 1.0 / float(_HEMINUS_LAMBDA[0]))
    theta = jnp.clip(
        5040.0 / jnp.asarray(temperature), float(_HEMINUS_THETA[0]), float(_HEMINUS_THETA[-1])
    )
    d_l, d_t = _HEMINUS_DEGREES
    inv_lam_powers = inv_lam[..., None] ** jnp.arange(d_l + 1, dtype=lam.dtype)
    ln_theta_powers = jnp.log(theta)[..., None] ** jnp.arange(d_t + 1, dtype=lam.dtype)
    per_j = inv_lam_powers @ jnp.asarray(_HEMINUS_COEF, lam.dtype)  # (..., d_t + 1)
    ln_k = jnp.sum(per_j * ln_theta_powers, axis=-1)
    return 1e-26 * lam**2 * jnp.exp(ln_k)


@jax.jit
def heminus_ff(wave: Any, temperature: Any, electron_density: Any, n_he1: Any) -> Any:
    """He⁻ free-free absorption, K(λ, T) P_e n(He I) (John 1994; SE included).

    n(He I) stands for the ground state (U(He I) = 1 to < 1e-4 below 20 000 K).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K].
        electron_density: ``(..., n_depth)`` [cm⁻³].
        n_he1: ``(..., n_depth)`` neutral helium [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    p_e = _depth(electron_density, dtype) * _K_B * t
    return heminus_ff_coefficient(wave, t) * p_e * _depth(n_he1, dtype)


@jax.jit
def h2plus(wave: Any, temperature: Any, n_h1: Any, n_hplus: Any, *, h1_partition: Any = 2.0) -> Any:
    """H₂⁺ bound-free + free-free absorption (Kurucz 1970 fit to Bates 1952; SE applied here).

    α = exp(F(ln ν) − E_s(ν)/kT) n(H I, n = 1) n(H⁺) (1 − e^{−hν/kT}), zero for λ ≤ 911.8 Å.

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K].
        n_h1: ``(..., n_depth)`` total neutral hydrogen [cm⁻³].
        n_hplus: ``(..., n_depth)`` protons [cm⁻³].
        h1_partition: U(H I) (default 2).

    Returns:
        ``(..., n_depth, n_wave)`` linear absorption coefficient [cm⁻¹].
    """
    dtype = _dtype(temperature)
    wave = _wave(wave, dtype)
    t = _depth(temperature, dtype)
    nu = _C * 1e8 / wave
    valid = nu <= 3.28805e15
    nu = jnp.where(valid, nu, 3.28805e15)
    y = jnp.log(nu) - _H2PLUS_LN_NU0
    nu15 = nu * 1e-15
    f = 0.0
    for c in reversed(_H2PLUS_F_SHIFTED):
        f = f * y + c
    e_s = (
        -7.342e-3
        + (-2.409 + (1.028 + (-0.4230 + (0.1224 - 0.01351 * nu15) * nu15) * nu15) * nu15) * nu15
    )  # [eV]
    # exp(F − E_s/kT) ~ 1e-39 cm⁵: scaled by 1e40 (and the densities by 1e-20) for float32.
    rate = jnp.exp(f - e_s / (_K_B_EV * t) + 40.0 * math.log(10.0))
    n_ground = _depth(n_h1, dtype) * _ground_fraction(h1_partition, dtype) * 1e-20
    alpha = rate * n_ground * (_depth(n_hplus, dtype) * 1e-20) * _stimulated(wave, t)
    return jnp.where(valid, alpha, 0.0)


# --------------------------------------------------------------------------------------------
# Scattering


@jax.jit
def thomson(wave: Any, electron_density: Any) -> Any:
    """Thomson scattering by free electrons, σ_T n_e (grey).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å] (only its length is used).
        electron_density: ``(..., n_depth)`` [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` scattering coefficient [cm⁻¹].
    """
    n_e = jnp.asarray(electron_density)
    dtype = _dtype(n_e)
    wave = _wave(wave, dtype)
    return THOMSON_CROSS_SECTION * _depth(n_e, dtype) * jnp.ones_like(wave)


@jax.jit
def rayleigh_h(wave: Any, n_h1: Any, *, h1_partition: Any = 2.0) -> Any:
    """Rayleigh scattering by ground-state H I (Colgan et al. 2016 eq. 6, after Lee 2005).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å]; held at 1217 Å below (Lyman α).
        n_h1: ``(..., n_depth)`` total neutral hydrogen [cm⁻³].
        h1_partition: U(H I) (default 2); n(H I, n = 1) = 2 n(H I)/U.

    Returns:
        ``(..., n_depth, n_wave)`` scattering coefficient [cm⁻¹].
    """
    n_h1 = jnp.asarray(n_h1)
    dtype = _dtype(n_h1)
    wave = jnp.maximum(_wave(wave, dtype), 1217.2)
    x2 = (_HC_EV / (2.0 * _RYDBERG_EV) / wave) ** 2
    ratio = x2**2 * (20.24 + x2 * (239.2 + 2256.0 * x2))
    n_ground = _depth(n_h1, dtype) * _ground_fraction(h1_partition, dtype)
    return THOMSON_CROSS_SECTION * ratio * n_ground


@jax.jit
def rayleigh_he(wave: Any, n_he1: Any) -> Any:
    """Rayleigh scattering by He I (Kurucz 1970 after Dalgarno; ATLAS ``HERAOP``).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å]; held at 582 Å below.
        n_he1: ``(..., n_depth)`` neutral helium [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` scattering coefficient [cm⁻¹].
    """
    n_he1 = jnp.asarray(n_he1)
    dtype = _dtype(n_he1)
    w2 = jnp.maximum(_wave(wave, dtype), 582.1) ** 2
    sigma = 5.484e-14 / w2**2 * (1.0 + (2.44e5 + 5.94e10 / (w2 - 2.90e5)) / w2) ** 2
    return sigma * _depth(n_he1, dtype)


@jax.jit
def rayleigh_h2(wave: Any, n_h2: Any) -> Any:
    """Rayleigh scattering by H₂ (Dalgarno & Williams 1962 eq. 3).

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å]; held at 1026 Å below.
        n_h2: ``(..., n_depth)`` H₂ molecules [cm⁻³].

    Returns:
        ``(..., n_depth, n_wave)`` scattering coefficient [cm⁻¹].
    """
    n_h2 = jnp.asarray(n_h2)
    dtype = _dtype(n_h2)
    inv2 = 1.0 / jnp.maximum(_wave(wave, dtype), 1026.0) ** 2
    sigma = inv2**2 * (8.14e-13 + inv2 * (1.28e-6 + 1.61 * inv2))
    return sigma * _depth(n_h2, dtype)


# --------------------------------------------------------------------------------------------
# Total


@jax.jit
def continuum_opacity(
    wave: Any,
    temperature: Any,
    electron_density: Any,
    densities: ContinuumDensities,
    *,
    h1_partition: Any = 2.0,
) -> tuple[Any, Any]:
    """Total continuous absorption and scattering coefficients of one atmosphere.

    Absorption: H⁻ bf + H⁻ ff + H I bf + H I ff + He⁻ ff + He II bf + H₂⁺ (bf + ff).
    Scattering: Thomson + Rayleigh (H I, He I, H₂). Metal bound-free and He I bf/ff are
    omitted (module docstring). Stimulated emission: applied here to H⁻ bf, H I bf/ff,
    He II bf and H₂⁺; already inside the H⁻ ff and He⁻ ff fits.

    Args:
        wave: ``(n_wave,)`` vacuum wavelengths [Å].
        temperature: ``(..., n_depth)`` [K].
        electron_density: ``(..., n_depth)`` [cm⁻³].
        densities: :class:`ContinuumDensities`, each ``(..., n_depth)`` [cm⁻³].
        h1_partition: U(H I), scalar or ``(..., n_depth)`` (default 2), for the H I level
            populations and n(H I, n = 1) = 2 n(H I)/U.

    Returns:
        ``(absorption, scattering)``, each ``(..., n_depth, n_wave)`` linear extinction
        coefficients [cm⁻¹].
    """
    d = densities
    absorption = (
        hminus_bf(wave, temperature, d.n_hminus)
        + hminus_ff(wave, temperature, electron_density, d.n_h1, h1_partition=h1_partition)
        + hydrogen_bf(wave, temperature, d.n_h1, h1_partition=h1_partition)
        + hydrogen_ff(wave, temperature, electron_density, d.n_hplus)
        + heminus_ff(wave, temperature, electron_density, d.n_he1)
        + heii_bf(wave, temperature, d.n_he2)
        + h2plus(wave, temperature, d.n_h1, d.n_hplus, h1_partition=h1_partition)
    )
    dtype = _dtype(temperature)
    scattering = (
        thomson(wave, jnp.asarray(electron_density, dtype))
        + rayleigh_h(wave, jnp.asarray(d.n_h1, dtype), h1_partition=h1_partition)
        + rayleigh_he(wave, jnp.asarray(d.n_he1, dtype))
        + rayleigh_h2(wave, jnp.asarray(d.n_h2, dtype))
    )
    return absorption, scattering
