"""Generic FITS spectra: 1D images with a wavelength WCS, tables, and jaxspec's own files.

Readers
-------
``fits-image``
    A 1D image (primary or first image extension) with a spectral WCS (see
    :func:`jaxspec.io._fits.wcs_wavelength`). Optional extensions named ``IVAR``,
    ``ERROR``/``ERR``/``SIGMA``/``UNCERT``, ``VARIANCE``/``VAR`` give the uncertainty and
    ``MASK`` (non-zero = bad) the bad pixels.
``fits-table``
    A binary table with a wavelength column (``wave``, ``wavelength``, ``lambda``, or
    ``loglam`` = log10 λ[Å]), a ``flux`` column and optional ``ivar``/``error``/``variance``
    and ``mask`` columns (names case-insensitive). Either one row per pixel (one spectrum) or
    array columns with one row per spectrum (a batch). Units come from ``TUNITn``;
    wavelengths are converted to Å.

In both, air wavelengths (``CTYPE1='AWAV…'``, ``AIRORVAC='air'`` or ``VACUUM=F``; or
``air=True``) are converted to vacuum with :func:`jaxspec.preprocess.air_vacuum.air_to_vacuum`,
and descending wavelength axes are reversed.

jaxspec files (``jaxspec-fits``)
--------------------------------
:func:`write_fits` writes, in format version 1:

* HDU0: primary header with ``JAXSPEC = 'spectra'`` (the marker the identifier looks for),
  ``JXFMTVER = 1``, ``JXBSHAPE`` (JSON batch shape), ``JXSHARED`` (shared wavelength axis),
  ``JXDTYPES`` (JSON original dtypes), ``JXMETA`` (JSON of every ``SpectrumMeta`` field, a long
  string in ``CONTINUE`` cards), ``OBJECT`` for a single id, and a copy of the representable
  ``meta.header`` cards (standard 8-character keywords with ASCII string, int, bool or
  finite float values) for other FITS tools;
* HDU1 ``SPECTRA``: binary table, one row per spectrum (batch flattened in C order), array
  columns ``FLUX``, ``IVAR`` (same dtype), ``MASK`` (logical, True = bad), ``WAVE`` [Å] when
  the spectrum is single or each spectrum has its own axis, and ``OBJECT_ID`` for batch ids;
* HDU2 ``WAVE``: the shared wavelength axis [Å] of a batch.

Reading it back gives every array bit for bit, with the same dtypes, and equal metadata. A
single spectrum's file is also a plain ``fits-table`` that other tools can read.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import atomic_path
from ..errors import FileFormatError, JaxspecError
from ..spectrum import Spectrum, SpectrumMeta
from . import _fits
from .hdf5 import _restore_dtype, _storage, meta_from_json, meta_to_json
from .registry import make_spectrum

if TYPE_CHECKING:
    from .registry import FileProbe

__all__ = [
    "write_fits",
    "read_jaxspec_fits",
    "read_fits_table",
    "read_fits_image",
    "is_jaxspec_fits",
    "is_fits_table",
    "is_fits_image",
    "FITS_FORMAT_VERSION",
]

#: Format version of files written by :func:`write_fits`.
FITS_FORMAT_VERSION = 1
_MARKER_KEY, _MARKER_VALUE = "JAXSPEC", "spectra"

WAVE_COLUMNS = ("wave", "wavelength", "lambda", "loglam")
FLUX_COLUMNS = ("flux",)
IVAR_COLUMNS = ("ivar", "inverse_variance", "invvar")
ERROR_COLUMNS = ("error", "err", "sigma", "uncertainty", "flux_err", "flux_error")
VARIANCE_COLUMNS = ("variance", "var")
MASK_COLUMNS = ("mask",)
ID_COLUMNS = ("object_id", "objid", "obj_id")
IVAR_HDUS = ("IVAR",)
ERROR_HDUS = ("ERROR", "ERR", "SIGMA", "UNCERT")
VARIANCE_HDUS = ("VARIANCE", "VAR")

_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$")
_RESERVED = {_MARKER_KEY, "OBJECT", "CREATOR", "EXTNAME"}


# ------------------------------------------------------------------------ identifiers
def is_jaxspec_fits(probe: FileProbe) -> bool:
    """A FITS file written by :func:`write_fits` (primary keyword ``JAXSPEC='spectra'``)."""
    if not probe.is_fits:
        return False
    return str(probe.hdus[0].header.get(_MARKER_KEY, "")).strip() == _MARKER_VALUE


def is_fits_table(probe: FileProbe) -> bool:
    """A FITS file with a table HDU holding a wavelength and a flux column."""
    if not probe.is_fits:
        return False
    waves, fluxes = set(WAVE_COLUMNS), set(FLUX_COLUMNS)
    return any(
        info.kind == "table" and info.column_set() & waves and info.column_set() & fluxes
        for info in probe.hdus
    )


def _is_1d_spectrum(info: Any) -> bool:
    shape = info.shape
    one_d = len(shape) == 1 or (len(shape) == 2 and shape[0] == 1)
    header = info.header
    return (
        info.kind == "image"
        and one_d
        and "CRVAL1" in header
        and ("CDELT1" in header or "CD1_1" in header)
    )


def is_fits_image(probe: FileProbe) -> bool:
    """A FITS file with a 1D image (or a 1 × n image) carrying a wavelength WCS."""
    return probe.is_fits and any(_is_1d_spectrum(info) for info in probe.hdus)


# ----------------------------------------------------------------------------- writer
def _header_value_ok(value: Any) -> bool:
    if isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= 68 and all(32 <= ord(c) < 127 for c in value)
    return False


def _fits_float(array: Any, name: str) -> tuple[np.ndarray, str]:
    arr, original = _storage(array, name)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # FITS has no 16-bit floats; float32 holds them exactly
    return arr, original


def write_fits(spec: Spectrum, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Write a spectrum or a batch to FITS so that :func:`jaxspec.io.read` restores it exactly.

    The layout is described in the module docstring. A path ending in ``.gz`` is written
    gzip-compressed. The write is atomic (temporary file renamed onto ``path`` when
    complete): a failure leaves ``path`` untouched and no temporary file behind.

    Args:
        spec: a :class:`~jaxspec.Spectrum` with concrete (not traced) arrays.
        path: destination (``.fits``, ``.fit``, ``.fits.gz``).
        overwrite: if False and ``path`` exists, raise ``FileExistsError``.

    Raises:
        TypeError: ``spec`` is not a Spectrum, or a dtype cannot be stored exactly.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileFormatError: writing failed (the message names the file and the cause).
    """
    from astropy.io import fits

    if not isinstance(spec, Spectrum):
        raise TypeError(f"write_fits expects a jaxspec.Spectrum, got {type(spec).__name__}")
    wave, wave_dtype = _fits_float(spec.wave, "wave")
    flux, flux_dtype = _fits_float(spec.flux, "flux")
    ivar, _ = _fits_float(spec.ivar, "ivar")
    mask = np.asarray(spec.mask, dtype=bool)
    batch_shape = tuple(spec.batch_shape)
    n_pix = spec.n_pix
    n_rows = int(np.prod(batch_shape)) if batch_shape else 1
    ids = spec.meta.object_id
    ids_in_column = (
        isinstance(ids, tuple)
        and len(ids) == n_rows
        and len(batch_shape) == 1
        and all(_header_value_ok(i) and i == i.rstrip() for i in ids)
    )

    def fmt(arr: np.ndarray) -> str:
        return f"{n_pix}{'D' if arr.dtype == np.float64 else 'E'}"

    columns = []
    wave_in_table = not batch_shape or not spec.shared_wave
    if wave_in_table:
        columns.append(
            fits.Column("WAVE", fmt(wave), unit="Angstrom", array=wave.reshape(n_rows, n_pix))
        )
    flux_unit = spec.meta.flux_unit if _header_value_ok(spec.meta.flux_unit) else None
    columns += [
        fits.Column("FLUX", fmt(flux), unit=flux_unit or None, array=flux.reshape(n_rows, n_pix)),
        fits.Column("IVAR", fmt(ivar), array=ivar.reshape(n_rows, n_pix)),
        fits.Column("MASK", f"{n_pix}L", array=mask.reshape(n_rows, n_pix)),
    ]
    if ids_in_column:
        width = max([1, *(len(i) for i in ids)])
        columns.append(fits.Column("OBJECT_ID", f"{width}A", array=np.array(ids)))

    primary = fits.PrimaryHDU()
    header = primary.header
    for key, value in spec.meta.header:
        if (
            _KEYWORD.match(key)
            and key not in _RESERVED
            and not key.startswith("JX")
            and not _fits.STRUCTURAL_KEYWORDS.match(key)
            and _header_value_ok(value)
        ):
            header[key] = value
    header[_MARKER_KEY] = (_MARKER_VALUE, "written by jaxspec.io.write_fits")
    header["JXFMTVER"] = (FITS_FORMAT_VERSION, "jaxspec FITS format version")
    header["JXBSHAPE"] = (json.dumps(list(batch_shape)), "batch shape (JSON)")
    header["JXSHARED"] = (bool(spec.shared_wave), "one wavelength axis for the batch")
    header["JXDTYPES"] = json.dumps({"wave": wave_dtype, "flux": flux_dtype})
    if isinstance(ids, str) and _header_value_ok(ids):
        header["OBJECT"] = ids
    header["CREATOR"] = _created_by()
    header["JXMETA"] = meta_to_json(spec.meta, with_object_id=not ids_in_column)
    hdus = [primary, fits.BinTableHDU.from_columns(columns, name="SPECTRA")]
    if not wave_in_table:
        wave_hdu = fits.ImageHDU(wave, name="WAVE")
        wave_hdu.header["BUNIT"] = "Angstrom"
        hdus.append(wave_hdu)
    hdul = fits.HDUList(hdus)

    compress = os.fspath(path).lower().endswith(".gz")
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            with open(tmp, "wb") as raw:
                if compress:
                    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                        hdul.writeto(gz)
                else:
                    hdul.writeto(raw)
        except JaxspecError:
            raise
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise FileFormatError(
                f"could not write {path}: {exc}; the target was left unchanged"
            ) from exc


