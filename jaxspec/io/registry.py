"""A registry of small per-format spectrum loaders, sniffed from file headers.

Each format has a name, an *identifier* that looks at the file's content (magic bytes and
headers, never only its name) and a *reader* that turns the file into a
:class:`~jaxspec.Spectrum`. Built-in formats are registered as ``"module:function"``
strings, so nothing heavier than the standard library is imported until a file is read
(the idea of specutils' ``io/default_loaders``, without import-time registration).

:func:`identify` tries the identifiers in a fixed order: first the specific formats in
registration order, then the generic fallbacks (``fits-table``, ``fits-image``). One
:class:`FileProbe` is shared by all identifiers, so a file is opened and its headers parsed
once however many formats are tried.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import importlib
import inspect
import os
import zlib
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FileFormatError, SpectrumValidationError, UnknownFormatError

if TYPE_CHECKING:
    from ..spectrum import Spectrum, SpectrumMeta
    from ._fits import HDUInfo

__all__ = [
    "FileProbe",
    "FormatEntry",
    "register_reader",
    "available_formats",
    "get_reader",
    "identify",
    "read",
    "make_spectrum",
    "check_exists",
]

#: Bytes a FITS file starts with (the mandatory first card of the primary header).
FITS_SIGNATURE = b"SIMPLE  ="
#: The HDF5 superblock signature; it sits at byte 0 or after a user block of 512·2ⁿ bytes.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
#: One FITS block; the probe's ``head`` holds at most this many (decompressed) bytes.
_HEAD_SIZE = 2880


def check_exists(path: str | os.PathLike) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, or raise if it is not a readable file.

    Raises:
        FileNotFoundError: nothing exists at ``path``.
        IsADirectoryError: ``path`` is a directory.
    """
    p = Path(path)
    if not p.exists():
        where = "" if p.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        raise FileNotFoundError(f"no such file: {os.fspath(path)}{where}; check the path")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory; give the path of one spectrum file")
    return p


class FileProbe:
    """Lazily read facts about one file, shared by every identifier.

    Attributes are computed on first use and cached: ``head`` reads at most one FITS block,
    ``hdus`` parses every FITS header (for a compressed file this decompresses it).

    Args:
        path: the file to probe; it must exist.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_exists(path)

    @cached_property
    def compression(self) -> str | None:
        """``"gzip"``, ``"bzip2"`` or ``None``, from the file's magic bytes."""
        with open(self.path, "rb") as handle:
            magic = handle.read(3)
        if magic[:2] == _GZIP_MAGIC:
            return "gzip"
        if magic == _BZIP2_MAGIC:
            return "bzip2"
        return None

    @cached_property
    def head(self) -> bytes:
        """The first 2880 bytes of the (decompressed) file content.

        Raises:
            FileFormatError: the compressed stream cannot even be started.
        """
        opener: Callable[..., Any] = {"gzip": gzip.open, "bzip2": bz2.open}.get(
            self.compression or "", open
        )
        try:
            with opener(self.path, "rb") as handle:
                return handle.read(_HEAD_SIZE)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(
                f"{self.path} looks {self.compression}-compressed but its stream is corrupt "
                f"({exc}); download or copy it again"
            ) from exc

    @property
    def is_fits(self) -> bool:
        """True when the (decompressed) content starts with a FITS primary header."""
        return self.head.startswith(FITS_SIGNATURE)

    @cached_property
    def is_hdf5(self) -> bool:
        """True when the file carries the HDF5 signature (uncompressed files only)."""
        if self.compression is not None:
            return False
        with open(self.path, "rb") as handle:
            for offset in _HDF5_OFFSETS:
                handle.seek(offset)
                if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                    return True
        return False

    @cached_property
    def hdus(self) -> tuple[HDUInfo, ...]:
        """Header summaries of every HDU of a FITS file (``()`` for other files).

        Raises:
            FileFormatError: the file starts like FITS but is truncated or corrupt.
        """
        if not self.is_fits:
            return ()
        from ._fits import read_hdu_infos

        return read_hdu_infos(self.path)

    @property
    def primary_header(self) -> Any:
        """The primary FITS header (an ``astropy.io.fits.Header``), or None if not FITS."""
        return self.hdus[0].header if self.hdus else None

    def describe(self) -> str:
        """A short description of what the file looks like, for error messages."""
        if not self.head:
            return "the file is empty"
        if self.is_hdf5:
            return "it is an HDF5 file"
        if self.is_fits:
            listing = "; ".join(info.describe() for info in self.hdus)
            return f"it is a FITS file with HDUs: {listing}"
        kind = f"{self.compression}-compressed data" if self.compression else "the file"
        return (
            f"{kind} has neither a FITS signature ({FITS_SIGNATURE!r}) nor an HDF5 signature; "
            f"it starts with {self.head[:16]!r}"
        )


