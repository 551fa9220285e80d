"""Partition functions and Saha ionisation equilibrium of the elements, in JAX.

Partition functions are Irwin's (1981) polynomials as shipped in ``atomic_data.h5``,
evaluated as Turbospectrum's ``partf.f`` does: ln Q = Σ a_i (ln T)^i, T clamped at 1000 K
from below, ln Q continued linearly in ln T above 16 000 K from its values at 10 000 and
16 000 K. (Turbospectrum's hard-coded overrides for Th II/III and U II/III are not
reproduced; neither element has lines in the shipped line list.)

Ionisation balance, per element, for stages s = I, II, III (index 0, 1, 2):

    n_{s+1} n_e / n_s = 2 U_{s+1}/U_s · (2π m_e k T / h²)^{3/2} · exp(−χ_{s+1} / kT),

with χ_{s+1} the energy from stage s to s+1 (the ``ionization_energy`` of stage s+1 in the
table). Fractions are computed in log space (a softmax over the stages) so they are finite
and differentiable from 1000 K to 10⁵ K and over any electron density. Stages without data
get fraction 0. All functions are pure, jit/vmap/grad-friendly, and follow the dtype of the
temperature (use float64 for physics: ``jax.config.update("jax_enable_x64", True)``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "PartitionTable",
    "partition_table",
    "partition_functions",
    "saha_fractions",
    "SAHA_CONSTANT",
    "BOLTZMANN_EV",
    "N_ELEMENTS",
    "N_STAGES",
]

#: Boltzmann constant [eV/K] (CODATA 2018, exact).
BOLTZMANN_EV = 8.617333262e-5
_M_E = 9.1093837015e-28  # electron mass [g], CODATA 2018
_K_B = 1.380649e-16  # Boltzmann constant [erg/K], exact
_H = 6.62607015e-27  # Planck constant [erg s], exact
#: (2π m_e k / h²)^{3/2} [cm⁻³ K⁻³ᐟ²]: the Saha equation's constant.
SAHA_CONSTANT = (2.0 * math.pi * _M_E * _K_B / _H**2) ** 1.5
#: Elements H (Z = 1) to U (Z = 92), indexed by Z − 1.
N_ELEMENTS = 92
#: Ionisation stages I, II, III.
N_STAGES = 3

_T_MIN, _T_LOW, _T_HIGH = 1000.0, 10000.0, 16000.0


class PartitionTable(NamedTuple):
    """Per element (Z − 1) and stage: Irwin coefficients, ionisation energies, availability.

    Attributes:
        coefficients: ``(92, 3, n_coef)`` coefficients of ln Q in powers of ln T.
        ionization_energy: ``(92, 3)`` energy [eV] from the stage below (0 for neutrals).
        available: ``(92, 3)`` True where the table has the species.
    """

    coefficients: Any
    ionization_energy: Any
    available: Any


def partition_table(atomic: Any = None) -> PartitionTable:
    """Arrange the shipped Irwin table by element and stage.

    Args:
        atomic: an :class:`~jaxspec.data.AtomicData` (default: the shipped file).
    """
    if atomic is None:
        from ..data import load_atomic_data

        atomic = load_atomic_data()
    pf = atomic.partition_functions
    n_coef = pf.coefficients.shape[1]
    coefficients = np.zeros((N_ELEMENTS, N_STAGES, n_coef))
    energy = np.zeros((N_ELEMENTS, N_STAGES))
    available = np.zeros((N_ELEMENTS, N_STAGES), bool)
    for z, stage, ip, coef in zip(
        pf.element, pf.ion, pf.ionization_energy, pf.coefficients, strict=True
    ):
        if 1 <= z <= N_ELEMENTS and stage < N_STAGES:
            coefficients[z - 1, stage] = coef
            energy[z - 1, stage] = ip
            available[z - 1, stage] = True
    return PartitionTable(coefficients, energy, available)


def _ln_q(coefficients: Any, ln_t: Any) -> Any:
    powers = ln_t[..., None] ** jnp.arange(coefficients.shape[-1], dtype=ln_t.dtype)
    return jnp.sum(coefficients * powers[..., None, None, :], axis=-1)


def partition_functions(table: PartitionTable, temperature: Any) -> Any:
    """Partition functions of every element and stage.

    Args:
        table: from :func:`partition_table`.
        temperature: temperatures [K], any shape ``(...)``.

    Returns:
        ``(..., 92, 3)`` partition functions Q (1 where the table has no data).
    """
    t = jnp.asarray(temperature)
    dtype = t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)
    t = t.astype(dtype)
    coefficients = jnp.asarray(table.coefficients, dtype)
    ln_t = jnp.log(jnp.maximum(t, _T_MIN))
    low, high = math.log(_T_LOW), math.log(_T_HIGH)
    ln_q_low = _ln_q(coefficients, jnp.asarray(low, dtype))
    ln_q_high = _ln_q(coefficients, jnp.asarray(high, dtype))
    slope = (ln_q_high - ln_q_low) / (high - low)
    inside = _ln_q(coefficients, jnp.minimum(ln_t, high))
    beyond = ln_q_high + slope * (ln_t - high)[..., None, None]
    ln_q = jnp.where((ln_t > high)[..., None, None], beyond, inside)
    return jnp.where(jnp.asarray(table.available), jnp.exp(ln_q), 1.0)


def saha_fractions(table: PartitionTable, temperature: Any, electron_density: Any) -> Any:
    """Fractions of each element in stages I, II and III (LTE, Saha equation).

    Args:
        table: from :func:`partition_table`.
        temperature: temperatures [K], shape ``(...)``.
        electron_density: electron number densities [cm⁻³], broadcast with ``temperature``.

    Returns:
        ``(..., 92, 3)`` fractions; each element's stages sum to 1 (0 for missing stages).
    """
    t = jnp.asarray(temperature)
    dtype = t.dtype if jnp.issubdtype(t.dtype, jnp.floating) else jnp.result_type(float)
    t = t.astype(dtype)
    n_e = jnp.asarray(electron_density, dtype)
    t, n_e = jnp.broadcast_arrays(t, n_e)
    q = partition_functions(table, t)
    available = jnp.asarray(table.available)
    energy = jnp.asarray(table.ionization_energy, dtype)
    ln_q = jnp.log(q)
    # ln(n_{s+1}/n_s) for s -> s+1 = 1, 2 (stages II and III).
    ln_step = (
        math.log(2.0)
        + ln_q[..., 1:]
        - ln_q[..., :-1]
        + math.log(SAHA_CONSTANT)
        + 1.5 * jnp.log(t)[..., None, None]
        - jnp.log(n_e)[..., None, None]
        - energy[..., 1:] / (BOLTZMANN_EV * t[..., None, None])
    )
    zeros = jnp.zeros(ln_step.shape[:-1] + (1,), dtype)
    ln_relative = jnp.concatenate([zeros, jnp.cumsum(ln_step, axis=-1)], axis=-1)
    # A missing stage cuts the chain: it and every stage above it get no population.
    reachable = jnp.cumprod(available, axis=-1).astype(bool)
    ln_relative = jnp.where(reachable, ln_relative, -jnp.inf)
    fractions = jax.nn.softmax(ln_relative, axis=-1, where=reachable)
    return jnp.where(reachable, fractions, 0.0)
