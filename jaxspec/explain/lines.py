"""Vacuum positions of significant atomic lines and of the Balmer series, with a strength proxy."""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["LinePositions", "line_strength", "line_positions", "balmer_lines", "BALMER_LINES"]

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U"
).split()
_ROMAN = ("I", "II", "III")
#: Reference layer of :func:`line_strength`: T [K] (θ = 5040/T ≈ 1.008) and n_e [cm⁻³].
_T_REF, _NE_REF = 5000.0, 1.0e13

#: Vacuum wavelengths [Å] of Hα–Hε (NIST ASD Ritz values, rounded).
BALMER_LINES: dict[str, float] = {
    "Hα": 6564.61,
    "Hβ": 4862.68,
    "Hγ": 4341.68,
    "Hδ": 4102.89,
    "Hε": 3971.20,
}


class LinePositions(NamedTuple):
    """Lines sorted by vacuum wavelength.

    Attributes:
        wave: ``(n_lines,)`` vacuum wavelength [Å].
        species: ``(n_lines,)`` e.g. ``"Fe I"``.
        strength: ``(n_lines,)`` :func:`line_strength` proxy (NaN for Balmer lines).
        name: ``(n_lines,)`` e.g. ``"Fe I 5269.54"`` (tabulated air wavelength) or ``"Hα"``.
    """

    wave: np.ndarray
    species: np.ndarray
    strength: np.ndarray
    name: np.ndarray


def _saha_log10_fraction_over_u(atomic: Any, temperature: float, n_e: float) -> np.ndarray:
    """``(93, 3)`` log10(N_stage / N_element / U_stage) (LTE), −inf where there is no data."""
    from ..synth.ionization import BOLTZMANN_EV, SAHA_CONSTANT

    pf = atomic.partition_functions
    ln_t = math.log(temperature)
    ln_q, chi = np.zeros((93, 3)), np.zeros((93, 3))
    avail = np.zeros((93, 3), bool)
    for z, stage, ip, coef in zip(
        pf.element, pf.ion, pf.ionization_energy, pf.coefficients, strict=True
    ):
        if z <= 92 and stage < 3:
            ln_q[z, stage] = np.polyval(np.asarray(coef)[::-1], ln_t)
            chi[z, stage], avail[z, stage] = ip, True
    step = (
        math.log(2.0 * SAHA_CONSTANT / n_e)
        + 1.5 * ln_t
        + ln_q[:, 1:]
        - ln_q[:, :-1]
        - chi[:, 1:] / (BOLTZMANN_EV * temperature)
    )
    ln_rel = np.concatenate([np.zeros((93, 1)), np.cumsum(step, axis=1)], axis=1)
    reach = np.cumprod(avail, axis=1).astype(bool)
    ln_rel = np.where(reach, ln_rel, -np.inf)
    top = ln_rel.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    ln_frac = ln_rel - top - np.log(np.sum(np.exp(ln_rel - top), axis=1, keepdims=True) + 1e-300)
    return np.where(reach, (ln_frac - ln_q) / math.log(10.0), -np.inf)


