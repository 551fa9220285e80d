"""Equation of state: LTE number densities of atoms, ions, H⁻ and H₂ in a stellar atmosphere.

For each depth, given the temperature T and either the electron density n_e (as the model
atmosphere gives it) or the gas pressure P (then n_e is solved for), this returns the number
density of every element in stages I–III, of H I, H II, H⁻ and H₂, the gas pressure and
the mass density.

Physics (all in LTE):

* Ionisation of every element H–U, stages I → II → III, by the Saha equation with Irwin
  partition functions (:mod:`jaxspec.synth.ionization`).
* H⁻ ⇌ H + e⁻ by the Saha equation with the electron affinity 0.754195 eV
  (Lykke, Murray & Lineberger 1991) and U(H⁻) = 1.
* H₂ ⇌ 2 H with dissociation energy D₀ = 4.4781 eV (Herzberg & Monfils 1960) and a
  rigid-rotor, harmonic-oscillator partition function of the ground state (θ_rot = 85.35 K,
  θ_vib = 5986 K from B₀ = 59.32 cm⁻¹, ΔG(1/2) = 4161 cm⁻¹; Huber & Herzberg 1979), symmetry
  number 2. This is accurate to ~10 % in K(T) where H₂ matters at all (T ≲ 4500 K); no
  other molecule is formed (CO, for instance, would lock up C and O in cool stars).
* Hydrogen is partitioned between H I, H II, H⁻ and 2·H₂, which makes the balance a
  quadratic in n(H I) that is solved in closed form; charge neutrality then fixes the
  total hydrogen density from n_e.

Two ways to close the system:

* :func:`populations` takes n_e from the atmosphere (``T, n_e → everything``). It is
  explicit (no iteration) and is what Turbospectrum does with a MARCS model (it takes T and
  P_e and recomputes P_g). The gas pressure it implies can be compared with the model's.
* :func:`solve_electron_density` finds the n_e for which the gas pressure equals a given
  P (Newton's method in ln n_e, a fixed number of steps so that it is differentiable and
  jit-friendly) — the self-consistent electron pressure of a (T, P) model.

Everything is a pure function of arrays, vectorised over depth (and any leading axes), and
differentiable; use float64.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .ionization import (
    BOLTZMANN_EV,
    N_ELEMENTS,
    SAHA_CONSTANT,
    PartitionTable,
    partition_functions,
    saha_fractions,
)

__all__ = [
    "ALPHA_ELEMENTS",
    "Composition",
    "Populations",
    "composition",
    "populations",
    "solve_electron_density",
    "h2_dissociation_constant",
    "HMINUS_BINDING_EV",
]

#: Boltzmann constant [erg K⁻¹] (exact).
K_B = 1.380649e-16
#: Atomic mass unit [g].
AMU = 1.66053906660e-24
#: Electron affinity of hydrogen [eV] (Lykke, Murray & Lineberger 1991).
HMINUS_BINDING_EV = 0.754195
#: H₂ dissociation energy from the ground vibrational level [eV].
H2_DISSOCIATION_EV = 4.4781
_H2_THETA_ROT = 85.35  # K, from B0 = 59.322 cm^-1
_H2_THETA_VIB = 5986.0  # K, from Delta G(1/2) = 4161.2 cm^-1
_H = 6.62607015e-27  # Planck constant [erg s]
_M_H = 1.00782503207 * AMU  # mass of a hydrogen atom [g]

#: Elements whose abundance [α/Fe] scales (O, Ne, Mg, Si, S, Ar, Ca, Ti), as Z.
ALPHA_ELEMENTS = (8, 10, 12, 14, 16, 18, 20, 22)


class Composition(NamedTuple):
    """Chemical composition as number ratios to hydrogen.

    Attributes:
        ratio: ``(..., 92)`` n(element)/n(H) for Z = 1..92 (1 for H, 0 where absent).
        mass: ``(92,)`` atomic weights [u] (0 where absent).
    """

    ratio: Any
    mass: Any


def composition(
    solar_log_eps: Any,
    atomic_weight: Any,
    feh: Any = 0.0,
    alpha: Any = 0.0,
    log_eps: Any = None,
) -> Composition:
    """Scaled-solar composition: metals (Z ≥ 3) + [Fe/H], α elements + [α/Fe] on top.

    Args:
        solar_log_eps: ``(92,)`` solar log ε (H = 12), NaN where absent.
        atomic_weight: ``(≥93,)`` standard atomic weights indexed by Z (the shipped table).
        feh: [Fe/H] [dex], scalar (or any leading shape, broadcast against the 92 elements).
        alpha: [α/Fe] [dex], added for :data:`ALPHA_ELEMENTS`.
        log_eps: optional ``(92,)`` absolute log ε overriding the scaled-solar values where
            finite (individual abundances); NaN entries keep the scaled value.

    Returns:
        the :class:`Composition`. H and He are never scaled.
    """
    solar = np.asarray(solar_log_eps, np.float64)
    present = np.isfinite(solar)
    z = np.arange(1, N_ELEMENTS + 1)
    metal = (z >= 3).astype(np.float64)
    is_alpha = np.isin(z, ALPHA_ELEMENTS).astype(np.float64)
    feh = jnp.asarray(feh)
    alpha = jnp.asarray(alpha)
    scaled = jnp.where(present, solar, 0.0) + metal * feh[..., None] + is_alpha * alpha[..., None]
    if log_eps is not None:
        override = jnp.asarray(log_eps)
        scaled = jnp.where(jnp.isfinite(override), override, scaled)
        present = present | np.isfinite(np.asarray(override))
    ratio = jnp.where(present, 10.0 ** (scaled - 12.0), 0.0)
    ratio = ratio.at[..., 0].set(1.0)
    weights = np.asarray(atomic_weight, np.float64)[1 : N_ELEMENTS + 1]
    return Composition(ratio, np.where(np.isfinite(weights), weights, 0.0))


class Populations(NamedTuple):
    """Number densities [cm⁻³] and state variables at each depth (arrays ``(..., n_depth)``).

    Attributes:
        temperature: T [K].
        electron_density: n_e.
        n_h1, n_hplus, n_hminus, n_h2: H I (all levels), protons, H⁻, H₂ molecules.
        species: ``(..., n_depth, 92, 3)`` number density of each element in stages
            I, II, III (all levels). For hydrogen: [H I, H II, 0].
        partition: ``(..., n_depth, 92, 3)`` partition functions U(T).
        gas_pressure: P_g = kT Σ n (atoms, ions, molecules, electrons) [dyn cm⁻²].
        density: mass density ρ [g cm⁻³].
    """

    temperature: Any
    electron_density: Any
    n_h1: Any
    n_hplus: Any
    n_hminus: Any
    n_h2: Any
    species: Any
    partition: Any
    gas_pressure: Any
    density: Any


def h2_dissociation_constant(temperature: Any) -> jax.Array:
    """K(T) = n(H)² / n(H₂) [cm⁻³] (see the module docstring for the molecular data)."""
    t = jnp.asarray(temperature)
    translational = (2.0 * math.pi * (0.5 * _M_H) * K_B * t / _H**2) ** 1.5
    rotational = t / (2.0 * _H2_THETA_ROT) * (1.0 + _H2_THETA_ROT / (3.0 * t))
    vibrational = 1.0 / (-jnp.expm1(-_H2_THETA_VIB / t))
    u_h = 2.0  # ground-state H I, electronic
    return (
        translational
        * u_h**2
        / (rotational * vibrational)
        * jnp.exp(-H2_DISSOCIATION_EV / (BOLTZMANN_EV * t))
    )


def _hydrogen_ratios(table: PartitionTable, temperature: Any, electron_density: Any):
    """n(H II)/n(H I), n(H⁻)/n(H I) and the stage fractions of all elements."""
    t = temperature
    fractions = saha_fractions(table, t, electron_density)  # (..., 92, 3)
    partition = partition_functions(table, t)
    f_h = fractions[..., 0, :]
    ratio_plus = f_h[..., 1] / f_h[..., 0]
    u_h1 = partition[..., 0, 0]
    # Saha for H- -> H + e-: n(H) n_e / n(H-) = 2 U(H)/U(H-) * C T^1.5 exp(-chi/kT), U(H-) = 1
    ratio_minus = electron_density / (
        2.0 * u_h1 * SAHA_CONSTANT * t**1.5 * jnp.exp(-HMINUS_BINDING_EV / (BOLTZMANN_EV * t))
    )
    return fractions, partition, ratio_plus, ratio_minus


def populations(
    table: PartitionTable,
    comp: Composition,
    temperature: Any,
    electron_density: Any,
) -> Populations:
    """Number densities for given T and n_e (closed form, no iteration).

    Args:
        table: partition-function table (:func:`~jaxspec.synth.ionization.partition_table`).
        comp: composition (:func:`composition`); its ``ratio`` broadcasts against depth as
            ``(..., 1, 92)`` or is ``(92,)``.
        temperature: ``(..., n_depth)`` [K].
        electron_density: ``(..., n_depth)`` [cm⁻³].

    Returns:
        the :class:`Populations`.
    """
    t = jnp.asarray(temperature)
    n_e = jnp.asarray(electron_density, t.dtype)
    ratio = jnp.asarray(comp.ratio, t.dtype)
    if ratio.ndim > 1:
        ratio = ratio[..., None, :]  # (..., 1, 92) against (..., n_depth)
    fractions, partition, r_plus, r_minus = _hydrogen_ratios(table, t, n_e)
    heavy = ratio[..., 1:]
    heavy_nuclei = jnp.sum(heavy * jnp.ones_like(t)[..., None], axis=-1)  # Σ n_Z/n_H, Z > 1
    electrons_per_h = jnp.sum(heavy * (fractions[..., 1:, 1] + 2.0 * fractions[..., 1:, 2]), -1)
    k_h2 = h2_dissociation_constant(t)
    c = 1.0 + r_plus + r_minus
    # charge: n_e = n1 (r+ − r−) + Q (c n1 + 2 n1²/K)  →  a n1² + b n1 − n_e = 0
    qa = 2.0 * electrons_per_h / k_h2
    qb = jnp.maximum(r_plus - r_minus + electrons_per_h * c, jnp.finfo(t.dtype).tiny)
    n_h1 = 2.0 * n_e / (qb + jnp.sqrt(qb * qb + 4.0 * qa * n_e))
    n_h2 = n_h1 * n_h1 / k_h2
    n_hplus = r_plus * n_h1
    n_hminus = r_minus * n_h1
    n_h_total = c * n_h1 + 2.0 * n_h2
    nuclei = n_h_total[..., None] * ratio * jnp.ones_like(t)[..., None]  # (..., n_depth, 92)
    species = nuclei[..., None] * fractions
    species = species.at[..., 0, 0].set(n_h1).at[..., 0, 1].set(n_hplus)
    particles = n_e + n_h1 + n_hplus + n_hminus + n_h2 + n_h_total * heavy_nuclei
    mass = jnp.sum(nuclei * jnp.asarray(comp.mass, t.dtype), axis=-1) * AMU
    return Populations(
        temperature=t,
        electron_density=n_e,
        n_h1=n_h1,
        n_hplus=n_hplus,
        n_hminus=n_hminus,
        n_h2=n_h2,
        species=species,
        partition=partition,
        gas_pressure=particles * K_B * t,
        density=mass,
    )


def solve_electron_density(
    table: PartitionTable,
    comp: Composition,
    temperature: Any,
    gas_pressure: Any,
    electron_density_guess: Any,
    *,
    iterations: int = 12,
) -> jax.Array:
    """n_e [cm⁻³] for which :func:`populations` gives the gas pressure ``gas_pressure``.

    Newton's method on ln P_g(ln n_e) − ln P, with steps limited to a factor e^2 and a fixed
    number of iterations (from the atmosphere's n_e, 4–6 steps reach 1e-12; 12 are done).
    Differentiable (through the iterations).

    Args:
        temperature, gas_pressure, electron_density_guess: ``(..., n_depth)``.
    """
    t = jnp.asarray(temperature)
    target = jnp.log(jnp.asarray(gas_pressure, t.dtype))

    def log_pressure(ln_ne: jax.Array) -> jax.Array:
        return jnp.log(populations(table, comp, t, jnp.exp(ln_ne)).gas_pressure)

    def newton(_: int, ln_ne: jax.Array) -> jax.Array:
        value, slope = jax.jvp(log_pressure, (ln_ne,), (jnp.ones_like(ln_ne),))
        step = (value - target) / jnp.where(slope > 1e-12, slope, 1e-12)
        return ln_ne - jnp.clip(step, -2.0, 2.0)

    ln_ne = jnp.log(jnp.asarray(electron_density_guess, t.dtype))
    return jnp.exp(jax.lax.fori_loop(0, iterations, newton, ln_ne))
