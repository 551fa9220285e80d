"""Training grids of synthetic spectra: label sampling and resumable, atomic HDF5 generation.

Generic over the synthesizer: anything with ``wave``, ``label_names``, ``label_units``,
``flux(labels) -> (normalised, continuum)`` and ``config()`` (see :class:`GridSynthesizer`)
can fill a grid, so the same code serves the physics :class:`jaxspec.synth.Synthesizer` and
any emulator or test double.

* :func:`sample_labels` draws labels in a box with scrambled Sobol or Latin-hypercube
  sampling (:mod:`scipy.stats.qmc`), deterministically from a seed, optionally keeping only
  points a domain test accepts (e.g. ``synthesizer.in_domain``).
* :func:`generate_grid` computes the spectra in chunks and writes them to HDF5. It is
  resumable: a killed job rerun with the same arguments computes only the missing chunks,
  and no spectrum is lost or written twice.
* :func:`read_grid` reads a grid back as a :class:`Grid`, optionally lazily.

Grid file schema, ``format_version`` 1
--------------------------------------
Root attributes:

* ``format`` = ``"jaxspec.grid"``; ``format_version`` = 1 (integer; readers refuse others);
* ``grid_hash``: SHA-256 of the labels, wavelengths, label names/units and synthesizer
  configuration (what a rerun compares to tell "same grid" from "different grid");
* ``created_by``: ``"jaxspec-stellar <version>"``;
* ``provenance``: JSON object with ``jaxspec_version``, ``created_utc`` (ISO 8601, when the
  file was assembled), ``started_utc`` (when the job first started), ``n``, ``n_wave``,
  ``chunk_size``, ``label_names``, ``label_units``, ``synthesizer`` (``synthesizer.config()``),
  ``grid_hash``, ``nonfinite_rows`` (indices of spectra with NaN/inf, normally empty), plus
  the caller's ``attrs`` — by convention ``sampling`` (``method``, ``seed``, ``bounds``,
  ``accept``) and ``command`` (the command line), as ``jaxspec synth-grid`` writes them.

Datasets:

* ``wave``: ``(n_wave,)`` float64, attributes ``unit = "Angstrom"``, ``medium = "vacuum"``;
* ``labels``: ``(n, k)`` float64, attributes ``names`` and ``units`` (``k`` strings each, in
  the synthesizer's label order, e.g. teff [K], logg [dex], feh [dex], alpha [dex], vmic
  [km/s]);
* ``flux``: ``(n, n_wave)`` float32 continuum-normalised flux, attribute ``unit = ""``;
* ``continuum``: ``(n, n_wave)`` float32 absolute surface flux F_λ, attribute
  ``unit = "erg / (s cm2 Angstrom)"``.

``flux`` and ``continuum`` are stored in HDF5 chunks of whole spectra (about 1 MiB each),
gzip-compressed with the shuffle filter, so a slice of spectra reads without the rest.

Resumable generation
--------------------
While a grid is being computed its work lives in ``<path>.parts/`` beside the output:

* ``manifest.h5`` — written atomically at the start: the full label array, the wavelengths,
  the configuration, the chunk size and ``grid_hash``. A rerun whose labels or synthesizer
  differ raises :class:`GridResumeError` (use a new output path, or delete the folder);
* ``chunk_000000.h5``, ... — chunk ``i`` holds spectra ``i*chunk_size`` to
  ``(i+1)*chunk_size`` (float32 flux and continuum, the chunk's labels, ``grid_hash``), each
  written to a temporary file and renamed into place, so a chunk file is complete or absent.
  A rerun checks every chunk (hash, index, shapes, labels) and recomputes the bad ones;
  temporary files left by a killed job are deleted;
* ``.lock`` — held (``flock``) while a process works on the grid; a second process on the
  same grid stops with an error instead of racing the first.

When all chunks exist, the final file is assembled through a temporary file and renamed
onto ``path``; then the parts folder is removed. Rerunning a finished grid does nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .._atomic import atomic_path
from .._hdf5 import attr_str as _attr_str
from .._hdf5 import check_format_version, read_hdf5_checked
from .._hdf5 import to_json as _to_json
from ..errors import FileFormatError, JaxspecError, LabelRangeError

if TYPE_CHECKING:
    from astropy.table import Table

    from ..spectrum import Spectrum

__all__ = [
    "sample_labels",
    "generate_grid",
    "read_grid",
    "read_grids",
    "Grid",
    "LazyDataset",
    "GridSynthesizer",
    "GridResumeError",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CONTINUUM_UNIT",
]

#: Value of the root ``format`` attribute of a grid file.
FORMAT_NAME = "jaxspec.grid"
#: Schema version written by this module; the only one :func:`read_grid` reads.
FORMAT_VERSION = 1
#: Unit of the ``continuum`` dataset (astropy string).
CONTINUUM_UNIT = "erg / (s cm2 Angstrom)"

_MANIFEST_FORMAT = "jaxspec.grid-manifest"
_CHUNK_FORMAT = "jaxspec.grid-chunk"
_DATASETS = ("wave", "labels", "flux", "continuum")
_METHODS = ("sobol", "lhs")
# Sampling gives up when, after at least this many draws, fewer than min_acceptance are kept.
_MIN_DRAWS_FOR_VERDICT = 4096
_H5_CHUNK_BYTES = 1 << 20


class GridResumeError(JaxspecError, ValueError):
    """An unfinished or finished grid at the output path belongs to a different job."""


class GridSynthesizer(Protocol):
    """What :func:`generate_grid` needs from a synthesizer."""

    wave: Any  # (n_wave,) vacuum wavelength [Å]
    label_names: Sequence[str]
    label_units: Sequence[str]

    def flux(self, labels: Any) -> tuple[Any, Any]:
        """``(n, k)`` labels -> normalised ``(n, n_wave)`` and continuum ``(n, n_wave)``."""
        ...

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description, stored as provenance."""
        ...


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------


