"""HDF5 spectra files: a small, versioned schema that round-trips a Spectrum bit for bit.

Schema, ``format_version`` 1
----------------------------
Root attributes:

* ``format`` = ``"jaxspec.spectra"``;
* ``format_version`` = 1 (integer). A reader refuses any other version;
* ``meta``: JSON object with the :class:`~jaxspec.SpectrumMeta` fields ``object_id`` (only when
  it is not stored as a dataset), ``source``, ``format``, ``flux_unit``, ``frame``,
  ``radial_velocity``, ``redshift``, ``resolution`` and ``header`` (a list of
  ``[key, value]`` pairs);
* ``batch_shape``: JSON list, the batch shape (``[]`` for one spectrum);
* ``shared_wave``: bool, True when ``wave`` is one axis for the whole batch;
* ``dtypes``: JSON object of the original dtype names of ``wave`` and ``flux`` (only
  differs from the stored dtype for types HDF5 cannot hold, e.g. bfloat16, stored as
  float32);
* ``created_by``: ``"jaxspec-stellar <version>"``.

Datasets:

* ``wave``: ``(n_pix,)`` when shared, else the shape of ``flux``; vacuum wavelength [Å];
* ``flux``: ``batch_shape + (n_pix,)`` in ``meta.flux_unit``;
* ``ivar``: same shape and dtype as ``flux``; inverse variance;
* ``mask``: same shape, bool (HDF5 enum), True = bad pixel;
* ``object_id``: ``(batch_shape[0],)`` variable-length UTF-8 strings, only for a 1-D batch
  whose ``meta.object_id`` is a tuple.

Batches are chunked one spectrum per chunk, so ``read_hdf5(path, index=...)`` reads only the
selected spectra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import atomic_path
from .._hdf5 import attr_str as _attr_str
from .._hdf5 import check_format_version, read_hdf5_checked
from ..errors import FileFormatError, JaxspecError
from ..spectrum import Spectrum, SpectrumMeta
from .registry import check_exists, make_spectrum

if TYPE_CHECKING:
    from .registry import FileProbe

__all__ = [
    "write_hdf5",
    "read_hdf5",
    "is_hdf5",
    "meta_to_json",
    "meta_from_json",
    "FORMAT_NAME",
    "FORMAT_VERSION",
]

#: Value of the root ``format`` attribute.
FORMAT_NAME = "jaxspec.spectra"
#: Schema version written by this module; the only one it reads.
FORMAT_VERSION = 1
_DATASETS = ("wave", "flux", "ivar", "mask")
_NATIVE_FLOATS = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}


def is_hdf5(probe: FileProbe) -> bool:
    """Any file with the HDF5 signature (the reader then checks the jaxspec schema)."""
    return probe.is_hdf5


def meta_to_json(meta: SpectrumMeta, *, with_object_id: bool) -> str:
    """Encode every :class:`SpectrumMeta` field as JSON (``object_id`` optionally left out)."""
    fields = {
        "object_id": list(meta.object_id) if isinstance(meta.object_id, tuple) else meta.object_id,
        "source": meta.source,
        "format": meta.format,
        "flux_unit": meta.flux_unit,
        "frame": meta.frame,
        "radial_velocity": meta.radial_velocity,
        "redshift": meta.redshift,
        "resolution": meta.resolution,
        "header": [[k, v] for k, v in meta.header],
    }
    if not with_object_id:
        fields.pop("object_id")
    return json.dumps(fields)


def meta_from_json(text: str, *, path: str | os.PathLike, object_id: Any = None) -> SpectrumMeta:
    """Rebuild :class:`SpectrumMeta` from :func:`meta_to_json` output.

    Raises:
        FileFormatError: the JSON is malformed or has unexpected fields.
    """
    try:
        fields = json.loads(text)
        header = tuple((str(k), v) for k, v in fields.pop("header", []))
        if object_id is not None:
            fields["object_id"] = object_id
        elif isinstance(fields.get("object_id"), list):
            fields["object_id"] = tuple(fields["object_id"])
        return SpectrumMeta(header=header, **fields)
    except (ValueError, TypeError, AttributeError) as exc:
        raise FileFormatError(
            f"{path}: the stored spectrum metadata cannot be decoded ({exc}); the file was "
            "not written by jaxspec or was edited by hand"
        ) from exc


def _storage(array: Any, name: str) -> tuple[np.ndarray, str]:
    """A numpy array HDF5 can hold exactly, and the original dtype name."""
    arr = np.asarray(array)
    original = str(arr.dtype)
    if arr.dtype == bool or arr.dtype in _NATIVE_FLOATS:
        return arr, original
    if np.issubdtype(arr.dtype, np.floating) or arr.dtype.kind == "V" or "float" in original:
        if arr.dtype.itemsize <= 4:
            return arr.astype(np.float32), original  # exact: float32 holds bfloat16 etc.
    raise TypeError(
        f"cannot store {name} of dtype {original} exactly; cast first, e.g. spec.astype(np.float64)"
    )


def write_hdf5(spec: Spectrum, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Write a spectrum or a batch to an HDF5 file (schema in the module docstring).

    The write is atomic: data go to a temporary file beside ``path`` that is renamed onto it
    only when complete, so a failure leaves ``path`` as it was.

    Args:
        spec: a :class:`~jaxspec.Spectrum` with concrete (not traced) arrays.
        path: destination, conventionally ``.h5`` or ``.hdf5``.
        overwrite: if False and ``path`` exists, raise ``FileExistsError``.

    Raises:
        TypeError: ``spec`` is not a Spectrum, or an array dtype cannot be stored exactly.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        FileFormatError: writing failed (the message names the file and the cause).
    """
    import h5py

    if not isinstance(spec, Spectrum):
        raise TypeError(f"write_hdf5 expects a jaxspec.Spectrum, got {type(spec).__name__}")
    wave, wave_dtype = _storage(spec.wave, "wave")
    flux, flux_dtype = _storage(spec.flux, "flux")
    ivar, _ = _storage(spec.ivar, "ivar")
    mask = np.asarray(spec.mask, dtype=bool)
    batch_shape = list(spec.batch_shape)
    ids = spec.meta.object_id
    ids_as_dataset = isinstance(ids, tuple) and len(batch_shape) == 1 and len(ids) == batch_shape[0]
    chunks = (1,) * len(batch_shape) + (spec.n_pix,) if batch_shape and flux.size else None
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT_NAME
                f.attrs["format_version"] = np.int64(FORMAT_VERSION)
                f.attrs["meta"] = meta_to_json(spec.meta, with_object_id=not ids_as_dataset)
                f.attrs["batch_shape"] = json.dumps(batch_shape)
                f.attrs["shared_wave"] = bool(spec.shared_wave)
                f.attrs["dtypes"] = json.dumps({"wave": wave_dtype, "flux": flux_dtype})
                f.attrs["created_by"] = _created_by()
                f.create_dataset("wave", data=wave, chunks=chunks if wave.ndim > 1 else None)
                for name, arr in (("flux", flux), ("ivar", ivar), ("mask", mask)):
                    f.create_dataset(name, data=arr, chunks=chunks)
                if ids_as_dataset:
                    f.create_dataset("object_id", data=list(ids), dtype=h5py.string_dtype("utf-8"))
        except JaxspecError:
            raise
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            raise FileFormatError(
                f"could not write {path}: {exc}; the target was left unchanged"
            ) from exc


