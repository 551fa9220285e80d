"""Stellar label spaces, and MK spectral types from Teff and log g.

Two jobs:

* :class:`LabelSpace` describes the labels a model is defined on (names, astropy unit
  strings, lower and upper bounds) and maps them to and from the unit box. It is an
  immutable, hashable dataclass, so it can be a static argument of :func:`jax.jit` and is
  stored in model files through :meth:`LabelSpace.to_dict`. :data:`DEFAULT_LABELS` is the
  project's label space; :data:`FGK_LABELS` the FGK sub-range the first emulators cover.
* :func:`spectral_type` gives the MK class (O B A F G K M), a numeric subclass and the
  luminosity class (I to V) of stars from their effective temperature and surface gravity.
  :func:`spectral_code` is its differentiable core.

Spectral-type calibration
-------------------------
Teff is turned into a spectral type with the mean dwarf sequence of Pecaut & Mamajek
(2013, ApJS 208, 9), "A Modern Mean Dwarf Stellar Color and Effective Temperature
Sequence", in the updated online version 2022.04.16 of E. Mamajek's table
``EEM_dwarf_UBVIJHK_colors_Teff.txt``
(http://www.pas.rochester.edu/~emamajek/EEM_dwarf_UBVIJHK_colors_Teff.txt). The columns
SpT, Teff, R_Rsun and Msun of the rows O3V to M9.5V are copied below from a verbatim copy of
that file (version line "Version 2022.04.16") vendored in the public repository
``bmorris3/owls-plots`` at ``data/EEM_dwarf_UBVIJHK_colors_Teff.txt``.

A type is encoded as a number: O = 0, B = 10, A = 20, F = 30, G = 40, K = 50, M = 60, plus
the subclass (G2 -> 42, B9.5 -> 19.5). Between tabulated types the code is interpolated
linearly in log10 Teff. Temperatures outside the table are clipped to its ends: a star
hotter than 44900 K is O3, one cooler than 2350 K is M9.5 (a classifier needs a class for
every star; the calibration says nothing beyond those ends).

The calibration is a *dwarf* sequence. It is applied to giants and supergiants as well,
which is approximate: at a given spectral type, giants are a few hundred K cooler than
dwarfs, so evolved G/K/M stars come out a few subclasses later than their MK types
(Arcturus, 4286 K, is K1.5 III but gets K6; Aldebaran, 3910 K, is K5 III but gets K9).

Luminosity class
----------------
The luminosity class is derived from two numbers (this scheme is the project's
convention; the boundaries were chosen to classify the benchmark stars listed in the test
suite, and are stated here so they can be cited):

1. the log g deficit below the main sequence, Δ = log g_MS(Teff) − log g, where log g_MS
   is computed from the same Mamajek table as log g_MS = 4.438 + log10(M/M☉) −
   2 log10(R/R☉) (4.438 is log10 of the IAU 2015 nominal solar surface gravity in cgs,
   GM☉/R☉² = 27400 cm s⁻²) and interpolated linearly in log10 Teff (clipped at the ends);
2. the spectroscopic luminosity ℒ = Teff⁴/g of Langer & Kudritzki (2014, A&A 564, A52),
   log(ℒ/ℒ☉) = 4 log10(Teff / 5772 K) − (log g − 4.438), which is L/M in solar units and
   needs no distance.

The class is, in this order of precedence:

=====  ===================================  ===========================================
class  rule                                 reason
=====  ===================================  ===========================================
V      Δ < 0.5                              about the width of the main sequence in
                                            log g from its zero-age to its terminal age
I      Δ ≥ 0.5 and log(ℒ/ℒ☉) ≥ 3.5          L = ℒ M ≳ 10^4.5 L☉ for M ≳ 10 M☉:
                                            supergiants (Rigel 3.97, Deneb 4.02,
                                            Betelgeuse 3.62)
II     Δ ≥ 0.5 and 3.2 ≤ log(ℒ/ℒ☉) < 3.5    bright giants (Canopus 3.27)
IV     0.5 ≤ Δ < 1.0                        subgiants (log g ≈ 3.5–4.0 for FGK stars)
III    Δ ≥ 1.0                              giants (Arcturus 2.26, Aldebaran 2.2–2.7,
                                            red clump ≈ 1.6)
=====  ===================================  ===========================================

The numbers in parentheses are log(ℒ/ℒ☉) of the benchmark stars in the tests (Teff and
log g as listed there); at given Teff and log g, mass is unknown, so the giant/bright-giant/
supergiant boundaries cannot be sharp: a massive K bright giant and the tip of the red-giant
branch of a low-mass star can share Teff and log g.

Stars above the mean main sequence (Δ < 0) are class V; subdwarfs (VI) and white dwarfs
are outside the scheme. For O and early-B stars the classes are compressed into a few
tenths of a dex in log g and log g alone separates them poorly: giants (III) of those
types mostly come out V, and bright giants may come out I.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import LabelRangeError

__all__ = [
    "LabelSpace",
    "DEFAULT_LABELS",
    "FGK_LABELS",
    "MK_CLASSES",
    "LUMINOSITY_CLASSES",
    "SpectralType",
    "spectral_code",
    "main_sequence_logg",
    "format_spectral_type",
    "luminosity_class",
    "spectral_type",
]

#: MK temperature classes, hottest first; ``mk_index`` counts from 0 (O) to 6 (M).
MK_CLASSES: tuple[str, ...] = ("O", "B", "A", "F", "G", "K", "M")

#: Luminosity classes, most luminous first; ``lum_index`` counts from 0 (I) to 4 (V).
LUMINOSITY_CLASSES: tuple[str, ...] = ("I", "II", "III", "IV", "V")

# log10 of the IAU 2015 nominal solar surface gravity [cm s^-2] and nominal solar Teff [K].
_LOGG_SUN = 4.438
_TEFF_SUN = 5772.0

# Luminosity-class boundaries (see the module docstring).
_DELTA_DWARF = 0.5  # V below this log g deficit [dex]
_DELTA_SUBGIANT = 1.0  # IV below this log g deficit [dex], III above
_LOG_SPECLUM_BRIGHT_GIANT = 3.2  # II at and above this log10(L_spec / L_spec,sun)
_LOG_SPECLUM_SUPERGIANT = 3.5  # I at and above this log10(L_spec / L_spec,sun)

# Pecaut & Mamajek (2013, ApJS 208, 9) mean dwarf sequence, online version 2022.04.16
# (E. Mamajek, EEM_dwarf_UBVIJHK_colors_Teff.txt), rows O3V..M9.5V, copied verbatim from
# bmorris3/owls-plots:data/EEM_dwarf_UBVIJHK_colors_Teff.txt.
# Columns: spectral type (luminosity class V dropped), Teff [K], R [R_sun], M [M_sun].
_PM13_DWARF_SEQUENCE: tuple[tuple[str, int, float, float], ...] = (
    ("O3", 44900, 13.43, 59),
    ("O4", 42900, 12.13, 48),
    ("O5", 41400, 11.45, 43),
    ("O5.5", 40500, 10.71, 38),
    ("O6", 39500, 10.27, 35),
    ("O6.5", 38300, 9.82, 31),
    ("O7", 37100, 9.42, 28),
    ("O7.5", 36100, 8.95, 26),
    ("O8", 35100, 8.47, 23.6),
    ("O8.5", 34300, 8.06, 21.9),
    ("O9", 33300, 7.72, 20.2),
    ("O9.5", 31900, 7.50, 18.7),
    ("B0", 31400, 7.16, 17.7),
    ("B0.5", 29000, 6.48, 14.8),
    ("B1", 26000, 5.71, 11.8),
    ("B1.5", 24500, 5.02, 9.9),
    ("B2", 20600, 4.06, 7.3),
    ("B2.5", 18500, 3.89, 6.1),
    ("B3", 17000, 3.61, 5.4),
    ("B4", 16400, 3.46, 5.1),
    ("B5", 15700, 3.36, 4.7),
    ("B6", 14500, 3.27, 4.3),
    ("B7", 14000, 2.94, 3.92),
    ("B8", 12300, 2.86, 3.38),
    ("B9", 10700, 2.49, 2.75),
    ("B9.5", 10400, 2.45, 2.68),
    ("A0", 9700, 2.193, 2.18),
    ("A1", 9300, 2.136, 2.05),
    ("A2", 8800, 2.117, 1.98),
    ("A3", 8600, 1.861, 1.86),
    ("A4", 8250, 1.794, 1.93),
    ("A5", 8100, 1.785, 1.88),
    ("A6", 7910, 1.775, 1.83),
    ("A7", 7760, 1.750, 1.77),
    ("A8", 7590, 1.747, 1.81),
    ("A9", 7400, 1.747, 1.75),
    ("F0", 7220, 1.728, 1.61),
    ("F1", 7020, 1.679, 1.50),
    ("F2", 6820, 1.622, 1.46),
    ("F3", 6750, 1.578, 1.44),
    ("F4", 6670, 1.533, 1.38),
    ("F5", 6550, 1.473, 1.33),
    ("F6", 6350, 1.359, 1.25),
    ("F7", 6280, 1.324, 1.21),
    ("F8", 6180, 1.221, 1.18),
    ("F9", 6050, 1.167, 1.13),
    ("F9.5", 5990, 1.142, 1.08),
    ("G0", 5930, 1.100, 1.06),
    ("G1", 5860, 1.060, 1.03),
    ("G2", 5770, 1.012, 1.00),
    ("G3", 5720, 1.002, 0.99),
    ("G4", 5680, 0.991, 0.985),
    ("G5", 5660, 0.977, 0.98),
    ("G6", 5600, 0.949, 0.97),
    ("G7", 5550, 0.927, 0.95),
    ("G8", 5480, 0.914, 0.94),
    ("G9", 5380, 0.853, 0.90),
    ("K0", 5270, 0.813, 0.88),
    ("K1", 5170, 0.797, 0.86),
    ("K2", 5100, 0.783, 0.82),
    ("K3", 4830, 0.755, 0.78),
    ("K4", 4600, 0.713, 0.73),
    ("K5", 4440, 0.701, 0.70),
    ("K6", 4300, 0.669, 0.69),
    ("K7", 4100, 0.630, 0.64),
    ("K8", 3990, 0.615, 0.62),
    ("K9", 3930, 0.608, 0.59),
    ("M0", 3850, 0.588, 0.57),
    ("M0.5", 3770, 0.544, 0.54),
    ("M1", 3660, 0.501, 0.50),
    ("M1.5", 3620, 0.482, 0.47),
    ("M2", 3560, 0.446, 0.44),
    ("M2.5", 3470, 0.421, 0.40),
    ("M3", 3430, 0.361, 0.37),
    ("M3.5", 3270, 0.300, 0.27),
    ("M4", 3210, 0.274, 0.23),
    ("M4.5", 3110, 0.217, 0.184),
    ("M5", 3060, 0.196, 0.162),
    ("M5.5", 2930, 0.156, 0.123),
    ("M6", 2810, 0.137, 0.102),
    ("M6.5", 2740, 0.126, 0.093),
    ("M7", 2680, 0.120, 0.090),
    ("M7.5", 2630, 0.116, 0.088),
    ("M8", 2570, 0.114, 0.085),
    ("M8.5", 2420, 0.104, 0.080),
    ("M9", 2380, 0.102, 0.079),
    ("M9.5", 2350, 0.101, 0.078),
)


def _type_code(spt: str) -> float:
    """Numeric code of a spectral type such as ``"G2"`` (42) or ``"B9.5"`` (19.5)."""
    return 10.0 * MK_CLASSES.index(spt[0]) + float(spt[1:])


# The interpolation nodes, in order of increasing log10 Teff (jnp.interp needs that).
_NODE_LOG_TEFF = np.log10([float(row[1]) for row in _PM13_DWARF_SEQUENCE])[::-1].copy()
_NODE_CODE = np.array([_type_code(row[0]) for row in _PM13_DWARF_SEQUENCE])[::-1].copy()
_NODE_LOGG_MS = (
    _LOGG_SUN
    + np.log10([row[3] for row in _PM13_DWARF_SEQUENCE])
    - 2.0 * np.log10([row[2] for row in _PM13_DWARF_SEQUENCE])
)[::-1].copy()


# --------------------------------------------------------------------------------------
# Label spaces
# --------------------------------------------------------------------------------------


def _as_str_tuple(value: Any, field: str) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"LabelSpace.{field} must be a sequence of strings, got the single string "
            f"{value!r}; wrap it in a tuple: ({value!r},)"
        )
    try:
        items = value.ravel().tolist() if isinstance(value, np.ndarray) else list(value)
    except TypeError as err:
        raise ValueError(
            f"LabelSpace.{field} must be a sequence of strings, got {value!r}"
        ) from err
    out = []
    for item in items:
        if isinstance(item, (bytes, np.bytes_)):
            item = bytes(item).decode("utf-8")
        if not isinstance(item, str):
            raise ValueError(
                f"LabelSpace.{field} must hold strings, got {item!r} ({type(item).__name__})"
            )
        out.append(str(item))
    return tuple(out)


def _as_float_tuple(value: Any, field: str) -> tuple[float, ...]:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"LabelSpace.{field} must be a sequence of numbers, got {value!r}"
        ) from err
    if arr.ndim != 1:
        raise ValueError(f"LabelSpace.{field} must be one-dimensional, got shape {arr.shape}")
    return tuple(float(v) for v in arr)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclasses.dataclass(frozen=True, repr=False)
class LabelSpace:
    """Names, units and bounds of a space of stellar labels.

    Immutable and hashable: two spaces with the same fields are equal and hash alike, so a
    ``LabelSpace`` can be a static argument of :func:`jax.jit` without recompiling. Label
    arrays have the labels along their last axis, in the order of :attr:`names`; any
    leading axes are batch axes. The array methods (:meth:`to_unit`, :meth:`from_unit`,
    :meth:`contains`, :meth:`clip`) are pure ``jax.numpy`` and work under ``jit``, ``vmap``
    and ``grad``; :meth:`check` needs concrete values.

    Attributes:
        names: label names, e.g. ``("teff", "logg", "feh", "alpha_fe", "vmic")``.
        units: astropy unit strings, one per label: ``"K"`` for Teff,
            ``"dex(cm / s2)"`` for log g (astropy's spelling of log10 of g in cgs),
            ``"dex"`` for abundance ratios, ``"km / s"`` for velocities, ``""`` for
            dimensionless labels.
        lower: lower bound of each label, in its unit.
        upper: upper bound of each label, in its unit; ``lower < upper``.

    Raises:
        ValueError: if the fields have different lengths, are empty, repeat a name, or hold
            a non-finite bound or a lower bound not below its upper bound.

    Example:
        >>> space = LabelSpace(("teff", "logg"), ("K", "dex(cm / s2)"), (4000, 0), (7000, 5))
        >>> space.to_unit(jnp.array([5500.0, 2.5]))  # doctest: +SKIP
        Array([0.5, 0.5], dtype=float32)
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        names = _as_str_tuple(self.names, "names")
        units = _as_str_tuple(self.units, "units")
        lower = _as_float_tuple(self.lower, "lower")
        upper = _as_float_tuple(self.upper, "upper")
        lengths = {
            "names": len(names),
            "units": len(units),
            "lower": len(lower),
            "upper": len(upper),
        }
        if len(set(lengths.values())) != 1:
            raise ValueError(
                "LabelSpace fields must have one entry per label, got lengths "
                + ", ".join(f"{k}={v}" for k, v in lengths.items())
            )
        if not names:
            raise ValueError("LabelSpace needs at least one label, got none")
        if any(not n for n in names):
            raise ValueError(f"LabelSpace names must be non-empty strings, got {names}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"LabelSpace names must be unique; repeated: {duplicates}")
        bounds = list(zip(names, lower, upper, strict=True))
        bad = [n for n, lo, hi in bounds if not (math.isfinite(lo) and math.isfinite(hi))]
        if bad:
            raise ValueError(f"LabelSpace bounds must be finite; non-finite bounds for {bad}")
        bad = [f"{n}: lower={_fmt(lo)} upper={_fmt(hi)}" for n, lo, hi in bounds if not lo < hi]
        if bad:
            raise ValueError(
                "LabelSpace needs lower < upper for every label; got " + "; ".join(bad)
            )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    # ---- description -------------------------------------------------------------

    @property
    def n_labels(self) -> int:
        """Number of labels."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of label ``name`` along the last axis of a label array.

        Raises:
            ValueError: if the space has no label of that name.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(
                f"no label {name!r} in this label space; its labels are {list(self.names)}"
            ) from None

    def subset(self, names: str | Sequence[str]) -> LabelSpace:
        """A label space with only the labels ``names``, in that order."""
        if isinstance(names, str):
            names = (names,)
        idx = [self.index(n) for n in names]
        return LabelSpace(
            names=tuple(self.names[i] for i in idx),
            units=tuple(self.units[i] for i in idx),
            lower=tuple(self.lower[i] for i in idx),
            upper=tuple(self.upper[i] for i in idx),
        )

    def to_dict(self) -> dict[str, list[str] | list[float]]:
        """A JSON-able description (lists of str and float), e.g. for HDF5 attributes."""
        return {
            "names": list(self.names),
            "units": list(self.units),
            "lower": list(self.lower),
            "upper": list(self.upper),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelSpace:
        """Rebuild a label space from :meth:`to_dict` output.

        Values read back from HDF5 attributes (numpy arrays, byte strings) are accepted.

        Raises:
            ValueError: if a key is missing or a value is invalid.
        """
        missing = [k for k in ("names", "units", "lower", "upper") if k not in data]
        if missing:
            raise ValueError(
                f"a LabelSpace dictionary needs keys names, units, lower, upper; "
                f"missing {missing} (got keys {sorted(data)})"
            )
        return cls(
            names=data["names"], units=data["units"], lower=data["lower"], upper=data["upper"]
        )

    def __repr__(self) -> str:
        header = ("name", "unit", "lower", "upper")
        fields = zip(self.names, self.units, self.lower, self.upper, strict=True)
        rows = [(n, u or "-", _fmt(lo), _fmt(hi)) for n, u, lo, hi in fields]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

        def line(r: tuple[str, ...]) -> str:
            return (
                f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  "
                f"{r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
            ).rstrip()

        noun = "label" if self.n_labels == 1 else "labels"
        return "\n".join(
            [f"LabelSpace({self.n_labels} {noun})", line(header), *(line(r) for r in rows)]
        )

    # ---- arrays ------------------------------------------------------------------

    def _labels(self, x: Any, what: str) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(float)
        if x.ndim == 0 or x.shape[-1] != self.n_labels:
            raise ValueError(
                f"expected {what} with a last axis of {self.n_labels} "
                f"({', '.join(self.names)}), got shape {tuple(x.shape)}"
            )
        return x

    def _bounds(self, dtype: Any) -> tuple[jax.Array, jax.Array]:
        return jnp.asarray(self.lower, dtype=dtype), jnp.asarray(self.upper, dtype=dtype)

    def to_unit(self, x: Any) -> jax.Array:
        """Map labels to the unit box: the lower bounds go to 0, the upper bounds to 1.

        Args:
            x: ``(..., n_labels)`` labels in the units of :attr:`units`.

        Returns:
            ``(..., n_labels)`` scaled labels ``(x - lower) / (upper - lower)``
            (values outside the bounds land outside [0, 1]; nothing is clipped).
        """
        x = self._labels(x, "labels")
        lo, hi = self._bounds(x.dtype)
        return (x - lo) / (hi - lo)

    def from_unit(self, u: Any) -> jax.Array:
        """Map unit-box coordinates back to labels (the inverse of :meth:`to_unit`).

        Args:
            u: ``(..., n_labels)`` scaled labels.

        Returns:
            ``(..., n_labels)`` labels ``lower + u (upper - lower)`` in :attr:`units`.
        """
        u = self._labels(u, "unit-box coordinates")
        lo, hi = self._bounds(u.dtype)
        return lo + u * (hi - lo)

    def contains(self, x: Any) -> jax.Array:
        """Whether each label vector lies inside the bounds (bounds included).

        Args:
            x: ``(..., n_labels)`` labels.

        Returns:
            ``(...)`` boolean array; False where any label is outside or NaN.
        """
        x = self._labels(x, "labels")
        lo, hi = self._bounds(x.dtype)
        return jnp.all((x >= lo) & (x <= hi), axis=-1)

    def clip(self, x: Any) -> jax.Array:
        """Clip labels into the bounds. NaN labels stay NaN.

        Args:
            x: ``(..., n_labels)`` labels.

        Returns:
            ``(..., n_labels)`` labels with each one clipped to ``[lower, upper]``.
        """
        x = self._labels(x, "labels")
        lo, hi = self._bounds(x.dtype)
        return jnp.clip(x, lo, hi)

    def check(self, x: Any, *, what: str = "labels", max_reported: int = 10) -> Any:
        """Raise if any label is outside the bounds or NaN; return ``x`` unchanged if not.

        Runs on concrete values (numpy or JAX arrays), not inside ``jit``; there, use
        :meth:`contains` or :meth:`clip`.

        Args:
            x: ``(..., n_labels)`` labels.
            what: what the labels are, for the message (``"grid labels"``, ``"priors"``).
            max_reported: at most this many offending values are listed.

        Returns:
            ``x``, unchanged.

        Raises:
            LabelRangeError: naming each offending label (up to ``max_reported``), its
                row in a batch, its value and the allowed range.
            ValueError: if the last axis does not have ``n_labels`` entries.
            TypeError: if called on traced values inside ``jit``/``vmap``/``grad``.
        """
        if isinstance(x, jax.core.Tracer):
            raise TypeError(
                "LabelSpace.check needs concrete values and cannot run inside jit, vmap or "
                "grad; call it before, or use LabelSpace.contains / LabelSpace.clip inside"
            )
        arr = np.asarray(x, dtype=float)
        if arr.ndim == 0 or arr.shape[-1] != self.n_labels:
            raise ValueError(
                f"expected {what} with a last axis of {self.n_labels} "
                f"({', '.join(self.names)}), got shape {arr.shape}"
            )
        lo = np.asarray(self.lower)
        hi = np.asarray(self.upper)
        bad = ~((arr >= lo) & (arr <= hi))  # NaN compares False: bad
        if not bad.any():
            return x
        positions = np.argwhere(bad)
        lines = []
        for pos in positions[:max_reported]:
            *row, j = (int(p) for p in pos)
            value = arr[tuple(pos)]
            unit = f" {self.units[j]}" if self.units[j] else ""
            where = ""
            if len(row) == 1:
                where = f"row {row[0]}: "
            elif row:
                where = f"row {tuple(row)}: "
            shown = "NaN" if np.isnan(value) else f"{_fmt(value)}{unit}"
            lines.append(
                f"{where}{self.names[j]} = {shown} is outside [{_fmt(lo[j])}, {_fmt(hi[j])}]{unit}"
            )
        if len(positions) > max_reported:
            lines.append(f"... and {len(positions) - max_reported} more")
        n_rows = int(bad.reshape(-1, self.n_labels).any(axis=-1).sum())
        n_total = int(np.prod(arr.shape[:-1], dtype=int))
        scope = f" in {n_rows} of {n_total} rows" if arr.ndim > 1 else ""
        advice = (
            "Clip them with LabelSpace.clip, drop the rows where LabelSpace.contains is "
            "False, or use a label space whose bounds cover them"
        )
        if np.isnan(arr[bad]).any():
            advice += "; NaN labels cannot be clipped: drop or fill those rows"
        raise LabelRangeError(
            f"{len(positions)} {what} value(s) outside the label space{scope}:\n  "
            + "\n  ".join(lines)
            + f"\n{advice}."
        )


#: The project's label space: Teff 3500–30000 K, log g 0–5 (cgs), [Fe/H] −2.5 to +0.5,
#: [α/Fe] −0.2 to +0.6, microturbulence 0.5–3 km/s.
DEFAULT_LABELS = LabelSpace(
    names=("teff", "logg", "feh", "alpha_fe", "vmic"),
    units=("K", "dex(cm / s2)", "dex", "dex", "km / s"),
    lower=(3500.0, 0.0, -2.5, -0.2, 0.5),
    upper=(30000.0, 5.0, 0.5, 0.6, 3.0),
)

#: FGK sub-range of :data:`DEFAULT_LABELS`: Teff 4000–7000 K, the other labels unchanged.
FGK_LABELS = dataclasses.replace(
    DEFAULT_LABELS,
    lower=(4000.0, *DEFAULT_LABELS.lower[1:]),
    upper=(7000.0, *DEFAULT_LABELS.upper[1:]),
)


# --------------------------------------------------------------------------------------
# Spectral types
# --------------------------------------------------------------------------------------


def _float_array(x: Any) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float)
    return x


def _interp_log_teff(teff: jax.Array, nodes: np.ndarray) -> jax.Array:
    """Piecewise-linear interpolation of ``nodes`` in log10 Teff, clipped at the ends."""
    valid = teff > 0
    safe = jnp.where(valid, teff, _TEFF_SUN)  # keeps gradients finite for invalid Teff
    log_t = jnp.log10(safe)
    xp = jnp.asarray(_NODE_LOG_TEFF, dtype=log_t.dtype)
    fp = jnp.asarray(nodes, dtype=log_t.dtype)
    return jnp.where(valid, jnp.interp(log_t, xp, fp), jnp.nan)


def spectral_code(teff: Any) -> jax.Array:
    """Numeric spectral type of dwarfs of temperature ``teff`` (Pecaut & Mamajek 2013).

    The code is O = 0, B = 10, A = 20, F = 30, G = 40, K = 50, M = 60 plus the subclass
    (G2 -> 42), interpolated linearly in log10 Teff between the types of the 2022.04.16
    dwarf sequence (see the module docstring), and clipped to O3 (3) above 44900 K and to
    M9.5 (69.5) below 2350 K. It decreases monotonically with Teff, is continuous and
    differentiable (piecewise; zero gradient outside the table) and works under ``jit``,
    ``vmap`` and ``grad``.

    Args:
        teff: effective temperature [K], any shape.

    Returns:
        Spectral code, same shape as ``teff``; NaN where ``teff`` is NaN or not positive.
    """
    return _interp_log_teff(_float_array(teff), _NODE_CODE)


def main_sequence_logg(teff: Any) -> jax.Array:
    """Surface gravity of the mean main sequence at temperature ``teff``.

    From the masses and radii of the Pecaut & Mamajek dwarf sequence (version 2022.04.16):
    log g = 4.438 + log10(M/M☉) − 2 log10(R/R☉), interpolated linearly in log10 Teff and
    clipped to the table's ends (O3V: 3.95; M9.5V: 5.32). Differentiable, like
    :func:`spectral_code`.

    Args:
        teff: effective temperature [K], any shape.

    Returns:
        log10 of the surface gravity [cm s⁻²], same shape as ``teff``; NaN where ``teff``
        is NaN or not positive.
    """
    return _interp_log_teff(_float_array(teff), _NODE_LOGG_MS)


def _round_half(code: np.ndarray) -> np.ndarray:
    """Round to the nearest 0.5, halves upwards (to the later type)."""
    return np.floor(code * 2.0 + 0.5) / 2.0


def _split_code(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, mk_index, subclass) of codes rounded to the nearest half subclass."""
    valid = np.isfinite(code)
    rounded = _round_half(np.where(valid, code, 0.0))
    mk_index = np.where(valid, np.floor(rounded / 10.0), -1).astype(int)
    subclass = np.where(valid, rounded - 10.0 * mk_index, np.nan)
    return valid, mk_index, subclass


def _format(code: np.ndarray, lum: np.ndarray) -> np.ndarray:
    valid, mk_index, subclass = _split_code(code)
    out = np.empty(code.shape, dtype=object)
    for pos in np.ndindex(code.shape):
        if valid[pos]:
            out[pos] = f"{MK_CLASSES[mk_index[pos]]}{subclass[pos]:g}{lum[pos]}"
        else:
            out[pos] = ""
    return out.astype(str)


def format_spectral_type(code: Any, lum_class: Any = "") -> str | np.ndarray:
    """Write spectral codes as MK types such as ``"G2V"`` or ``"B9.5"``.

    Args:
        code: spectral code(s) (O = 0 ... M = 60, plus subclass), rounded here to the
            nearest half subclass; NaN gives ``""``.
        lum_class: luminosity class(es) to append (``"V"``, ``"III"``, ``""``), broadcast
            against ``code``.

    Returns:
        A ``str`` for scalar inputs, otherwise an array of ``str`` of the broadcast shape.

    Raises:
        ValueError: for a finite code outside O0–M9.5 (0 to 69.5 after rounding).
    """
    code_arr = np.asarray(code, dtype=float)
    lum_arr = np.asarray(lum_class, dtype=str)
    code_arr, lum_arr = np.broadcast_arrays(code_arr, lum_arr)
    rounded = _round_half(code_arr)
    outside = np.isfinite(code_arr) & ((rounded < 0.0) | (rounded > 69.5))
    if outside.any():
        raise ValueError(
            "spectral codes run from 0 (O0) to 69.5 (M9.5); got "
            f"{np.unique(code_arr[outside])[:5].tolist()}; compute them with spectral_code"
        )
    out = _format(code_arr, lum_arr)
    return str(out[()]) if out.ndim == 0 else out


def luminosity_class(teff: Any, logg: Any) -> tuple[np.ndarray, np.ndarray]:
    """MK luminosity class (I to V) from Teff and log g, by the rule in the module docstring.

    Args:
        teff: effective temperature [K].
        logg: log10 surface gravity [cm s⁻²], broadcast against ``teff``.

    Returns:
        ``(names, index)``: arrays of ``"I"`` ... ``"V"`` and of 0 (I) ... 4 (V), of the
        broadcast shape; ``""`` and -1 where either input is NaN or Teff is not positive.
    """
    teff_arr, logg_arr = np.broadcast_arrays(
        np.asarray(teff, dtype=float), np.asarray(logg, dtype=float)
    )
    valid = np.isfinite(teff_arr) & (teff_arr > 0) & np.isfinite(logg_arr)
    t = np.where(valid, teff_arr, _TEFF_SUN)
    g = np.where(valid, logg_arr, _LOGG_SUN)
    log_t = np.log10(t)
    delta = np.interp(log_t, _NODE_LOG_TEFF, _NODE_LOGG_MS) - g
    log_speclum = 4.0 * (log_t - np.log10(_TEFF_SUN)) - (g - _LOGG_SUN)
    index = np.select(
        [
            delta < _DELTA_DWARF,
            log_speclum >= _LOG_SPECLUM_SUPERGIANT,
            log_speclum >= _LOG_SPECLUM_BRIGHT_GIANT,
            delta < _DELTA_SUBGIANT,
        ],
        [4, 0, 1, 3],
        default=2,
    )
    index = np.where(valid, index, -1)
    names = np.asarray(LUMINOSITY_CLASSES)[np.clip(index, 0, None)]
    names = np.where(valid, names, "")
    return names, index


class SpectralType(NamedTuple):
    """MK spectral types of a set of stars; every field has the shape of the input.

    Attributes:
        mk_class: temperature class ``"O"`` ... ``"M"`` (``""`` for an invalid Teff).
        subclass: numeric subclass, rounded to the nearest 0.5 (NaN for an invalid Teff).
        luminosity_class: ``"I"`` ... ``"V"``; ``""`` when log g was not given or is NaN.
        code: unrounded spectral code (O = 0 ... M = 60, plus subclass).
        mk_index: 0 (O) ... 6 (M); -1 for an invalid Teff.
        lum_index: 0 (I) ... 4 (V); -1 when log g was not given or is NaN.
    """

    mk_class: np.ndarray
    subclass: np.ndarray
    luminosity_class: np.ndarray
    code: np.ndarray
    mk_index: np.ndarray
    lum_index: np.ndarray

    @property
    def label(self) -> np.ndarray:
        """Full types such as ``"G2V"`` (``"G2"`` without log g), as an array of ``str``."""
        return _format(
            np.asarray(self.code, dtype=float), np.asarray(self.luminosity_class, dtype=str)
        )


def spectral_type(teff: Any, logg: Any = None) -> SpectralType:
    """MK spectral type and luminosity class of stars from Teff (and log g).

    The temperature class and subclass come from the Pecaut & Mamajek (2013) mean dwarf
    sequence, version 2022.04.16 (:func:`spectral_code`; Teff outside 2350–44900 K is
    clipped to M9.5 or O3). The luminosity class comes from the log g deficit below the
    main sequence and the spectroscopic luminosity Teff⁴/g (:func:`luminosity_class`; the
    rule and its boundaries are in the module docstring). The dwarf calibration is applied
    to giants too, which is approximate: giants of a given type are a few hundred K cooler
    than dwarfs, so evolved G-M stars come out a few subclasses late.

    This runs on the host with numpy (it returns strings); use :func:`spectral_code` and
    :func:`main_sequence_logg` inside traced code.

    Args:
        teff: effective temperature [K], any shape.
        logg: log10 surface gravity [cm s⁻²], broadcast against ``teff``; None leaves the
            luminosity class empty (``""``, index -1) rather than assuming dwarfs.

    Returns:
        A :class:`SpectralType` of numpy arrays of the broadcast shape; ``.label`` gives
        strings such as ``"G2V"``.

    Example:
        >>> spectral_type(5772.0, 4.438).label  # doctest: +SKIP
        array('G2V', dtype='<U3')
    """
    teff_arr = np.asarray(teff, dtype=float)
    if logg is None:
        shape = teff_arr.shape
        lum_names = np.full(shape, "", dtype="<U3")
        lum_index = np.full(shape, -1, dtype=int)
    else:
        lum_names, lum_index = luminosity_class(teff_arr, logg)
        shape = lum_names.shape
        teff_arr = np.broadcast_to(teff_arr, shape)
    valid_t = np.isfinite(teff_arr) & (teff_arr > 0)
    log_t = np.log10(np.where(valid_t, teff_arr, _TEFF_SUN))
    code = np.where(valid_t, np.interp(log_t, _NODE_LOG_TEFF, _NODE_CODE), np.nan)
    valid, mk_index, subclass = _split_code(code)
    mk_class = np.where(valid, np.asarray(MK_CLASSES)[np.clip(mk_index, 0, None)], "")
    return SpectralType(
        mk_class=mk_class,
        subclass=subclass,
        luminosity_class=lum_names,
        code=code,
        mk_index=mk_index,
        lum_index=np.asarray(lum_index, dtype=int),
    )
