"""Reading HDF5 files with errors that name the file and say what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import FileFormatError, JaxspecError

__all__ = ["read_hdf5_checked", "attr_str", "check_format_version", "to_json"]

T = TypeVar("T")

#: What h5py and a reader raise on a damaged file or a missing or malformed entry.
_DAMAGE = (OSError, KeyError, ValueError, TypeError, AttributeError, RuntimeError)


def read_hdf5_checked(
    path: Path,
    read: Callable[[Any], T],
    *,
    what: str,
    remedy: str,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """Open ``path`` read-only and return ``read(handle)``.

    A file that is not HDF5, truncated or corrupt, and a reader that trips over a missing or
    malformed entry, give a :class:`~jaxspec.FileFormatError` naming the file, what was being
    read and ``remedy``. :class:`~jaxspec.JaxspecError` and ``passthrough`` exceptions pass
    unchanged.

    Args:
        path: an existing file.
        read: ``read(h5py.File) -> result``.
        what: what the file holds, for messages ("grid", "emulator", "HDF5 data").
        remedy: the sentence telling the user what to do ("Generate the grid again").
        passthrough: further exception types to let through (e.g. ``IndexError``).
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(
            f"{path} cannot be opened as HDF5 ({exc}); it is truncated, corrupt or not an "
            f"HDF5 file. {remedy}"
        ) from exc
    try:
        with handle as f:
            return read(f)
    except (JaxspecError, *passthrough):
        raise
    except _DAMAGE as exc:
        raise FileFormatError(
            f"{path}: reading the {what} failed ({type(exc).__name__}: {exc}); the file is "
            f"truncated or corrupt. {remedy}"
        ) from exc


def attr_str(value: Any) -> str:
    """An HDF5 string attribute as ``str`` (h5py returns ``bytes`` for some)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def check_format_version(path: Path, f: Any, expected: int, what: str, remedy: str) -> None:
    """Raise :class:`~jaxspec.FileFormatError` unless ``f`` has ``format_version == expected``.

    Args:
        path: the file, for the message.
        f: the open ``h5py.File``.
        expected: the version this jaxspec reads.
        what: what the file holds ("grid", "emulator", "spectra").
        remedy: what else the user can do besides using the writing version.
    """
    version = f.attrs.get("format_version")
    if version is not None and int(version) == expected:
        return
    found = None if version is None else int(version)
    writer = attr_str(f.attrs.get("created_by", "its 'created_by' attribute"))
    raise FileFormatError(
        f"{path} has format_version={found} ({what} file); this jaxspec reads "
        f"format_version={expected}. Use the jaxspec version that wrote it ({writer}), or "
        f"{remedy}"
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def to_json(obj: Any, what: str) -> str:
    """``obj`` as JSON for an HDF5 attribute (keys sorted; numpy scalars, arrays, paths allowed).

    Raises:
        ValueError: ``obj`` holds something else; the message names ``what``.
    """
    try:
        return json.dumps(obj, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from exc