def _created_by() -> str:
    from .. import __version__

    return f"jaxspec-stellar {__version__}"


def read_hdf5(
    path: str | os.PathLike,
    *,
    index: int | slice | Sequence[int] | None = None,
) -> Spectrum:
    """Read a spectrum or a batch written by :func:`write_hdf5`.

    Args:
        path: the file.
        index: select spectra along the first batch axis without reading the others: an int
            (gives a single spectrum, or a smaller batch for 2-D batches), a slice, or a
            sequence of ints. None reads everything.

    Returns:
        the :class:`~jaxspec.Spectrum`, with the dtypes and metadata that were written.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not an HDF5 file, truncated or corrupt, not a jaxspec spectra file,
            another ``format_version``, or a dataset is missing.
        IndexError: ``index`` is out of range or given for a single spectrum.
    """

    p = check_exists(path)
    return read_hdf5_checked(
        p,
        lambda f: _read_open(p, f, index),
        what="HDF5 data",
        remedy="Fetch or write it again",
        passthrough=(IndexError, FileNotFoundError),
    )


def _read_open(path: os.PathLike, f: Any, index: Any) -> Spectrum:
    fmt = f.attrs.get("format")
    if fmt is None or _attr_str(fmt) != FORMAT_NAME:
        found = "no 'format' attribute" if fmt is None else f"format={_attr_str(fmt)!r}"
        raise FileFormatError(
            f"{path} is an HDF5 file but not a jaxspec spectra file: expected root attribute "
            f"format={FORMAT_NAME!r}, found {found}. Write spectra with "
            "jaxspec.io.write_hdf5, or read this file with the tool that made it"
        )
    check_format_version(path, f, FORMAT_VERSION, "spectra", "convert it with that version")
    missing = [d for d in _DATASETS if d not in f]
    if missing:
        raise FileFormatError(
            f"{path}: jaxspec spectra file is missing dataset(s) {missing} (found "
            f"{sorted(f.keys())}); it was not written completely. Write it again"
        )
    batch_shape = tuple(json.loads(_attr_str(f.attrs.get("batch_shape", "[]"))))
    shared = bool(f.attrs.get("shared_wave", True))
    dtypes = json.loads(_attr_str(f.attrs.get("dtypes", "{}")))
    sel = _selection(path, batch_shape, index)

    def load(name: str, selected: bool) -> np.ndarray:
        dset = f[name]
        if not selected or sel is None:
            return dset[()]
        rows, order = sel
        data = dset[rows]
        return data if order is None else data[order]

    wave = load("wave", not shared)
    flux = load("flux", True)
    ivar = load("ivar", True)
    mask = load("mask", True).astype(bool)
    object_id = None
    if "object_id" in f:
        ids = f["object_id"].asstr()[()]
        ids = np.asarray(ids, dtype=object)
        if sel is not None:
            rows, order = sel
            ids = ids[rows] if order is None else ids[rows][order]
        object_id = str(ids) if np.ndim(ids) == 0 else tuple(str(i) for i in ids)
    meta = meta_from_json(_attr_str(f.attrs["meta"]), path=path, object_id=object_id)
    wave = _restore_dtype(wave, dtypes.get("wave"))
    flux = _restore_dtype(flux, dtypes.get("flux"))
    ivar = _restore_dtype(ivar, dtypes.get("flux"))
    return make_spectrum(path, wave, flux, ivar, mask, meta)


