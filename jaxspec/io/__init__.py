"""Read and write spectra: survey files (APOGEE, LAMOST, SDSS), generic FITS and HDF5.

:func:`read` sniffs a file's content (not only its name) to pick a reader from a registry of
small per-format loaders; :func:`write` writes FITS or HDF5 files that :func:`read` restores
bit for bit. The import is light: format modules, astropy and h5py load on first use.

Formats, in the order :func:`identify` tries them:

========================  ==========================================================
``hdf5``                  jaxspec HDF5 spectra (:mod:`jaxspec.io.hdf5` documents the schema)
``jaxspec-fits``          FITS written by :func:`write_fits`
``apstar``                APOGEE apStar/asStar (``row=``, ``bad_bits=``)
``apvisit``               APOGEE apVisit (``bad_bits=``)
``lamost``                LAMOST LRS, DR1–7 image, DR8+ table (``andmask_bits=``, ``ormask_bits=``)
``sdss``                  SDSS/BOSS spec and spec-lite (``andmask_bits=``, ``ormask_bits=``)
``fits-table``            generic binary table (``hdu=``, ``air=``)
``fits-image``            generic 1D image with wavelength WCS (``hdu=``, ``air=``)
========================  ==========================================================

Example:
    >>> import jaxspec.io
    >>> from jaxspec.data import apogee_example_path
    >>> spec = jaxspec.io.read(apogee_example_path())
    >>> spec.meta.format, spec.n_pix
    ('apstar', 8575)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .registry import FileProbe as FileProbe
from .registry import available_formats as available_formats
from .registry import identify as identify
from .registry import register_reader as register_reader

if TYPE_CHECKING:
    from ..spectrum import Spectrum
    from .apogee import APOGEE_BAD_BITS as APOGEE_BAD_BITS
    from .apogee import read_apstar as read_apstar
    from .apogee import read_apvisit as read_apvisit
    from .generic_fits import read_fits_image as read_fits_image
    from .generic_fits import read_fits_table as read_fits_table
    from .generic_fits import write_fits as write_fits
    from .hdf5 import read_hdf5 as read_hdf5
    from .hdf5 import write_hdf5 as write_hdf5
    from .lamost import read_lamost as read_lamost
    from .sdss import read_sdss as read_sdss

__all__ = [
    "read",
    "write",
    "identify",
    "available_formats",
    "register_reader",
    "FileProbe",
    "read_hdf5",
    "write_hdf5",
    "write_fits",
    "read_apstar",
    "read_apvisit",
    "APOGEE_BAD_BITS",
    "read_lamost",
    "read_sdss",
    "read_fits_table",
    "read_fits_image",
    "WRITE_FORMATS",
]

#: Writers by format name, with the file name endings that select them.
WRITE_FORMATS = {
    "hdf5": (".h5", ".hdf5"),
    "fits": (".fits", ".fits.gz", ".fit", ".fit.gz", ".fts"),
}

_LAZY = {
    "read_hdf5": "jaxspec.io.hdf5",
    "write_hdf5": "jaxspec.io.hdf5",
    "write_fits": "jaxspec.io.generic_fits",
    "read_fits_table": "jaxspec.io.generic_fits",
    "read_fits_image": "jaxspec.io.generic_fits",
    "read_apstar": "jaxspec.io.apogee",
    "read_apvisit": "jaxspec.io.apogee",
    "APOGEE_BAD_BITS": "jaxspec.io.apogee",
    "read_lamost": "jaxspec.io.lamost",
    "read_sdss": "jaxspec.io.sdss",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxspec.io' has no attribute {name!r}")


def read(path: str | os.PathLike, format: str | None = None, **kwargs: Any) -> Spectrum:
    """Read a spectrum file into a :class:`~jaxspec.Spectrum`.

    Args:
        path: the file (plain, ``.gz`` or ``.bz2`` for FITS).
        format: a name from :func:`available_formats`; None identifies the file from its
            content (see :func:`identify`).
        **kwargs: options of the chosen reader (e.g. ``row="all"`` for ``apstar``); an
            option the reader does not take raises ``TypeError`` listing the ones it does.

    Returns:
        the spectrum (or batch), with vacuum wavelengths in Å, strictly increasing, numpy
        arrays, and ``meta.source``/``meta.format`` naming the file and the reader (files
        written by jaxspec give back the metadata they were written with).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnknownFormatError: no reader recognises the file (pass ``format=``).
        FileFormatError: the file is truncated, corrupt, or lacks what the format requires.
        SpectrumValidationError: the file's arrays are not a valid spectrum (e.g. unsorted
            or negative wavelengths); the message names the file.
    """
    from .registry import read as _read

    return _read(path, format, **kwargs)


def _write_format(path: str | os.PathLike, format: str | None) -> str:
    if format is not None:
        if format not in WRITE_FORMATS:
            raise ValueError(
                f"cannot write format {format!r}; writable formats: {sorted(WRITE_FORMATS)}"
            )
        return format
    name = Path(path).name.lower()
    for fmt, endings in WRITE_FORMATS.items():
        if name.endswith(endings):
            return fmt
    known = ", ".join(e for endings in WRITE_FORMATS.values() for e in endings)
    raise ValueError(
        f"cannot tell the format to write from the name {os.fspath(path)!r}; use one of the "
        f"endings {known}, or pass format='hdf5' or format='fits'"
    )


def write(
    spec: Spectrum,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    overwrite: bool = True,
) -> None:
    """Write a spectrum or a batch to HDF5 or FITS, atomically.

    Args:
        spec: the :class:`~jaxspec.Spectrum`.
        path: destination; ``.h5``/``.hdf5`` selects HDF5, ``.fits``/``.fit``/``.fits.gz``
            FITS (gzip-compressed for ``.gz``).
        format: ``"hdf5"`` or ``"fits"`` to override the name-based choice.
        overwrite: if False and ``path`` exists, raise ``FileExistsError``.

    Raises:
        ValueError: the format cannot be told from the name and is not given.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileFormatError: writing failed; ``path`` is left as it was.
    """
    fmt = _write_format(path, format)
    if fmt == "hdf5":
        from .hdf5 import write_hdf5 as _write
    else:
        from .generic_fits import write_fits as _write
    _write(spec, path, overwrite=overwrite)
