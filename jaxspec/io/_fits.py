"""Shared FITS helpers: safe opening, HDU and column look-up, wavelength WCS, units.

Every function here turns astropy's failures on bad files into
:class:`~jaxspec.errors.FileFormatError` messages that name the file, the HDU and the
problem. Two astropy behaviours need care:

* a truncated uncompressed file only produces the *warning* "File may have been truncated"
  and later a reshape error or short data, so the warning is escalated to an error;
* a truncated gzip file is read silently up to the cut (astropy swallows the ``EOFError``),
  so compressed files are decompressed here, whole and CRC-checked, before astropy sees them.

Data are always read with ``memmap=False`` into native-byte-order numpy arrays.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import io
import math
import os
import re
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from ..errors import FileFormatError, JaxspecError

__all__ = [
    "HDUInfo",
    "open_fits",
    "read_hdu_infos",
    "describe_hdus",
    "image_shape",
    "hdu_label",
    "get_hdu",
    "find_column",
    "get_column",
    "read_image",
    "native",
    "header_cards",
    "wcs_wavelength",
    "length_unit_to_angstrom",
    "parse_flux_unit",
    "is_air",
    "frame_from_specsys",
    "TABLE_HDUS",
    "IMAGE_HDUS",
]

TABLE_HDUS = (fits.BinTableHDU, fits.TableHDU)
IMAGE_HDUS = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)

# astropy warnings that mean the file is damaged, not merely unusual.
_FATAL_WARNING = re.compile(r"truncated|non-ASCII characters|END card", re.IGNORECASE)

#: Structural keywords that never go into ``SpectrumMeta.header``.
STRUCTURAL_KEYWORDS = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|TFIELDS|T(TYPE|FORM|UNIT|DIM|NULL|"
    r"SCAL|ZERO|DISP)\d+|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM|COMMENT|HISTORY|CONTINUE|END|"
    r"EXTNAME|EXTVER|INHERIT|ZIMAGE|ZTENSION|ZBITPIX|ZNAXIS\d*|ZCMPTYPE)$"
)


@dataclasses.dataclass(frozen=True)
class HDUInfo:
    """Header summary of one HDU, as seen by identifiers.

    Attributes:
        index: position in the file (0 = primary).
        name: ``EXTNAME`` upper-cased (``"PRIMARY"`` for HDU 0 without one, ``""`` otherwise).
        kind: ``"image"``, ``"table"`` or ``"other"``.
        header: a copy of the astropy header.
        shape: numpy-order data shape for images (``()`` when there is no data).
        columns: column names of a table (as written).
    """

    index: int
    name: str
    kind: str
    header: fits.Header
    shape: tuple[int, ...] = ()
    columns: tuple[str, ...] = ()

    def column_set(self) -> set[str]:
        """Lower-cased column names."""
        return {c.lower() for c in self.columns}

    def describe(self) -> str:
        """e.g. ``"1 COADD (table: flux, loglam, ivar)"``."""
        label = f"{self.index} {self.name}".rstrip()
        if self.kind == "table":
            shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
            return f"{label} (table: {shown or 'no columns'})"
        if self.kind == "image":
            return f"{label} (image {self.shape})" if self.shape else f"{label} (header only)"
        return f"{label} ({self.kind})"


def _load_bytes(path: Path) -> io.BytesIO | None:
    """Decompress a gzip/bzip2 file whole (checking its CRC); None for plain files."""
    with open(path, "rb") as handle:
        magic = handle.read(3)
    if magic[:2] == b"\x1f\x8b":
        opener, kind = gzip.open, "gzip"
    elif magic == b"BZh":
        opener, kind = bz2.open, "bzip2"
    else:
        return None
    try:
        with opener(path, "rb") as handle:
            return io.BytesIO(handle.read())
    except EOFError as exc:
        raise FileFormatError(
            f"{path} is truncated: its {kind} stream ends before the end-of-stream marker "
            f"({exc}). The download or copy was cut short; fetch the file again"
        ) from exc
    except (OSError, zlib.error) as exc:
        raise FileFormatError(
            f"{path} is corrupt: its {kind} stream cannot be decompressed ({exc}). "
            "Fetch the file again"
        ) from exc


def _raise_for_warnings(path: Path, caught: Iterable[warnings.WarningMessage]) -> None:
    """Escalate astropy warnings that signal damage; re-emit the harmless ones."""
    for w in caught:
        message = str(w.message)
        if _FATAL_WARNING.search(message):
            first_line = message.splitlines()[0]
            raise FileFormatError(
                f"{path} is truncated or corrupt: astropy reports '{first_line}'. "
                "Fetch the file again (compare its size or checksum with the archive)"
            )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


@contextlib.contextmanager
def open_fits(path: str | os.PathLike) -> Iterator[fits.HDUList]:
    """Open a FITS file (plain, ``.gz`` or ``.bz2``) and check it is complete.

    All headers are parsed on opening (``lazy_load_hdus=False``) and data are read without
    memory mapping, so damage is detected here rather than as garbage values later.

    Args:
        path: the file.

    Yields:
        the open ``HDUList`` (closed on exit).

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a FITS file, truncated, or corrupt; the message names the file.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    source: Any = _load_bytes(p) or p
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(source, memmap=False, lazy_load_hdus=False)
        except JaxspecError:
            raise
        except (OSError, ValueError, EOFError, TypeError, IndexError, KeyError) as exc:
            raise FileFormatError(
                f"{p} cannot be read as FITS: {exc}. It is not a FITS file, or it is corrupt; "
                "check it (e.g. with fitsverify) or fetch it again"
            ) from exc
    try:
        _raise_for_warnings(p, caught)
    except FileFormatError:
        hdul.close()
        raise
    with hdul:
        yield hdul


