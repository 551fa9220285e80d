"""Differentiable 1D LTE spectral synthesis in JAX, and training-grid generation.

The entry point is :class:`Synthesizer` (labels → normalised spectrum and continuum,
``jit``/``vmap``/``grad``-able in float64). Its parts, each usable on its own:

* :mod:`.atmosphere` — the atmosnet emulator of C3K/ATLAS12 atmospheres;
  :mod:`.atmosphere_io` — MARCS ``.mod`` and Kurucz deck readers (and a Kurucz writer);
* :mod:`.ionization`, :mod:`.eos` — Saha–Boltzmann equation of state with H⁻ and H₂;
* :mod:`.continuum_opacity` — H⁻, H I, He⁻, H₂⁺ absorption, Thomson and Rayleigh scattering;
* :mod:`.voigt`, :mod:`.lines` — Voigt profiles and windowed atomic line opacity;
* :mod:`.hydrogen` — Balmer lines (Stehlé / VCS Stark tables), He I and He II lines;
* :mod:`.transfer` — LTE formal solution for the emergent flux;
* :mod:`.grid` — Sobol / Latin-hypercube label sampling and resumable HDF5 grids.

Heavy submodules are imported lazily, so ``import jaxspec.synth`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from .atmosphere import Atmosphere as Atmosphere
from .atmosphere import load_atmosphere_emulator as load_atmosphere_emulator
from .atmosphere import predict as predict_atmosphere
from .ionization import partition_functions as partition_functions
from .ionization import partition_table as partition_table
from .ionization import saha_fractions as saha_fractions
from .voigt import faddeeva as faddeeva
from .voigt import voigt_hjerting as voigt_hjerting
from .voigt import voigt_profile as voigt_profile

_LAZY = {
    "Synthesizer": ".synthesizer",
    "read_marcs": ".atmosphere_io",
    "read_kurucz": ".atmosphere_io",
    "read_model_atmosphere": ".atmosphere_io",
    "write_kurucz": ".atmosphere_io",
    "marcs_reference_model_path": ".atmosphere_io",
    "ModelAtmosphere": ".atmosphere_io",
    "sample_labels": ".grid",
    "generate_grid": ".grid",
    "read_grid": ".grid",
    "read_grids": ".grid",
}

__all__ = [
    "Synthesizer",
    "Atmosphere",
    "ModelAtmosphere",
    "load_atmosphere_emulator",
    "predict_atmosphere",
    "read_marcs",
    "read_kurucz",
    "read_model_atmosphere",
    "write_kurucz",
    "marcs_reference_model_path",
    "sample_labels",
    "generate_grid",
    "read_grid",
    "read_grids",
    "partition_table",
    "partition_functions",
    "saha_fractions",
    "faddeeva",
    "voigt_hjerting",
    "voigt_profile",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