def _created_by() -> str:
    from .. import __version__

    return f"jaxspec-stellar {__version__}"


# ---------------------------------------------------------------------------- readers
def read_jaxspec_fits(path: str | os.PathLike) -> Spectrum:
    """Read a file written by :func:`write_fits`, restoring arrays, dtypes and metadata.

    Raises:
        FileFormatError: the marker or version is wrong, or an HDU/column is missing.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header
        if str(h0.get(_MARKER_KEY, "")).strip() != _MARKER_VALUE:
            raise FileFormatError(
                f"{path} was not written by jaxspec.io.write_fits (no {_MARKER_KEY}="
                f"'{_MARKER_VALUE}' keyword); read it with format='fits-table' or 'fits-image'"
            )
        version = h0.get("JXFMTVER")
        if version != FITS_FORMAT_VERSION:
            raise FileFormatError(
                f"{path} has JXFMTVER={version!r}, but this jaxspec reads version "
                f"{FITS_FORMAT_VERSION}; use the jaxspec that wrote it (CREATOR="
                f"{h0.get('CREATOR')!r}) to convert it"
            )
        try:
            batch_shape = tuple(json.loads(h0["JXBSHAPE"]))
            dtypes = json.loads(h0.get("JXDTYPES", "{}"))
            meta_text = h0["JXMETA"]
        except (KeyError, ValueError) as exc:
            raise FileFormatError(
                f"{path}: jaxspec FITS header is incomplete or damaged ({exc}); write it again"
            ) from exc
        table = _fits.get_hdu(hdul, path, "SPECTRA", what="spectra table")

        def column(name: str, what: str) -> np.ndarray:
            return _fits.get_column(table, path, (name,), what=what, index=1)

        flux, ivar, mask = column("FLUX", "flux"), column("IVAR", "ivar"), column("MASK", "mask")
        if _fits.find_column(table, ("WAVE",)):
            wave = column("WAVE", "wavelength")
        else:
            wave_hdu = _fits.get_hdu(hdul, path, "WAVE", what="shared wavelength axis")
            wave = _fits.read_image(wave_hdu, path, what="shared wavelength axis", index=2)
        ids = None
        if _fits.find_column(table, ("OBJECT_ID",)):
            ids = tuple(str(i) for i in column("OBJECT_ID", "object ids"))
    n_pix = flux.shape[-1] if flux.ndim > 1 else flux.size // max(1, int(np.prod(batch_shape)))
    shape = batch_shape + (n_pix,)
    flux, ivar = flux.reshape(shape), ivar.reshape(shape)
    mask = mask.astype(bool).reshape(shape)
    if wave.ndim > 1 or wave.size != n_pix:
        wave = wave.reshape(shape) if batch_shape else wave.reshape(n_pix)
    else:
        wave = wave.reshape(n_pix)
    meta = meta_from_json(meta_text, path=path, object_id=ids)
    wave = _restore_dtype(wave, dtypes.get("wave"))
    flux = _restore_dtype(flux, dtypes.get("flux"))
    ivar = _restore_dtype(ivar, dtypes.get("flux"))
    return make_spectrum(path, wave, flux, ivar, mask, meta)


def _to_vacuum(wave: np.ndarray) -> np.ndarray:
    import jax

    from ..preprocess.air_vacuum import air_to_vacuum

    with jax.enable_x64(True):  # the conversion needs float64 to keep 1e-4 Å accuracy
        return np.asarray(air_to_vacuum(np.asarray(wave, dtype=np.float64)), dtype=np.float64)


def _ivar_from(values: np.ndarray, kind: str, dtype: Any) -> np.ndarray:
    """Inverse variance from an ivar, error (σ) or variance array; 0 where undefined."""
    values = values.astype(dtype, copy=False)
    good = np.isfinite(values) & (values > 0)
    safe = np.where(good, values, 1.0)
    if kind == "ivar":
        out = np.where(good, values, 0.0)
    elif kind == "error":
        out = np.where(good, 1.0 / (safe * safe), 0.0)
    else:
        out = np.where(good, 1.0 / safe, 0.0)
    return out.astype(dtype)


def _orient(wave: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Reverse rows whose wavelengths run from red to blue."""
    if wave.ndim == 1:
        if wave.size > 1 and wave[0] > wave[-1]:
            return (wave[::-1].copy(), *(a[..., ::-1].copy() for a in arrays))
        return (wave, *arrays)
    flip = wave[:, 0] > wave[:, -1]
    if not flip.any():
        return (wave, *arrays)
    out = [np.where(flip[:, None], a[:, ::-1], a) for a in (wave, *arrays)]
    return tuple(out)


