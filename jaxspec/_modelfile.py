"""Versioned, checksummed HDF5 files for trained models (regressors, classifiers).

A model file is plain arrays plus JSON attributes; nothing is ever unpickled. Layout:

* root attributes ``format`` (e.g. ``"jaxspec.cannon"``), ``format_version``, ``created_by``,
  ``created_utc``, ``content_sha256`` and one attribute per entry of ``attrs`` (JSON text,
  written with sorted keys);
* one dataset per entry of ``arrays`` (names may contain ``/`` for groups), each with HDF5's
  Fletcher-32 checksum, so flipped bits are caught on read;
* ``content_sha256``: SHA-256 over the ``attrs`` JSON and every array's name, dtype, shape
  and bytes, so an edited attribute or array is caught on read.

Writes go to a temporary file that is renamed into place. Readers get one-line
:class:`~jaxspec.FileFormatError` messages for a file that is not HDF5, truncated, of another
format or version, or whose contents fail a checksum.

:func:`flat_weights` and :func:`fill_state` convert a Flax NNX state to and from such
``{"a/b/kernel": array}`` dictionaries.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._atomic import atomic_path
from ._hdf5 import attr_str, check_format_version, read_hdf5_checked, to_json
from .errors import FileFormatError

__all__ = [
    "write_model_file",
    "read_model_file",
    "flat_weights",
    "fill_state",
    "weight_shapes",
    "check_weights",
]

_RESERVED = ("format", "format_version", "created_by", "created_utc", "content_sha256")


def _digest(attrs_json: Mapping[str, str], arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(attrs_json):
        h.update(f"{key}={attrs_json[key]};".encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_model_file(
    path: str | os.PathLike,
    *,
    format_name: str,
    format_version: int,
    attrs: Mapping[str, Any],
    arrays: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``attrs`` (JSON-serialisable values) and ``arrays`` to an HDF5 model file.

    Args:
        path: destination (``.h5``).
        format_name: the ``format`` attribute readers check (``"jaxspec.cannon"``).
        format_version: the layout version readers check.
        attrs: ``{name: value}``; each value is stored as JSON text.
        arrays: ``{name: array}``; numeric or bool arrays (``/`` in a name makes groups).
        overwrite: replace an existing file.

    Returns:
        the path written.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        ValueError: a reserved attribute name, or a value that is not JSON-serialisable.
    """
    import h5py

    from . import __version__

    clash = sorted(set(attrs) & set(_RESERVED))
    if clash:
        raise ValueError(f"attribute names {clash} are reserved by the model-file layout")
    attrs_json = {k: to_json(v, k) for k, v in attrs.items()}
    data = {k: np.asarray(v) for k, v in arrays.items()}
    for name, a in data.items():
        if a.dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {a.dtype}; only numbers and bools")
    target = Path(path)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    with atomic_path(target, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = format_name
        f.attrs["format_version"] = np.int64(format_version)
        f.attrs["created_by"] = f"jaxspec-stellar {__version__}"
        f.attrs["created_utc"] = now
        for key, text in attrs_json.items():
            f.attrs[key] = text
        f.attrs["content_sha256"] = _digest(attrs_json, data)
        for name, a in data.items():
            chunks = True if a.ndim and a.size else None
            f.create_dataset(name, data=a, fletcher32=chunks is not None, chunks=chunks)
    return target


def read_model_file(
    path: str | os.PathLike,
    *,
    format_name: str,
    format_version: int,
    what: str,
    remedy: str,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`write_model_file`.

    Args:
        path: the file.
        format_name: the expected ``format`` attribute.
        format_version: the version this jaxspec reads.
        what: what the file holds, for messages ("Cannon model").
        remedy: what to do about a bad file ("Train the model again").

    Returns:
        ``(attrs, arrays)``: the decoded JSON attributes (plus ``created_by`` and
        ``created_utc`` as strings) and every dataset as a numpy array.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not HDF5, another format or version, truncated, or contents that
            fail the Fletcher-32 or SHA-256 checks.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no {what} file at {p}; check the path")

    def read(f: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        fmt = f.attrs.get("format")
        if fmt is None or attr_str(fmt) != format_name:
            found = "no 'format' attribute" if fmt is None else f"format={attr_str(fmt)!r}"
            raise FileFormatError(
                f"{p} is not a jaxspec {what} file: expected format={format_name!r}, found {found}"
            )
        check_format_version(p, f, format_version, what, remedy.lower())
        if "content_sha256" not in f.attrs:
            raise FileFormatError(f"{p}: {what} file lacks its content_sha256; {remedy}")
        attrs_json = {k: attr_str(v) for k, v in f.attrs.items() if k not in _RESERVED}
        arrays: dict[str, np.ndarray] = {}
        f.visititems(
            lambda name, obj: arrays.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None
        )
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if _digest(attrs_json, arrays) != attr_str(f.attrs["content_sha256"]):
            raise FileFormatError(
                f"{p}: the contents do not match their SHA-256 checksum (arrays or settings "
                f"were modified, or the file is corrupted). {remedy}"
            )
        decoded: dict[str, Any] = {k: json.loads(v) for k, v in attrs_json.items()}
        decoded["created_by"] = attr_str(f.attrs.get("created_by", ""))
        decoded["created_utc"] = attr_str(f.attrs.get("created_utc", ""))
        return decoded, arrays

    return read_hdf5_checked(p, read, what=what, remedy=remedy)


def _leaf_array(leaf: Any) -> Any:
    """The array held by an NNX state leaf (an ``nnx.Variable`` or already an array)."""
    from flax import nnx

    return leaf.get_value() if isinstance(leaf, nnx.Variable) else leaf


def flat_weights(state: Any) -> dict[str, np.ndarray]:
    """An NNX state as ``{"a/b/kernel": float32 array}`` (paths joined by ``/``)."""
    from flax import nnx

    flat = {}
    for path, leaf in nnx.to_flat_state(state):
        flat["/".join(str(p) for p in path)] = np.asarray(_leaf_array(leaf), dtype=np.float32)
    return flat


def weight_shapes(state: Any) -> dict[str, tuple[int, ...]]:
    """``{"a/b/kernel": shape}`` of an NNX state (abstract states allowed)."""
    from flax import nnx

    out = {}
    for path, leaf in nnx.to_flat_state(state):
        out["/".join(str(p) for p in path)] = tuple(_leaf_array(leaf).shape)
    return out


def fill_state(template: Any, weights: Mapping[str, Any]) -> Any:
    """A copy of the NNX state ``template`` holding ``weights`` (``{"a/b/kernel": array}``)."""
    from flax import nnx

    pure = nnx.to_pure_dict(template)
    for name, arr in weights.items():
        node = pure
        *parents, leaf = name.split("/")
        for key in parents:
            node = node[int(key) if key.isdigit() and int(key) in node else key]
        node[int(leaf) if leaf.isdigit() and int(leaf) in node else leaf] = jnp.asarray(arr)
    out = jax.tree.map(lambda x: x, template)
    nnx.replace_by_pure_dict(out, pure)
    return out


def check_weights(path: Path, expected: Any, stored: Mapping[str, np.ndarray], what: str) -> None:
    """Raise :class:`~jaxspec.FileFormatError` unless ``stored`` has exactly the names and
    shapes of the NNX state ``expected``."""
    want = weight_shapes(expected)
    got = {k: tuple(v.shape) for k, v in stored.items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:6]
        raise FileFormatError(
            f"{path}: the stored weights do not fit the {what} network its settings describe "
            f"(mismatches: {diff}); the file is damaged or from another jaxspec"
        )