def _restore_dtype(arr: np.ndarray, name: str | None) -> np.ndarray:
    if name is None or str(arr.dtype) == name:
        return arr
    import jax.numpy as jnp  # knows ml_dtypes names such as bfloat16

    return arr.astype(jnp.dtype(name))


def _selection(
    path: os.PathLike, batch_shape: tuple[int, ...], index: Any
) -> tuple[Any, np.ndarray | None] | None:
    """h5py-compatible row selection and the reordering to apply after reading.

    h5py reads an int, a forward slice, or sorted unique indices; anything else is read as
    sorted unique rows and put back in the requested order.
    """
    if index is None:
        return None
    if not batch_shape:
        raise IndexError(f"{path} holds a single spectrum; read it with index=None")
    n = batch_shape[0]
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {path}, which holds {n} spectra")
        return int(index) % n, None
    if isinstance(index, slice):
        start, stop, step = index.indices(n)
        if step > 0:
            return slice(start, max(start, stop), step), None
        rows = np.arange(start, stop, step)
    else:
        rows = np.asarray(index)
        if rows.size == 0:
            rows = rows.astype(np.int64)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise IndexError(
                f"index must be None, an int, a slice or a sequence of ints; got {index!r}"
            )
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"index {index!r} is out of range for {path}, which holds {n} spectra")
        rows = rows % n
    if rows.size == 0:
        return slice(0, 0), None
    unique, inverse = np.unique(rows, return_inverse=True)
    return unique, inverse
