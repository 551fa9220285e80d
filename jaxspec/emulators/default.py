"""The pretrained default emulator shipped with the package.

``jaxspec/data/emulator_fgk_r7500.h5``: FGK stars (Teff 4000–7000 K, log g 1–5, [Fe/H]
−2.5 to +0.5, [α/Fe] −0.2 to +0.6, v_mic fixed at 1 km/s), 4200–6800 Å (vacuum) at
R = 7500, trained on spectra of the project's own synthesizer. The README gives the
commands that regenerate it and its measured accuracy; ``jaxspec/data/PROVENANCE.md``
records the grids it was trained on.
"""

from __future__ import annotations

import functools

from .io import load_emulator
from .model import Emulator

__all__ = ["load_default", "DEFAULT_EMULATOR_FILE"]

#: File name of the default emulator inside ``jaxspec/data``.
DEFAULT_EMULATOR_FILE = "emulator_fgk_r7500.h5"


@functools.cache
def load_default() -> Emulator:
    """The shipped FGK emulator (read once, then cached).

    Raises:
        FileNotFoundError: the package was installed without the model file (see the
            README, "Emulators", for the commands that make it).
    """
    from ..data import data_path

    return load_emulator(data_path(DEFAULT_EMULATOR_FILE))
