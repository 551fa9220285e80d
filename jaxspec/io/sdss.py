"""Reader of SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits`` files (full and "lite").

Data model followed (SDSS datamodel ``BOSS_SPECTRO_REDUX/RUN2D/spectra/PLATE4/spec``):

* HDU0: header only, copied from spPlate (``PLATEID``, ``MJD``, ``FIBERID``, ``PLUG_RA``,
  ``PLUG_DEC``, ``TELESCOP='SDSS 2.5-M'``, ...);
* HDU1 ``COADD``: binary table, one row per pixel: ``flux`` float32
  [1e-17 erg s⁻¹ cm⁻² Å⁻¹], ``loglam`` float32 (log10 of the vacuum wavelength in Å),
  ``ivar`` float32, ``and_mask`` int32, ``or_mask`` int32, ``wdisp`` float32 (dispersion
  σ in pixels of Δlog10λ), ``sky`` float32, ``model`` float32;
* HDU2 ``SPALL``: one row from spAll/specObj (``PLATE``, ``MJD``, ``FIBERID``, ``CLASS``,
  ``SUBCLASS``, ``Z``, ``Z_ERR``, ``ZWARNING``, ...);
* HDU3 ``SPZLINE``: emission-line fits; HDU4+ (full files only) individual exposures.

Wavelengths are vacuum, heliocentric (DR ≤ 13) or barycentric (later); the reader reports
``frame='heliocentric'``. Masking: ``ivar == 0`` is bad, and any ``and_mask`` bit is bad by
default.
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

__all__ = ["read_sdss", "is_sdss", "SDSS_FLUX_UNIT", "ALL_BITS"]

#: Flux unit of SDSS spectra (astropy string).
SDSS_FLUX_UNIT = "1e-17 erg / (s cm2 Angstrom)"
#: Bitmask value selecting every bit.
ALL_BITS = -1
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

_PRIMARY_KEYS = (
    "TELESCOP", "PLATEID", "MJD", "FIBERID", "RA", "DEC", "PLUG_RA", "PLUG_DEC", "OBJTYPE",
    "RUN2D", "RUN1D", "SPEC_ID", "DESIGNID", "AIRMASS", "EXPTIME",
)  # fmt: skip
_SPALL_KEYS = (
    "PLATE",
    "MJD",
    "FIBERID",
    "CLASS",
    "SUBCLASS",
    "Z",
    "Z_ERR",
    "ZWARNING",
    "SN_MEDIAN_ALL",
)


def _coadd_index(names: list[str], columns: list[set[str]], primary: Any) -> int | None:
    """The COADD table; an unnamed HDU1 only counts in a file whose primary header is SDSS's."""
    needed = {"flux", "loglam", "ivar"}
    for i, (name, cols) in enumerate(zip(names, columns, strict=True)):
        if name == "COADD" and needed <= cols:
            return i
    sdss_header = str(primary.get("TELESCOP", "")).upper().startswith("SDSS") or (
        "PLATEID" in primary and "FIBERID" in primary
    )
    if sdss_header and len(columns) > 1 and needed | {"and_mask"} <= columns[1]:
        return 1
    return None


def is_sdss(probe: FileProbe) -> bool:
    """An SDSS spec file: a ``COADD`` table with ``flux``, ``loglam`` and ``ivar`` columns
    (or such an HDU1 table, with ``and_mask``, under an SDSS primary header)."""
    if not probe.is_fits:
        return False
    names = [info.name for info in probe.hdus]
    columns = [info.column_set() for info in probe.hdus]
    return _coadd_index(names, columns, probe.hdus[0].header) is not None