def _parse_bounds(bounds: Mapping[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    if not isinstance(bounds, Mapping) or not bounds:
        raise ValueError(
            "bounds must be a non-empty dict {label name: (low, high)}, e.g. "
            "{'teff': (4000, 7000), 'vmic': (1.0, 1.0)}"
        )
    names, lo, hi = [], [], []
    for name, value in bounds.items():
        pair = np.atleast_1d(np.asarray(value, dtype=float))
        if pair.shape == (1,):
            pair = np.repeat(pair, 2)  # a single value fixes the label
        if pair.shape != (2,):
            raise ValueError(f"bounds[{name!r}] must be (low, high) or one value, got {value!r}")
        if not np.all(np.isfinite(pair)):
            raise ValueError(f"bounds[{name!r}] must be finite, got {tuple(pair.tolist())}")
        if pair[0] > pair[1]:
            raise ValueError(
                f"bounds[{name!r}]: low {pair[0]:g} is above high {pair[1]:g}; swap them"
            )
        names.append(str(name))
        lo.append(pair[0])
        hi.append(pair[1])
    return names, np.array(lo), np.array(hi)


def _sampler(method: str, d: int, seed: int) -> Any:
    from scipy.stats import qmc

    if method == "sobol":
        return qmc.Sobol(d, scramble=True, seed=seed)
    return qmc.LatinHypercube(d, seed=seed)


def _accept_mask(accept: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    mask = np.asarray(accept(x))
    if mask.shape != (len(x),):
        raise ValueError(
            f"accept(labels) must return one bool per row, shape ({len(x)},); got shape "
            f"{mask.shape}"
        )
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.number):
            raise TypeError(f"accept(labels) must return booleans, got dtype {mask.dtype}")
        mask = mask != 0
    return mask


def _fmt_range(lo: float, hi: float, digits: int = 6) -> str:
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]"


def _hopeless(
    names: list[str],
    lo: np.ndarray,
    hi: np.ndarray,
    free: np.ndarray,
    n_kept: int,
    drawn: int,
    acc_lo: np.ndarray,
    acc_hi: np.ndarray,
    min_acceptance: float,
) -> LabelRangeError:
    box = ", ".join(f"{m} {_fmt_range(a, b)}" for m, a, b in zip(names, lo, hi, strict=True))
    if n_kept == 0:
        return LabelRangeError(
            f"none of {drawn} labels drawn in the bounds ({box}) was accepted; the box "
            "probably lies outside the domain altogether. Check the bounds against the "
            "domain (e.g. synthesizer.check_labels on the centre of the box) and move them"
        )
    narrow = [
        f"{m} to about {_fmt_range(acc_lo[j], acc_hi[j], 4)} (now {_fmt_range(lo[j], hi[j])})"
        for j, m in enumerate(names)
        if free[j] and (acc_hi[j] - acc_lo[j]) < 0.8 * (hi[j] - lo[j])
    ]
    advice = (
        "narrow " + ", ".join(narrow)
        if narrow
        else f"the accepted region is a thin part of the box ({box}); narrow the bounds"
    )
    return LabelRangeError(
        f"only {n_kept} of {drawn} labels drawn in the bounds ({100 * n_kept / drawn:.2g}%) "
        f"were accepted, fewer than min_acceptance={min_acceptance:g}: {advice}"
    )


def sample_labels(
    n: int,
    bounds: Mapping[str, Any],
    *,
    method: str = "sobol",
    seed: int = 0,
    accept: Callable[[np.ndarray], Any] | None = None,
    min_acceptance: float = 0.01,
) -> np.ndarray:
    """Draw ``n`` label vectors in a box, deterministically, by quasi-random sampling.

    Labels whose bounds are equal (``lo == hi``, or a single number) are fixed and take no
    sampling dimension. The others are drawn from a scrambled Sobol sequence or a Latin
    hypercube (:mod:`scipy.stats.qmc`) seeded by ``seed``, and scaled to the box.

    With ``accept``, points are drawn in rounds and the first ``n`` accepted ones, in draw
    order, are returned. Every round is a deterministic function of the previous ones, so
    the result depends only on the arguments. For ``"sobol"`` the result is the accepted
    prefix of one sequence (rounds keep the drawn total a power of two, so its balance
    properties hold); for ``"lhs"`` the first round is one hypercube of ``n`` points, exact
    stratification when nothing is rejected.

    Args:
        n: number of label vectors.
        bounds: ``{name: (low, high)}`` in the column order wanted (a dict keeps its order);
            ``(v, v)`` or ``v`` fixes a label at ``v``.
        method: ``"sobol"`` (scrambled Sobol) or ``"lhs"`` (Latin hypercube).
        seed: seed of the scrambling / hypercube permutations.
        accept: optional ``accept(labels (m, k)) -> (m,) bool``, e.g.
            ``synthesizer.in_domain``.
        min_acceptance: give up when, after 4096 draws or more, a smaller fraction than this
            has been accepted.

    Returns:
        ``(n, k)`` float64 labels, columns in the order of ``bounds``.

    Raises:
        ValueError: bad ``n``, ``method`` or bounds (the message names the label).
        LabelRangeError: ``accept`` rejects nearly everything; the message says which bounds
            to narrow, and to what.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not 0 < min_acceptance <= 1:
        raise ValueError(f"min_acceptance must be in (0, 1], got {min_acceptance!r}")
    names, lo, hi = _parse_bounds(bounds)
    free = hi > lo
    d = int(free.sum())
    sampler = _sampler(method, d, seed) if d else None

    def draw(m: int) -> np.ndarray:
        x = np.tile(lo, (m, 1))
        if sampler is not None:
            u = sampler.random(m)
            x[:, free] = np.minimum(lo[free] + u * (hi - lo)[free], hi[free])
        return x

    size = n if method == "lhs" else 1 << (n - 1).bit_length()
    if accept is None:
        return draw(size)[:n]

    kept: list[np.ndarray] = []
    n_kept = drawn = 0
    acc_lo, acc_hi = np.full(len(lo), np.inf), np.full(len(lo), -np.inf)
    cap = math.ceil(2 * n / min_acceptance) + _MIN_DRAWS_FOR_VERDICT
    while True:
        x = draw(size)
        mask = _accept_mask(accept, x)
        drawn += size
        if mask.any():
            good = x[mask]
            kept.append(good)
            n_kept += len(good)
            acc_lo = np.minimum(acc_lo, good.min(axis=0))
            acc_hi = np.maximum(acc_hi, good.max(axis=0))
        if n_kept >= n:
            return np.concatenate(kept)[:n]
        rate = n_kept / drawn
        if (drawn >= _MIN_DRAWS_FOR_VERDICT and rate < min_acceptance) or drawn > cap:
            raise _hopeless(names, lo, hi, free, n_kept, drawn, acc_lo, acc_hi, min_acceptance)
        if method == "sobol" or n_kept == 0:
            size = drawn  # doubles the total (a power of two for Sobol)
        else:
            size = max(64, math.ceil(1.25 * (n - n_kept) / rate))


# --------------------------------------------------------------------------------------
# Helpers for files
# --------------------------------------------------------------------------------------


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _version() -> str:
    from .. import __version__

    return __version__


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def _chunk_path(parts: Path, i: int) -> Path:
    return parts / f"chunk_{i:06d}.h5"


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(parts: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``parts/.lock`` (released by the kernel on a kill)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no protection against two writers
        yield
        return
    fd = os.open(parts / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GridResumeError(
                f"another process is writing the grid in {parts}; wait for it to finish "
                "(or stop it) before running this one"
            ) from None
        yield
    finally:
        os.close(fd)


def _remove_temporaries(parts: Path, path: Path) -> int:
    """Delete the temporary files a killed job left (atomic_path names them ``.NAME.*.tmp``)."""
    stale = list(parts.glob(".chunk_*.tmp")) + list(parts.glob(".manifest.h5.*.tmp"))
    stale += list(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return len(stale)


@dataclasses.dataclass(frozen=True)
class _Job:
    path: Path
    parts: Path
    labels: np.ndarray
    wave: np.ndarray
    names: tuple[str, ...]
    units: tuple[str, ...]
    config: dict[str, Any]
    digest: str

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def n_wave(self) -> int:
        return len(self.wave)


def _job_hash(labels: np.ndarray, wave: np.ndarray, names, units, config: dict) -> str:
    h = hashlib.sha256()
    head = {
        "names": list(names),
        "units": list(units),
        "config": config,
        "labels_shape": list(labels.shape),
        "n_wave": len(wave),
    }
    h.update(_to_json(head, "synthesizer.config()").encode())
    h.update(np.ascontiguousarray(labels, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(wave, dtype="<f8").tobytes())
    return h.hexdigest()


def _make_job(path: Path, synthesizer: GridSynthesizer, labels: Any) -> _Job:
    names = tuple(str(s) for s in synthesizer.label_names)
    units = tuple(str(s) for s in synthesizer.label_units)
    if len(units) != len(names):
        raise ValueError(
            f"synthesizer.label_units has {len(units)} entries for {len(names)} label names"
        )
    arr = np.array(labels, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(names) or arr.shape[0] < 1:
        raise ValueError(
            f"labels must have shape (n, {len(names)}) with columns {', '.join(names)}; got "
            f"shape {arr.shape}. Draw them with jaxspec.synth.grid.sample_labels"
        )
    if not np.all(np.isfinite(arr)):
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"labels has non-finite values in rows {rows[:10].tolist()}")
    wave = np.array(synthesizer.wave, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 1:
        raise ValueError(f"synthesizer.wave must be one axis (n_wave,), got shape {wave.shape}")
    config = json.loads(_to_json(synthesizer.config(), "synthesizer.config()"))
    digest = _job_hash(arr, wave, names, units, config)
    return _Job(path, _parts_dir(path), arr, wave, names, units, config, digest)


# --------------------------------------------------------------------------------------
# Manifest and chunks
# --------------------------------------------------------------------------------------


def _write_manifest(job: _Job, chunk_size: int, attrs: dict[str, Any]) -> dict[str, Any]:
    import h5py

    started = _utc_now()
    with atomic_path(job.parts / "manifest.h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = _MANIFEST_FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["grid_hash"] = job.digest
        f.attrs["chunk_size"] = np.int64(chunk_size)
        f.attrs["config"] = _to_json(job.config, "synthesizer.config()")
        f.attrs["names"] = json.dumps(list(job.names))
        f.attrs["units"] = json.dumps(list(job.units))
        f.attrs["attrs"] = _to_json(attrs, "attrs")
        f.attrs["started_utc"] = started
        f.create_dataset("labels", data=job.labels)
        f.create_dataset("wave", data=job.wave)
    return {
        "grid_hash": job.digest,
        "chunk_size": chunk_size,
        "attrs": attrs,
        "started_utc": started,
    }


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest's entries, or None if it is missing or unreadable."""
    import h5py

    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as f:
            if _attr_str(f.attrs["format"]) != _MANIFEST_FORMAT:
                return None
            return {
                "grid_hash": _attr_str(f.attrs["grid_hash"]),
                "chunk_size": int(f.attrs["chunk_size"]),
                "attrs": json.loads(_attr_str(f.attrs["attrs"])),
                "started_utc": _attr_str(f.attrs["started_utc"]),
                "labels_shape": tuple(f["labels"].shape),
            }
    except (OSError, KeyError, ValueError, RuntimeError):
        return None


def _chunk_bounds(n: int, chunk_size: int, i: int) -> tuple[int, int]:
    return i * chunk_size, min(n, (i + 1) * chunk_size)


def _load_chunk(
    job: _Job, chunk_size: int, i: int, *, data: bool
) -> tuple[np.ndarray, np.ndarray] | bool | None:
    """Check chunk ``i``; return its (flux, continuum) when ``data``, else True; None if bad."""
    import h5py

    cpath = _chunk_path(job.parts, i)
    if not cpath.is_file():
        return None
    start, stop = _chunk_bounds(job.n, chunk_size, i)
    shape = (stop - start, job.n_wave)
    try:
        with h5py.File(cpath, "r") as f:
            ok = (
                _attr_str(f.attrs["format"]) == _CHUNK_FORMAT
                and _attr_str(f.attrs["grid_hash"]) == job.digest
                and (int(f.attrs["start"]), int(f.attrs["stop"])) == (start, stop)
                and f["flux"].shape == shape
                and f["continuum"].shape == shape
                and np.array_equal(f["labels"][()], job.labels[start:stop])
            )
            if not ok:
                return None
            if not data:
                return True
            flux, cont = f["flux"][()], f["continuum"][()]
    except (OSError, KeyError, ValueError, RuntimeError, TypeError):
        return None
    return flux.astype(np.float32, copy=False), cont.astype(np.float32, copy=False)


def _compute_chunk(
    job: _Job, synthesizer: GridSynthesizer, chunk_size: int, i: int
) -> tuple[np.ndarray, np.ndarray]:
    """Synthesise chunk ``i`` (the last one padded to ``chunk_size`` rows, so a jitted
    synthesizer sees one shape) and write it atomically."""
    import h5py

    start, stop = _chunk_bounds(job.n, chunk_size, i)
    x = job.labels[start:stop]
    m = len(x)
    if m < chunk_size:
        x = np.concatenate([x, np.repeat(x[-1:], chunk_size - m, axis=0)])
    normalised, continuum = synthesizer.flux(x)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, reported later
        flux = np.asarray(normalised, dtype=np.float32)
        cont = np.asarray(continuum, dtype=np.float32)
    for name, arr in (("normalised flux", flux), ("continuum", cont)):
        if arr.shape != (chunk_size, job.n_wave):
            raise ValueError(
                f"synthesizer.flux returned {name} of shape {arr.shape} for {chunk_size} "
                f"label rows; expected ({chunk_size}, {job.n_wave}) (n_wave = len(wave))"
            )
    flux, cont = flux[:m], cont[:m]
    with atomic_path(_chunk_path(job.parts, i)) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = _CHUNK_FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["grid_hash"] = job.digest
        f.attrs["index"] = np.int64(i)
        f.attrs["start"] = np.int64(start)
        f.attrs["stop"] = np.int64(stop)
        f.create_dataset("labels", data=job.labels[start:stop])
        f.create_dataset("flux", data=flux)
        f.create_dataset("continuum", data=cont)
    return flux, cont


def _final_matches(path: Path, digest: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return (
                _attr_str(f.attrs["format"]) == FORMAT_NAME
                and _attr_str(f.attrs["grid_hash"]) == digest
                and all(name in f for name in _DATASETS)
            )
    except (OSError, KeyError, RuntimeError):
        return False


def _assemble(
    job: _Job,
    synthesizer: GridSynthesizer,
    chunk_size: int,
    n_chunks: int,
    provenance: dict[str, Any],
    verbose: bool,
) -> list[int]:
    """Write the final file from the chunks (recomputing any that fail to read)."""
    import h5py

    rows = max(1, min(job.n, _H5_CHUNK_BYTES // (4 * job.n_wave)))
    opts = {
        "chunks": (rows, job.n_wave),
        "compression": "gzip",
        "compression_opts": 4,
        "shuffle": True,
    }
    nonfinite: list[int] = []
    with atomic_path(job.path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["grid_hash"] = job.digest
        f.attrs["created_by"] = f"jaxspec-stellar {_version()}"
        wave = f.create_dataset("wave", data=job.wave)
        wave.attrs["unit"] = "Angstrom"
        wave.attrs["medium"] = "vacuum"
        labels = f.create_dataset("labels", data=job.labels)
        labels.attrs["names"] = list(job.names)
        labels.attrs["units"] = list(job.units)
        flux = f.create_dataset("flux", shape=(job.n, job.n_wave), dtype="f4", **opts)
        flux.attrs["unit"] = ""
        cont = f.create_dataset("continuum", shape=(job.n, job.n_wave), dtype="f4", **opts)
        cont.attrs["unit"] = CONTINUUM_UNIT
        for i in range(n_chunks):
            start, stop = _chunk_bounds(job.n, chunk_size, i)
            loaded = _load_chunk(job, chunk_size, i, data=True)
            if loaded is None:
                _say(verbose, f"chunk {i} could not be read back; computing it again")
                loaded = _compute_chunk(job, synthesizer, chunk_size, i)
            fl, co = loaded
            flux[start:stop] = fl
            cont[start:stop] = co
            bad = ~(np.isfinite(fl).all(axis=1) & np.isfinite(co).all(axis=1))
            nonfinite.extend((start + np.flatnonzero(bad)).tolist())
        provenance = {**provenance, "nonfinite_rows": nonfinite, "created_utc": _utc_now()}
        f.attrs["provenance"] = _to_json(provenance, "provenance")
    return nonfinite


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def generate_grid(
    path: str | os.PathLike,
    synthesizer: GridSynthesizer,
    labels: Any,
    *,
    chunk_size: int = 64,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Synthesise spectra for ``labels`` and write them as a grid file (resumable).

    Spectra are computed ``chunk_size`` at a time with ``synthesizer.flux`` and kept in
    ``<path>.parts/`` until all are done; then the grid is assembled into ``path`` (schema
    and resume mechanics in the module docstring). Run the same call again after a crash or
    a kill and only the missing chunks are computed. A finished grid is not recomputed.

    Args:
        path: output file, conventionally ``.h5``; its directory must exist.
        synthesizer: a :class:`GridSynthesizer`, e.g. :class:`jaxspec.synth.Synthesizer`.
            Labels are checked with its ``check_labels`` (if it has one) before any work.
        labels: ``(n, k)`` labels, columns in ``synthesizer.label_names`` order.
        chunk_size: spectra per ``synthesizer.flux`` call and per part file (the last chunk
            is padded, so a jitted synthesizer compiles once). A resumed job keeps the chunk
            size it started with.
        resume: reuse the parts of an interrupted run of the same job. False deletes them.
        overwrite: replace a finished file at ``path`` (a different grid, or the same one
            with ``resume=False``) instead of raising.
        progress: show a tqdm progress bar over spectra and status messages on stderr.
        attrs: JSON-serialisable entries added to the provenance, e.g.
            ``{"sampling": {"method": "sobol", "seed": 0, "bounds": {...}}, "command": "..."}``.
            A resumed run without ``attrs`` keeps those of the first run.

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: labels of the wrong shape or non-finite, a bad ``chunk_size``, or
            ``synthesizer.flux`` returned arrays of the wrong shape.
        LabelRangeError: labels outside the synthesizer's domain.
        GridResumeError: ``<path>.parts`` holds an unfinished different job, or another
            process is working on it.
        FileExistsError: ``path`` holds something else and ``overwrite`` is False.
    """
    path = Path(path)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    attrs = dict(attrs) if attrs is not None else None
    if attrs is not None:
        _to_json(attrs, "attrs")
    job = _make_job(path, synthesizer, labels)
    check = getattr(synthesizer, "check_labels", None)
    if check is not None:
        check(job.labels)

    if path.exists():
        if resume and not overwrite and _final_matches(path, job.digest):
            _say(progress, f"{path} already holds this grid ({job.n} spectra); nothing to do")
            if job.parts.exists():
                shutil.rmtree(job.parts, ignore_errors=True)
            return path
        if not overwrite:
            raise FileExistsError(
                f"{path} exists and is not this grid (different labels or synthesizer, or "
                "not a jaxspec grid); choose another output path, delete it, or pass "
                "overwrite=True (--overwrite)"
            )
    if not resume and job.parts.exists():
        shutil.rmtree(job.parts)
    job.parts.mkdir(exist_ok=True)
    with _locked(job.parts):
        return _run(job, synthesizer, int(chunk_size), attrs, progress)


def _run(
    job: _Job,
    synthesizer: GridSynthesizer,
    chunk_size: int,
    attrs: dict[str, Any] | None,
    verbose: bool,
) -> Path:
    from tqdm.auto import tqdm

    n_stale = _remove_temporaries(job.parts, job.path)
    if n_stale:
        _say(verbose, f"removed {n_stale} temporary file(s) left by an interrupted run")
    manifest_path = job.parts / "manifest.h5"
    manifest = _read_manifest(manifest_path)
    if manifest is not None and manifest["grid_hash"] != job.digest:
        raise GridResumeError(
            f"{job.parts} holds an unfinished grid with different labels or synthesizer "
            f"settings than this run ({manifest['labels_shape'][0]} spectra, started "
            f"{manifest['started_utc']}); use another output path, or delete {job.parts} "
            "to discard that work, or rerun with the settings that started it"
        )
    if manifest is None:
        if manifest_path.exists():
            _say(verbose, f"{manifest_path} is unreadable; writing it again")
        manifest = _write_manifest(job, min(chunk_size, job.n), attrs or {})
    elif manifest["chunk_size"] != min(chunk_size, job.n):
        _say(
            verbose,
            f"resuming with the chunk size this grid started with, {manifest['chunk_size']}",
        )
    chunk_size = manifest["chunk_size"]
    n_chunks = math.ceil(job.n / chunk_size)

    todo = []
    n_done = 0
    for i in range(n_chunks):
        if _load_chunk(job, chunk_size, i, data=False):
            start, stop = _chunk_bounds(job.n, chunk_size, i)
            n_done += stop - start
        else:
            if _chunk_path(job.parts, i).exists():
                _say(verbose, f"chunk {i} is incomplete or corrupt; computing it again")
                _chunk_path(job.parts, i).unlink()
            todo.append(i)
    if n_done:
        _say(verbose, f"resuming {job.path}: {n_done} of {job.n} spectra already computed")

    with tqdm(
        total=job.n,
        initial=n_done,
        unit="spectrum",
        desc=job.path.name,
        disable=not verbose,
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        for i in todo:
            fl, _ = _compute_chunk(job, synthesizer, chunk_size, i)
            bar.update(len(fl))

    provenance = {
        "jaxspec_version": _version(),
        "started_utc": manifest["started_utc"],
        "n": job.n,
        "n_wave": job.n_wave,
        "chunk_size": chunk_size,
        "label_names": list(job.names),
        "label_units": list(job.units),
        "synthesizer": job.config,
        "grid_hash": job.digest,
        **(attrs if attrs is not None else manifest["attrs"]),
    }
    nonfinite = _assemble(job, synthesizer, chunk_size, n_chunks, provenance, verbose)
    shutil.rmtree(job.parts, ignore_errors=True)
    if nonfinite:
        warnings.warn(
            f"{len(nonfinite)} spectra of {job.path} have non-finite values (rows "
            f"{nonfinite[:10]}{' ...' if len(nonfinite) > 10 else ''}); they are listed in "
            "the provenance entry 'nonfinite_rows'. Drop them before training",
            UserWarning,
            stacklevel=3,
        )
    _say(verbose, f"wrote {job.path}: {job.n} spectra x {job.n_wave} pixels")
    return job.path


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


class LazyDataset:
    """A dataset of a grid file, read on indexing (``grid.flux[i:j]``) and not before.

    Each access opens the file, so the object holds no open handle and can be pickled.

    Attributes:
        path: the grid file.
        name: the dataset name.
        shape, dtype: of the dataset.
    """

    def __init__(self, path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = Path(path)
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return f[self.name][index]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[()]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyDataset({str(self.path)!r}, {self.name!r}, shape={self.shape}, {self.dtype})"


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """A grid of synthetic spectra read by :func:`read_grid`.

    Attributes:
        wave: ``(n_wave,)`` vacuum wavelength [Å].
        labels: astropy Table, one row per spectrum, one column per label, with units.
        flux: ``(n, n_wave)`` float32 continuum-normalised flux (a :class:`LazyDataset` when
            read with ``lazy=True``).
        continuum: ``(n, n_wave)`` float32 absolute surface flux F_λ [erg s⁻¹ cm⁻² Å⁻¹]
            (lazy likewise).
        provenance: the provenance record (see the module docstring).
        path: the file it was read from.
    """

    wave: np.ndarray
    labels: Table
    flux: np.ndarray | LazyDataset
    continuum: np.ndarray | LazyDataset
    provenance: dict[str, Any]
    path: Path | None = None

    @property
    def n(self) -> int:
        """Number of spectra."""
        return len(self.labels)

    @property
    def n_wave(self) -> int:
        """Number of wavelength pixels."""
        return len(self.wave)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label names, in column order."""
        return tuple(self.labels.colnames)

    @property
    def label_units(self) -> tuple[str, ...]:
        """Label unit strings as stored in the file, in column order."""
        stored = self.labels.meta.get("label_units")
        if stored is not None:
            return tuple(stored)
        return tuple(str(self.labels[c].unit or "") for c in self.labels.colnames)

    def label_array(self) -> np.ndarray:
        """``(n, k)`` float64 labels, columns in :attr:`label_names` order."""
        return np.stack(
            [np.asarray(self.labels[c], dtype=np.float64) for c in self.label_names], axis=-1
        )

    def spectra(self, index: Any = slice(None)) -> Spectrum:
        """The normalised spectra ``flux[index]`` as a :class:`~jaxspec.Spectrum` batch."""
        from ..spectrum import Spectrum

        flux = np.asarray(self.flux[index])
        return Spectrum(self.wave, flux, source=str(self.path), format="grid", frame="rest")


def read_grid(path: str | os.PathLike, *, lazy: bool = False) -> Grid:
    """Read a grid written by :func:`generate_grid`.

    Args:
        path: the grid file.
        lazy: leave ``flux`` and ``continuum`` on disk as :class:`LazyDataset` objects that
            read slices on indexing (for grids larger than memory).

    Returns:
        the :class:`Grid`.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not HDF5, not a jaxspec grid, another ``format_version``, or a
            missing or inconsistent dataset or attribute (the message names it).
    """

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no grid file at {p}; check the path")
    return read_hdf5_checked(
        p, lambda f: _read_open(p, f, lazy), what="grid", remedy="Generate the grid again"
    )


def read_grids(grids: Any, *, purpose: str = "a model") -> list[Grid]:
    """One or more grids that must share one pixel grid (to train ``purpose`` on).

    Args:
        grids: a path or :class:`Grid`, or a sequence of them.
        purpose: what is trained on them, for the message ("a CNN", "an emulator").

    Returns:
        the grids, in order (paths read with :func:`read_grid`).

    Raises:
        ValueError: no grid given, or grids with different wavelengths.
    """
    items = [grids] if isinstance(grids, str | os.PathLike | Grid) else list(grids)
    if not items:
        raise ValueError("no grid files given")
    loaded = [g if isinstance(g, Grid) else read_grid(g) for g in items]
    wave = loaded[0].wave
    for g in loaded[1:]:
        if g.wave.shape != wave.shape or not np.allclose(g.wave, wave, rtol=1e-12, atol=0):
            raise ValueError(
                f"grid {g.path} has other wavelengths than {loaded[0].path}; {purpose} trains "
                "on one pixel grid (make the grids with the same --wave-min/--wave-max/--R)"
            )
    return loaded


def _read_open(path: Path, f: Any, lazy: bool) -> Grid:
    from astropy.table import Table

    fmt = f.attrs.get("format")
    if fmt is None or _attr_str(fmt) != FORMAT_NAME:
        found = "no 'format' attribute" if fmt is None else f"format={_attr_str(fmt)!r}"
        hint = (
            "; it is a spectra file: read it with jaxspec.io.read"
            if fmt is not None and _attr_str(fmt) == "jaxspec.spectra"
            else ""
        )
        raise FileFormatError(
            f"{path} is not a jaxspec grid: expected root attribute format={FORMAT_NAME!r}, "
            f"found {found}{hint}"
        )
    check_format_version(path, f, FORMAT_VERSION, "grid", "generate the grid again")
    missing = [d for d in _DATASETS if d not in f]
    if missing:
        raise FileFormatError(
            f"{path}: grid is missing dataset(s) {missing} (found {sorted(f.keys())})"
        )
    wave = f["wave"][()]
    lab = f["labels"]
    if wave.ndim != 1:
        raise FileFormatError(f"{path}: 'wave' must be 1-D, found shape {wave.shape}")
    if lab.ndim != 2:
        raise FileFormatError(f"{path}: 'labels' must be (n, k), found shape {lab.shape}")
    n, k = lab.shape
    for name in ("flux", "continuum"):
        if f[name].shape != (n, len(wave)):
            raise FileFormatError(
                f"{path}: '{name}' has shape {f[name].shape}, expected ({n}, {len(wave)}) from "
                "'labels' and 'wave'"
            )
    names = [_attr_str(x) for x in np.atleast_1d(lab.attrs.get("names", []))]
    units = [_attr_str(x) for x in np.atleast_1d(lab.attrs.get("units", []))]
    if len(names) != k or len(units) != k:
        raise FileFormatError(
            f"{path}: 'labels' has {k} columns but {len(names)} 'names' and {len(units)} "
            "'units' attributes"
        )
    try:
        provenance = json.loads(_attr_str(f.attrs["provenance"]))
    except (KeyError, ValueError) as exc:
        raise FileFormatError(f"{path}: the 'provenance' attribute is missing or not JSON") from exc
    values = lab[()]
    table = Table(
        [values[:, j] for j in range(k)],
        names=names,
        units=[u or None for u in units],
        meta={"source": str(path), "label_units": tuple(units)},
    )
    if lazy:
        flux: Any = LazyDataset(path, "flux", f["flux"].shape, f["flux"].dtype)
        cont: Any = LazyDataset(path, "continuum", f["continuum"].shape, f["continuum"].dtype)
    else:
        flux, cont = f["flux"][()], f["continuum"][()]
    return Grid(wave, table, flux, cont, provenance, path)