@dataclasses.dataclass(frozen=True)
class FormatEntry:
    """One registered format.

    Attributes:
        name: the format name used by ``read(..., format=name)``.
        reader: ``"module:function"`` or a callable ``reader(path, **options) -> Spectrum``.
        identifier: ``"module:function"`` or a callable ``identifier(probe) -> bool``; None
            means the format is only used when asked for by name.
        description: one line shown in error messages and docs.
        fallback: generic formats are tried after every specific one.
    """

    name: str
    reader: str | Callable[..., Spectrum]
    identifier: str | Callable[[FileProbe], bool] | None = None
    description: str = ""
    fallback: bool = False

    def load_reader(self) -> Callable[..., Spectrum]:
        """Import (if needed) and return the reader function."""
        return _resolve(self.reader, f"reader of format {self.name!r}")

    def load_identifier(self) -> Callable[[FileProbe], bool] | None:
        """Import (if needed) and return the identifier function."""
        if self.identifier is None:
            return None
        return _resolve(self.identifier, f"identifier of format {self.name!r}")


def _resolve(target: str | Callable[..., Any], what: str) -> Callable[..., Any]:
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"{what} must be 'module:function', got {target!r}")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"{what}: module {module_name!r} has no function {attr!r}") from exc


_REGISTRY: dict[str, FormatEntry] = {}


def register_reader(
    name: str,
    reader: str | Callable[..., Spectrum],
    identifier: str | Callable[[FileProbe], bool] | None = None,
    *,
    description: str = "",
    fallback: bool = False,
    overwrite: bool = False,
) -> None:
    """Register a reader so :func:`jaxspec.io.read` can use it.

    Args:
        name: format name (``read(path, format=name)``).
        reader: ``reader(path, **options) -> Spectrum``, or its ``"module:function"`` path
            (imported only when the format is used).
        identifier: ``identifier(probe: FileProbe) -> bool`` deciding from the file content
            whether the reader applies, or its ``"module:function"`` path. It must return
            False (not raise) for files it does not recognise. None: never auto-detected.
        description: one line about the format.
        fallback: True for generic formats, tried after all specific ones.
        overwrite: allow replacing an existing format of the same name.

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is False, or ``name`` is empty.

    Example:
        >>> from jaxspec.io import register_reader
        >>> register_reader("my-survey", "mypkg.io:read_my_survey", "mypkg.io:is_my_survey",
        ...                 description="My survey 1D spectra")  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"format name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"format {name!r} is already registered ({_REGISTRY[name].description}); pass "
            "overwrite=True to replace it or choose another name"
        )
    _REGISTRY[name] = FormatEntry(name, reader, identifier, description, fallback)


def available_formats() -> tuple[str, ...]:
    """Names of the registered formats, in the order :func:`identify` tries them."""
    specific = [e.name for e in _REGISTRY.values() if not e.fallback]
    generic = [e.name for e in _REGISTRY.values() if e.fallback]
    return tuple(specific + generic)


def get_reader(name: str) -> FormatEntry:
    """The registry entry of format ``name``.

    Raises:
        ValueError: no such format (the message lists the available ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown format {name!r}; available formats: {', '.join(available_formats())}. "
            "Register new ones with jaxspec.io.register_reader"
        ) from None