def _hdu_kind(hdu: Any) -> str:
    if isinstance(hdu, TABLE_HDUS):
        return "table"
    if isinstance(hdu, IMAGE_HDUS):
        return "image"
    return "other"


def _hdu_name(hdu: Any, index: int) -> str:
    name = str(hdu.header.get("EXTNAME", "") or "").strip().upper()
    return name or ("PRIMARY" if index == 0 else "")


def image_shape(header: fits.Header) -> tuple[int, ...]:
    naxis = int(header.get("NAXIS", 0) or 0)
    dims = [int(header.get(f"NAXIS{i}", 0) or 0) for i in range(naxis, 0, -1)]
    return tuple(dims) if dims and all(d > 0 for d in dims) else ()


def read_hdu_infos(path: str | os.PathLike) -> tuple[HDUInfo, ...]:
    """Header summaries of all HDUs of a FITS file (no data are read).

    Raises:
        FileFormatError: the file is not FITS, or is truncated or corrupt.
    """
    infos = []
    with open_fits(path) as hdul:
        for i, hdu in enumerate(hdul):
            kind = _hdu_kind(hdu)
            columns: tuple[str, ...] = ()
            shape: tuple[int, ...] = ()
            if kind == "table":
                columns = tuple(hdu.columns.names)
            elif kind == "image":
                shape = image_shape(hdu.header)
            infos.append(HDUInfo(i, _hdu_name(hdu, i), kind, hdu.header.copy(), shape, columns))
    return tuple(infos)


def describe_hdus(hdul: fits.HDUList) -> str:
    """One line listing the HDUs of an open file, for error messages."""
    parts = []
    for i, hdu in enumerate(hdul):
        kind = _hdu_kind(hdu)
        info = HDUInfo(
            i,
            _hdu_name(hdu, i),
            kind,
            hdu.header,
            image_shape(hdu.header) if kind == "image" else (),
            tuple(hdu.columns.names) if kind == "table" else (),
        )
        parts.append(info.describe())
    return "; ".join(parts)


def get_hdu(
    hdul: fits.HDUList, path: str | os.PathLike, key: int | str, *, what: str = "data"
) -> Any:
    """HDU ``key`` (index or case-insensitive ``EXTNAME``) with a clear error if absent.

    Args:
        hdul: the open file.
        path: its path, for messages.
        key: HDU index or name.
        what: what the caller expects there (``"flux"``), for messages.

    Raises:
        FileFormatError: no such HDU; the message lists the HDUs present.
    """
    if isinstance(key, str):
        wanted = key.strip().upper()
        for i, hdu in enumerate(hdul):
            if _hdu_name(hdu, i) == wanted:
                return hdu
    elif 0 <= key < len(hdul):
        return hdul[key]
    label = f"named {key!r}" if isinstance(key, str) else f"number {key}"
    raise FileFormatError(
        f"{path}: expected an HDU {label} holding the {what}, but the file has "
        f"{len(hdul)} HDU(s): {describe_hdus(hdul)}. Is this the right file or format?"
    )


def hdu_label(hdu: Any, index: int | None = None) -> str:
    """``"HDU 1 'COADD'"``-style label for messages."""
    name = str(hdu.header.get("EXTNAME", "") or "").strip()
    idx = "" if index is None else f" {index}"
    return f"HDU{idx} {name!r}" if name else f"HDU{idx}"


