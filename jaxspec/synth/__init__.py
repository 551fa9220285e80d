"""Differentiable 1D LTE spectral synthesis in JAX — building blocks so far.

Present: Irwin partition functions and Saha ionisation fractions (:mod:`.ionization`), the
Faddeeva function and Voigt profile (:mod:`.voigt`), and the atmosnet emulator of C3K /
ATLAS12 model atmospheres (:mod:`.atmosphere`). The synthesizer itself (equation of state,
continuum and line opacity, radiative transfer, ``Synthesizer``) is still to come.
"""

from .atmosphere import Atmosphere as Atmosphere
from .atmosphere import load_atmosphere_emulator as load_atmosphere_emulator
from .atmosphere import predict as predict_atmosphere
from .ionization import partition_functions as partition_functions
from .ionization import partition_table as partition_table
from .ionization import saha_fractions as saha_fractions
from .voigt import faddeeva as faddeeva
from .voigt import voigt_hjerting as voigt_hjerting
from .voigt import voigt_profile as voigt_profile

__all__ = [
    "Atmosphere",
    "load_atmosphere_emulator",
    "predict_atmosphere",
    "partition_table",
    "partition_functions",
    "saha_fractions",
    "faddeeva",
    "voigt_hjerting",
    "voigt_profile",
]
