"""Emulator model files: HDF5, versioned, checksummed, never unpickled.

Schema, ``format_version`` 1
----------------------------
Root attributes:

* ``format`` = ``"jaxspec.emulator"``; ``format_version`` = 1 (readers refuse others);
* ``created_by`` (``"jaxspec-stellar <version>"``), ``created_utc`` (ISO 8601);
* ``architecture`` (``"payne"`` | ``"smooth"``) and ``config`` (JSON of its settings);
* ``label_space``: JSON ``{"names", "units", "lower", "upper"}`` — the training box;
* ``label_scaling``: how labels enter the network, ``"(x - lower) / (upper - lower) - 0.5"``;
* ``fixed_labels``: JSON ``{name: value}`` of labels held fixed in the training grid;
* ``resolution``: resolving power R (0 = the synthesizer's native sampling);
* ``provenance``: JSON — the training grids' provenance records and the training record
  (seed, split sizes, optimiser, steps, best validation loss, history);
* ``content_sha256``: SHA-256 over everything that shapes a prediction — the weight arrays
  (sorted by name), ``wave``, ``pixel_error`` and the attributes ``architecture``,
  ``config``, ``label_space``, ``label_scaling``, ``fixed_labels`` and ``resolution``
  (checked on load).

Datasets:

* ``wave``: ``(n_pix,)`` float64 vacuum wavelength, ``unit = "Angstrom"``;
* ``pixel_error``: ``(n_pix,)`` float32 held-out RMS error (absent if unknown);
* ``weights/<path>``: one float32 array per network weight, named by its path in the
  Flax NNX state (``hidden1/kernel``, ``hidden/0/bias``, ...).

Every dataset carries HDF5's Fletcher-32 checksum, so flipped bits are caught when read;
the SHA-256 attribute catches edits (of weights, wavelengths, label box, ...) that rewrote
a checksum or changed an attribute. Files are written to a
temporary file and renamed into place.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import nnx

from .._atomic import atomic_path
from .._hdf5 import attr_str as _attr_str
from .._hdf5 import check_format_version, read_hdf5_checked, to_json
from .._modelfile import fill_state
from .._modelfile import flat_weights as _flat_weights
from ..errors import FileFormatError
from ..labels import LabelSpace
from .model import Emulator
from .networks import ARCHITECTURES, _array, build_network

__all__ = ["save_emulator", "load_emulator", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "jaxspec.emulator"
FORMAT_VERSION = 1
#: The label scaling of every network in this format version (:func:`.networks.scale_labels`).
LABEL_SCALING = "(x - lower) / (upper - lower) - 0.5"


#: Root attributes that shape predictions, covered by ``content_sha256``.
_HASHED_ATTRS = (
    "architecture",
    "config",
    "label_space",
    "label_scaling",
    "fixed_labels",
    "resolution",
)


def _digest(
    weights: Mapping[str, np.ndarray], attrs: Mapping[str, Any], wave: Any, pixel_error: Any
) -> str:
    h = hashlib.sha256()
    for key in _HASHED_ATTRS:
        h.update(f"{key}={_attr_str(attrs.get(key, ''))};".encode())
    for name, arr in (("wave", wave), ("pixel_error", pixel_error)):
        if arr is not None:
            a = np.ascontiguousarray(arr)
            h.update(f"{name}{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    for name in sorted(weights):
        arr = np.ascontiguousarray(weights[name], dtype=np.float32)
        h.update(name.encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def save_emulator(emulator: Emulator, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an emulator to an HDF5 model file (atomically).

    Args:
        emulator: the emulator.
        path: destination (``.h5``).
        overwrite: replace an existing file.

    Returns:
        the path written.
    """
    import h5py

    from .. import __version__

    target = Path(path)
    weights = _flat_weights(emulator.params)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    with atomic_path(target, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["created_by"] = f"jaxspec-stellar {__version__}"
        f.attrs["created_utc"] = now
        f.attrs["architecture"] = emulator.arch
        f.attrs["config"] = to_json(emulator.config, "config")
        f.attrs["label_space"] = to_json(emulator.label_space.to_dict(), "label_space")
        f.attrs["label_scaling"] = LABEL_SCALING
        f.attrs["fixed_labels"] = to_json(emulator.fixed_labels, "fixed_labels")
        f.attrs["resolution"] = float(emulator.resolution or 0.0)
        f.attrs["provenance"] = to_json(emulator.provenance, "provenance")
        pixel_error = emulator.pixel_error
        f.attrs["content_sha256"] = _digest(weights, f.attrs, emulator.wave, pixel_error)
        wave = f.create_dataset("wave", data=emulator.wave, fletcher32=True, chunks=True)
        wave.attrs["unit"] = "Angstrom"
        wave.attrs["medium"] = "vacuum"
        if pixel_error is not None:
            f.create_dataset("pixel_error", data=pixel_error, fletcher32=True, chunks=True)
        group = f.create_group("weights")
        for name, arr in weights.items():
            group.create_dataset(name, data=arr, fletcher32=True, chunks=True)
    return target


def load_emulator(path: str | os.PathLike) -> Emulator:
    """Read an emulator written by :func:`save_emulator`.

    Nothing is unpickled: the network is rebuilt from its architecture name and settings,
    and the weights are plain arrays whose names and shapes must match it exactly.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not HDF5, not an emulator file, another ``format_version``, a
            truncated or corrupted file (checksum or SHA-256 mismatch), or weights that do
            not fit the stated architecture. The message names the problem.
    """

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no emulator file at {p}; check the path")
    return read_hdf5_checked(
        p,
        lambda f: _read_open(p, f),
        what="emulator",
        remedy="Train or copy the emulator again",
    )


def _read_open(path: Path, f: Any) -> Emulator:
    fmt = f.attrs.get("format")
    if fmt is None or _attr_str(fmt) != FORMAT_NAME:
        found = "no 'format' attribute" if fmt is None else f"format={_attr_str(fmt)!r}"
        raise FileFormatError(
            f"{path} is not a jaxspec emulator file: expected format={FORMAT_NAME!r}, found {found}"
        )
    check_format_version(path, f, FORMAT_VERSION, "emulator", "retrain the emulator")
    missing = [
        k for k in ("architecture", "config", "label_space", "content_sha256") if k not in f.attrs
    ]
    if missing or "wave" not in f or "weights" not in f:
        raise FileFormatError(
            f"{path}: emulator file lacks attribute(s) {missing} or the 'wave'/'weights' "
            "datasets; it is incomplete. Train the emulator again"
        )
    scaling = _attr_str(f.attrs.get("label_scaling", LABEL_SCALING))
    if scaling != LABEL_SCALING:
        raise FileFormatError(
            f"{path}: label_scaling {scaling!r} is not this jaxspec's {LABEL_SCALING!r}"
        )
    arch = _attr_str(f.attrs["architecture"])
    if arch not in ARCHITECTURES:
        raise FileFormatError(
            f"{path}: unknown architecture {arch!r} (this jaxspec knows "
            f"{sorted(ARCHITECTURES)}); use a newer jaxspec"
        )
    config = json.loads(_attr_str(f.attrs["config"]))
    space = LabelSpace.from_dict(json.loads(_attr_str(f.attrs["label_space"])))
    wave = f["wave"][()]
    pixel_error = f["pixel_error"][()] if "pixel_error" in f else None
    stored: dict[str, np.ndarray] = {}
    f["weights"].visititems(
        lambda name, obj: stored.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None
    )
    if _digest(stored, f.attrs, wave, pixel_error) != _attr_str(f.attrs["content_sha256"]):
        raise FileFormatError(
            f"{path}: the contents do not match their SHA-256 checksum (weights, wavelengths "
            "or settings were modified, or the file is corrupted). Train or copy the "
            "emulator again"
        )

    abstract = nnx.eval_shape(
        lambda: build_network(arch, space.n_labels, wave.size, config, seed=0)
    )
    graphdef, state = nnx.split(abstract)
    expected = {
        "/".join(str(p) for p in path_): tuple(_array(v).shape)
        for path_, v in nnx.to_flat_state(state)
    }
    got = {k: tuple(v.shape) for k, v in stored.items()}
    if expected != got:
        diff = sorted(set(expected.items()) ^ set(got.items()))[:6]
        raise FileFormatError(
            f"{path}: the stored weights do not fit a {arch} network with {config} for "
            f"{space.n_labels} labels and {wave.size} pixels (mismatches: {diff})"
        )
    state = fill_state(state, stored)
    resolution = float(f.attrs.get("resolution", 0.0)) or None
    return Emulator(
        arch=arch,
        config=config,
        label_space=space,
        wave=wave,
        graphdef=graphdef,
        params=state,
        resolution=resolution,
        pixel_error=pixel_error,
        fixed_labels=json.loads(_attr_str(f.attrs.get("fixed_labels", "{}"))),
        provenance=json.loads(_attr_str(f.attrs.get("provenance", "{}"))),
    )
