"""Small data files shipped with jaxspec-stellar, with provenance in ``PROVENANCE.md``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .atomic import AtomicData as AtomicData
from .atomic import load_atomic_data as load_atomic_data

__all__ = ["data_path", "apogee_example_path", "load_atomic_data", "AtomicData"]


def data_path(name: str) -> Path:
    """Path of a file shipped in ``jaxspec/data``.

    Raises:
        FileNotFoundError: no such file in the installed package.
    """
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        available = sorted(
            p.name for p in Path(str(resources.files(__name__))).iterdir() if p.is_file()
        )
        raise FileNotFoundError(f"no shipped data file {name!r}; available: {available}")
    return path


def apogee_example_path() -> Path:
    """The shipped real APOGEE DR17 apStar spectrum of 2M19485057+5005279 (gzipped FITS)."""
    return data_path("apStar-dr17-2M19485057+5005279.fits.gz")