def find_column(hdu: Any, candidates: Sequence[str]) -> str | None:
    """The first column of a table HDU whose name matches a candidate (case-insensitive)."""
    by_lower = {name.lower(): name for name in hdu.columns.names}
    for cand in candidates:
        if cand.lower() in by_lower:
            return by_lower[cand.lower()]
    return None


def native(array: Any) -> np.ndarray:
    """A contiguous, native-byte-order numpy copy of ``array`` (FITS data are big-endian)."""
    arr = np.array(array, copy=True)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def _read_data(hdu: Any, path: str | os.PathLike, label: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated.*")
            return hdu.data
    except (ValueError, OSError, EOFError, TypeError, Warning) as exc:
        raise FileFormatError(
            f"{path}: the data of {label} cannot be read ({exc}); the file is truncated or "
            "corrupt. Fetch it again"
        ) from exc


def get_column(
    hdu: Any,
    path: str | os.PathLike,
    candidates: Sequence[str],
    *,
    what: str,
    index: int | None = None,
) -> np.ndarray:
    """Read a required table column as a native numpy array.

    Args:
        hdu: a table HDU.
        path: the file, for messages.
        candidates: accepted column names, tried in order (case-insensitive).
        what: what the column holds (``"wavelength"``), for messages.
        index: the HDU's position, for messages.

    Raises:
        FileFormatError: none of the candidates exists; the message names the file, the HDU,
            the names looked for and the columns present.
    """
    name = find_column(hdu, candidates)
    label = hdu_label(hdu, index)
    if name is None:
        raise FileFormatError(
            f"{path}: {label} has no {what} column; looked for {list(candidates)} "
            f"(case-insensitive) but the columns are {list(hdu.columns.names)}. Rename the "
            "column, or read the file with the reader of its real format (format=...)"
        )
    data = _read_data(hdu, path, label)
    return native(data[name])


def read_image(
    hdu: Any, path: str | os.PathLike, *, what: str, index: int | None = None
) -> np.ndarray:
    """Read the data array of an image HDU as a native numpy array.

    Raises:
        FileFormatError: the HDU has no data, or the data cannot be read.
    """
    label = hdu_label(hdu, index)
    data = _read_data(hdu, path, label)
    if data is None:
        raise FileFormatError(
            f"{path}: expected the {what} in {label}, but that HDU has no data array"
        )
    return native(data)


def header_cards(header: fits.Header, keys: Iterable[str] | None = None) -> list[tuple[str, Any]]:
    """Scalar header cards as ``(key, value)`` pairs, ready for ``SpectrumMeta.header``.

    Args:
        header: an astropy header.
        keys: keywords to keep, in this order (missing ones are skipped); None keeps every
            non-structural card.

    Returns:
        pairs whose values are str, bool, int or finite float (NaN/inf, undefined values,
        COMMENT/HISTORY and structural keywords are dropped).
    """
    if keys is None:
        keys = [k for k in header.keys() if k and not STRUCTURAL_KEYWORDS.match(k)]
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for key in keys:
        if key in seen or key not in header:
            continue
        seen.add(key)
        value = header[key]
        if isinstance(value, (bool, np.bool_)):
            out.append((key, bool(value)))
        elif isinstance(value, (int, np.integer)):
            out.append((key, int(value)))
        elif isinstance(value, (float, np.floating)):
            if math.isfinite(float(value)):
                out.append((key, float(value)))
        elif isinstance(value, str):
            out.append((key, value.strip()))
    return out


_ANGSTROM_SPELLINGS = {"a", "aa", "ang", "angs", "angstrom", "angstroms", "angstroem", "å"}


def length_unit_to_angstrom(unit: str | None, *, path: str | os.PathLike, what: str) -> float:
    """Factor converting a wavelength unit string to Å (``""``/None means Å).

    Raises:
        FileFormatError: the unit is not a length (e.g. Hz) or cannot be parsed.
    """
    from astropy import units as u

    text = (unit or "").strip()
    if text.lower() in _ANGSTROM_SPELLINGS or not text:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = u.Unit(text, parse_strict="silent")
    if isinstance(parsed, u.UnrecognizedUnit) or parsed.physical_type != "length":
        raise FileFormatError(
            f"{path}: the {what} unit {text!r} is not a length unit astropy understands "
            "(expected e.g. 'Angstrom', 'nm', 'um'); fix the unit in the file"
        )
    return float(parsed.to(u.AA))


def parse_flux_unit(unit: str | None) -> str | None:
    """Normalise a flux unit string with astropy; None if it cannot be parsed.

    A lone ``A``/``Ang`` is read as Ångström, not ampere (a common convention in spectra).
    """
    from astropy import units as u

    text = (unit or "").strip()
    if not text:
        return ""
    text = re.sub(r"(?<![A-Za-z])(A|Ang|Angs)(?![A-Za-z])", "Angstrom", text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = u.Unit(text, parse_strict="silent")
    if isinstance(parsed, u.UnrecognizedUnit):
        return None
    if parsed == u.dimensionless_unscaled:
        return ""
    return parsed.to_string()


def is_air(header: fits.Header) -> bool:
    """True when a header declares air wavelengths (``AIRORVAC='air'`` or ``VACUUM=F``)."""
    airorvac = str(header.get("AIRORVAC", "") or "").strip().lower()
    if airorvac.startswith("air"):
        return True
    vacuum = header.get("VACUUM", None)
    return vacuum is False or (isinstance(vacuum, str) and vacuum.strip().upper() in ("F", "AIR"))


_SPECSYS = {
    "TOPOCENT": "topocentric",
    "HELIOCEN": "heliocentric",
    "BARYCENT": "barycentric",
    "SOURCE": "rest",
}


def frame_from_specsys(header: fits.Header) -> str:
    """The jaxspec velocity frame named by the FITS ``SPECSYS`` keyword (WCS paper III)."""
    return _SPECSYS.get(str(header.get("SPECSYS", "") or "").strip().upper(), "unknown")


_LINEAR_CTYPES = {"", "WAVE", "AWAV", "LINEAR", "LAMBDA", "WAVELENGTH"}
_LOG10_CTYPES = {"LOG-LINEAR", "LOGLAM", "LOG10"}
_LOG_CTYPES = {"WAVE-LOG", "AWAV-LOG"}


def wcs_wavelength(
    header: fits.Header, n_pix: int, *, path: str | os.PathLike, label: str
) -> tuple[np.ndarray, bool]:
    """Pixel-centre wavelengths [Å] from a 1D spectral WCS, and whether they are in air.

    Supported axis types: linear (``CTYPE1`` in ``WAVE``, ``AWAV``, ``LINEAR`` or empty;
    ``DC-FLAG=1`` makes it log10-linear, the IRAF/SDSS/LAMOST convention), ``LOG-LINEAR``
    (log10), and ``WAVE-LOG``/``AWAV-LOG`` (FITS paper III:
    λ = CRVAL1·exp(CDELT1·(p − CRPIX1)/CRVAL1)). The step is ``CDELT1`` or ``CD1_1``;
    ``CRPIX1`` defaults to 1; ``CUNIT1`` defaults to Å (the FITS WCS standard's
    default is m, but spectra written without ``CUNIT1`` are in practice in Å).

    Args:
        header: header carrying the WCS.
        n_pix: number of pixels along the axis.
        path: the file, for messages.
        label: the HDU, for messages.

    Returns:
        ``(wave, air)``: float64 array of shape ``(n_pix,)`` in Å, and True when ``CTYPE1``
        starts with ``AWAV`` or the header says air (:func:`is_air`).

    Raises:
        FileFormatError: ``CRVAL1`` or the step is missing, or ``CTYPE1`` is unsupported.
    """
    ctype = str(header.get("CTYPE1", "") or "").strip().upper()
    missing = [k for k in ("CRVAL1",) if k not in header]
    step = header.get("CDELT1", header.get("CD1_1"))
    if step is None:
        missing.append("CDELT1 or CD1_1")
    if missing:
        raise FileFormatError(
            f"{path}: {label} has no wavelength WCS: missing {', '.join(missing)}. A 1D "
            "spectrum image needs CRVAL1, CDELT1 (or CD1_1), CRPIX1 and CTYPE1"
        )
    crval = float(header["CRVAL1"])
    crpix = float(header.get("CRPIX1", 1.0))
    step = float(step)
    pix = np.arange(1, n_pix + 1, dtype=np.float64)
    if ctype in _LOG_CTYPES:
        world = crval * np.exp(step * (pix - crpix) / crval)
    elif ctype in _LINEAR_CTYPES or ctype in _LOG10_CTYPES:
        world = crval + step * (pix - crpix)
        if ctype in _LOG10_CTYPES or int(header.get("DC-FLAG", 0) or 0) == 1:
            world = 10.0**world
    else:
        raise FileFormatError(
            f"{path}: {label} has CTYPE1 = {ctype!r}, not a wavelength axis jaxspec "
            f"understands (accepted: {sorted(_LINEAR_CTYPES | _LOG10_CTYPES | _LOG_CTYPES)}). "
            "Convert the file to a table with a wavelength column"
        )
    factor = length_unit_to_angstrom(header.get("CUNIT1"), path=path, what=f"{label} CUNIT1")
    air = ctype.startswith("AWAV") or is_air(header)
    return world * factor, air