def read_sdss(
    path: str | os.PathLike,
    *,
    andmask_bits: int = ALL_BITS,
    ormask_bits: int = 0,
) -> Spectrum:
    """Read an SDSS/BOSS ``spec`` or ``spec-lite`` file.

    Args:
        path: the file.
        andmask_bits: ``and_mask`` bits that make a pixel bad; default every bit, 0 ignores
            the and-mask.
        ormask_bits: ``or_mask`` bits that make a pixel bad; default none.

    Returns:
        a single :class:`~jaxspec.Spectrum`: float64 vacuum wavelengths ``10**loglam`` [Å],
        float32 flux in 1e-17 erg s⁻¹ cm⁻² Å⁻¹, heliocentric frame, ``meta.redshift`` from
        SPALL ``Z``, ``meta.object_id`` ``"PLATE-MJD-FIBER"``, ``meta.resolution`` the median
        λ/FWHM implied by ``wdisp`` when present.

    Raises:
        FileFormatError: no ``COADD`` table or a required column (flux, loglam, ivar) missing.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header.copy()
        names = [str(h.header.get("EXTNAME", "") or "").strip().upper() for h in hdul]
        try:
            coadd = _fits.get_hdu(hdul, path, "COADD", what="coadded spectrum table")
            index = names.index("COADD")
        except FileFormatError:
            coadd = _fits.get_hdu(hdul, path, 1, what="coadded spectrum table")
            index = 1
        if not isinstance(coadd, _fits.TABLE_HDUS):
            raise FileFormatError(
                f"{path}: expected the coadded spectrum as a binary table in HDU {index}, "
                f"found {type(coadd).__name__}; HDUs: {_fits.describe_hdus(hdul)}"
            )

        def column(candidates: tuple[str, ...], what: str) -> np.ndarray:
            return _fits.get_column(coadd, path, candidates, what=what, index=index)

        flux = column(("flux",), "flux")
        loglam = column(("loglam",), "log10 wavelength")
        ivar = column(("ivar",), "inverse variance")
        and_mask = (
            column(("and_mask",), "and-mask") if _fits.find_column(coadd, ("and_mask",)) else None
        )
        or_mask = (
            column(("or_mask",), "or-mask") if _fits.find_column(coadd, ("or_mask",)) else None
        )
        wdisp = (
            column(("wdisp",), "wavelength dispersion")
            if _fits.find_column(coadd, ("wdisp",))
            else None
        )
        spall = _spall_row(path, hdul, names)
    if flux.ndim != 1:
        raise FileFormatError(
            f"{path}: the SDSS COADD table should have one row per pixel, but its flux column "
            f"has shape {flux.shape}; read array-column tables with format='fits-table'"
        )

    wave = 10.0 ** loglam.astype(np.float64)
    bad = np.zeros(flux.shape, dtype=bool)
    if and_mask is not None and andmask_bits:
        bad |= (and_mask.astype(np.int64) & int(andmask_bits)) != 0
    if or_mask is not None and ormask_bits:
        bad |= (or_mask.astype(np.int64) & int(ormask_bits)) != 0
    ivar = np.where(np.isfinite(ivar) & (ivar < 0), 0.0, ivar).astype(ivar.dtype)

    header = _fits.header_cards(h0, _PRIMARY_KEYS)
    header += [(f"SPALL_{k}" if k in dict(header) else k, v) for k, v in spall.items()]
    redshift = spall.get("Z")
    meta = SpectrumMeta(
        object_id=_object_id(h0, spall),
        source=os.fspath(path),
        format="sdss",
        flux_unit=SDSS_FLUX_UNIT,
        frame="heliocentric",
        redshift=float(redshift) if isinstance(redshift, float) else None,
        resolution=_resolution(loglam, wdisp, ivar),
        header=tuple(header),
    )
    return make_spectrum(path, wave, flux, ivar, bad, meta)


def _spall_row(path: str | os.PathLike, hdul: Any, names: list[str]) -> dict[str, Any]:
    """Scalar values of the SPALL row (empty when the HDU is absent)."""
    if "SPALL" not in names:
        return {}
    hdu = hdul[names.index("SPALL")]
    if not isinstance(hdu, _fits.TABLE_HDUS) or hdu.data is None or len(hdu.data) == 0:
        return {}
    row = hdu.data[0]
    out: dict[str, Any] = {}
    for key in _SPALL_KEYS:
        name = _fits.find_column(hdu, (key,))
        if name is None:
            continue
        value = row[name]
        if isinstance(value, (bytes, np.bytes_)):
            value = value.decode("ascii", "replace")
        if isinstance(value, (str, np.str_)):
            out[key] = str(value).strip()
        elif isinstance(value, (np.integer, int)):
            out[key] = int(value)
        elif isinstance(value, (np.floating, float)) and np.isfinite(value):
            out[key] = float(value)
    return out


def _object_id(header: Any, spall: dict[str, Any]) -> str | None:
    plate = header.get("PLATEID", spall.get("PLATE"))
    mjd = header.get("MJD", spall.get("MJD"))
    fiber = header.get("FIBERID", spall.get("FIBERID"))
    try:
        return f"{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}"
    except (TypeError, ValueError):
        return None


def _resolution(loglam: np.ndarray, wdisp: np.ndarray | None, ivar: np.ndarray) -> float | None:
    """Median R = λ/FWHM from ``wdisp`` (σ in pixels of Δlog10λ) over good pixels."""
    if wdisp is None or loglam.size < 2:
        return None
    # mean step over the whole axis: float32 loglam makes single differences noisy
    dloglam = (float(loglam[-1]) - float(loglam[0])) / (loglam.size - 1)
    good = (wdisp > 0) & np.isfinite(wdisp) & (ivar > 0)
    if dloglam <= 0 or not good.any():
        return None
    fwhm_ln = _FWHM_PER_SIGMA * np.log(10.0) * dloglam * wdisp[good].astype(np.float64)
    return float(np.median(1.0 / fwhm_ln))