def identify(path: str | os.PathLike) -> str:
    """Name of the first registered format whose identifier recognises the file.

    Args:
        path: file to inspect; its content is sniffed (magic bytes, FITS headers, HDF5
            signature), not only its name.

    Returns:
        the format name, e.g. ``"apstar"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: the file looks like FITS but is truncated or corrupt.
        UnknownFormatError: no identifier recognises it.
    """
    probe = FileProbe(path)
    tried = []
    for name in available_formats():
        identifier = _REGISTRY[name].load_identifier()
        if identifier is None:
            continue
        tried.append(name)
        if identifier(probe):
            return name
    raise UnknownFormatError(
        f"could not identify the format of {probe.path}: none of the formats "
        f"{', '.join(tried)} recognised it ({probe.describe()}). If you know the format, pass "
        f"it explicitly, e.g. jaxspec.io.read({os.fspath(path)!r}, format='fits-table'); "
        f"available formats: {', '.join(available_formats())}"
    )


def read(path: str | os.PathLike, format: str | None = None, **kwargs: Any) -> Spectrum:
    """Read a spectrum file with the reader of ``format`` (identified when None).

    See :func:`jaxspec.io.read` for the documented public entry point.
    """
    p = check_exists(path)
    name = identify(p) if format is None else format
    entry = get_reader(name)
    reader = entry.load_reader()
    _check_options(entry.name, reader, kwargs)
    return reader(path, **kwargs)


def _check_options(name: str, reader: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Turn an unknown keyword into a message that lists the reader's real options."""
    if not kwargs:
        return
    try:
        params = inspect.signature(reader).parameters
    except (TypeError, ValueError):  # builtins or C functions: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    options = [
        n for n, p in list(params.items())[1:] if p.kind is not inspect.Parameter.VAR_POSITIONAL
    ]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise TypeError(
            f"the {name!r} reader does not take option(s) {unknown}; it takes "
            f"{options or 'no options'}"
        )


def make_spectrum(
    path: str | os.PathLike,
    wave: Any,
    flux: Any,
    ivar: Any,
    mask: Any,
    meta: SpectrumMeta,
) -> Spectrum:
    """Build a :class:`~jaxspec.Spectrum`, naming the file in any validation error.

    Readers call this so that, e.g., unsorted or negative wavelengths in a file are reported
    as ``"<file>: wave must be strictly increasing ..."``.
    """
    from ..spectrum import Spectrum

    try:
        return Spectrum(wave, flux, ivar, mask, meta)
    except SpectrumValidationError as exc:
        raise SpectrumValidationError(
            f"{os.fspath(path)} (format {meta.format!r}) does not hold a valid spectrum: {exc}"
        ) from exc


# --------------------------------------------------------------------------- built-ins
# Registered as strings: the modules (and astropy / h5py) are imported on first use.
# fmt: off
_BUILTINS = (
    # name, module, reader, identifier, description, fallback
    ("hdf5", "hdf5", "read_hdf5", "is_hdf5",
     "jaxspec HDF5 spectra (versioned schema)", False),
    ("jaxspec-fits", "generic_fits", "read_jaxspec_fits", "is_jaxspec_fits",
     "FITS written by jaxspec.io.write_fits", False),
    ("apstar", "apogee", "read_apstar", "is_apstar",
     "APOGEE apStar/asStar combined spectra (DR13-DR17)", False),
    ("apvisit", "apogee", "read_apvisit", "is_apvisit",
     "APOGEE apVisit single-visit spectra", False),
    ("lamost", "lamost", "read_lamost", "is_lamost",
     "LAMOST low-resolution spectra (DR1-DR7 image, DR8+ table)", False),
    ("sdss", "sdss", "read_sdss", "is_sdss",
     "SDSS/BOSS spec-PLATE-MJD-FIBER and spec-lite files", False),
    ("fits-table", "generic_fits", "read_fits_table", "is_fits_table",
     "FITS binary table with wavelength and flux columns", True),
    ("fits-image", "generic_fits", "read_fits_image", "is_fits_image",
     "1D FITS image with a wavelength WCS", True),
)
# fmt: on

for _name, _module, _reader, _ident, _desc, _fallback in _BUILTINS:
    register_reader(
        _name,
        f"jaxspec.io.{_module}:{_reader}",
        f"jaxspec.io.{_module}:{_ident}",
        description=_desc,
        fallback=_fallback,
    )
del _name, _module, _reader, _ident, _desc, _fallback