def _object_id(*headers: Any) -> str | None:
    for header in headers:
        for key in ("OBJECT", "OBJNAME", "OBJID"):
            value = header.get(key)
            if value is not None and str(value).strip():
                return str(value).strip()
    return None


def _pick_table(hdul: Any, path: str | os.PathLike, hdu: int | str | None) -> tuple[Any, int]:
    if hdu is not None:
        chosen = _fits.get_hdu(hdul, path, hdu, what="spectrum table")
        index = list(hdul).index(chosen)
        if not isinstance(chosen, _fits.TABLE_HDUS):
            raise FileFormatError(
                f"{path}: HDU {hdu!r} is a {type(chosen).__name__}, not a table; "
                f"HDUs: {_fits.describe_hdus(hdul)}"
            )
        return chosen, index
    tables = [(h, i) for i, h in enumerate(hdul) if isinstance(h, _fits.TABLE_HDUS)]
    if not tables:
        raise FileFormatError(
            f"{path} has no table HDU (HDUs: {_fits.describe_hdus(hdul)}); for a 1D image "
            "use format='fits-image'"
        )
    for h, i in tables:
        if _fits.find_column(h, WAVE_COLUMNS) and _fits.find_column(h, FLUX_COLUMNS):
            return h, i
    return tables[0]  # the column look-up below reports what is missing


