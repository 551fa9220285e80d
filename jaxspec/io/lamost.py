"""Reader of LAMOST low-resolution (LRS) 1D spectra, both published layouts.

Data models followed (LAMOST "data production description" pages of DR1–DR9 and the file
layouts read by public LAMOST tools; checked with the search tool's docs/pages corpora):

DR1–DR7, image layout (``spec-MMMMM-YYYY_spXX-FFF.fits[.gz]``)
    Primary HDU only, data ``(5, n_pix)`` float32: row 0 flux, 1 inverse variance,
    2 wavelength [vacuum Å], 3 ``andmask``, 4 ``ormask``. Keywords ``TELESCOP='LAMOST'``,
    ``OBSID``, ``DESIG``, ``OBJNAME``, ``RA``, ``DEC``, ``Z``, ``Z_ERR``, ``CLASS``,
    ``SUBCLASS``, ``SNRU``…``SNRZ``, ``FIBERID``, ``SPID``, ``LMJD`` and the log-linear WCS
    ``CRVAL1`` (log10 of the first wavelength), ``CD1_1`` (1e-4), ``CRPIX1=1``,
    ``CTYPE1='LINEAR'``, ``DC-FLAG=1``, ``VACUUM=T``. (The pilot-survey files put a
    continuum-subtracted spectrum in row 2; the WCS is used then.)

DR8 and later, table layout
    Primary header with the same keywords and no data; HDU1 a binary table ``COADD`` with one
    row and array columns ``FLUX``, ``IVAR``, ``WAVELENGTH``, ``ANDMASK``, ``ORMASK`` (the
    masks stored as float32), plus ``NORMALIZATION`` in some releases (ignored).

Spectra are relatively flux-calibrated (no absolute unit): ``meta.flux_unit`` is ``BUNIT``
when the file gives a parsable one, else ``""`` with header card ``FLUXNOTE`` saying so.
Wavelengths are vacuum and heliocentric. Masking: ``ivar == 0`` is bad, and any ``andmask``
bit is bad by default (LAMOST andmask bits: 1 BADCCD, 2 BADPROFILE, 3 NOSKY, 4 BRIGHTSKY,
5 BADCENTER, 6 NODATA).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FileFormatError
from ..spectrum import SpectrumMeta
from . import _fits
from .registry import make_spectrum

if TYPE_CHECKING:
    from ..spectrum import Spectrum
    from .registry import FileProbe

__all__ = ["read_lamost", "is_lamost", "LAMOST_RESOLUTION", "ALL_BITS"]

#: Nominal LAMOST LRS resolving power at 5500 Å.
LAMOST_RESOLUTION = 1800.0
#: Bitmask value selecting every bit.
ALL_BITS = -1

_KEYS = (
    "TELESCOP", "OBSID", "DESIG", "OBJNAME", "OBJTYPE", "RA", "DEC", "Z", "Z_ERR", "CLASS",
    "SUBCLASS", "SNRU", "SNRG", "SNRR", "SNRI", "SNRZ", "FIBERID", "SPID", "LMJD", "MJD",
    "PLANID", "DATA_V", "BUNIT",
)  # fmt: skip
_TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH")


def _table_hdu_index(names: list[str], columns: list[set[str]]) -> int | None:
    """Index of the COADD table (by name, else an unnamed HDU1 table) with the needed columns."""
    for i, (name, cols) in enumerate(zip(names, columns, strict=True)):
        if name == "COADD" and {c.lower() for c in _TABLE_COLUMNS} <= cols:
            return i
    if len(names) > 1 and names[1] == "" and {c.lower() for c in _TABLE_COLUMNS} <= columns[1]:
        return 1
    return None


def is_lamost(probe: FileProbe) -> bool:
    """A LAMOST LRS file: ``TELESCOP='LAMOST'`` and either a ``(≥3, n)`` primary image or a
    ``COADD`` table with FLUX/IVAR/WAVELENGTH columns (MRS files, with ``COADD_B``/``_R``
    tables, are not matched)."""
    if not probe.is_fits:
        return False
    h0 = probe.hdus[0]
    if str(h0.header.get("TELESCOP", "")).strip().upper() != "LAMOST":
        return False
    if len(h0.shape) == 2 and h0.shape[0] >= 3:
        return True
    names = [info.name for info in probe.hdus]
    columns = [info.column_set() for info in probe.hdus]
    return _table_hdu_index(names, columns) is not None


def read_lamost(
    path: str | os.PathLike,
    *,
    andmask_bits: int = ALL_BITS,
    ormask_bits: int = 0,
) -> Spectrum:
    """Read a LAMOST low-resolution spectrum (DR1–DR7 image or DR8+ ``COADD`` table).

    Args:
        path: the file (``.fits``, ``.fits.gz``).
        andmask_bits: ``andmask`` bits that make a pixel bad; default every bit
            (:data:`ALL_BITS`), 0 to ignore the and-mask.
        ormask_bits: ``ormask`` bits that make a pixel bad; default none.

    Returns:
        a single :class:`~jaxspec.Spectrum` (float32 flux and ivar as stored, float64 vacuum
        wavelengths [Å]) in the heliocentric frame, with ``meta.redshift = Z``,
        ``meta.object_id = DESIG`` (else ``OBSID``/``OBJNAME``), resolution 1800.

    Raises:
        FileFormatError: neither layout is present, or a required column is missing.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header.copy()
        primary = hdul[0]
        if primary.header.get("NAXIS", 0) == 2:
            arrays = _read_image_layout(path, primary)
            layout = "image"
        else:
            names = [str(h.header.get("EXTNAME", "") or "").strip().upper() for h in hdul]
            columns = [
                {c.lower() for c in h.columns.names} if isinstance(h, _fits.TABLE_HDUS) else set()
                for h in hdul
            ]
            index = _table_hdu_index(names, columns)
            if index is None and "COADD" in names:
                index = names.index("COADD")  # the column look-up reports what is missing
            if index is None:
                raise FileFormatError(
                    f"{path}: not a LAMOST LRS file: the primary HDU has no (5, n_pix) image "
                    f"and no 'COADD' table with columns {list(_TABLE_COLUMNS)} exists; HDUs: "
                    f"{_fits.describe_hdus(hdul)}"
                )
            arrays = _read_table_layout(path, hdul[index], index)
            layout = "table"
    flux, ivar = arrays["flux"], arrays["ivar"]
    bad = np.zeros(flux.shape, dtype=bool)
    if arrays.get("andmask") is not None and andmask_bits:
        bad |= (arrays["andmask"] & int(andmask_bits)) != 0
    if arrays.get("ormask") is not None and ormask_bits:
        bad |= (arrays["ormask"] & int(ormask_bits)) != 0
    ivar = np.where(np.isfinite(ivar) & (ivar < 0), 0.0, ivar).astype(ivar.dtype)

    header = _fits.header_cards(h0, _KEYS)
    flux_unit = _fits.parse_flux_unit(h0.get("BUNIT"))
    if not flux_unit:
        flux_unit = ""
        header.append(("FLUXNOTE", "relative flux calibration (LAMOST); no absolute unit"))
    header.append(("LAYOUT", layout))
    meta = SpectrumMeta(
        object_id=_object_id(h0),
        source=os.fspath(path),
        format="lamost",
        flux_unit=flux_unit,
        frame="heliocentric",
        redshift=_redshift(h0),
        resolution=LAMOST_RESOLUTION,
        header=tuple(header),
    )
    return make_spectrum(path, arrays["wave"], flux, ivar, bad, meta)