@functools.lru_cache(maxsize=2)
def _strength_cached(path: str | None) -> np.ndarray:
    from ..data import load_atomic_data

    atomic = load_atomic_data(path)
    ll = atomic.linelist
    z, stage = ll.element.astype(int), ll.ion.astype(int) - 1
    pop = _saha_log10_fraction_over_u(atomic, _T_REF, _NE_REF)
    iso = np.array(
        [
            atomic.isotope_fraction.get((int(a), int(m)), 1.0) if m else 1.0
            for a, m in zip(z, ll.isotope, strict=True)
        ]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = (
            ll.loggf
            + atomic.solar_log_eps[z - 1]
            + pop[z, stage]
            - (5040.0 / _T_REF) * ll.e_low
            + np.log10(iso)
            + np.log10(atomic.wave_vac / 5000.0)
        )
    strength.flags.writeable = False  # shared by every caller through the cache
    return strength


def line_strength(path: str | os.PathLike | None = None) -> np.ndarray:
    """Strength proxy of every line of the shipped list, ``(n_lines,)`` (cached).

    s = log gf + log ε⊙(X) − θχ_low + log10(N_stage / N_X / U_stage) + log10 x_iso
    + log10(λ / 5000 Å), with θ = 5040/T: the log of the line-to-continuum opacity of a weak
    line, up to a constant (continuous opacity taken as constant), in an LTE layer at
    T = 5000 K, n_e = 10¹³ cm⁻³ with solar abundances (Saha fractions and partition
    functions from the shipped Irwin table). It ranks lines across species roughly as
    their depths in a solar-type spectrum: Fe I 5250.21 has s ≈ 0.4, Fe I 5269.54 s ≈ 3.3;
    in the default emulator at R = 7500 and solar labels, isolated Fe I lines at
    s ≈ −1, 0, 1 are ≈ 3 %, 8 %, 14 % deep. It ignores the star's own Teff, log g and
    abundances, so use it to pick lines, not to predict them.
    """
    return _strength_cached(None if path is None else str(path))


def _parse_species(spec: str) -> tuple[int, int | None]:
    m = re.fullmatch(r"\s*([A-Za-z]{1,2})\s*(I{1,3})?\s*", spec)
    symbol = m.group(1).capitalize() if m else None
    if symbol not in _SYMBOLS:
        raise ValueError(f"unknown species {spec!r}; write e.g. 'Fe', 'Fe I' or 'Ca II'")
    return _SYMBOLS.index(symbol) + 1, (len(m.group(2)) if m.group(2) else None)


def line_positions(
    wave_min: float,
    wave_max: float,
    *,
    species: str | Sequence[str] | None = None,
    min_strength: float | None = 0.0,
    path: str | os.PathLike | None = None,
) -> LinePositions:
    """Significant atomic lines of the shipped list in a vacuum wavelength range.

    Args:
        wave_min, wave_max: vacuum wavelength range [Å] (inclusive).
        species: ``"Fe"`` (all stages), ``"Fe I"``, ``"Fe II"`` or a sequence of them;
            None: all species.
        min_strength: keep lines with :func:`line_strength` ≥ this (default 0: lines ≳ 5–10 %
            deep in a solar spectrum at R ≈ 7500); None: every line.
        path: an atomic-data file (default the shipped one).

    Returns:
        :class:`LinePositions` sorted by wavelength (empty arrays if no line qualifies).
    """
    if not wave_min < wave_max:
        raise ValueError(f"need wave_min < wave_max; got {wave_min}, {wave_max}")
    from ..data import load_atomic_data

    atomic = load_atomic_data(path)
    ll = atomic.linelist
    s = line_strength(path)
    z, ion = ll.element.astype(int), ll.ion.astype(int)
    keep = (atomic.wave_vac >= wave_min) & (atomic.wave_vac <= wave_max)
    if min_strength is not None:
        keep &= s >= min_strength
    if species is not None:
        wanted = np.zeros_like(keep)
        for spec in (species,) if isinstance(species, str) else species:
            element, stage = _parse_species(spec)
            wanted |= (z == element) & ((ion == stage) if stage else True)
        keep &= wanted
    idx = np.nonzero(keep)[0]
    idx = idx[np.argsort(atomic.wave_vac[idx], kind="stable")]
    labels = np.array([f"{_SYMBOLS[z[i] - 1]} {_ROMAN[ion[i] - 1]}" for i in idx], dtype=str)
    names = np.array([f"{lab} {ll.wave_air[i]:.2f}" for lab, i in zip(labels, idx, strict=True)])
    return LinePositions(atomic.wave_vac[idx], labels, s[idx], names.astype(str))


def balmer_lines(wave_min: float = 0.0, wave_max: float = np.inf) -> LinePositions:
    """Hα–Hε inside ``[wave_min, wave_max]`` vacuum [Å], sorted by wavelength."""
    rows = sorted((w, n) for n, w in BALMER_LINES.items() if wave_min <= w <= wave_max)
    return LinePositions(
        np.array([w for w, _ in rows], float),
        np.array(["H I"] * len(rows), dtype=str),
        np.full(len(rows), np.nan),
        np.array([n for _, n in rows], dtype=str),
    )