def read_fits_table(
    path: str | os.PathLike,
    *,
    hdu: int | str | None = None,
    air: bool | None = None,
) -> Spectrum:
    """Read spectra from a FITS binary table.

    Args:
        path: the file.
        hdu: index or ``EXTNAME`` of the table; default the first table with wavelength and
            flux columns.
        air: True if the wavelengths are in air, False if vacuum; None reads
            ``AIRORVAC``/``VACUUM`` from the table or primary header (default vacuum).

    Returns:
        one spectrum (a one-row-per-pixel table, or one row of array columns) or a batch
        (several rows of array columns; the wavelength axis is shared when all rows agree).
        The flux dtype is kept; wavelengths keep theirs unless converted (units, loglam,
        air), which gives float64.

    Raises:
        FileFormatError: no table, or no wavelength/flux column; the message names the file,
            the HDU, the column names looked for and those present.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header.copy()
        table, index = _pick_table(hdul, path, hdu)
        th = table.header.copy()

        def col(names: tuple[str, ...], what: str) -> tuple[np.ndarray, str, str]:
            name = _fits.find_column(table, names) or ""
            values = _fits.get_column(table, path, names, what=what, index=index)
            unit = table.columns[name].unit if name else None
            return values, name, str(unit or "")

        wave, wave_name, wave_unit = col(WAVE_COLUMNS, "wavelength")
        flux, _, flux_unit_raw = col(FLUX_COLUMNS, "flux")
        ivar = None
        for names, kind in (
            (IVAR_COLUMNS, "ivar"),
            (ERROR_COLUMNS, "error"),
            (VARIANCE_COLUMNS, "variance"),
        ):
            if _fits.find_column(table, names):
                values, _, unit = col(names, kind)
                if kind == "error":
                    values = values * _unit_factor(unit, flux_unit_raw)
                ivar = _ivar_from(
                    values, kind, flux.dtype if flux.dtype.kind == "f" else np.float64
                )
                break
        mask = col(MASK_COLUMNS, "mask")[0] != 0 if _fits.find_column(table, MASK_COLUMNS) else None
        ids = None
        id_name = _fits.find_column(table, ID_COLUMNS)
        if id_name and flux.ndim == 2 and flux.shape[0] > 1:
            ids = tuple(str(v).strip() for v in col(ID_COLUMNS, "object id")[0])

    convert = wave_name.lower() == "loglam"
    if convert:
        wave = 10.0 ** wave.astype(np.float64)
    else:
        factor = _fits.length_unit_to_angstrom(wave_unit, path=path, what=f"column {wave_name!r}")
        if factor != 1.0:
            wave, convert = wave.astype(np.float64) * factor, True
    in_air = air if air is not None else (_fits.is_air(th) or _fits.is_air(h0))
    if in_air:
        wave = _to_vacuum(wave)
    if flux.ndim == 2 and flux.shape[0] == 1:
        wave, flux = wave.reshape(-1), flux[0]
        ivar = None if ivar is None else ivar.reshape(-1)
        mask = None if mask is None else mask.reshape(-1)
    if ivar is None:
        ivar = np.ones(flux.shape, dtype=flux.dtype if flux.dtype.kind == "f" else np.float64)
    if mask is None:
        mask = np.zeros(flux.shape, dtype=bool)
    wave, flux, ivar, mask = _orient(wave, flux, ivar, mask)
    if wave.ndim == 2 and np.all(wave == wave[:1]):
        wave = wave[0].copy()

    flux_unit = _fits.parse_flux_unit(flux_unit_raw)
    header = _fits.header_cards(h0) + _fits.header_cards(th)
    if flux_unit is None:
        header.append(("FLUXUNIT", flux_unit_raw))
    meta = SpectrumMeta(
        object_id=ids if ids is not None else _object_id(th, h0),
        source=os.fspath(path),
        format="fits-table",
        flux_unit=flux_unit or "",
        frame=_frame(th, h0),
        header=tuple(header),
    )
    return make_spectrum(path, wave, flux, ivar, mask, meta)


def _unit_factor(unit: str, target: str) -> float:
    """Factor converting values in ``unit`` to ``target`` (1 when either is unknown)."""
    from astropy import units as u

    a, b = _fits.parse_flux_unit(unit), _fits.parse_flux_unit(target)
    if not a or not b or a == b:
        return 1.0
    try:
        return float(u.Unit(a).to(u.Unit(b)))
    except u.UnitConversionError:
        return 1.0


def _frame(*headers: Any) -> str:
    for header in headers:
        frame = _fits.frame_from_specsys(header)
        if frame != "unknown":
            return frame
    return "unknown"


def read_fits_image(
    path: str | os.PathLike,
    *,
    hdu: int | str | None = None,
    air: bool | None = None,
) -> Spectrum:
    """Read a 1D spectrum image with a wavelength WCS.

    Args:
        path: the file.
        hdu: index or ``EXTNAME`` of the image; default the first 1D image with a WCS.
        air: True/False to override the air/vacuum detection (``CTYPE1='AWAV…'``,
            ``AIRORVAC``, ``VACUUM``).

    Returns:
        a single :class:`~jaxspec.Spectrum` with float64 vacuum wavelengths [Å], the image's
        flux dtype, ivar from an ``IVAR``/``ERROR``/``VARIANCE`` extension (unit weights if
        none), mask from a ``MASK`` extension; ``meta.flux_unit`` from ``BUNIT``, the frame
        from ``SPECSYS``.

    Raises:
        FileFormatError: no 1D image with a WCS, an unsupported ``CTYPE1``, or uncertainty /
            mask extensions whose shape differs from the flux.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header.copy()
        if hdu is None:
            candidates = [
                i
                for i, h in enumerate(hdul)
                if isinstance(h, _fits.IMAGE_HDUS)
                and _is_1d_spectrum(
                    _fits.HDUInfo(i, "", "image", h.header, _fits.image_shape(h.header))
                )
            ]
            if not candidates:
                raise FileFormatError(
                    f"{path} has no 1D image with a wavelength WCS (CRVAL1 and CDELT1/CD1_1); "
                    f"HDUs: {_fits.describe_hdus(hdul)}. For tables use format='fits-table'"
                )
            index = candidates[0]
        else:
            chosen = _fits.get_hdu(hdul, path, hdu, what="spectrum image")
            index = list(hdul).index(chosen)
        image = hdul[index]
        ih = image.header.copy()
        flux = _fits.read_image(image, path, what="flux", index=index)
        if flux.ndim == 2 and flux.shape[0] == 1:
            flux = flux[0]
        if flux.ndim != 1:
            raise FileFormatError(
                f"{path}: HDU {index} holds a {flux.ndim}-D image of shape {flux.shape}; "
                "fits-image reads 1D spectra only"
            )
        extras = {}
        names = {str(h.header.get("EXTNAME", "")).strip().upper(): i for i, h in enumerate(hdul)}
        for group, kind in (
            (IVAR_HDUS, "ivar"),
            (ERROR_HDUS, "error"),
            (VARIANCE_HDUS, "variance"),
            (("MASK",), "mask"),
        ):
            for name in group:
                if name in names and names[name] != index:
                    arr = _fits.read_image(hdul[names[name]], path, what=kind, index=names[name])
                    extras[kind] = (name, arr.reshape(-1) if arr.size == flux.size else arr)
                    break
    label = f"HDU {index}"
    wave, wcs_air = _fits.wcs_wavelength(ih, flux.size, path=path, label=label)
    in_air = air if air is not None else (wcs_air or _fits.is_air(h0))
    if in_air:
        wave = _to_vacuum(wave)
    dtype = flux.dtype if flux.dtype.kind == "f" else np.float64
    ivar = np.ones(flux.shape, dtype=dtype)
    mask = np.zeros(flux.shape, dtype=bool)
    for kind, (name, arr) in extras.items():
        if arr.shape != flux.shape:
            raise FileFormatError(
                f"{path}: the {name} extension has shape {arr.shape} but the flux has "
                f"{flux.shape}; they must match pixel for pixel"
            )
        if kind == "mask":
            mask = arr != 0
        else:
            ivar = _ivar_from(arr, kind, dtype)
    wave, flux, ivar, mask = _orient(wave, flux, ivar, mask)
    bunit = ih.get("BUNIT", h0.get("BUNIT"))
    flux_unit = _fits.parse_flux_unit(bunit)
    header = _fits.header_cards(h0) + (_fits.header_cards(ih) if index else [])
    if flux_unit is None:
        header.append(("FLUXUNIT", str(bunit)))
    meta = SpectrumMeta(
        object_id=_object_id(ih, h0),
        source=os.fspath(path),
        format="fits-image",
        flux_unit=flux_unit or "",
        frame=_frame(ih, h0),
        header=tuple(header),
    )
    return make_spectrum(path, wave, flux, ivar, mask, meta)