def _mask_ints(values: np.ndarray) -> np.ndarray:
    """Masks are stored as floats in LAMOST files; turn them into int64 bit fields."""
    clean = np.where(np.isfinite(values), values, 0)
    return clean.astype(np.int64)


def _read_image_layout(path: str | os.PathLike, primary: Any) -> dict[str, Any]:
    data = _fits.read_image(primary, path, what="LAMOST spectrum rows", index=0)
    if data.ndim != 2 or data.shape[0] < 3:
        raise FileFormatError(
            f"{path}: the LAMOST primary image should be (5, n_pix) with rows flux, ivar, "
            f"wavelength, andmask, ormask; got shape {data.shape}"
        )
    n_pix = data.shape[1]
    row_wave = data[2].astype(np.float64)
    wave = row_wave
    if "CRVAL1" in primary.header:
        wcs, _ = _fits.wcs_wavelength(primary.header, n_pix, path=path, label="primary header")
        row_is_wave = bool(np.all(np.diff(row_wave) > 0) and row_wave[0] > 0)
        if not row_is_wave or np.allclose(row_wave, wcs, rtol=1e-5, atol=0):
            wave = wcs  # float64 grid; same values to float32 precision
    return {
        "flux": data[0],
        "ivar": data[1],
        "wave": wave,
        "andmask": _mask_ints(data[3]) if data.shape[0] > 3 else None,
        "ormask": _mask_ints(data[4]) if data.shape[0] > 4 else None,
    }


def _read_table_layout(path: str | os.PathLike, hdu: Any, index: int) -> dict[str, Any]:
    def column(names: tuple[str, ...], what: str, required: bool = True) -> np.ndarray | None:
        if not required and _fits.find_column(hdu, names) is None:
            return None
        values = _fits.get_column(hdu, path, names, what=what, index=index)
        if values.ndim == 2:
            if values.shape[0] != 1:
                raise FileFormatError(
                    f"{path}: the LAMOST COADD table should have one row, found {values.shape[0]}"
                )
            values = values[0]
        return values

    andmask = column(("ANDMASK",), "and-mask", required=False)
    ormask = column(("ORMASK",), "or-mask", required=False)
    return {
        "flux": column(("FLUX",), "flux"),
        "ivar": column(("IVAR",), "inverse variance"),
        "wave": column(("WAVELENGTH",), "wavelength").astype(np.float64),
        "andmask": None if andmask is None else _mask_ints(andmask),
        "ormask": None if ormask is None else _mask_ints(ormask),
    }


def _object_id(header: Any) -> str | None:
    for key in ("DESIG", "OBSID", "OBJNAME"):
        value = header.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _redshift(header: Any) -> float | None:
    value = header.get("Z")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if np.isfinite(value) and value > -9000 else None
